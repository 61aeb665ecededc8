"""Variant-effect scores as readouts of planned passes (:mod:`genosparse.scoring.passes`).

For a scorable variant with REF and ALT windows of ``L`` bases (:func:`~genosparse.genome.alleles.variant_windows`:
the first changed base at ``L // 2`` of both, equal lengths) and its *focus* ``F`` (the variant's
window positions plus ``flank`` bases either side), each score is computed on each strand and the
two are averaged (unless ``rc_average=False``):

``llr`` (natural log, ALT vs REF)
    SNV and MNV: the masked marginal of Meier et al. 2021, the form GPN (Benegas et al. 2023)
    and the Nucleotide Transformer (Dalla-Torre et al. 2023) use: every changed position is
    replaced by ``[MASK]`` in the REF window and ``sum_i log P(alt_i) - log P(ref_i)`` is taken
    over the changed positions, all masked together. One masked REF pass per strand serves every
    ALT of that position. Insertions, deletions and complex variants have no position-by-position
    pairing, so their LLR is a pseudo-log-likelihood difference (Salazar et al. 2020):
    ``sum_{i in F} log P(alt_window_i | alt_window with i masked)`` minus the same for the REF
    window, each base predicted once with every ``num_passes``-th base masked
    (:func:`~genosparse.scoring.scorers.mlm_log_likelihood`); N positions do not count. Both forms
    share the sign convention (positive: ALT more likely) but not the scale, so compare LLRs
    within a kind. Identical REF and ALT give 0; swapping REF and ALT (against a reference
    carrying the ALT) negates the LLR exactly for every kind.
``embedding_distance``
    Cosine distance ``1 - cos(mean h_ref, mean h_alt)`` of the last hidden states
    (``model.embed``) averaged over ``F`` of the unmasked REF and ALT windows (GPN's embedding
    distance, there over the whole window), clamped to ``[0, 2]``. Optional (``embedding``): it
    costs the unmasked REF pass (shared by the ALTs of a position) and one ALT pass per strand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pysam

from genosparse.genome.alleles import FLAGS as READ_FLAGS
from genosparse.genome.alleles import Variant, VariantWindows
from genosparse.scoring.passes import PassPlan, PassResults
from genosparse.sequence.vocab import NUM_BASES, encode


FLAGS = {**READ_FLAGS, "longer_than_window": "REF or ALT (trimmed) is longer than half the window"}
"""Reasons a variant is not scored (besides these, ``padded`` marks a scored variant)."""

@dataclass(frozen=True, slots=True)
class VariantScore:
    """Scores of one ALT (see :mod:`genosparse.scoring.effects`).

    Attributes:
        variant: the ALT allele with its record, coordinates (0-based) and kind.
        llr: log-likelihood ratio ALT vs REF (natural log), ``nan`` when not scored.
        embedding_distance: cosine distance of pooled REF/ALT hidden states, ``nan`` when not
            scored or not computed (``embedding=False``).
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


@dataclass(frozen=True)
class _Readouts:
    """Where one variant's numbers will be in the :class:`PassResults` of its plan, per strand."""

    llr_rows: tuple[np.ndarray, ...]  # substitution: log-prob rows of the changed positions
    gain_bases: tuple[np.ndarray, np.ndarray] | None  # substitution: (alt, ref) tokens of those positions
    pll_rows: tuple[tuple[np.ndarray, np.ndarray], ...]  # indel: (REF rows, ALT rows) per strand
    pll_bases: tuple[np.ndarray, np.ndarray] | None  # indel: true tokens at those rows (REF, ALT)
    pooled_rows: tuple[tuple[int, int], ...]  # per strand: (REF row, ALT row); empty without embedding


def plan_variant(plan: PassPlan, variant: Variant, windows: VariantWindows, *, rc_average: bool, num_passes: int,
                 embedding: bool) -> _Readouts:
    """Add the passes ``variant`` needs to ``plan`` and return where its readouts will be."""
    ref_source = plan.source(("ref", variant.contig, windows.start), lambda: windows.ref)
    strands = (False, True) if rc_average else (False,)
    substitution = len(variant.ref_core) == len(variant.alt_core)
    if substitution:
        changed = [windows.centre + k for k, (r, a) in enumerate(zip(variant.ref_core, variant.alt_core)) if r != a]
        alt_tokens = encode(variant.alt_core)
        edits = tuple((pos, int(alt_tokens[pos - windows.centre])) for pos in changed)
        alt_source, alt_edits = ref_source, edits
        llr_rows = tuple(np.array(plan.log_probs(ref_source, changed, reverse=s, mask=tuple(changed)), np.int64)
                         for s in strands) if changed else ()  # identical alleles: LLR 0, no pass
        gain = (np.array([tok for _, tok in edits], np.int64), windows.ref[changed].astype(np.int64))
        pll_rows, pll_bases = (), None
    else:
        alt_source = plan.source(("alt", variant.contig, windows.start, variant.alt_core, len(variant.ref_core)),
                                 lambda: windows.alt)
        alt_edits = ()
        llr_rows, gain = (), None
        lo, hi = windows.focus
        focus = np.arange(lo, hi)
        per_window = []
        for window, source in ((windows.ref, ref_source), (windows.alt, alt_source)):
            bases = focus[window[lo:hi] < NUM_BASES]
            per_window.append((source, bases))
        pll_rows = tuple(tuple(_pll_rows(plan, source, bases, s, num_passes) for source, bases in per_window)
                         for s in strands)
        pll_bases = tuple(window[bases].astype(np.int64) for (window, (_, bases))
                          in zip((windows.ref, windows.alt), per_window))
    pooled_rows = ()
    if embedding:
        lo, hi = windows.focus
        pooled_rows = tuple((plan.pooled(ref_source, lo, hi, reverse=s),
                             plan.pooled(alt_source, lo, hi, reverse=s, edits=alt_edits)) for s in strands)
    return _Readouts(llr_rows, gain, pll_rows, pll_bases, pooled_rows)


def _pll_rows(plan: PassPlan, source: int, bases: np.ndarray, reverse: bool, num_passes: int) -> np.ndarray:
    """Log-prob rows of ``bases`` (forward positions), each read from the pass that masks it on this strand."""
    strand = plan.length - 1 - bases if reverse else bases
    rows = np.empty(len(bases), np.int64)
    for phase in np.unique(strand % num_passes):
        pick = strand % num_passes == phase
        rows[pick] = plan.log_probs(source, bases[pick].tolist(), reverse=reverse,
                                    mask=("every", num_passes, int(phase)))
    return rows


def variant_scores(results: PassResults, readouts: _Readouts) -> tuple[float, float]:
    """``(llr, embedding_distance)`` of one planned variant (``nan`` distance without embedding)."""
    lp = results.log_probs
    if readouts.gain_bases is not None:
        alt, ref = readouts.gain_bases
        llr = float(np.mean([(lp[rows, alt] - lp[rows, ref]).sum(dtype=np.float64) for rows in readouts.llr_rows])
                    ) if alt.size else 0.0
    else:
        ref_bases, alt_bases = readouts.pll_bases
        pll_ref = np.mean([lp[ref_rows, ref_bases].sum(dtype=np.float64) for ref_rows, _ in readouts.pll_rows])
        pll_alt = np.mean([lp[alt_rows, alt_bases].sum(dtype=np.float64) for _, alt_rows in readouts.pll_rows])
        llr = float(pll_alt - pll_ref)
    if not readouts.pooled_rows:
        return llr, math.nan
    distances = [_cosine_distance(results.pooled[r], results.pooled[a]) for r, a in readouts.pooled_rows]
    return llr, float(min(max(np.mean(distances), 0.0), 2.0))  # rounding can put identical vectors at -1e-7


def _cosine_distance(x: np.ndarray, y: np.ndarray) -> float:
    """``1 - cos(x, y)`` in float64, with torch's ``cosine_similarity`` epsilon (1e-8) on each norm."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    return 1.0 - float(x @ y) / (max(np.linalg.norm(x), 1e-8) * max(np.linalg.norm(y), 1e-8))
