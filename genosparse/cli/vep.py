"""``genosparse vep``: score every ALT of a VCF with an MLM checkpoint, write an annotated VCF or a TSV."""

from __future__ import annotations

import argparse
import shlex
from typing import Callable

import torch

from genosparse.cli.common import (add_checkpoint_option, add_fasta_option, add_inference_options, add_output_option,
                                   add_resume_option, positive_int, run_model_command, summary)
from genosparse.genome.vcf import CONTIG_LENGTH_MODES, REF_MISMATCH_MODES
from genosparse.io import formats
from genosparse.models import GenomicModel
from genosparse.scoring.vep import annotate_vcf


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genosparse vep", description=(
        "Zero-shot variant-effect scores for every ALT of a VCF: the log-likelihood ratio ALT vs REF "
        "(masked marginal for SNVs/MNVs, pseudo-log-likelihood difference for indels) and the embedding "
        "distance, from REF/ALT windows of the model's context length. Every input record is written, in "
        "input order, with INFO GS_LLR, GS_EMB, GS_KIND and GS_FLAG (described in the output header)."))
    add_checkpoint_option(p, "MLM checkpoint")
    add_fasta_option(p, "reference FASTA (plain or bgzip) of the VCF's build")
    p.add_argument("--vcf", required=True, help="VCF (plain, bgzip or gzip) or BCF; - for standard input")
    add_output_option(p, "output: .vcf.gz (bgzip + tabix index), .vcf (plain) or .tsv; - for standard output "
                         "(plain VCF as bcftools writes it, no index; TSV with --format tsv)")
    p.add_argument("--format", choices=formats("variants"),
                   help="output format (default: from the extension, else vcf)")
    p.add_argument("--ref-mismatch", choices=REF_MISMATCH_MODES, default="flag",
                   help="records whose REF differs from the FASTA: flag them (default, kept unscored), skip "
                        "them (left out of the output) or fail before scoring")
    p.add_argument("--contig-length-mismatch", choices=CONTIG_LENGTH_MODES, default="error",
                   help="a ##contig length of the VCF that differs from the FASTA's (another build): stop before "
                        "scoring (default) or warn and score")
    p.add_argument("--strict-contigs", action="store_true",
                   help="fail when a VCF contig is not in the FASTA (default: flag its records contig_missing)")
    p.add_argument("--flank", type=positive_int, default=64,
                   help="bases either side of the variant that scores are pooled over (default: 64)")
    p.add_argument("--num-passes", type=positive_int, default=8,
                   help="interleaved masking passes of the indel pseudo-log-likelihood (default: 8)")
    p.add_argument("--no-embedding", dest="embedding", action="store_false",
                   help="skip GS_EMB, the embedding distance (an SNV then costs one masked REF pass per position "
                        "and strand, shared by its ALTs)")
    add_inference_options(p)
    add_resume_option(p)
    return p


def main(argv: list[str]) -> None:
    """Run ``genosparse vep`` with command-line arguments ``argv``."""
    run_model_command("vep", parser(), argv, lambda *run: _run(*run, argv=argv))


def _run(args: argparse.Namespace, model: GenomicModel, dev: torch.device, elapsed: Callable[[], float], *,
         argv: list[str]) -> None:
    counts = annotate_vcf(model, args.fasta, args.vcf, args.out, fmt=args.format,
                          strict_contigs=args.strict_contigs, window=args.window, flank=args.flank,
                          batch_size=args.batch_size, rc_average=args.rc_average, num_passes=args.num_passes,
                          embedding=args.embedding, ref_mismatch=args.ref_mismatch,
                          contig_lengths=args.contig_length_mismatch, command=shlex.join(["genosparse", "vep", *argv]),
                          checkpoint=args.checkpoint, threads=args.threads or 1, device=dev, progress=not args.quiet,
                          resume=args.resume)
    seconds = elapsed()
    flagged = counts.get("variants", 0) - counts.get("scored", 0)
    summary(args, f"wrote {counts.get('records', 0)} records ({counts.get('variants', 0)} ALT alleles, "
                  f"{counts.get('scored', 0)} scored, {flagged} flagged without a score, {counts.get('skipped', 0)} "
                  f"records skipped) to {args.out} in {seconds:.1f} s")
