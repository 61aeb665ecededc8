"""Variant alleles against a reference: per-ALT :class:`Variant`, classification, REF check, windows.

Coordinates: 0-based, end-exclusive, in bases (VCF ``POS`` is converted by the reader,
:mod:`genosparse.genome.vcf`).

Classification (:func:`classify`) works on the alleles with their shared prefix (the VCF
anchor base) and then their shared suffix trimmed; indels are not left-shifted:

=============  ===================================================================
``SNV``        one base replaced
``MNV``        several bases replaced, same length
``insertion``  bases added, none removed
``deletion``   bases removed, none added
``complex``    an indel together with a substitution (lengths differ, both non-empty)
``identical``  ALT equals REF (scored; its scores are 0)
``symbolic``   ``<DEL>``, ``<INS:ME>`` ... (kept, not scored)
``breakend``   ``G]17:198982]``, ``.A`` ... (kept, not scored)
``star``       ``*``, allele missing because of an overlapping deletion (kept, not scored)
``no_alt``     ALT is ``.`` (kept, not scored)
=============  ===================================================================

Reasons a variant is not scored (:attr:`Variant.flag`, :data:`FLAGS`): the last four kinds,
``ref_mismatch``, ``contig_missing`` and ``non_acgt_allele`` (an allele with N, an IUPAC
code or another character).

Windows (:func:`variant_windows`): the REF and the ALT window always have the same length,
with the first changed base (after trimming) at index ``length // 2`` of both. The ALT
window keeps the REF window's left flank, then the ALT allele, then the reference after the
REF allele: an insertion pushes bases out of the right end, a deletion pulls bases in from
the reference. Beyond a contig end windows are padded with N and marked ``padded``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genosparse.errors import SequenceError, VariantError
from genosparse.genome.fasta import Genome
from genosparse.sequence.vocab import NUM_BASES, encode

UNSCORED_KINDS = ("symbolic", "breakend", "star", "no_alt")

FLAGS = {
    "ref_mismatch": "REF differs from the reference FASTA",
    "contig_missing": "CHROM is not in the reference FASTA (even through the chr/chrM-MT alias rule)",
    "symbolic": "symbolic ALT such as <DEL>",
    "breakend": "breakend ALT",
    "star": "ALT * (allele missing because of an overlapping deletion)",
    "no_alt": "ALT is '.'",
    "non_acgt_allele": "REF or ALT holds a base other than A, C, G, T (N, an IUPAC code or another character)",
}
"""Reasons a variant is not scored, set while reading (scoring adds its own, see
:data:`genosparse.scoring.effects.FLAGS`)."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One ALT allele of one VCF record.

    Attributes:
        record_index: 0-based index of the record in the VCF.
        alt_index: 0-based index of this allele in ALT; -1 for a record whose ALT is ``.``.
        chrom: ``CHROM`` as written in the VCF.
        contig: the same contig as named in the FASTA, or None when it is missing there.
        pos: 0-based start of REF (VCF ``POS`` - 1).
        ref, alt: the alleles as written (uppercased); ``alt`` is ``.`` for ``no_alt``.
        kind: see the module docstring.
        start: 0-based start of the trimmed alleles (``pos`` plus the trimmed prefix).
        ref_core, alt_core: the alleles with their shared prefix and suffix trimmed.
        flag: the reason the variant is not scored (a key of :data:`FLAGS`), or ``""``.
    """

    record_index: int
    alt_index: int
    chrom: str
    contig: str | None
    pos: int
    ref: str
    alt: str
    kind: str
    start: int
    ref_core: str
    alt_core: str
    flag: str = ""

    @property
    def where(self) -> str:
        """``CHROM:POS`` as in the VCF (1-based), for messages."""
        return f"{self.chrom}:{self.pos + 1}"


def trim_alleles(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim the shared prefix (the VCF anchor base), then the shared suffix, of two alleles.

    Prefix first keeps the variant where the VCF puts it, right after its anchor; no
    left-shifting is done.

    Args:
        pos: 0-based start of both alleles.
    Returns:
        ``(start, ref_core, alt_core)``: 0-based start of the trimmed alleles and the
        alleles themselves (either may be empty).
    """
    prefix = 0
    while prefix < min(len(ref), len(alt)) and ref[prefix] == alt[prefix]:
        prefix += 1
    ref, alt = ref[prefix:], alt[prefix:]
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    return pos + prefix, ref, alt


def classify(ref: str, alt: str) -> str:
    """Kind of the variant ``ref`` -> ``alt`` (VCF alleles, any case); see the module docstring."""
    if alt == ".":
        return "no_alt"
    if alt == "*":
        return "star"
    if alt.startswith("<"):
        return "symbolic"
    if "[" in alt or "]" in alt or alt.startswith(".") or alt.endswith("."):
        return "breakend"
    _, r, a = trim_alleles(0, ref.upper(), alt.upper())
    if len(r) == len(a):
        return {0: "identical", 1: "SNV"}.get(len(r), "MNV")
    if not r:
        return "insertion"
    if not a:
        return "deletion"
    return "complex"


def make_variants(record_index: int, chrom: str, contig: str | None, pos: int, ref: str,
                  alts: tuple[str, ...] | None, ref_ok: bool = True) -> list[Variant]:
    """The :class:`Variant` of each ALT of one record (one ``no_alt`` variant when ALT is ``.``).

    Args:
        record_index: 0-based index of the record.
        chrom, contig: ``CHROM`` as in the VCF and as in the FASTA (None if missing).
        pos: 0-based start of REF.
        ref, alts: alleles as in the VCF; ``alts`` None or empty for ALT ``.``.
        ref_ok: result of the REF check (:func:`ref_matches`).
    """
    ref = ref.upper()
    variants = []
    for alt_index, alt in enumerate(alts or (".",)):
        alt = alt.upper()
        kind = classify(ref, alt)
        start, ref_core, alt_core = trim_alleles(pos, ref, alt) if kind not in UNSCORED_KINDS else (pos, ref, alt)
        if contig is None:
            flag = "contig_missing"
        elif not ref_ok:
            flag = "ref_mismatch"
        elif kind in UNSCORED_KINDS:
            flag = kind
        elif not _acgt(ref_core) or not _acgt(alt_core):
            flag = "non_acgt_allele"
        else:
            flag = ""
        variants.append(Variant(record_index, alt_index if alts else -1, chrom, contig, pos, ref, alt, kind,
                                start, ref_core, alt_core, flag))
    return variants


def _acgt(allele: str) -> bool:
    try:
        return bool((encode(allele) < NUM_BASES).all())
    except SequenceError:
        return False


def ref_matches(genome: Genome, contig: str, pos: int, ref: str) -> bool:
    """True when ``ref`` (any case; IUPAC codes read as N like the FASTA's) equals the FASTA at
    ``contig[pos:pos + len(ref)]`` (0-based); False when it differs, runs past the contig end
    or holds characters outside the alphabet."""
    end = pos + len(ref)
    if pos < 0 or end > genome.length(contig):
        return False
    try:
        expected = encode(ref)
    except SequenceError:
        return False
    return bool(np.array_equal(genome.fetch_tokens(contig, pos, end), expected))


@dataclass(frozen=True)
class VariantWindows:
    """Equal-length REF and ALT token windows of one variant.

    Attributes:
        ref, alt: ``(length,)`` int64 token ids (:mod:`genosparse.sequence.vocab`); N where
            the window reaches beyond the contig.
        start: 0-based contig coordinate of index 0 of both windows (may be negative).
        centre: index of the first changed base, ``length // 2``.
        focus: ``(lo, hi)``, the window indices of the variant and ``flank`` bases either side
            (the neighbourhood scores are pooled over), clipped to ``[0, length)``.
        padded: True when the fetched reference reaches beyond the contig.
    """

    ref: np.ndarray
    alt: np.ndarray
    start: int
    centre: int
    focus: tuple[int, int]
    padded: bool


def fits_window(variant: Variant, length: int) -> bool:
    """True when both trimmed alleles fit in the right half of a ``length``-base window."""
    return max(len(variant.ref_core), len(variant.alt_core)) <= length - length // 2


def variant_windows(genome: Genome, variant: Variant, length: int, flank: int) -> VariantWindows:
    """REF and ALT windows of ``length`` bases around a scorable variant (see the module docstring).

    With ``c = length // 2`` and the trimmed alleles ``r`` (``a`` bases) and ``s`` (``b``
    bases) starting at contig position ``p``::

        ref = contig[p - c : p - c + length]
        alt = contig[p - c : p] + s + contig[p + a : p + a + length - c - b]

    Args:
        length: window length in bases.
        flank: bases either side of the variant in :attr:`VariantWindows.focus`.
    Raises:
        VariantError: for a variant that is flagged or does not fit (:func:`fits_window`).
    """
    if variant.flag or not fits_window(variant, length):
        raise VariantError(f"variant {variant.where} {variant.ref}>{variant.alt} cannot be windowed "
                           f"({variant.flag or 'longer than half the window'})")
    a, b, c = len(variant.ref_core), len(variant.alt_core), length // 2
    start = variant.start - c
    seq = genome.fetch_tokens(variant.contig, start, start + length + a, pad=True).astype(np.int64)
    ref = seq[:length]
    alt = np.concatenate([seq[:c], encode(variant.alt_core), seq[c + a: c + a + length - c - b]])
    padded = start < 0 or start + length + a > genome.length(variant.contig)
    focus = (max(0, c - flank), min(length, c + max(a, b) + flank))
    return VariantWindows(ref, alt, start, c, focus, padded)
