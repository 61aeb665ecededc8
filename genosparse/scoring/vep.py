"""``score_variants`` and ``annotate_vcf``: the variant-effect loop over a VCF.

Records are read (:mod:`genosparse.genome.vcf`) and windowed
(:func:`~genosparse.genome.alleles.variant_windows`) a chunk at a time in a background thread
(:func:`~genosparse.scoring.prepare.prefetch`); each chunk's passes are planned
(:func:`~genosparse.scoring.effects.plan_variant`: identical passes once, so the three ALTs of a
position share their masked REF pass and their REF embedding) and run on the device
(:class:`~genosparse.scoring.passes.PassPlan`) while the next chunk is read. Chunks end between
positions, so the ALTs of one position are always planned together. Records come out in input
order, one :class:`ScoredRecord` each; memory does not grow with the VCF. The scores are defined
in :mod:`genosparse.scoring.effects`.

Per-ALT flags (:data:`~genosparse.scoring.effects.FLAGS`): ``""`` scored; ``"padded"`` scored
with the window padded with N beyond a contig end; any other value is why there is no score (``nan``).
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pysam
import torch
from tqdm.auto import tqdm

from genosparse.errors import PATH, ConfigError, check_ints, check_type
from genosparse.io import is_stream, writer_for
from genosparse.genome import Genome
from genosparse.genome.alleles import Variant, fits_window, variant_windows
from genosparse.genome.vcf import VcfSource, open_vcf
from genosparse.models.backbone import GenomicModel
from genosparse.models.checkpoint import describe_checkpoint
from genosparse.scoring.effects import FLAGS, ScoredRecord, VariantScore, plan_variant, variant_scores
from genosparse.scoring.passes import PassPlan
from genosparse.scoring.prepare import Inference, fit_in_memory, prefetch, prepare
from genosparse.scoring.resume import (ChunkStore, base_manifest, file_identity, job_state, stored_records,
                                      vep_arrays)
from genosparse.scoring.variant_writers import check_info_keys, info_definitions, vcf_output

if TYPE_CHECKING:
    from genosparse.genome.vcf import VcfInput

log = logging.getLogger(__name__)

CHUNK = 32
"""A chunk holds about ``CHUNK * batch_size`` scorable ALTs (more to finish a position)."""
CHUNK_RECORDS = 4096
"""... and at most about this many records, scorable or not (memory stays flat over unscorable stretches)."""


@dataclass
class _Chunk:
    """Records read and planned, waiting for their passes to run."""

    records: list[tuple[pysam.VariantRecord, list[Variant]]]
    plan: PassPlan
    readouts: dict[tuple[int, int], tuple[object, bool]]  # (record, alt) -> (readouts, padded)

    def scored(self, inference: Inference, batch_size: int, window: int) -> list[ScoredRecord]:
        results = self.plan.run(inference, batch_size)
        out = []
        for record, variants in self.records:
            scores = []
            for v in variants:
                planned = self.readouts.get((v.record_index, v.alt_index))
                if planned is None:
                    flag = v.flag or ("" if fits_window(v, window) else "longer_than_window")
                    scores.append(VariantScore(v, math.nan, math.nan, flag))
                else:
                    llr, distance = variant_scores(results, planned[0])
                    scores.append(VariantScore(v, llr, distance, "padded" if planned[1] else ""))
            out.append(ScoredRecord(record, scores))
        return out


def _chunks(source: VcfSource, ref_mismatch: str, *, window: int, flank: int, rc_average: bool, num_passes: int,
            embedding: bool, batch_size: int, start: int = 0) -> Iterator[_Chunk]:
    """Records of ``source`` from record index ``start`` on (earlier ones are neither planned nor read from
    the genome) in planned chunks of about ``CHUNK * batch_size`` scorable ALTs, cut between positions,
    their batches built (:meth:`PassPlan.batches`)."""
    chunk = _Chunk([], PassPlan(window), {})
    last = None
    for record, variants in source.variants(ref_mismatch):
        if variants[0].record_index < start:
            continue
        where = (record.chrom, record.pos)
        full = len(chunk.readouts) >= CHUNK * batch_size or len(chunk.records) >= CHUNK_RECORDS
        if full and where != last:
            chunk.plan.batches(batch_size)
            yield chunk
            chunk = _Chunk([], PassPlan(window), {})
        last = where
        chunk.records.append((record, variants))
        for v in variants:
            if not v.flag and fits_window(v, window):
                windows = variant_windows(source.genome, v, window, flank)
                readouts = plan_variant(chunk.plan, v, windows, rc_average=rc_average, num_passes=num_passes,
                                        embedding=embedding)
                chunk.readouts[(v.record_index, v.alt_index)] = (readouts, windows.padded)
    if chunk.records:
        chunk.plan.batches(batch_size)
        yield chunk


def score_records(model: GenomicModel | Inference | str | os.PathLike, source: VcfSource, *, window: int | None = None,
                  flank: int = 64, batch_size: int = 8, rc_average: bool = True, num_passes: int = 8,
                  embedding: bool = True, ref_mismatch: str = "flag", device: torch.device | str | None = None,
                  progress: bool = True, store: ChunkStore | None = None) -> Iterator[ScoredRecord]:
    """Score every ALT of an opened VCF: one :class:`ScoredRecord` per record, in input order.

    Arguments as :func:`score_variants` (``source`` from :func:`genosparse.genome.vcf.open_vcf`;
    ``model`` may be a prepared :class:`~genosparse.scoring.prepare.Inference`).
    With ``ref_mismatch="skip"`` records whose REF differs from the FASTA are left out.
    Without a ``store`` the records stream as their chunks are scored. With one
    (:mod:`genosparse.scoring.resume`) every chunk the store lacks is scored and saved when this
    is called, and the records then come with the store's scores.
    """
    check_ints(flank=flank, num_passes=num_passes, batch_size=batch_size)
    inference = prepare(model, source.genome, window=window, device=device, head="mlm", what="variant scoring",
                        min_window=2, needs_genome=True)
    if flank < 0 or num_passes < 1 or batch_size < 1:
        raise ConfigError(f"need flank >= 0, num_passes >= 1 and batch_size >= 1; got {flank}, {num_passes}, "
                          f"{batch_size}")
    window = inference.window
    log.info("scoring %d ALT alleles of %d records in %s: windows of %d bases, focus +-%d bases, %s%s",
             source.scan.num_variants, source.scan.num_records, source.path, window, flank,
             "both strands" if rc_average else "forward strand", "" if embedding else ", no embedding distance")
    chunks = _chunks(source, ref_mismatch, window=window, flank=flank, rc_average=rc_average, num_passes=num_passes,
                     embedding=embedding, batch_size=batch_size, start=store.done if store else 0)
    skipped = sum(source.scan.ref_mismatch) if ref_mismatch == "skip" else 0
    parts = _scored_parts(inference, chunks, batch_size, source.scan.num_records - skipped,
                          store.done if store else 0, progress)
    if store is None:
        return (record for part in parts for record in part)
    for part in parts:
        store.save(vep_arrays(part), part[-1].scores[0].variant.record_index + 1)
    return stored_records(store, source.variants(ref_mismatch))


def _scored_parts(inference: Inference, chunks: Iterator[_Chunk], batch_size: int, total: int, done: int,
                  progress: bool) -> Iterator[list[ScoredRecord]]:
    """The records of each of ``chunks`` scored, a list per chunk; a progress bar of ``total`` records
    starting at ``done``."""
    with tqdm(total=total, initial=min(done, total), unit="record", disable=not progress, desc="vep") as bar:
        for chunk in prefetch(chunks):
            record = chunk.records[0][0]
            scored, batch_size = fit_in_memory(lambda b: chunk.scored(inference, b, inference.window), batch_size,
                                               f"the variants from {record.chrom}:{record.pos:,}", inference.window)
            bar.update(len(scored))
            yield scored


def score_variants(model: GenomicModel | str | os.PathLike, fasta: str | os.PathLike | Genome,
                   vcf: VcfInput, *, window: int | None = None, flank: int = 64, batch_size: int = 8,
                   rc_average: bool = True, num_passes: int = 8, embedding: bool = True, ref_mismatch: str = "flag",
                   strict_contigs: bool = False, contig_lengths: str = "error",
                   device: torch.device | str | None = None, progress: bool = True) -> Iterator[VariantScore]:
    """Score every ALT of a VCF with an MLM model; stream one :class:`VariantScore` per ALT in input order.

    Args:
        model: a loaded MLM :class:`GenomicModel`, a checkpoint folder or a shipped name.
        fasta: reference FASTA path or :class:`Genome`.
        vcf: VCF (plain, bgzip, gzip) or BCF path, an open ``pysam.VariantFile``, or a pandas DataFrame
            with columns ``chrom``, ``pos`` (1-based, as VCF ``POS``), ``ref`` and ``alt`` (one ALT, or
            several separated by commas) and optionally ``id``; a VariantFile or DataFrame is written
            to a temporary VCF and read as a file is (:mod:`genosparse.genome.variant_table`).
        window: window length in bases; default the model's ``context_length``.
        flank: bases either side of the variant in the focus (pooling and PLL neighbourhood).
        batch_size: windows per forward pass (and about ``CHUNK * batch_size`` ALTs per chunk).
        rc_average: average every score over both strands.
        num_passes: interleaved masking passes of the indel pseudo-log-likelihood.
        embedding: compute the embedding distance (False: LLR only, ``nan`` distances; an SNV
            then costs one masked REF pass per position and strand).
        ref_mismatch: ``flag`` / ``skip`` / ``fail``, see :data:`genosparse.genome.vcf.REF_MISMATCH_MODES`.
        strict_contigs: raise when a VCF contig is missing from the FASTA (default: flag).
        contig_lengths: ``error`` (default) or ``warn`` when a ``##contig`` length of the VCF
            differs from the FASTA's (another build), see :func:`~genosparse.genome.vcf.open_vcf`.
        device: default CUDA when available, else CPU.
        progress: show a tqdm progress bar (records).
    Yields:
        :class:`VariantScore`, one per ALT (one ``no_alt`` per record with ALT ``.``).
    Raises:
        VariantError: unreadable VCF, REF mismatches with ``fail``, missing contigs with ``strict_contigs``,
            ``##contig`` lengths that differ from the FASTA's (with ``contig_lengths="error"``),
            a DataFrame without the columns or with a bad value (naming the row).
        FastaError: unreadable FASTA.
        ConfigError: unreadable checkpoint, a non-MLM model or bad settings.
        ArgumentError: an argument of the wrong type (also a ``TypeError``).
    """
    inference = prepare(model, fasta, window=window, device=device, head="mlm", what="variant scoring", min_window=2,
                        needs_genome=True)
    with open_vcf(vcf, inference.genome, strict_contigs=strict_contigs, contig_lengths=contig_lengths) as source:
        for scored in score_records(inference, source, flank=flank, batch_size=batch_size, rc_average=rc_average,
                                    num_passes=num_passes, embedding=embedding, ref_mismatch=ref_mismatch,
                                    progress=progress):
            yield from scored.scores


def annotate_vcf(model: GenomicModel | str | os.PathLike, fasta: str | os.PathLike | Genome,
                 vcf: VcfInput, out: str | os.PathLike, *, fmt: str | None = None, strict_contigs: bool = False,
                 window: int | None = None, flank: int = 64, batch_size: int = 8, rc_average: bool = True,
                 num_passes: int = 8, embedding: bool = True, ref_mismatch: str = "flag",
                 contig_lengths: str = "error", command: str | None = None,
                 checkpoint: str | os.PathLike | None = None, threads: int = 1,
                 device: torch.device | str | None = None, progress: bool = True,
                 resume: bool = False) -> dict[str, int]:
    """Score ``vcf`` and write it to ``out`` as an annotated VCF (``fmt="vcf"``) or a TSV.

    Arguments as :func:`score_variants`; ``vcf`` may also be ``-`` (standard input, spooled to a
    temporary file) and ``out`` ``-`` (standard output: plain VCF, or TSV). The format is ``fmt``,
    else the extension's (``.vcf.gz``/``.vcf.bgz`` bgzip + tabix, ``.vcf`` plain, ``.tsv``), else VCF.
    The writers are :func:`~genosparse.scoring.variant_writers.write_vcf` (indexed when the
    input is sorted; its header records this run: version, ``command`` (default: this process's
    command line) and the checkpoint's name and weights hash: ``checkpoint``, the name ``model`` was
    loaded from, else ``model`` itself, see :func:`~genosparse.models.checkpoint.describe_checkpoint`; ``threads``:
    htslib threads reading and compressing bgzip) and
    :func:`~genosparse.scoring.variant_writers.write_tsv`. For a VCF file written to a file, chunks of
    scores are kept in the resume state folder ``<dir>/.<out name>.resume/`` as they complete, and
    the output is written from them at the end (:mod:`genosparse.scoring.resume`); otherwise
    (standard input or output, a DataFrame or a VariantFile) records stream from the reader
    through the model to the writer. Memory does not grow with the VCF either way.

    Args:
        resume: continue from the chunks that an interrupted run with the same inputs and settings
            left (with the same ``batch_size`` too, the output is identical to an uninterrupted
            run's); without it an earlier run's state is replaced.

    Returns:
        Counts: ``records`` and ``variants`` written, ``scored``, ``skipped`` records (REF
        mismatches with ``skip``), and one entry per flag.
    Raises:
        ConfigError: an unknown ``fmt`` or output name; ``resume`` with a state made with other inputs
            or settings, or where no state is kept (and as :func:`score_variants`).
    """
    check_type("out", out, PATH, "an output path (str or os.PathLike)")
    writer = writer_for("variants", out, fmt)
    if writer.format == "vcf":
        vcf_output(out)  # fail before reading anything
    inference = prepare(model, fasta, window=window, device=device, head="mlm", what="variant scoring", min_window=2,
                        needs_genome=True)
    counts: Counter = Counter()

    def counted(records: Iterable[ScoredRecord]) -> Iterator[ScoredRecord]:
        for scored in records:
            counts["records"] += 1
            for s in scored.scores:
                counts["variants"] += 1
                counts["scored"] += s.scored
                if s.flag:
                    counts[s.flag] += 1
            yield scored

    with open_vcf(vcf, inference.genome, strict_contigs=strict_contigs, contig_lengths=contig_lengths,
                  threads=threads) as source, \
            job_state(out, resume, lambda: _manifest(inference, vcf, writer.format, flank, rc_average, num_passes,
                                                     embedding, ref_mismatch),
                      "VCF records", unsupported=_no_state_reason(vcf)) as store:
        definitions = info_definitions(inference.window, flank, rc_average, num_passes, embedding)
        if writer.format == "vcf":
            check_info_keys(source.header, definitions)  # before scoring: the writer opens the output after it
        records = counted(score_records(inference, source, flank=flank, batch_size=batch_size,
                                        rc_average=rc_average, num_passes=num_passes, embedding=embedding,
                                        ref_mismatch=ref_mismatch, progress=progress, store=store))
        if writer.format == "vcf" and vcf_output(out) and not source.scan.is_sorted:
            log.warning("%s is not sorted by contig and position: writing %s in input order without a tabix "
                        "index (sort with `bcftools sort` to get one)", source.path, out)
        provenance = {"command": shlex.join(sys.argv) if command is None else command,
                      "checkpoint": describe_checkpoint(model if checkpoint is None else checkpoint)}
        writer.write(records, out, header=source.header, index=source.scan.is_sorted, provenance=provenance,
                     threads=threads, used=source.scan.used_tags, definitions=definitions)
        counts["skipped"] = source.scan.num_records - counts["records"]
    flags = ", ".join(f"{key} {counts[key]}" for key in [*FLAGS, "padded"] if counts[key])
    log.info("%s: %d records, %d ALT alleles, %d scored%s%s", out, counts["records"], counts["variants"],
             counts["scored"], f"; flagged: {flags}" if flags else "",
             f"; {counts['skipped']} records skipped (REF mismatch)" if counts["skipped"] else "")
    return dict(counts)


def _no_state_reason(vcf: VcfInput) -> str | None:
    """Why no resume state can be kept for ``vcf`` (its identity cannot be checked on a rerun), or None."""
    if isinstance(vcf, (str, os.PathLike)) and not is_stream(vcf):
        return None
    return "the VCF is not a file (standard input, a DataFrame or a VariantFile)"


def _manifest(inference: Inference, vcf: str | os.PathLike, fmt: str, flank: int, rc_average: bool, num_passes: int,
              embedding: bool, ref_mismatch: str) -> dict:
    """What makes :func:`annotate_vcf`'s output (its resume state's manifest)."""
    return base_manifest("vep", inference.model, inference.device, fmt, fasta=file_identity(inference.genome.path),
                         vcf=file_identity(vcf), window=inference.window, flank=flank, rc_average=rc_average,
                         num_passes=num_passes, embedding=embedding, ref_mismatch=ref_mismatch)
