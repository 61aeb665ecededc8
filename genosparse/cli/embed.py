"""``genosparse embed``: embeddings of FASTA records, tiled windows or BED intervals, written to NPZ."""

from __future__ import annotations

import argparse
from typing import Callable

import torch

from genosparse.cli.common import (add_checkpoint_option, add_fasta_option, add_output_option,
                                   add_region_or_bed_options, add_run_options, positive_int, run_model_command, summary)
from genosparse.io import formats, writer_for
from genosparse.models import GenomicModel
from genosparse.scoring.embed import embed, write_embeddings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genosparse embed", description=(
        "Final hidden states of a checkpoint for every record of a FASTA (long contigs tiled into windows), "
        "for --region regions, or for the intervals of a --regions BED file. Writes an NPZ with names, starts, "
        "ends (0-based half-open) and embeddings (N, C) pooled, or (N, L, C) with --tokens."))
    add_checkpoint_option(p)
    add_fasta_option(p)
    add_output_option(p, "output .npz (a file: NPZ cannot stream)")
    p.add_argument("--format", choices=formats("embeddings"), help="output format (default: npz)")
    add_region_or_bed_options(p, "embed each interval as it is")
    p.add_argument("--tokens", action="store_true", help="per-token (N, L, C) instead of mean-pooled (N, C)")
    p.add_argument("--window", type=positive_int, help="tile length in bases (default: the model's context length)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="items per forward pass (default: 8)")
    add_run_options(p)
    return p


def main(argv: list[str]) -> None:
    """Run ``genosparse embed`` with command-line arguments ``argv``."""
    run_model_command("embed", parser(), argv, _run)


def _run(args: argparse.Namespace, model: GenomicModel, dev: torch.device, elapsed: Callable[[], float]) -> None:
    writer_for("embeddings", args.out, args.format)  # -o - fails before the model runs
    chunks = embed(model, args.fasta, bed=args.regions, regions=args.region, window=args.window,
                   pooled=not args.tokens, batch_size=args.batch_size, device=dev, progress=not args.quiet)
    count = write_embeddings(chunks, args.out, args.format)
    summary(args, f"wrote {count} embeddings to {args.out} in {elapsed():.1f} s")
