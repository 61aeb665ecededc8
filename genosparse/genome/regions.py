"""Genomic intervals and the region arguments of the public API.

A region is a samtools-style string ``chrom`` or ``chrom:start-end`` (1-based, inclusive,
commas allowed), a tuple ``(chrom, start, end)`` or an :class:`Interval` (both 0-based,
end-exclusive, as :meth:`Genome.fetch` takes them), or a bare contig name (``20`` means
``"20"``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass

from genosparse.errors import ArgumentError, FastaError
from genosparse.genome.contigs import contig_name

_REGION = re.compile(r"^(?P<contig>[^:\s]+)(?::(?P<start>\d[\d,]*)-(?P<end>\d[\d,]*))?$")


@dataclass(frozen=True)
class Interval:
    """A 0-based half-open interval ``[start, end)`` on ``contig`` (units: bases)."""

    contig: str
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:
        """samtools style, 1-based inclusive: ``20:1,000,001-1,131,072``."""
        return f"{self.contig}:{self.start + 1:,}-{self.end:,}"


Region = str | int | tuple[str | int, int, int] | Interval


def parse_region(region: Region) -> tuple[str, int | None, int | None]:
    """Parse one region (see the module docstring) into ``(contig, start, end)``.

    Returns:
        ``start``/``end`` 0-based half-open, or None for a whole contig.
    Raises:
        FastaError: malformed text, ``start > end`` or ``start < 1`` (1-based text) or ``start < 0``.
        ArgumentError: a region of another type (e.g. a tuple that is not ``(chrom, start, end)``).
    """
    if isinstance(region, Interval):
        region = (region.contig, region.start, region.end)
    if isinstance(region, tuple):
        try:
            contig, start, end = region
            start, end = operator.index(start), operator.index(end)
        except (TypeError, ValueError):
            raise ArgumentError(f"a region tuple must be (chrom, start, end) with integer 0-based, end-exclusive "
                                f"coordinates, got {region!r}") from None
        if not 0 <= start <= end:
            raise FastaError(f"region {region!r}: need 0 <= start <= end (0-based, end-exclusive coordinates)")
        return contig_name(contig), start, end
    if not isinstance(region, str):
        return contig_name(region), None, None
    match = _REGION.match(region.strip())
    if not match:
        raise FastaError(f"cannot parse region {region!r}; write chrom or chrom:start-end (1-based, inclusive), "
                         f"e.g. chr20:1,000,001-2,000,000")
    if match["start"] is None:
        return match["contig"], None, None
    start, end = (int(match[k].replace(",", "")) for k in ("start", "end"))
    if start < 1 or start > end:
        raise FastaError(f"region {region!r}: need 1 <= start <= end (1-based, inclusive coordinates)")
    return match["contig"], start - 1, end


def region_list(regions: Region | Iterable[Region] | None) -> list[Region] | None:
    """The ``regions`` argument of the scoring functions as a list: one region (see the module
    docstring) or an iterable of them; None stays None.

    Raises:
        ArgumentError: neither a region nor an iterable of regions.
    """
    if regions is None:
        return None
    if isinstance(regions, (str, int, Interval)) or _is_coordinate_tuple(regions):
        return [regions]
    try:
        return list(regions)
    except TypeError:
        raise ArgumentError(f"regions must be a region such as 'chr20:1-1000' or ('chr20', 0, 1000), or a list of "
                            f"them; got {regions!r} ({type(regions).__name__})") from None


def _is_coordinate_tuple(value: object) -> bool:
    """True for a tuple ``(chrom, start, end)`` with integer coordinates (one region, not three)."""
    if not (isinstance(value, tuple) and len(value) == 3):
        return False
    try:
        operator.index(value[1]), operator.index(value[2])
    except TypeError:
        return False
    return True
