"""Issue 13's figures in one run: variant effects, ISM and scoring at the model's full context.

    python3 benchmarks/full_context.py --data .gpu_data/data --out $OUT          # the H200 (bash benchmarks/run_on_device.sh full)
    .venv/bin/python benchmarks/full_context.py --device cpu --window 1024 --positions 5 --ism-bases 4 \\
        --score-region 20:60,000,001-60,004,096 --out /tmp/fc                 # CPU smoke run

With the shipped ``chr20-mlm`` (default ``--checkpoint``), both strands, it times:

1. ``saturation``: every ALT at ``--positions`` consecutive bases of the chr20 HNF4A promoter
   (from 20:43,029,901, GRCh37; no N there), one VCF record per ALT, through ``score_variants``
   with GS_EMB and, ``saturation_llr``, without (``embedding=False``);
2. ``20.vcf.gz``: the 300 SNVs of the call set;
3. ``ism``: ``--ism-bases`` bases (default 200) from the same promoter start;
4. ``score``: ``--score-region`` (default 20:60,000,001-62,883,200, 2.88 Mb) with ``score_fasta``.

Each is timed after a warm-up (kernels compiled, layouts and partial-forward plans built) and
checked: the saturation LLRs with and without GS_EMB and the ISM LLRs of the same bases agree.
Prints a table and writes ``OUT/full_context.json`` (figures, settings), ``OUT/saturation.tsv``,
``OUT/vep_20.tsv``, ``OUT/ism.npz`` (no PNG: the device may lack matplotlib), ``OUT/score.tsv`` and, with ``--profile``, ``OUT/profile.txt``
(torch profiler of a few saturation positions).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from genosparse.genome import Genome
from genosparse.genome.vcf import open_vcf
from genosparse.scoring.fasta import score_fasta
from genosparse.scoring.ism import ism
from genosparse.scoring.prepare import prepare
from genosparse.scoring.variant_writers import write_tsv
from genosparse.scoring.vep import score_records

PROMOTER = 43_029_900  # 0-based start of the HNF4A P2 promoter stretch on chr20 (GRCh37)
TODAY = {"saturation": "3.1 SNVs/s (672 SNVs, 217 s)", "saturation_llr": "-", "20.vcf.gz": "2.7 SNVs/s (112 s)",
         "ism": "-", "score": "105,000 bases/s (27.5 s)"}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def saturation_vcf(genome: Genome, start: int, positions: int, path: Path) -> Path:
    """A VCF of every ALT at ``positions`` bases from 0-based ``start`` of contig 20, one record per ALT."""
    seq = genome.fetch("20", start, start + positions)
    if "N" in seq:
        raise SystemExit(f"20:{start + 1}-{start + positions} holds N; pick another stretch")
    rows = "".join(f"20\t{start + i + 1}\t.\t{ref}\t{alt}\t.\t.\t.\n" for i, ref in enumerate(seq)
                   for alt in "ACGT" if alt != ref)
    path.write_text(f"##fileformat=VCFv4.2\n##contig=<ID=20,length={genome.length('20')}>\n"
                    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + rows)
    return path


def vep(inference, vcf: Path, batch_size: int, embedding: bool, out: Path | None = None) -> tuple[float, list]:
    """Seconds and records of one ``score_records`` pass over ``vcf`` (written as TSV to ``out``)."""
    _sync(inference.device)
    started = time.perf_counter()
    with open_vcf(vcf, inference.genome) as source:
        records = list(score_records(inference, source, batch_size=batch_size, embedding=embedding, progress=False))
    _sync(inference.device)
    seconds = time.perf_counter() - started
    if out is not None:
        write_tsv(records, out)
    return seconds, [s for r in records for s in r.scores]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="chr20-mlm")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"),
                   help="folder with reference/20.fa.gz and variants/20.vcf.gz (default ../shared/data)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--window", type=int, help="default: the model's context (131,072)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--positions", type=int, default=250, help="bases of the saturation set (3 SNVs each)")
    p.add_argument("--ism-bases", type=int, default=200)
    p.add_argument("--score-region", default="20:60,000,001-62,883,200")
    p.add_argument("--skip", nargs="*", default=[], choices=list(TODAY), help="sections to leave out")
    p.add_argument("--profile", action="store_true", help="profile 4 saturation positions into OUT/profile.txt")
    p.add_argument("--out", default="full_context_out", help="folder for the details")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(args.data)
    genome = Genome(data / "reference" / "20.fa.gz")
    inference = prepare(args.checkpoint, genome, window=args.window, device=args.device, head="mlm")
    device, window = inference.device, inference.window
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f", {torch.get_num_threads()} threads"))
    print(f"model {args.checkpoint}: window {window}, batch {args.batch_size}, both strands", flush=True)
    sat = saturation_vcf(genome, PROMOTER, args.positions, out / "saturation.vcf")
    warm = saturation_vcf(genome, PROMOTER, 2, out / "warmup.vcf")
    started = time.perf_counter()
    vep(inference, warm, args.batch_size, True)  # compiles kernels, builds layouts and partial-forward plans
    print(f"warm-up {time.perf_counter() - started:.1f} s", flush=True)
    rows, figures = [], {}

    def save() -> None:  # after every section, so a run cut short keeps what it measured
        (out / "full_context.json").write_text(json.dumps({"window": window, "batch_size": args.batch_size,
                                                           "device": str(device), "figures": figures}, indent=2))

    def record(name: str, seconds: float, count: int, unit: str) -> None:
        figures[name] = {"seconds": seconds, "count": count, "unit": unit, "rate": count / seconds}
        rows.append((name, count, unit, seconds, count / seconds))
        print(f"{name}: {count} {unit} in {seconds:.2f} s = {count / seconds:,.1f} {unit}/s", flush=True)
        save()

    llr = {}
    if "saturation" not in args.skip:
        seconds, scores = vep(inference, sat, args.batch_size, True, out / "saturation.tsv")
        llr["emb"] = np.array([s.llr for s in scores])
        record("saturation", seconds, len(scores), "SNVs")
    if "saturation_llr" not in args.skip:
        seconds, scores = vep(inference, sat, args.batch_size, False, out / "saturation_llr.tsv")
        llr["no_emb"] = np.array([s.llr for s in scores])
        record("saturation_llr", seconds, len(scores), "SNVs")
    if "20.vcf.gz" not in args.skip:
        seconds, scores = vep(inference, data / "variants" / "20.vcf.gz", args.batch_size, True, out / "vep_20.tsv")
        record("20.vcf.gz", seconds, sum(s.scored for s in scores), "SNVs")
    if "ism" not in args.skip:
        _sync(device)
        t0 = time.perf_counter()
        result = ism(inference, None, f"20:{PROMOTER + 1}-{PROMOTER + args.ism_bases}", batch_size=args.batch_size,
                     progress=False)
        _sync(device)
        record("ism", time.perf_counter() - t0, args.ism_bases, "bases")
        np.savez(out / "ism.npz", scores=result.scores, alts=result.alts, ref=np.array(list(result.ref)))
        if "emb" in llr:  # ISM and vep give the same LLR for the same SNV
            n = min(args.ism_bases, args.positions)
            ism_llr = result.scores[:, :n].T.flatten()
            figures["ism_vs_vep_max_abs_diff"] = float(np.abs(ism_llr - llr["emb"][:3 * n]).max())
    if "score" not in args.skip:
        _sync(device)
        t0 = time.perf_counter()
        scored = list(score_fasta(inference, None, regions=args.score_region, batch_size=args.batch_size,
                                  progress=False))
        _sync(device)
        bases = sum(r.end - r.start for r in scored)
        record("score", time.perf_counter() - t0, bases, "bases")
        (out / "score.tsv").write_text("".join(f"{r.name}\t{r.start}\t{r.end}\t{r.score:.6g}\t{r.flag}\n"
                                               for r in scored))
    if len(llr) == 2:
        figures["llr_emb_vs_no_emb_max_abs_diff"] = float(np.abs(llr["emb"] - llr["no_emb"]).max())
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        few = saturation_vcf(genome, PROMOTER, 4, out / "profile.vcf")
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            vep(inference, few, args.batch_size, True)
        key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
        (out / "profile.txt").write_text(prof.key_averages().table(sort_by=key, row_limit=40))
    save()
    print(f"\n| job | count | seconds | rate | today |\n|---|---|---|---|---|")
    for name, count, unit, seconds, rate in rows:
        print(f"| {name} | {count:,} {unit} | {seconds:.2f} | {rate:,.1f} {unit}/s | {TODAY[name]} |")
    for key in ("llr_emb_vs_no_emb_max_abs_diff", "ism_vs_vep_max_abs_diff"):
        if key in figures:
            print(f"{key}: {figures[key]:.2e}")


if __name__ == "__main__":
    main()
