"""``genosparse score``: score a FASTA with a checkpoint, write TSV or bedGraph."""

from __future__ import annotations

import argparse
from typing import Callable

import torch

from genosparse.cli.common import (add_checkpoint_option, add_fasta_option, add_inference_options, add_output_option,
                                   add_region_or_bed_options, run_model_command, summary)
from genosparse.genome import Genome
from genosparse.io import formats, writer_for
from genosparse.models import GenomicModel
from genosparse.scoring.fasta import score_fasta, sorted_regions
from genosparse.scoring.scorers import score_name
from genosparse.scoring.writers import write_scores


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genosparse score", description=(
        "Score every record of a FASTA (short records: one row each; long contigs: tiled windows). "
        "Coordinates in the output are 0-based half-open. bedGraph output is in genome order (regions "
        "sorted; overlapping regions refused); TSV keeps the regions as given."))
    add_checkpoint_option(p)
    add_fasta_option(p)
    add_output_option(p, "output file; .bedgraph/.bg for bedGraph, else TSV; - for standard output (TSV)")
    p.add_argument("--format", choices=formats("scores"), help="output format (default: from the extension)")
    add_region_or_bed_options(p, "score each interval (tiled when longer than the window)")
    add_inference_options(p)
    return p


def main(argv: list[str]) -> None:
    """Run ``genosparse score`` with command-line arguments ``argv``."""
    run_model_command("score", parser(), argv, _run)


def _run(args: argparse.Namespace, model: GenomicModel, dev: torch.device, elapsed: Callable[[], float]) -> None:
    genome, regions = Genome(args.fasta), args.region
    if writer_for("scores", args.out, args.format).format == "bedgraph":
        regions = sorted_regions(genome, regions)  # before scoring: refuse overlaps at once
    rows = score_fasta(model, genome, window=args.window, regions=regions, bed=args.regions,
                       batch_size=args.batch_size, rc_average=args.rc_average, device=dev, progress=not args.quiet)
    result = write_scores(rows, args.out, score_name(model), args.format)
    seconds = elapsed()
    summary(args, f"wrote {result['rows']} rows ({result['flagged']} flagged) to {args.out} in {seconds:.1f} s; "
                  f"{score_name(model)} mean {result['mean']:.4f}, min {result['min']:.4f}, max {result['max']:.4f}")
