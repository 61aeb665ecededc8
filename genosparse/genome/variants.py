"""VCF/BCF variants against a reference FASTA: reading, classification, REF check, windows.

Coordinates: VCF ``POS`` (1-based) is converted once, here, to the 0-based start of the
REF allele; every interval is 0-based, end-exclusive, in bases.

Reading (:func:`open_vcf`): VCF (plain, bgzip or plain gzip) and BCF through pysam. A first
pass over the records, before any scoring, resolves every ``CHROM`` to the FASTA through the
one alias rule (:mod:`genosparse.genome.contigs`), lists the contigs missing from the FASTA,
and checks the REF allele of every record (multi-base REF too) against the FASTA. A second
pass yields the records, one :class:`Variant` per ALT (multi-allelic records split, with the
record and ALT index).

Two pysam/htslib limits are worked around, both with a temporary copy that is deleted when
the source is closed: pysam cannot open plain-gzip (non-BGZF) VCFs (pysam issue #536), so
those are decompressed first; and records whose contig or tags are missing from the header
carry an htslib error code that makes ``bcf_translate`` terminate the process, so when the
first pass had to add definitions, the second pass reads a copy whose header holds them.

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

Reasons a variant is not scored (:attr:`Variant.flag`): the last four kinds,
``ref_mismatch``, ``contig_missing`` and ``non_acgt_allele`` (an allele with N, an IUPAC
code or another character). Contigs missing from the FASTA are flagged and logged by
default and an error with ``strict_contigs``. REF mismatches are flagged (default),
skipped (left out of the output) or an error, see :data:`REF_MISMATCH_MODES`.

Windows (:func:`variant_windows`): the REF and the ALT window always have the same length,
with the first changed base (after trimming) at index ``length // 2`` of both. The ALT
window keeps the REF window's left flank, then the ALT allele, then the reference after the
REF allele: an insertion pushes bases out of the right end, a deletion pulls bases in from
the reference. Beyond a contig end windows are padded with N and marked ``padded``.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from genosparse.errors import FastaError, SequenceError, VariantError, input_file
from genosparse.genome.contigs import contig_aliases
from genosparse.genome.fasta import Genome
from genosparse.sequence.vocab import NUM_BASES, encode

log = logging.getLogger(__name__)

REF_MISMATCH_MODES = ("flag", "skip", "fail")
"""``flag``: keep the record, its ALTs flagged ``ref_mismatch`` and not scored; ``skip``:
leave the record out; ``fail``: raise :class:`VariantError` before any scoring."""

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
:mod:`genosparse.scoring.variants`)."""


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


# ---------------------------------------------------------------------------- windows
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


# ---------------------------------------------------------------------------- reading
@dataclass
class VcfScan:
    """What the first pass over a VCF found.

    Attributes:
        num_records: records in the file.
        num_variants: ALT alleles (a record with ALT ``.`` counts one).
        contigs: ``CHROM`` as in the VCF -> name in the FASTA (None if missing), file order.
        records_per_contig: record count per ``CHROM``.
        ref_mismatch: one byte per record, 1 where REF differs from the FASTA.
        is_sorted: records grouped by contig and sorted by position (tabix can index).
    """

    num_records: int
    num_variants: int
    contigs: dict[str, str | None]
    records_per_contig: Counter
    ref_mismatch: bytearray
    is_sorted: bool

    @property
    def missing_contigs(self) -> list[str]:
        """VCF contigs not found in the FASTA, in file order."""
        return [name for name, fasta_name in self.contigs.items() if fasta_name is None]


class VcfSource:
    """An opened VCF/BCF, scanned against a FASTA (use :func:`open_vcf`).

    Attributes:
        path: the VCF as given.
        genome: the reference.
        header: the pysam header of the records :meth:`records` yields (every contig and tag
            the records use is defined).
        scan: the first pass's :class:`VcfScan`.
    """

    def __init__(self, path: Path, genome: Genome, readable: Path, scan: VcfScan, header: pysam.VariantHeader):
        self.path, self.genome, self._readable, self.scan, self.header = path, genome, readable, scan, header

    def records(self) -> Iterator[tuple[int, pysam.VariantRecord]]:
        """``(0-based record index, pysam record)`` in file order."""
        with quiet_htslib():
            vcf = pysam.VariantFile(str(self._readable))
        with vcf:
            yield from enumerate(vcf)

    def variants(self, ref_mismatch: str = "flag") -> Iterator[tuple[pysam.VariantRecord, list[Variant]]]:
        """Each record with its :class:`Variant` per ALT, in file order.

        Args:
            ref_mismatch: one of :data:`REF_MISMATCH_MODES`; with ``skip`` records whose REF
                differs are not yielded.
        Raises:
            VariantError: with ``fail`` when any REF differs (listing the first ones).
        """
        check_ref_mismatches(self, ref_mismatch)
        for index, record in self.records():
            mismatch = bool(self.scan.ref_mismatch[index])
            if mismatch and ref_mismatch == "skip":
                continue
            yield record, make_variants(index, record.chrom, self.scan.contigs[record.chrom], record.start,
                                        record.ref, record.alts, ref_ok=not mismatch)


def check_ref_mismatches(source: VcfSource, mode: str) -> None:
    """Validate ``mode``; with ``fail`` raise if any REF differs from the FASTA.

    Raises:
        VariantError: unknown mode, or REF mismatches under ``fail`` (names the first records).
    """
    if mode not in REF_MISMATCH_MODES:
        raise VariantError(f"unknown REF-mismatch mode {mode!r}; choose one of {', '.join(REF_MISMATCH_MODES)}")
    count = sum(source.scan.ref_mismatch)
    if mode != "fail" or not count:
        return
    first = [f"record {i + 1} ({record.chrom}:{record.pos} REF {record.ref})" for i, record in source.records()
             if source.scan.ref_mismatch[i]][:5]
    raise VariantError(
        f"{source.path}: {count} of {source.scan.num_records} records have a REF allele that differs from "
        f"{source.genome.path}: {', '.join(first)}{' ...' if count > len(first) else ''}. Check that the VCF "
        "and the FASTA are the same build, or flag or skip those records (--ref-mismatch flag|skip)")


@contextlib.contextmanager
def open_vcf(path: str | os.PathLike, genome: Genome, *, strict_contigs: bool = False) -> Iterator[VcfSource]:
    """Open and scan a VCF/BCF against ``genome`` (see the module docstring).

    Contigs missing from the FASTA are logged (listed with their record counts) before
    anything else happens; their variants are flagged ``contig_missing``.

    Args:
        path: VCF (plain, bgzip or gzip) or BCF.
        genome: the reference FASTA.
        strict_contigs: raise instead of flagging when a contig is missing from the FASTA.
    Yields:
        A :class:`VcfSource`; temporary copies are deleted when the block exits.
    Raises:
        VariantError: missing or unreadable file, a malformed record (naming the record
            number and the last good ``CHROM:POS``), contigs missing with ``strict_contigs``.
        FastaError: an unusable FASTA, or a contig name that is ambiguous in it.
    """
    path = input_file(path, "VCF", VariantError)
    with tempfile.TemporaryDirectory(prefix="genosparse-vcf-") as tmp:
        readable = _readable_copy(path, Path(tmp))
        scan, header, header_grew = _scan(path, readable, genome)
        if header_grew:
            log.info("%s uses contigs or tags its header does not define; reading it with those definitions added",
                     path)
            readable = _with_header(readable, header, Path(tmp) / "complete.vcf")
        _report_contigs(path, genome, scan, strict_contigs)
        yield VcfSource(path, genome, readable, scan, header)


def _readable_copy(path: Path, tmp: Path) -> Path:
    """``path`` itself, or a decompressed copy of a plain-gzip (non-BGZF) VCF, which pysam cannot open."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    is_bgzf = len(head) >= 14 and bool(head[3] & 4) and head[12:14] == b"BC"
    if head[:2] != b"\x1f\x8b" or is_bgzf:
        return path
    log.info("%s is plain gzip, not bgzip; reading it through a decompressed temporary copy", path)
    target = tmp / "decompressed.vcf"
    try:
        with gzip.open(path, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError) as err:
        raise VariantError(f"cannot decompress {path}: {err}. Check the file (e.g. `gzip -t`)") from err
    return target


def _scan(path: Path, readable: Path, genome: Genome) -> tuple[VcfScan, pysam.VariantHeader, bool]:
    """First pass: contigs, counts, REF check, sort order; and the completed header."""
    contigs: dict[str, str | None] = {}
    per_contig: Counter = Counter()
    mismatch = bytearray()
    num_variants, is_sorted, last = 0, True, ("", -1)
    where = "the header"
    try:
        with quiet_htslib(), pysam.VariantFile(str(readable)) as vcf:
            header_text = str(vcf.header)
            for index, record in enumerate(vcf):
                chrom, start = record.chrom, record.start
                where = f"record {index + 1} ({chrom}:{record.pos})"
                if chrom not in contigs:
                    contigs[chrom] = _resolve(genome, chrom)
                if chrom != last[0]:
                    is_sorted = is_sorted and chrom not in per_contig
                elif start < last[1]:
                    is_sorted = False
                last = (chrom, start)
                per_contig[chrom] += 1
                num_variants += max(1, len(record.alts or ()))
                fasta_name = contigs[chrom]
                mismatch.append(fasta_name is not None and not ref_matches(genome, fasta_name, start, record.ref))
            header = vcf.header.copy()
    except (ValueError, OSError) as err:
        with _open_text(readable) as handle:
            first = handle.readline(200)
        if where == "the header" and not first.startswith((b"##fileformat=VCF", b"BCF")):
            raise VariantError(f"{path} has no VCF header: it must start with a ##fileformat=VCFv4.x line and "
                               "have a #CHROM line before the records; its first line is "
                               f"{first[:80].decode('utf-8', 'replace').rstrip()!r}. Add the header, e.g. from the VCF "
                               "the records come from") from err
        message = str(err).replace(str(readable), str(path))  # name the user's file, not a temporary copy
        raise VariantError(f"cannot read {path} after {where}: {message}. Check that it is a valid VCF/BCF "
                           "(e.g. `bcftools view`)") from err
    scan = VcfScan(len(mismatch), num_variants, contigs, per_contig, mismatch, is_sorted)
    return scan, header, str(header) != header_text


def _resolve(genome: Genome, chrom: str) -> str | None:
    """``chrom`` as named in the FASTA, or None when no alias is there."""
    try:
        return genome.resolve(chrom)
    except FastaError:
        if sum(alias in genome.lengths for alias in contig_aliases(chrom)) > 1:
            raise  # ambiguous: several spellings of the contig in the FASTA
        return None


def _report_contigs(path: Path, genome: Genome, scan: VcfScan, strict: bool) -> None:
    """Log (or, when ``strict``, raise) the contigs of ``path`` missing from the FASTA."""
    missing = scan.missing_contigs
    if not missing:
        return
    listing = ", ".join(f"{name} ({scan.records_per_contig[name]} records)" for name in missing)
    known = ", ".join(genome.contigs[:10]) + (", ..." if len(genome.contigs) > 10 else "")
    message = (f"{path}: {len(missing)} contig(s) not found in {genome.path} (FASTA contigs: {known}): {listing}")
    if strict:
        raise VariantError(message + ". Use the FASTA of the VCF's build, or drop the strict contig check to "
                                     "keep those records flagged contig_missing")
    log.warning("%s; their variants are flagged contig_missing and not scored", message)


def _with_header(readable: Path, header: pysam.VariantHeader, target: Path) -> Path:
    """Write ``readable``'s records under ``header`` (a VCF text copy) so every tag is defined."""
    with _open_text(readable) as src, open(target, "wb") as dst:
        dst.write(str(header).encode())
        for line in src:
            if not line.startswith(b"#"):
                dst.write(line)
    return target


def _open_text(path: Path):
    with open(path, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if compressed else open(path, "rb")


@contextlib.contextmanager
def quiet_htslib() -> Iterator[None]:
    """Silence htslib's warnings (undefined tags, header sanity) while opening or scanning a VCF."""
    previous = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)
