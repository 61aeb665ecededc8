"""VCF/BCF reading against a reference FASTA: contigs, REF checks, one :class:`Variant` per ALT.

Coordinates: VCF ``POS`` (1-based) is converted once, here, to the 0-based start of the
REF allele; every interval is 0-based, end-exclusive, in bases.

Reading (:func:`open_vcf`): VCF (plain, bgzip or plain gzip) and BCF through pysam. A first
pass over the records, before any scoring, resolves every ``CHROM`` to the FASTA through the
one alias rule (:mod:`genosparse.genome.contigs`), lists the contigs missing from the FASTA,
and checks the REF allele of every record (multi-base REF too) against the FASTA; it keeps
counts and one byte per record, not the records. A second pass streams the records, one
:class:`~genosparse.genome.alleles.Variant` per ALT (multi-allelic records split, with the
record and ALT index; kinds and flags in :mod:`genosparse.genome.alleles`).

Two pysam/htslib limits are worked around, both with a temporary copy that is deleted when
the source is closed: pysam cannot open plain-gzip (non-BGZF) VCFs (pysam issue #536), so
those are decompressed first; and records whose contig or tags are missing from the header
carry an htslib error code that makes ``bcf_translate`` terminate the process, so when the
first pass had to add definitions, the second pass reads a copy whose header holds them.

Contigs missing from the FASTA are flagged and logged by default and an error with
``strict_contigs``. REF mismatches are flagged (default), skipped (left out of the output) or
an error, see :data:`REF_MISMATCH_MODES`.
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
from typing import TYPE_CHECKING

import pysam

from genosparse.errors import PATH, FastaError, VariantError, check_type, input_file
from genosparse.genome.alleles import Variant, make_variants, ref_matches
from genosparse.genome.contigs import contig_aliases
from genosparse.genome.fasta import Genome
from genosparse.genome.variant_table import is_dataframe, write_dataframe, write_variant_file
from genosparse.io import STDIO, is_stream, spool_input

if TYPE_CHECKING:  # pandas is imported only when a DataFrame is given
    import pandas

    VcfInput = str | os.PathLike | pysam.VariantFile | pandas.DataFrame
    """What :func:`open_vcf` reads."""

log = logging.getLogger(__name__)

REF_MISMATCH_MODES = ("flag", "skip", "fail")
"""``flag``: keep the record, its ALTs flagged ``ref_mismatch`` and not scored; ``skip``:
leave the record out; ``fail``: raise :class:`VariantError` before any scoring."""

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
        used_tags: ``(kind, ID)`` of the INFO, FORMAT and FILTER definitions some record uses.
    """

    num_records: int
    num_variants: int
    contigs: dict[str, str | None]
    records_per_contig: Counter
    ref_mismatch: bytearray
    is_sorted: bool
    used_tags: frozenset[tuple[str, str]] = frozenset()

    @property
    def missing_contigs(self) -> list[str]:
        """VCF contigs not found in the FASTA, in file order."""
        return [name for name, fasta_name in self.contigs.items() if fasta_name is None]


class VcfSource:
    """An opened VCF/BCF, scanned against a FASTA (use :func:`open_vcf`).

    Attributes:
        path: the VCF as given (for in-memory variants, what they are: ``the DataFrame``).
        genome: the reference.
        header: the pysam header of the records :meth:`records` yields (every contig and tag
            the records use is defined).
        scan: the first pass's :class:`VcfScan`.
    """

    def __init__(self, path: Path | str, genome: Genome, readable: Path, scan: VcfScan, header: pysam.VariantHeader,
                 threads: int = 1):
        self.path, self.genome, self._readable, self.scan, self.header = path, genome, readable, scan, header
        self.threads = threads

    def records(self) -> Iterator[tuple[int, pysam.VariantRecord]]:
        """``(0-based record index, pysam record)`` in file order."""
        with quiet_htslib():
            vcf = pysam.VariantFile(str(self._readable), threads=self.threads)
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


CONTIG_LENGTH_MODES = ("error", "warn")
"""What a ``##contig`` length that differs from the FASTA's does: stop before scoring, or log a warning."""


@contextlib.contextmanager
def open_vcf(vcf: VcfInput, genome: Genome, *, strict_contigs: bool = False, contig_lengths: str = "error",
             threads: int = 1) -> Iterator[VcfSource]:
    """Open and scan a VCF/BCF against ``genome`` (see the module docstring).

    Before the records are read, every ``##contig`` line of the header with a ``length`` is
    compared with the FASTA's length of that contig (through the alias rule): a difference
    means another build (an hg38 VCF against a GRCh37 FASTA). Contigs missing from the FASTA
    are logged (listed with their record counts) before anything else happens; their variants
    are flagged ``contig_missing``.

    Args:
        vcf: VCF (plain, bgzip or gzip) or BCF path, ``-`` for standard input (a FIFO is read as one
            too: both are copied to a temporary file first, the reader needs two passes); or an open
            ``pysam.VariantFile`` (its records not yet read) or a DataFrame of variants (columns
            ``chrom``, ``pos`` 1-based, ``ref``, ``alt``: :mod:`genosparse.genome.variant_table`), both
            written to a temporary VCF first, so every input is read the same way.
        genome: the reference FASTA.
        strict_contigs: raise instead of flagging when a contig is missing from the FASTA.
        contig_lengths: one of :data:`CONTIG_LENGTH_MODES`.
        threads: htslib threads decompressing a bgzip VCF or BCF (``-@``).
    Yields:
        A :class:`VcfSource`; temporary copies are deleted when the block exits.
    Raises:
        VariantError: missing or unreadable file, a malformed record (naming the record
            number and the last good ``CHROM:POS``), contigs missing with ``strict_contigs``,
            ``##contig`` lengths that differ from the FASTA's (``contig_lengths="error"``), a DataFrame
            with a missing column or a bad value (naming the row).
        FastaError: an unusable FASTA, or a contig name that is ambiguous in it.
        ArgumentError: ``vcf`` of another type.
    """
    if contig_lengths not in CONTIG_LENGTH_MODES:
        raise VariantError(f"unknown contig-length mode {contig_lengths!r}; choose one of "
                           f"{', '.join(CONTIG_LENGTH_MODES)}")
    if not (isinstance(vcf, pysam.VariantFile) or is_dataframe(vcf)):
        check_type("vcf", vcf, PATH, "a VCF/BCF path, a pysam.VariantFile or a pandas DataFrame with columns chrom, "
                   "pos, ref, alt")
        if not is_stream(vcf):
            vcf = input_file(vcf, "VCF", VariantError)
    with tempfile.TemporaryDirectory(prefix="genosparse-vcf-") as tmp:
        readable = Path(tmp) / "records.vcf"
        if isinstance(vcf, pysam.VariantFile):
            with quiet_htslib():
                path = write_variant_file(vcf, readable)
        elif is_dataframe(vcf):
            path = write_dataframe(vcf, genome, readable)
        elif is_stream(vcf):
            path = Path("standard input" if str(vcf) == STDIO else vcf)
            log.info("copying the VCF from %s to a temporary file (it is read twice)", path)
            readable = _readable_copy(spool_input(vcf, tmp), Path(tmp), path)
        else:
            path, readable = vcf, _readable_copy(vcf, Path(tmp))
        _check_contig_lengths(path, readable, genome, contig_lengths)
        scan, header, header_grew = _scan(path, readable, genome, threads)
        if header_grew:
            log.info("%s uses contigs or tags its header does not define; reading it with those definitions added",
                     path)
            readable = _with_header(readable, header, Path(tmp) / "complete.vcf")
        _report_contigs(path, genome, scan, strict_contigs)
        yield VcfSource(path, genome, readable, scan, header, threads)


def _check_contig_lengths(path: Path, readable: Path, genome: Genome, mode: str) -> None:
    """Compare the header's ``##contig`` lengths with the FASTA's (see :func:`open_vcf`)."""
    try:
        with quiet_htslib(), pysam.VariantFile(str(readable)) as vcf:
            declared = {name: contig.length for name, contig in vcf.header.contigs.items()}
    except (ValueError, OSError):
        return  # not a readable VCF: the scan reports it with the record it stops at
    for name, length in declared.items():
        fasta_name = _resolve(genome, name)
        if length is None or fasta_name is None or genome.length(fasta_name) == length:
            continue
        message = (f"contig {name} is {length:,} bases in the ##contig header of {path} but {fasta_name} is "
                   f"{genome.length(fasta_name):,} bases in {genome.path}: the VCF and the FASTA are of different "
                   "builds (e.g. hg38 against GRCh37)")
        if mode == "error":
            raise VariantError(message + ". Use the FASTA of the VCF's build, or pass --contig-length-mismatch warn "
                                         "(contig_lengths='warn') to score anyway")
        log.warning("%s; scoring anyway", message)


def _readable_copy(path: Path, tmp: Path, name: Path | None = None) -> Path:
    """``path`` itself, or a decompressed copy of a plain-gzip (non-BGZF) VCF, which pysam cannot open;
    ``name`` is what messages call it (default ``path``; ``standard input`` for a spooled stream)."""
    name = name or path
    with open(path, "rb") as handle:
        head = handle.read(18)
    is_bgzf = len(head) >= 14 and bool(head[3] & 4) and head[12:14] == b"BC"
    if head[:2] != b"\x1f\x8b" or is_bgzf:
        return path
    log.info("%s is plain gzip, not bgzip; reading it through a decompressed temporary copy", name)
    target = tmp / "decompressed.vcf"
    try:
        with gzip.open(path, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError) as err:
        raise VariantError(f"cannot decompress {name}: {err}. Check the file (e.g. `gzip -t`)") from err
    return target


def _scan(path: Path, readable: Path, genome: Genome, threads: int) -> tuple[VcfScan, pysam.VariantHeader, bool]:
    """First pass: contigs, counts, REF check, sort order; and the completed header."""
    contigs: dict[str, str | None] = {}
    per_contig: Counter = Counter()
    mismatch = bytearray()
    num_variants, is_sorted, last = 0, True, ("", -1)
    info, formats, filters = set(), set(), set()
    where = "the header"
    try:
        with quiet_htslib(), pysam.VariantFile(str(readable), threads=threads) as vcf:
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
                info.update(record.info.keys())
                formats.update(record.format.keys())
                filters.update(record.filter.keys())
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
    used = {("INFO", k) for k in info} | {("FORMAT", k) for k in formats} | {("FILTER", k) for k in filters}
    scan = VcfScan(len(mismatch), num_variants, contigs, per_contig, mismatch, is_sorted, frozenset(used))
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
