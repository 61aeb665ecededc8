"""``genosparse track``: a per-position (or binned) MLM log-likelihood track as bigWig or bedGraph."""

from __future__ import annotations

import argparse
from typing import Callable

import torch

from genosparse.cli.common import (add_checkpoint_option, add_inference_options, add_resume_option, output_path,
                                   positive_int, run_model_command)
from genosparse.models import GenomicModel
from genosparse.scoring.track_writers import TRACK_FORMATS
from genosparse.scoring.tracks import write_score_track


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genosparse track", description=(
        "Per-base masked log-likelihood of an MLM checkpoint over whole contigs, regions or BED intervals: "
        "overlapping windows stitched so every base comes from the window whose centre is nearest. "
        "N bases are gaps. Output coordinates are 0-based half-open."))
    add_checkpoint_option(p, "MLM checkpoint")
    p.add_argument("--fasta", required=True, help="FASTA file (plain or bgzip-compressed)")
    p.add_argument("--out", required=True, type=output_path, help="output: .bw/.bigwig (bigWig) or .bedgraph/.bg")
    p.add_argument("--format", choices=TRACK_FORMATS, help="output format (default: from the extension)")
    p.add_argument("--region", action="append", help="chrom or chrom:start-end (1-based inclusive); repeatable")
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
    summary = write_score_track(model, args.fasta, args.out, fmt=args.format, resume=args.resume, window=args.window,
                                stride=args.stride, regions=args.region, bed=args.regions, bin_size=args.bin_size,
                                batch_size=args.batch_size, rc_average=args.rc_average, device=dev,
                                devices=args.devices, progress=not args.quiet)
    seconds = elapsed()
    print(f"wrote {summary['values']} values over {summary['bases']:,} bases to {args.out} in {seconds:.1f} s "
          f"({summary['bases'] / seconds:,.0f} bases/s); log-likelihood mean {summary['mean']:.4f}, "
          f"min {summary['min']:.4f}, max {summary['max']:.4f}")
