"""``genosparse ism``: in-silico mutagenesis of a region, written as TSV, NPZ and a PNG heatmap."""

from __future__ import annotations

import argparse
import logging
import time

from genosparse.cli.common import add_inference_options, device, run_command
from genosparse.models.checkpoint import load_model
from genosparse.scoring.ism import ism, write_ism


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genosparse ism", description=(
        "Score every single-base substitution of a region (masked-marginal log-likelihood ratio ALT vs REF, "
        "one forward pass per base and strand). Writes PREFIX.tsv (0-based half-open), PREFIX.npz (the 3 x L "
        "matrix: row k = the k-th base other than the reference in A, C, G, T order) and PREFIX.png."))
    p.add_argument("--checkpoint", required=True, help="MLM checkpoint folder written by `genosparse train`")
    p.add_argument("--fasta", required=True, help="reference FASTA (plain or bgzip)")
    p.add_argument("--region", required=True, help="chrom:start-end, 1-based inclusive (samtools style)")
    p.add_argument("--out", required=True, help="output prefix: PREFIX.tsv, PREFIX.npz, PREFIX.png")
    add_inference_options(p)
    return p


def main(argv: list[str]) -> None:
    """Run ``genosparse ism`` with command-line arguments ``argv``."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def body() -> None:
        started = time.perf_counter()
        dev = device(args.device)
        model = load_model(args.checkpoint, dev)
        result = ism(model, args.fasta, args.region, window=args.window, batch_size=args.batch_size,
                     rc_average=args.rc_average, device=dev, progress=not args.quiet)
        paths = write_ism(result, args.out)
        print(f"wrote {', '.join(map(str, paths))} ({result.end - result.start} bases of {result.contig}) in "
              f"{time.perf_counter() - started:.1f} s")

    run_command("ism", body)
