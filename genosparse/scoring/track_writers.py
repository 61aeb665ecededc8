"""Track writers: :class:`~genosparse.scoring.tracks.TrackSegment` s to bigWig (pyBigWig) or bedGraph, atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from genosparse.errors import ConfigError
from genosparse.scoring.tracks import TrackSegment
from genosparse.scoring.writers import atomic_output

TRACK_FORMATS = ("bigwig", "bedgraph")

def track_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """``fmt`` if given, else ``bigwig`` for ``.bw``/``.bigwig`` and ``bedgraph`` for ``.bedgraph``/``.bg``."""
    suffix = Path(path).suffix.lower()
    fmt = fmt or {".bw": "bigwig", ".bigwig": "bigwig", ".bedgraph": "bedgraph", ".bg": "bedgraph"}.get(suffix)
    if fmt not in TRACK_FORMATS:
        raise ConfigError(f"cannot tell the track format of {path}; name it .bw/.bigwig or .bedgraph/.bg, "
                          f"or pass one of {', '.join(TRACK_FORMATS)}")
    return fmt


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that open files by name (libBigWig);
    renamed onto ``path`` only if the block succeeds, removed otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _finite_runs(values: np.ndarray) -> Iterator[tuple[int, int]]:
    """``[i, j)`` index ranges of the runs of finite values."""
    finite = np.concatenate([[False], np.isfinite(values), [False]])
    edges = np.flatnonzero(np.diff(finite.astype(np.int8)))
    yield from zip(edges[::2].tolist(), edges[1::2].tolist())


def write_track(segments: Iterable[TrackSegment], path: str | os.PathLike, chrom_sizes: dict[str, int],
                fmt: str | None = None, name: str = "genosparse log-likelihood") -> dict[str, float]:
    """Write ``segments`` (in genome order) as bigWig or bedGraph, atomically; NaN values become gaps.

    ``chrom_sizes`` (contig -> bases, in FASTA order, e.g. :attr:`Genome.lengths`) is the bigWig header.

    Returns:
        Summary: ``bases`` with a value, ``values`` written, their ``mean``, ``min`` and ``max``.
    """
    import pyBigWig

    path = Path(path)
    fmt = track_format(path, fmt)
    stats = {"bases": 0, "values": 0, "sum": 0.0, "min": np.inf, "max": -np.inf}

    def runs() -> Iterator[tuple[str, int, int, np.ndarray]]:
        for seg in segments:
            for i, j in _finite_runs(seg.values):
                vals = seg.values[i:j]
                stats["bases"] += seg.step * (j - i)
                stats["values"] += j - i
                stats["sum"] += float(vals.astype(np.float64).sum())
                stats["min"], stats["max"] = min(stats["min"], float(vals.min())), max(stats["max"], float(vals.max()))
                yield seg.contig, seg.start + i * seg.step, seg.step, vals

    if fmt == "bigwig":
        with _atomic_path(path) as tmp:
            bw = pyBigWig.open(str(tmp), "w")
            try:
                bw.addHeader(list(chrom_sizes.items()), maxZooms=10)
                for contig, start, step, vals in runs():
                    bw.addEntries(contig, start, values=vals.astype(np.float64), span=step, step=step)
            finally:
                bw.close()
    else:
        with atomic_output(path) as out:
            out.write(f'track type=bedGraph name="{name}"\n')
            for contig, start, step, vals in runs():
                starts = start + step * np.arange(len(vals))
                out.writelines(f"{contig}\t{s}\t{s + step}\t{v:.6g}\n" for s, v in zip(starts.tolist(), vals.tolist()))
    count = stats["values"]
    return {"bases": stats["bases"], "values": count, "mean": stats["sum"] / count if count else float("nan"),
            "min": stats["min"] if count else float("nan"), "max": stats["max"] if count else float("nan")}
