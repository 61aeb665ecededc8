"""Score rows as a table, TSV and bedGraph (registered in :mod:`genosparse.io`; atomic, or to a stream)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

from genosparse.errors import ConfigError
from genosparse.io import (STDIO, Table, atomic_output, display_name, register_table, register_writer, write_table,
                           writer_for)
from genosparse.scoring.fasta import ScoreRow

SCORE_TABLE = Table("scores", (
    ("name", "record or contig name, or the BED name"),
    ("start", "0-based start (bases)"),
    ("end", "0-based end, exclusive"),
    ("score", "mean masked log-likelihood per base (MLM) or probability (classifier); nan when flagged"),
    ("flag", "empty, all_N (no A/C/G/T) or empty (no bases)"),
    ("chrom", "the contig the interval lies on"),
    ("strand", "+, or - where the reverse complement was scored (BED column 6)"),
), lambda row: {"name": [row.name], "start": [row.start], "end": [row.end], "score": [row.score],
                "flag": [row.flag], "chrom": [row.contig], "strand": [row.strand]})
register_table(ScoreRow, SCORE_TABLE)


class _Summary:
    """Counts and score statistics of the rows passing through."""

    def __init__(self) -> None:
        self.rows = self.flagged = 0
        self.scores: list[float] = []

    def count(self, rows: Iterable[ScoreRow]) -> Iterable[ScoreRow]:
        for row in rows:
            self.rows += 1
            if row.flag:
                self.flagged += 1
            else:
                self.scores.append(row.score)
            yield row

    def result(self) -> dict[str, float]:
        scores = self.scores
        return {"rows": self.rows, "flagged": self.flagged,
                "mean": sum(scores) / len(scores) if scores else math.nan,
                "min": min(scores, default=math.nan), "max": max(scores, default=math.nan)}


@register_writer("scores", "tsv", (".tsv", ".txt"))
def _write_tsv(rows: Iterable[ScoreRow], path: str | os.PathLike, score_column: str = "score") -> None:
    write_table(rows, path, SCORE_TABLE, rename={"score": score_column})


@register_writer("scores", "bedgraph", (".bedgraph", ".bg"))
def _write_bedgraph(rows: Iterable[ScoreRow], path: str | os.PathLike, score_column: str = "score") -> None:
    """bedGraph ``chrom start end score`` of the unflagged rows, which must come sorted and non-overlapping
    (contigs in one run each, starts increasing); flagged rows are gaps.

    Raises:
        ConfigError: a row overlaps or precedes the previous one (nothing is written).
    """
    name = "genosparse" if str(path) == STDIO else Path(path).stem
    with atomic_output(path) as out:
        out.write(f'track type=bedGraph name="{name}" description="genosparse {score_column}"\n')
        done: set[str] = set()
        last: ScoreRow | None = None
        for row in rows:
            overlaps = last is not None and row.contig == last.contig and row.start < last.end
            revisits = last is not None and row.contig != last.contig and row.contig in done
            if overlaps or revisits:
                raise ConfigError(f"bedGraph intervals must be sorted and must not overlap: "
                                  f"{row.contig}:{row.start + 1:,}-{row.end:,} comes after "
                                  f"{last.contig}:{last.start + 1:,}-{last.end:,} in {display_name(path)}; give "
                                  "sorted, non-overlapping regions (`sort -k1,1 -k2,2n` a BED) or write TSV")
            done.add(row.contig)
            last = row
            if not row.flag:
                out.write(f"{row.contig}\t{row.start}\t{row.end}\t{row.score:.6g}\n")


def write_scores(rows: Iterable[ScoreRow], path: str | os.PathLike, score_column: str,
                 fmt: str | None = None) -> dict[str, float]:
    """Write ``rows`` to ``path`` as TSV (all rows, the columns of :data:`SCORE_TABLE`, ``score`` named
    ``score_column``) or bedGraph (``chrom start end score``, 0-based half-open, flagged rows left
    out as gaps; rows must be sorted and non-overlapping). The format is ``fmt``, else the
    extension's (``.bedgraph``/``.bg``), else TSV. ``path`` ``-`` is standard output.

    Returns:
        A summary: rows written, rows flagged, mean and min/max of the scores.
    Raises:
        ConfigError: an unknown format, or bedGraph rows out of order.
    """
    writer = writer_for("scores", path, fmt)
    summary = _Summary()
    writer.write(summary.count(rows), path, score_column=score_column)
    return summary.result()
