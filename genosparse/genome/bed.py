"""BED intervals (0-based half-open, as BED stores them), checked against a :class:`Genome`."""

from __future__ import annotations

import gzip
import os

from genosparse.errors import FastaError, SequenceError, input_file
from genosparse.genome.fasta import Genome
from genosparse.genome.regions import Interval


def read_bed(path: str | os.PathLike, genome: Genome) -> list[Interval]:
    """Read the first three columns of a BED file (plain or gzip) as intervals on ``genome``.

    ``track``/``browser``/``#`` lines and blank lines are skipped. Contig names go through the
    genome's alias rule (``chr20`` finds ``20``) and come back as the FASTA spells them.

    Returns:
        Intervals in file order, 0-based half-open (bases), unchanged from the file.
    Raises:
        SequenceError: a line with fewer than 3 columns, non-integer or negative coordinates, or
            ``start >= end`` (names the file and line).
        FastaError: contigs absent from the FASTA (all listed at once), or an interval past the
            end of its contig.
    """
    path = input_file(path, "BED", SequenceError)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    raw: list[tuple[int, str, int, int]] = []
    with opener(path, "rt") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.split()
            try:
                contig, start, end = fields[0], int(fields[1]), int(fields[2])
            except (IndexError, ValueError):
                raise SequenceError(f"{path} line {number}: expected `chrom start end` (0-based, integers), "
                                    f"got {line.strip()!r}") from None
            if not 0 <= start < end:
                raise SequenceError(f"{path} line {number}: need 0 <= start < end (0-based half-open), "
                                    f"got {start} {end}")
            raw.append((number, contig, start, end))
    missing: list[str] = []
    resolved: dict[str, str] = {}
    for _, contig, _, _ in raw:
        if contig not in resolved and contig not in missing:
            try:
                resolved[contig] = genome.resolve(contig)
            except FastaError:
                missing.append(contig)
    if missing:
        raise FastaError(f"{path} names {len(missing)} contig(s) absent from {genome.path}: {', '.join(missing)}. "
                         "Remove those lines or use the matching reference")
    intervals = []
    for number, contig, start, end in raw:
        name = resolved[contig]
        if end > genome.length(name):
            raise FastaError(f"{path} line {number}: {contig}:{start}-{end} extends past the end of contig "
                             f"{name} ({genome.length(name):,} bases) in {genome.path}")
        intervals.append(Interval(name, start, end))
    return intervals
