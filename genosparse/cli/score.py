"""``genosparse score``: score a FASTA with a checkpoint, write TSV or bedGraph."""

from __future__ import annotations

import argparse
from typing import Callable

import torch

from genosparse.cli.common import add_checkpoint_option, add_inference_options, output_path, run_model_command
from genosparse.models import GenomicModel
from genosparse.scoring.fasta import score_fasta
from genosparse.scoring.scorers import score_name
from genosparse.scoring.writers import FORMATS, write_scores


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genosparse score", description=(
        "Score every record of a FASTA (short records: one row each; long contigs: tiled windows). "
        "Coordinates in the output are 0-based half-open."))
    add_checkpoint_option(p)
    p.add_argument("--fasta", required=True, help="FASTA file (plain or bgzip-compressed)")
    p.add_argument("--out", required=True, type=output_path, help="output file; .bedgraph/.bg for bedGraph, else TSV")
    p.add_argument("--format", choices=FORMATS, help="output format (default: from the extension)")
    p.add_argument("--region", action="append", help="chrom or chrom:start-end (1-based inclusive); repeatable")
    add_inference_options(p)
    return p


def main(argv: list[str]) -> None:
    """Run ``genosparse score`` with command-line arguments ``argv``."""
    run_model_command("score", parser(), argv, _run)


def _run(args: argparse.Namespace, model: GenomicModel, dev: torch.device, elapsed: Callable[[], float]) -> None:
    rows = score_fasta(model, args.fasta, window=args.window, regions=args.region, batch_size=args.batch_size,
                       rc_average=args.rc_average, device=dev, progress=not args.quiet)
    summary = write_scores(rows, args.out, score_name(model), args.format)
    seconds = elapsed()
    print(f"wrote {summary['rows']} rows ({summary['flagged']} flagged) to {args.out} in {seconds:.1f} s; "
          f"{score_name(model)} mean {summary['mean']:.4f}, min {summary['min']:.4f}, max {summary['max']:.4f}")
