"""Throughput of ``score_variants`` (variants per second) on the three real chr20 call sets.

    .venv/bin/python benchmarks/vep_throughput.py --checkpoint runs/demo/checkpoint --device cuda
    .venv/bin/python benchmarks/vep_throughput.py --checkpoint DIR --device cpu --threads 1

Times a full pass of :func:`genosparse.scoring.vep.score_variants` (reading, REF check,
windows, model passes) over each VCF after one warm-up pass over the first VCF, and prints
the command, the setup and one line per file: ALT alleles, SNVs, indels, seconds and ALT
alleles per second. SNVs cost 3 forward passes per strand (REF and ALT embeddings, one
masked pass); indels ``2 + 2 * num_passes``. The data folder defaults to
``../shared/data`` (reference/20.fa.gz, variants/{20,5,16}.vcf.gz); pass ``--data`` where it
lies elsewhere (on a device machine, a folder carried with the repository).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

from genosparse.genome import Genome
from genosparse.models import load_model
from genosparse.scoring.vep import score_variants

CALL_SETS = ("20", "5", "16")


def _run(model, genome, vcf: Path, args) -> tuple[float, list]:
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    scores = list(score_variants(model, genome, vcf, window=args.window, batch_size=args.batch_size,
                                 rc_average=args.rc_average, num_passes=args.num_passes, embedding=args.embedding,
                                 device=args.device,
                                 progress=False))
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, scores


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="MLM checkpoint folder")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"),
                   help="folder with reference/20.fa.gz and variants/*.vcf.gz (default ../shared/data)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--window", type=int, help="default: the model's context length")
    p.add_argument("--num-passes", type=int, default=8)
    p.add_argument("--no-rc-average", dest="rc_average", action="store_false")
    p.add_argument("--no-embedding", dest="embedding", action="store_false", help="LLR only (no GS_EMB)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--call-sets", nargs="+", choices=CALL_SETS, default=list(CALL_SETS),
                   help="which of variants/{20,5,16}.vcf.gz to time (default: all)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = Path(args.data)
    model = load_model(args.checkpoint, args.device)
    genome = Genome(data / "reference" / "20.fa.gz")
    config = model.config
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))
    print(f"torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name(args.device)})" if args.device.startswith("cuda") else
             f", {torch.get_num_threads()} threads"))
    print(f"model: d_model {config.d_model}, {config.num_layers} layers, {config.attention.pattern} "
          f"({config.attention.backend}), window {args.window or config.context_length} bases; batch "
          f"{args.batch_size}, rc_average {args.rc_average}, num_passes {args.num_passes}")
    _run(model, genome, data / "variants" / "20.vcf.gz", args)  # warm-up
    print(f"{'vcf':<10}{'ALTs':>6}{'SNVs':>6}{'indels':>8}{'seconds':>10}{'ALTs/s':>10}")
    total_n = total_s = 0.0
    for name in args.call_sets:
        seconds, scores = _run(model, genome, data / "variants" / f"{name}.vcf.gz", args)
        snvs = sum(s.variant.kind in ("SNV", "MNV") for s in scores)
        total_n, total_s = total_n + len(scores), total_s + seconds
        print(f"{name + '.vcf.gz':<10}{len(scores):>6}{snvs:>6}{len(scores) - snvs:>8}{seconds:>10.2f}"
              f"{len(scores) / seconds:>10.1f}")
    print(f"{'all':<10}{int(total_n):>6}{'':>6}{'':>8}{total_s:>10.2f}{total_n / total_s:>10.1f}")


if __name__ == "__main__":
    main()
