"""``genosparse ism``: in-silico mutagenesis of a region, written as TSV, NPZ and a PNG heatmap."""

from __future__ import annotations

import argparse
from typing import Callable

import torch

from genosparse.cli.common import add_checkpoint_option, add_fasta_option, add_inference_options, run_model_command
from genosparse.models import GenomicModel
from genosparse.scoring.ism import ism, ism_prefix, write_ism


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genosparse ism", description=(
        "Score every single-base substitution of a region (masked-marginal log-likelihood ratio ALT vs REF, "
        "one forward pass per base and strand). Writes PREFIX.tsv (0-based half-open), PREFIX.npz (the 3 x L "
        "matrix: row k = the k-th base other than the reference in A, C, G, T order) and PREFIX.png."))
    add_checkpoint_option(p, "MLM checkpoint")
    add_fasta_option(p, "reference FASTA (plain or bgzip)")
    p.add_argument("-r", "--region", required=True, help="chrom:start-end, 1-based inclusive (samtools style)")
    p.add_argument("-o", "--out", required=True, help="output prefix: PREFIX.tsv, PREFIX.npz, PREFIX.png")
    add_inference_options(p)
    return p


def main(argv: list[str]) -> None:
    """Run ``genosparse ism`` with command-line arguments ``argv``."""
    run_model_command("ism", parser(), argv, _run)


def _run(args: argparse.Namespace, model: GenomicModel, dev: torch.device, elapsed: Callable[[], float]) -> None:
    ism_prefix(args.out)  # a stream cannot take three files: refused before scoring
    result = ism(model, args.fasta, args.region, window=args.window, batch_size=args.batch_size,
                 rc_average=args.rc_average, device=dev, progress=not args.quiet)
    paths = write_ism(result, args.out)
    print(f"wrote {', '.join(map(str, paths))} ({result.end - result.start} bases of {result.contig}) in "
          f"{elapsed():.1f} s")
