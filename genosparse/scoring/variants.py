"""``score_variants``: zero-shot variant-effect scores from an MLM checkpoint, and their writers.

For every ALT of every VCF record (read and checked by :mod:`genosparse.genome.variants`)
the REF and ALT windows of the model's context length are built with the first changed base
at index ``L // 2`` of both (:func:`genosparse.genome.variants.variant_windows`; equal
lengths: an insertion pushes bases out of the right end, a deletion pulls reference bases
in). Two scores, each averaged over both strands unless ``rc_average=False``:

``llr`` (natural log, ALT vs REF)
    SNV and MNV: the masked marginal of Meier et al. 2021, the form GPN (Benegas et al.
    2023) and the Nucleotide Transformer (Dalla-Torre et al. 2023) use: every changed
    position is replaced by ``[MASK]`` in the REF window and
    ``sum_i log P(alt_i) - log P(ref_i)`` is taken over the changed positions, all masked
    together. Insertions, deletions and complex variants have no position-by-position
    pairing, so their LLR is a pseudo-log-likelihood difference (Salazar et al. 2020):
    ``sum_{i in F} log P(alt_window_i | alt_window with i masked) - the same for the REF
    window``, over the *focus* ``F`` = the variant's window positions plus ``flank`` bases
    either side (``[L//2 - flank, L//2 + max(len ref, len alt) + flank)``, the same indices in
    both windows because they have equal lengths and the same left flank). Each base is
    predicted once, ``num_passes`` interleaved bases masked at a time
    (:func:`genosparse.scoring.scorers.mlm_log_likelihood`); N positions do not count. The
    two forms coincide in sign convention (positive: ALT more likely) but not in scale, so
    compare LLRs within a kind. Identical REF and ALT give 0, and swapping REF and ALT
    (against a reference carrying the ALT) negates the LLR exactly for every kind.
``embedding_distance``
    Cosine distance ``1 - cos(mean h_ref, mean h_alt)`` of the model's last hidden states
    (``model.embed``) averaged over the focus ``F`` of the unmasked REF and ALT windows
    (the embedding distance of GPN, there over the whole window).

Per-ALT flags (:data:`FLAGS`): ``""`` scored; ``"padded"`` scored with the window
padded with N beyond a contig end; any other value is why there is no score (``nan``).

Writers: :func:`write_vcf` (bgzip VCF + tabix index, INFO keys of :data:`INFO_KEYS`, every
record in input order) and :func:`write_tsv`; both atomic (temporary files renamed at the
end). :func:`annotate_vcf` runs reading, scoring and writing.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam
import torch
from tqdm.auto import tqdm

import genosparse
from genosparse.errors import ConfigError, VariantError, check_ints
from genosparse.genome import Genome
from genosparse.genome.variants import FLAGS as READ_FLAGS
from genosparse.genome.variants import Variant, VcfSource, fits_window, open_vcf, quiet_htslib, variant_windows
from genosparse.models.backbone import GenomicModel
from genosparse.models.checkpoint import load_model
from genosparse.scoring.fasta import default_device
from genosparse.scoring.scorers import mlm_log_likelihood
from genosparse.scoring.writers import atomic_output
from genosparse.sequence.vocab import MASK, reverse_complement

log = logging.getLogger(__name__)

FLAGS = {**READ_FLAGS, "longer_than_window": "REF or ALT (trimmed) is longer than half the window"}
"""Reasons a variant is not scored (besides these, ``padded`` marks a scored variant)."""

FORMATS = ("vcf", "tsv")
STREAM_CHUNK = 4
"""Variants are windowed and scored ``STREAM_CHUNK * batch_size`` at a time."""
_COMPLEMENT_BASES = [3, 2, 1, 0]  # A C G T -> T G C A


@dataclass(frozen=True, slots=True)
class VariantScore:
    """Scores of one ALT (see the module docstring).

    Attributes:
        variant: the ALT allele with its record, coordinates (0-based) and kind.
        llr: log-likelihood ratio ALT vs REF (natural log), ``nan`` when not scored.
        embedding_distance: cosine distance of pooled REF/ALT hidden states, ``nan`` when not scored.
        flag: ``""``, ``"padded"`` (scored), or the reason it is not scored (:data:`FLAGS`).
    """

    variant: Variant
    llr: float
    embedding_distance: float
    flag: str

    @property
    def scored(self) -> bool:
        return self.flag in ("", "padded")


@dataclass
class ScoredRecord:
    """A pysam VCF record and the scores of its ALTs (``alt_index`` order)."""

    record: pysam.VariantRecord
    scores: list[VariantScore]


# ---------------------------------------------------------------------------- model passes
def masked_marginal(model: GenomicModel, tokens: torch.Tensor, batch_size: int, rc_average: bool) -> torch.Tensor:
    """MLM log-probabilities of A, C, G, T at every position of (partly ``[MASK]``ed) windows.

    Args:
        tokens: ``(B, L)`` int64, typically with the positions of interest set to ``[MASK]``.
        batch_size: rows per forward pass.
        rc_average: average with the reverse complement's log-probabilities, mapped back
            to these positions and bases.
    Returns:
        ``(B, L, 4)`` float32 natural-log probabilities over A, C, G, T.
    """
    logp = _rows(lambda t: torch.log_softmax(model(t).float(), -1), batch_size, tokens)
    if rc_average:
        rc = _rows(lambda t: torch.log_softmax(model(t).float(), -1), batch_size, reverse_complement(tokens))
        logp = (logp + rc.flip(1)[..., _COMPLEMENT_BASES]) / 2
    return logp


def _rows(fn, batch_size: int, *tensors: torch.Tensor) -> torch.Tensor:
    """``fn`` applied to slices of ``batch_size`` rows of ``tensors`` (equal first dimensions), concatenated."""
    return torch.cat([fn(*(t[i:i + batch_size] for t in tensors)) for i in range(0, tensors[0].shape[0], batch_size)])


def _strands(tokens: torch.Tensor, rc_average: bool):
    """``(tokens, flip)`` for the forward strand and, with ``rc_average``, the reverse complement."""
    yield tokens, False
    if rc_average:
        yield reverse_complement(tokens), True


def _embedding_distance(model, ref, alt, focus, batch_size, rc_average) -> torch.Tensor:
    """``(n,)`` cosine distance of REF/ALT hidden states pooled over ``focus`` ``(n, L)`` bool."""
    def pool(tokens, weights):  # per slice: the (rows, L, C) hidden states are never all held at once
        weights = weights.unsqueeze(-1).float()
        return (model.embed(tokens).float() * weights).sum(1) / weights.sum(1).clamp_min(1.0)

    def pooled(tokens, flip):
        return _rows(pool, batch_size, tokens, focus.flip(1) if flip else focus)

    distances = [1 - torch.cosine_similarity(pooled(r, flip), pooled(a, flip), dim=-1)
                 for (r, flip), (a, _) in zip(_strands(ref, rc_average), _strands(alt, rc_average))]
    return torch.stack(distances).mean(0).clamp(0.0, 2.0)  # rounding can put identical vectors at -1e-7


def _substitution_llr(model, ref, alt, batch_size, rc_average) -> torch.Tensor:
    """``(n,)`` masked-marginal LLR of equal-length windows differing at the substituted bases."""
    changed = ref != alt
    logp = masked_marginal(model, torch.where(changed, MASK, ref), batch_size, rc_average)
    gain = logp.gather(-1, alt.clamp_max(3).unsqueeze(-1)) - logp.gather(-1, ref.clamp_max(3).unsqueeze(-1))
    return (gain.squeeze(-1) * changed).sum(-1)


def _pll_difference(model, ref, alt, focus, batch_size, rc_average, num_passes) -> torch.Tensor:
    """``(n,)`` pseudo-log-likelihood of the ALT minus the REF windows over ``focus`` ``(n, L)``."""
    def pll(tokens):
        total = []
        for strand, flip in _strands(tokens, rc_average):
            ll = _rows(lambda t: mlm_log_likelihood(model, t, num_passes), batch_size, strand)
            total.append(torch.nansum((ll.flip(1) if flip else ll) * focus, -1))
        return torch.stack(total).mean(0)

    return pll(alt) - pll(ref)


# ---------------------------------------------------------------------------- scoring loop
def score_records(model: GenomicModel, source: VcfSource, *, window: int | None = None, flank: int = 64,
                  batch_size: int = 8, rc_average: bool = True, num_passes: int = 8, ref_mismatch: str = "flag",
                  device: torch.device | str | None = None, progress: bool = True) -> Iterator[ScoredRecord]:
    """Score every ALT of an opened VCF; yield one :class:`ScoredRecord` per record, in input order.

    Arguments as :func:`score_variants` (``model`` loaded, ``source`` from
    :func:`genosparse.genome.variants.open_vcf`). With ``ref_mismatch="skip"`` records whose
    REF differs from the FASTA are not yielded.
    """
    if model.config.head != "mlm":
        raise ConfigError(f"variant scoring needs a masked-LM checkpoint (head 'mlm'), this model's head is "
                          f"{model.config.head!r}")
    device = default_device(device)
    model = model.eval().to(device)
    check_ints(window=window, flank=flank, num_passes=num_passes, batch_size=batch_size)
    window = window or model.config.context_length
    if window < 2 or flank < 0 or num_passes < 1 or batch_size < 1:
        raise ConfigError(f"need window >= 2, flank >= 0, num_passes >= 1 and batch_size >= 1; got {window}, "
                          f"{flank}, {num_passes}, {batch_size}")
    log.info("scoring %d ALT alleles of %d records in %s: windows of %d bases, focus +-%d bases, %s",
             source.scan.num_variants, source.scan.num_records, source.path, window, flank,
             "both strands" if rc_average else "forward strand")
    settings = dict(window=window, flank=flank, batch_size=batch_size, rc_average=rc_average,
                    num_passes=num_passes, device=device)
    skipped = sum(source.scan.ref_mismatch) if ref_mismatch == "skip" else 0
    bar = tqdm(total=source.scan.num_records - skipped, unit="record", disable=not progress, desc="vep")
    pending: list[tuple[pysam.VariantRecord, list[Variant]]] = []
    scorable = 0
    for record, variants in source.variants(ref_mismatch):
        pending.append((record, variants))
        scorable += sum(not v.flag for v in variants)
        if scorable >= STREAM_CHUNK * batch_size:
            yield from _score_chunk(model, source.genome, pending, **settings)
            bar.update(len(pending))
            pending, scorable = [], 0
    yield from _score_chunk(model, source.genome, pending, **settings)
    bar.update(len(pending))
    bar.close()


@torch.inference_mode()  # a function, not the generator: no inference mode leaks to the caller between yields
def _score_chunk(model, genome, pending, *, window, flank, batch_size, rc_average, num_passes, device
                 ) -> list[ScoredRecord]:
    """Window and score the variants of ``pending`` records; return the records in order."""
    todo = [v for _, variants in pending for v in variants if not v.flag and fits_window(v, window)]
    results: dict[tuple[int, int], tuple[float, float, str]] = {}
    if todo:
        windows = [variant_windows(genome, v, window, flank) for v in todo]
        ref = torch.from_numpy(np.stack([w.ref for w in windows])).to(device)
        alt = torch.from_numpy(np.stack([w.alt for w in windows])).to(device)
        focus = torch.zeros(ref.shape, dtype=torch.bool)
        for row, w in enumerate(windows):
            focus[row, w.focus[0]:w.focus[1]] = True
        focus = focus.to(device)
        substitution = torch.tensor([len(v.ref_core) == len(v.alt_core) for v in todo], device=device)
        llr = torch.empty(len(todo), device=device)
        if bool(substitution.any()):
            llr[substitution] = _substitution_llr(model, ref[substitution], alt[substitution], batch_size,
                                                  rc_average)
        indel = ~substitution
        if bool(indel.any()):
            llr[indel] = _pll_difference(model, ref[indel], alt[indel], focus[indel], batch_size, rc_average,
                                         num_passes)
        distance = _embedding_distance(model, ref, alt, focus, batch_size, rc_average)
        for v, w, value, dist in zip(todo, windows, llr.tolist(), distance.tolist()):
            results[(v.record_index, v.alt_index)] = (value, dist, "padded" if w.padded else "")
    scored = []
    for record, variants in pending:
        scores = []
        for v in variants:
            flag = v.flag or ("" if fits_window(v, window) else "longer_than_window")
            value, dist, flag = results.get((v.record_index, v.alt_index), (math.nan, math.nan, flag))
            scores.append(VariantScore(v, value, dist, flag))
        scored.append(ScoredRecord(record, scores))
    return scored


def score_variants(model: GenomicModel | str | os.PathLike, fasta: str | os.PathLike | Genome,
                   vcf: str | os.PathLike, *, window: int | None = None, flank: int = 64, batch_size: int = 8,
                   rc_average: bool = True, num_passes: int = 8, ref_mismatch: str = "flag",
                   strict_contigs: bool = False, device: torch.device | str | None = None,
                   progress: bool = True) -> Iterator[VariantScore]:
    """Score every ALT of a VCF with an MLM model; stream one :class:`VariantScore` per ALT in input order.

    Args:
        model: a loaded MLM :class:`GenomicModel` or a checkpoint folder.
        fasta: reference FASTA path or :class:`Genome`.
        vcf: VCF (plain, bgzip, gzip) or BCF path.
        window: window length in bases; default the model's ``context_length``.
        flank: bases either side of the variant in the focus (pooling and PLL neighbourhood).
        batch_size: rows per forward pass (and ``STREAM_CHUNK * batch_size`` variants per chunk).
        rc_average: average every score over both strands.
        num_passes: interleaved masking passes of the indel pseudo-log-likelihood.
        ref_mismatch: ``flag`` / ``skip`` / ``fail``, see
            :data:`genosparse.genome.variants.REF_MISMATCH_MODES`.
        strict_contigs: raise when a VCF contig is missing from the FASTA (default: flag).
        device: default CUDA when available, else CPU.
        progress: show a tqdm progress bar (records).
    Yields:
        :class:`VariantScore`, one per ALT (one ``no_alt`` per record with ALT ``.``).
    Raises:
        VariantError: unreadable VCF, REF mismatches with ``fail``, missing contigs with ``strict_contigs``.
        FastaError: unreadable FASTA.
        ConfigError: unreadable checkpoint, a non-MLM model or bad settings.
    """
    device = default_device(device)
    if not isinstance(model, GenomicModel):
        model = load_model(model, device)
    genome = fasta if isinstance(fasta, Genome) else Genome(fasta)
    with open_vcf(vcf, genome, strict_contigs=strict_contigs) as source:
        for scored in score_records(model, source, window=window, flank=flank, batch_size=batch_size,
                                    rc_average=rc_average, num_passes=num_passes, ref_mismatch=ref_mismatch,
                                    device=device, progress=progress):
            yield from scored.scores


# ---------------------------------------------------------------------------- writers
INFO_KEYS = ("GS_LLR", "GS_EMB", "GS_KIND", "GS_FLAG")


def _info_definitions(window: int, flank: int, rc_average: bool, num_passes: int) -> list[tuple[str, str, str]]:
    strands = "averaged over both strands" if rc_average else "forward strand only"
    reasons = "; ".join(f"{key}: {text}" for key, text in FLAGS.items())
    return [
        ("GS_LLR", "Float",
         f"genosparse log-likelihood ratio log P(ALT) - log P(REF) (natural log) from windows of {window} bases "
         f"centred on the variant, {strands}. SNV/MNV: masked marginal (changed bases masked in the REF window; "
         f"Meier et al. 2021, GPN, Nucleotide Transformer). Insertion/deletion/complex: pseudo-log-likelihood of "
         f"the ALT window minus the REF window over the variant and {flank} bases either side ({num_passes} "
         f"masking passes). Missing when not scored (see GS_FLAG)"),
        ("GS_EMB", "Float",
         f"genosparse cosine distance between the mean last-layer hidden states of the REF and ALT windows over "
         f"the variant and {flank} bases either side, {strands}. Missing when not scored"),
        ("GS_KIND", "String",
         "genosparse variant kind after trimming shared bases: SNV, MNV, insertion, deletion, complex, identical "
         "(ALT equals REF), symbolic, breakend, star, no_alt"),
        ("GS_FLAG", "String",
         f"genosparse flag: '.' scored; 'padded' scored, the window padded with N beyond the contig end; "
         f"otherwise the reason it is not scored: {reasons}"),
    ]


def write_vcf(records: Iterable[ScoredRecord], header: pysam.VariantHeader, out: str | os.PathLike,
              definitions: list[tuple[str, str, str]], *, index: bool = True) -> None:
    """Write ``records`` as a bgzip VCF with the INFO keys of ``definitions`` (Number=A) and a tabix index.

    Every record passed in is written, in order, with its other fields unchanged (values as
    htslib formats them, e.g. ``100.0`` becomes ``100``), except that pysam adds
    ``END = POS + len(REF) - 1`` to records with a symbolic ALT that have none (the span
    they already have; END is then defined in the header). A record with ALT ``.`` gets no
    genosparse keys (Number=A has no value to hold). Both files are written in a temporary
    folder beside ``out`` and renamed at the end (index first).

    Args:
        header: the source's header (:attr:`genosparse.genome.variants.VcfSource.header`).
        out: output path, ending in ``.vcf.gz`` or ``.vcf.bgz``; the index is ``out + ".tbi"``.
        definitions: ``(key, type, description)`` of the INFO keys to add.
        index: build the tabix index (needs records sorted by contig and position); when
            False a stale ``out.tbi`` is removed.
    Raises:
        ConfigError: ``out`` without a ``.vcf.gz``/``.vcf.bgz`` name.
        VariantError: the header already defines one of the keys.
    """
    out = _vcf_output(out)
    present = [key for key, _, _ in definitions if key in header.info]
    if present:
        raise VariantError(f"the input VCF already has INFO/{', INFO/'.join(present)}; remove them first, e.g. "
                           f"`bcftools annotate -x {','.join('INFO/' + k for k in present)}`")
    header = header.copy()
    header.add_meta("genosparse_version", genosparse.__version__)
    for key, kind, description in definitions:
        header.info.add(key, "A", kind, description)
    if "END" not in header.info:  # pysam writes END on records with symbolic ALTs, defined or not
        header.info.add("END", "1", "Integer", "Stop position of the interval")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        data = tmp / out.name
        with pysam.VariantFile(str(data), "wz", header=header) as vcf:
            for scored in records:
                record = scored.record
                record.translate(vcf.header)  # the writer's own copy: its tag ids are the ones written
                if record.alts:
                    for key, values in zip(INFO_KEYS, _info_values(scored.scores)):
                        record.info[key] = values
                vcf.write(record)
        tbi = Path(str(out) + ".tbi")
        if index:
            with quiet_htslib():  # tabix re-reads the header and repeats its sanity warnings
                pysam.tabix_index(str(data), preset="vcf", force=True)
            os.replace(str(data) + ".tbi", tbi)
        else:
            with contextlib.suppress(FileNotFoundError):
                tbi.unlink()
        os.replace(data, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _vcf_output(out: str | os.PathLike) -> Path:
    """``out`` as a path, checked to be named like the bgzip VCF it will be."""
    out = Path(out)
    if not out.name.endswith((".vcf.gz", ".vcf.bgz")):
        raise ConfigError(f"VCF output is bgzip-compressed: name it .vcf.gz (got {out})")
    return out


def _info_values(scores: list[VariantScore]) -> tuple[tuple, ...]:
    """Per-ALT values of :data:`INFO_KEYS` (``None`` writes ``.``)."""
    def number(value: float) -> float | None:
        return None if math.isnan(value) else value

    return (tuple(number(s.llr) for s in scores), tuple(number(s.embedding_distance) for s in scores),
            tuple(s.variant.kind for s in scores), tuple(s.flag or "." for s in scores))


TSV_COLUMNS = ("record", "chrom", "pos", "id", "ref", "alt", "kind", "llr", "embedding_distance", "flag")


def write_tsv(records: Iterable[ScoredRecord], out: str | os.PathLike) -> None:
    """Write one row per ALT (columns :data:`TSV_COLUMNS`), atomically.

    ``record`` is the 1-based record number in the VCF; ``chrom pos id ref alt`` are copied
    from the VCF (``pos`` is the VCF's 1-based POS); unscored values are ``nan``.
    """
    with atomic_output(out) as handle:
        handle.write("\t".join(TSV_COLUMNS) + "\n")
        for scored in records:
            record = scored.record
            for s in scored.scores:
                v = s.variant
                handle.write(f"{v.record_index + 1}\t{record.chrom}\t{record.pos}\t{record.id or '.'}\t{record.ref}\t"
                             f"{v.alt}\t{v.kind}\t{s.llr:.6g}\t{s.embedding_distance:.6g}\t{s.flag or '.'}\n")


def annotate_vcf(model: GenomicModel, fasta: str | os.PathLike | Genome, vcf: str | os.PathLike,
                 out: str | os.PathLike, *, fmt: str = "vcf", strict_contigs: bool = False, window: int | None = None,
                 flank: int = 64, batch_size: int = 8, rc_average: bool = True, num_passes: int = 8,
                 ref_mismatch: str = "flag", device: torch.device | str | None = None,
                 progress: bool = True) -> dict[str, int]:
    """Score ``vcf`` and write it to ``out`` as an annotated bgzip VCF (``fmt="vcf"``) or a TSV.

    Arguments as :func:`score_variants`; the VCF writer is :func:`write_vcf` (indexed when the
    input is sorted), the TSV writer :func:`write_tsv`.

    Returns:
        Counts: ``records`` and ``variants`` written, ``scored``, ``skipped`` records (REF
        mismatches with ``skip``), and one entry per flag.
    Raises:
        ConfigError: an unknown ``fmt`` (and as :func:`score_variants`).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "vcf":
        _vcf_output(out)  # fail before reading anything
    genome = fasta if isinstance(fasta, Genome) else Genome(fasta)
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

    with open_vcf(vcf, genome, strict_contigs=strict_contigs) as source:
        window = window or model.config.context_length
        records = counted(score_records(model, source, window=window, flank=flank, batch_size=batch_size,
                                        rc_average=rc_average, num_passes=num_passes, ref_mismatch=ref_mismatch,
                                        device=device, progress=progress))
        if fmt == "tsv":
            write_tsv(records, out)
        else:
            if not source.scan.is_sorted:
                log.warning("%s is not sorted by contig and position: writing %s in input order without a tabix "
                            "index (sort with `bcftools sort` to get one)", source.path, out)
            write_vcf(records, source.header, out, _info_definitions(window, flank, rc_average, num_passes),
                      index=source.scan.is_sorted)
        counts["skipped"] = source.scan.num_records - counts["records"]
    flags = ", ".join(f"{key} {counts[key]}" for key in [*FLAGS, "padded"] if counts[key])
    log.info("%s: %d records, %d ALT alleles, %d scored%s%s", out, counts["records"], counts["variants"],
             counts["scored"], f"; flagged: {flags}" if flags else "",
             f"; {counts['skipped']} records skipped (REF mismatch)" if counts["skipped"] else "")
    return dict(counts)
