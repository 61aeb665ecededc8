"""Genomic intervals and the ``chrom:start-end`` region syntax."""

from __future__ import annotations

import re
from dataclasses import dataclass

from genosparse.errors import FastaError

_REGION = re.compile(r"^(?P<contig>[^:\s]+)(?::(?P<start>\d[\d,]*)-(?P<end>\d[\d,]*))?$")


@dataclass(frozen=True)
class Interval:
    """A 0-based half-open interval ``[start, end)`` on ``contig`` (units: bases)."""

    contig: str
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


def parse_region(text: str) -> tuple[str, int | None, int | None]:
    """Parse a samtools-style region ``chrom``, ``chrom:start-end`` (1-based, inclusive, commas allowed).

    Returns:
        ``(contig, start, end)`` with ``start``/``end`` 0-based half-open, or None for a whole contig.
    Raises:
        FastaError: on malformed text or ``start > end`` or ``start < 1``.
    """
    match = _REGION.match(text.strip())
    if not match:
        raise FastaError(f"cannot parse region {text!r}; write chrom or chrom:start-end (1-based, inclusive), "
                         f"e.g. chr20:1,000,001-2,000,000")
    if match["start"] is None:
        return match["contig"], None, None
    start, end = (int(match[k].replace(",", "")) for k in ("start", "end"))
    if start < 1 or start > end:
        raise FastaError(f"region {text!r}: need 1 <= start <= end (1-based, inclusive coordinates)")
    return match["contig"], start - 1, end
