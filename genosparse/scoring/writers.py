"""Writers for score rows: TSV and bedGraph, always written atomically."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator

from genosparse.errors import ConfigError
from genosparse.scoring.fasta import ScoreRow

FORMATS = ("tsv", "bedgraph")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    A failed or interrupted run leaves no half-written output (the temporary file is removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; outputs get the usual permissions
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def format_for(path: str | os.PathLike, fmt: str | None = None) -> str:
    """Output format: ``fmt`` if given, else from the extension (``.bedgraph``/``.bg`` or TSV)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    return "bedgraph" if Path(path).suffix.lower() in (".bedgraph", ".bg") else "tsv"


def write_scores(rows: Iterable[ScoreRow], path: str | os.PathLike, score_column: str,
                 fmt: str | None = None) -> dict[str, float]:
    """Write ``rows`` to ``path`` as TSV (all rows, with a flag column) or bedGraph.

    bedGraph holds ``chrom start end score`` (0-based half-open) and leaves out flagged
    rows (no score), which bedGraph expresses as gaps.

    Returns:
        A summary: rows written, rows flagged, mean and min/max of the scores.
    """
    fmt = format_for(path, fmt)
    count = flagged = 0
    scores: list[float] = []
    with atomic_output(path) as out:
        if fmt == "tsv":
            out.write(f"name\tstart\tend\t{score_column}\tflag\n")
        else:
            out.write(f'track type=bedGraph name="{Path(path).stem}" description="genosparse {score_column}"\n')
        for row in rows:
            count += 1
            if row.flag:
                flagged += 1
            else:
                scores.append(row.score)
            if fmt == "tsv":
                out.write(f"{row.name}\t{row.start}\t{row.end}\t{row.score:.6g}\t{row.flag}\n")
            elif not row.flag:
                out.write(f"{row.name}\t{row.start}\t{row.end}\t{row.score:.6g}\n")
    mean = sum(scores) / len(scores) if scores else math.nan
    return {"rows": count, "flagged": flagged, "mean": mean,
            "min": min(scores, default=math.nan), "max": max(scores, default=math.nan)}
