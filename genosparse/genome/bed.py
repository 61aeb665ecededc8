"""BED intervals (0-based half-open, as BED stores them) with their name and strand, checked against a
:class:`Genome`."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass

from genosparse.errors import PATH, FastaError, SequenceError, check_type, input_file
from genosparse.genome.fasta import Genome
from genosparse.genome.regions import Interval

STRANDS = ("+", "-")


@dataclass(frozen=True)
class BedInterval(Interval):
    """A BED line: an :class:`Interval` (0-based half-open, bases) with its ``name`` (column 4; the
    contig when the line has none or ``.``) and ``strand`` (column 6: ``+``, or ``-`` for the reverse
    complement of the reference; ``.`` or none reads as ``+``)."""

    name: str = ""
    strand: str = "+"


def read_bed(path: str | os.PathLike, genome: Genome) -> list[BedInterval]:
    """Read a BED file (plain or gzip): intervals on ``genome`` with their name and strand.

    ``track``/``browser``/``#`` lines and blank lines are skipped. Contig names go through the
    genome's alias rule (``chr20`` finds ``20``) and come back as the FASTA spells them. Columns
    after the sixth are ignored.

    Returns:
        :class:`BedInterval` s in file order, 0-based half-open (bases), unchanged from the file.
    Raises:
        SequenceError: a line with fewer than 3 columns, non-integer or negative coordinates,
            ``start >= end``, or a strand other than ``+``, ``-`` or ``.`` (names the file and line).
        FastaError: contigs absent from the FASTA (all listed at once), or an interval past the
            end of its contig.
        ArgumentError: ``path`` neither a string nor a path.
    """
    check_type("bed", path, PATH, "a BED path (str or os.PathLike)")
    path = input_file(path, "BED", SequenceError)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    raw: list[tuple[int, str, int, int, str, str]] = []
    with opener(path, "rt") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\n\r").split("\t") if "\t" in line else line.split()
            try:
                contig, start, end = fields[0], int(fields[1]), int(fields[2])
            except (IndexError, ValueError):
                raise SequenceError(f"{path} line {number}: expected `chrom start end` (0-based, integers), "
                                    f"got {line.strip()!r}") from None
            if not 0 <= start < end:
                raise SequenceError(f"{path} line {number}: need 0 <= start < end (0-based half-open), "
                                    f"got {start} {end}")
            name = fields[3].strip() if len(fields) > 3 else ""
            strand = fields[5].strip() if len(fields) > 5 else ""
            if strand not in (*STRANDS, ".", ""):
                raise SequenceError(f"{path} line {number}: strand (column 6) must be +, - or ., got {strand!r}")
            raw.append((number, contig, start, end, "" if name == "." else name, strand if strand in STRANDS else "+"))
    missing: list[str] = []
    resolved: dict[str, str] = {}
    for _, contig, *_ in raw:
        if contig not in resolved and contig not in missing:
            try:
                resolved[contig] = genome.resolve(contig)
            except FastaError:
                missing.append(contig)
    if missing:
        raise FastaError(f"{path} names {len(missing)} contig(s) absent from {genome.path}: {', '.join(missing)}. "
                         "Remove those lines or use the matching reference")
    intervals = []
    for number, contig, start, end, name, strand in raw:
        fasta_name = resolved[contig]
        if end > genome.length(fasta_name):
            raise FastaError(f"{path} line {number}: {contig}:{start}-{end} extends past the end of contig "
                             f"{fasta_name} ({genome.length(fasta_name):,} bases) in {genome.path}")
        intervals.append(BedInterval(fasta_name, start, end, name or fasta_name, strand))
    return intervals
