"""``genosparse track``: a per-position (or binned) MLM log-likelihood track as bigWig or bedGraph."""

from __future__ import annotations

import argparse
from typing import Callable

import torch

from genosparse.cli.common import (add_checkpoint_option, add_fasta_option, add_inference_options, add_output_option,
                                   add_region_option, add_resume_option, positive_int, run_model_command, summary)
from genosparse.io import formats
from genosparse.models import GenomicModel
from genosparse.scoring.track_writers import write_score_track


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genosparse track", description=(
        "Per-base masked log-likelihood of an MLM checkpoint over whole contigs, regions or BED intervals: "
        "overlapping windows stitched so every base comes from the window whose centre is nearest. "
        "N bases are gaps. Output coordinates are 0-based half-open."))
    add_checkpoint_option(p, "MLM checkpoint")
    add_fasta_option(p)
    add_output_option(p, "output: .bw/.bigwig (bigWig, needs pyBigWig) or .bedgraph/.bg; - for bedGraph on "
                         "standard output")
    p.add_argument("--format", choices=formats("track"), help="output format (default: from the extension)")
    add_region_option(p)
    p.add_argument("--regions", help="BED file (0-based); intervals shorter than the window are widened to it")
    p.add_argument("--stride", type=positive_int, help="bases between window starts (default: window / 2)")
    p.add_argument("--bin-size", type=positive_int, default=1, help="bases per value, mean over bins (default: 1)")
    p.add_argument("--devices", type=positive_int, help=(
        "predict through Lightning on this many devices (GPUs, or CPU processes with --device cpu; DDP "
        "for more than one), merged in genome order (default: stream in this process)"))
    add_inference_options(p)
    add_resume_option(p)
    return p


def main(argv: list[str]) -> None:
    """Run ``genosparse track`` with command-line arguments ``argv``."""
    run_model_command("track", parser(), argv, _run)


def _run(args: argparse.Namespace, model: GenomicModel, dev: torch.device, elapsed: Callable[[], float]) -> None:
    result = write_score_track(model, args.fasta, args.out, fmt=args.format, resume=args.resume, window=args.window,
                               stride=args.stride, regions=args.region, bed=args.regions, bin_size=args.bin_size,
                               batch_size=args.batch_size, rc_average=args.rc_average, device=dev,
                               devices=args.devices, progress=not args.quiet)
    seconds = elapsed()
    summary(args, f"wrote {result['values']} values over {result['bases']:,} bases to {args.out} in {seconds:.1f} s "
                  f"({result['bases'] / seconds:,.0f} bases/s); log-likelihood mean {result['mean']:.4f}, "
                  f"min {result['min']:.4f}, max {result['max']:.4f}")
