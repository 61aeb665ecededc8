"""Peak memory (maximum resident set size) of ``genosparse vep`` and ``genosparse track`` as the input grows.

    .venv/bin/python benchmarks/memory.py                       # vep 1k/10k/100k SNVs, track 100 kb/1 Mb/10 Mb
    .venv/bin/python benchmarks/memory.py --records 1000 --bases 100000 --out /tmp/memory

Memory, not scores, is measured, so the model is a tiny one with random weights (one layer,
d_model 32, 256-base context; saved to ``--out``) and windows are short (``--window``, default
64 bases for ``vep``, 256 for ``track``). ``vep`` scores VCFs of N SNVs at random positions of
chr20 (REF from the FASTA, ALT another base; every one goes through the model, one masked pass
per strand with ``--no-embedding``) to TSV; ``track`` writes a bigWig of N bases from
20:30,000,001 (forward strand, stride 7/8 of the window, so 10 Mb take minutes). Each command runs under ``/usr/bin/time -v`` on the CPU with one intra-op thread
(``OMP_NUM_THREADS=1``: on shared cores two spinning OpenMP threads are many times slower); the
script prints each command line and a table of wall time and maximum resident set size.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from genosparse.attention import AttentionConfig
from genosparse.genome import Genome
from genosparse.models import GenomicModel, ModelConfig, save_model

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TRACK_START = 30_000_000  # 0-based
"""Where the track regions start (20:30,000,001)."""


def tiny_checkpoint(folder: Path) -> Path:
    """A random-weight MLM checkpoint (seed 0) in ``folder/tiny``."""
    torch.manual_seed(0)
    model = GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=1, num_heads=2, context_length=256,
                                     dropout=0.0, attention=AttentionConfig(block_size=32, backend="torch")))
    return save_model(model, folder / "tiny")


def snv_vcf(genome: Genome, count: int, path: Path, seed: int = 0) -> Path:
    """A VCF of ``count`` SNVs at distinct random A/C/G/T positions of chr20's 1-61 Mb, sorted."""
    lo, hi = 1_000_000, 61_000_000
    sequence = np.frombuffer(genome.fetch("20", lo, hi).encode(), np.uint8)
    rng = np.random.default_rng(seed)
    acgt = np.flatnonzero(np.isin(sequence, np.frombuffer(b"ACGT", np.uint8)))
    positions = np.sort(rng.choice(acgt, count, replace=False))
    shift = rng.integers(1, 4, count)
    bases = "ACGT"
    with open(path, "w") as out:
        out.write("##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for offset, step in zip(positions.tolist(), shift.tolist()):
            ref = chr(sequence[offset])
            alt = bases[(bases.index(ref) + step) % 4]
            out.write(f"20\t{lo + offset + 1}\t.\t{ref}\t{alt}\t.\t.\t.\n")
    return path


def measured(command: list[str]) -> tuple[float, int]:
    """Run ``command`` under ``/usr/bin/time -v``: (wall seconds, maximum resident set size in kB)."""
    print("OMP_NUM_THREADS=1 /usr/bin/time -v " + shlex.join(command), flush=True)
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    if result.returncode:
        sys.exit(f"failed ({result.returncode}):\n{result.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)[1])
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", result.stderr)[1]
    seconds = sum(float(part) * 60 ** k for k, part in enumerate(reversed(wall.split(":"))))
    return seconds, rss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="folder with reference/20.fa.gz (default ../shared/data)")
    p.add_argument("--out", type=Path, default=Path("memory_runs"), help="working folder (default ./memory_runs)")
    p.add_argument("--records", type=int, nargs="*", default=[1_000, 10_000, 100_000], help="vep: SNVs per VCF")
    p.add_argument("--bases", type=int, nargs="*", default=[100_000, 1_000_000, 10_000_000], help="track: bases")
    p.add_argument("--vep-window", type=int, default=64)
    p.add_argument("--track-window", type=int, default=256)
    p.add_argument("--track-format", choices=("bw", "bedgraph"), default="bw", help="track output (default bw)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    fasta = args.data / "reference" / "20.fa.gz"
    checkpoint = tiny_checkpoint(args.out)
    genosparse = str(Path(sys.executable).with_name("genosparse"))
    common = ["--checkpoint", str(checkpoint), "--fasta", str(fasta), "--device", "cpu", "--quiet"]
    rows = []
    for count in args.records:
        vcf = snv_vcf(Genome(fasta), count, args.out / f"snvs_{count}.vcf")
        seconds, rss = measured([genosparse, "vep", *common, "--vcf", str(vcf), "--out",
                                 str(args.out / f"snvs_{count}.tsv"), "--format", "tsv", "--window",
                                 str(args.vep_window), "--no-embedding"])
        rows.append(("vep", f"{count:,} SNVs", seconds, rss))
    for bases in args.bases:
        region = f"20:{TRACK_START + 1:,}-{TRACK_START + bases:,}"
        seconds, rss = measured([genosparse, "track", *common, "--region", region, "--out",
                                 str(args.out / f"track_{bases}.{args.track_format}"), "--window", str(args.track_window),
                                 "--stride", str(args.track_window * 7 // 8), "--no-rc-average"])
        rows.append((f"track ({args.track_format})", f"{bases:,} bases", seconds, rss))
    print("\n| command | input | wall | peak RSS |\n|---|---|---|---|")
    for command, size, seconds, rss in rows:
        print(f"| {command} | {size} | {seconds:.1f} s | {rss / 1024:.0f} MB |")


if __name__ == "__main__":
    main()
