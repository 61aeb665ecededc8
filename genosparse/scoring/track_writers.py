"""Track segments as bedGraph and bigWig (registered in :mod:`genosparse.io`; atomic, bedGraph also to a stream).

bigWig needs pyBigWig (a core dependency, imported only here, when a bigWig is written); bedGraph
needs nothing and can go to standard output.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

import numpy as np

from genosparse.errors import ConfigError
from genosparse.io import atomic_output, atomic_path, register_writer, writer_for
from genosparse.scoring.tracks import TrackSegment


def _finite_runs(values: np.ndarray) -> Iterator[tuple[int, int]]:
    """``[i, j)`` index ranges of the runs of finite values."""
    finite = np.concatenate([[False], np.isfinite(values), [False]])
    edges = np.flatnonzero(np.diff(finite.astype(np.int8)))
    yield from zip(edges[::2].tolist(), edges[1::2].tolist())


class _Runs:
    """The finite runs of the segments, ``(contig, start, step, values)``, with running statistics."""

    def __init__(self, segments: Iterable[TrackSegment]):
        self.segments = segments
        self.bases = self.values = 0
        self.sum, self.min, self.max = 0.0, np.inf, -np.inf

    def __iter__(self) -> Iterator[tuple[str, int, int, np.ndarray]]:
        for seg in self.segments:
            for i, j in _finite_runs(seg.values):
                vals = seg.values[i:j]
                self.bases += seg.step * (j - i)
                self.values += j - i
                self.sum += float(vals.astype(np.float64).sum())
                self.min, self.max = min(self.min, float(vals.min())), max(self.max, float(vals.max()))
                yield seg.contig, seg.start + i * seg.step, seg.step, vals

    def summary(self) -> dict[str, float]:
        count = self.values
        nan = float("nan")
        return {"bases": self.bases, "values": count, "mean": self.sum / count if count else nan,
                "min": self.min if count else nan, "max": self.max if count else nan}


@register_writer("track", "bigwig", (".bw", ".bigwig"), streams=False)
def _write_bigwig(runs: _Runs, path: str | os.PathLike, chrom_sizes: dict[str, int], name: str) -> None:
    try:
        import pyBigWig
    except ImportError:
        raise ConfigError("writing bigWig needs the Python package pyBigWig: pip install pyBigWig "
                          "(or write bedGraph: --format bedgraph)") from None
    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader(list(chrom_sizes.items()), maxZooms=10)
            for contig, start, step, vals in runs:
                bw.addEntries(contig, start, values=vals.astype(np.float64), span=step, step=step)
        finally:
            bw.close()


@register_writer("track", "bedgraph", (".bedgraph", ".bg"))
def _write_bedgraph(runs: _Runs, path: str | os.PathLike, chrom_sizes: dict[str, int], name: str) -> None:
    with atomic_output(path) as out:
        out.write(f'track type=bedGraph name="{name}"\n')
        for contig, start, step, vals in runs:
            starts = start + step * np.arange(len(vals))
            out.writelines(f"{contig}\t{s}\t{s + step}\t{v:.6g}\n" for s, v in zip(starts.tolist(), vals.tolist()))


def write_track(segments: Iterable[TrackSegment], path: str | os.PathLike, chrom_sizes: dict[str, int],
                fmt: str | None = None, name: str = "genosparse log-likelihood") -> dict[str, float]:
    """Write ``segments`` (in genome order) as bigWig or bedGraph, atomically; NaN values become gaps.

    The format is ``fmt``, else the extension's (``.bw``/``.bigwig``, ``.bedgraph``/``.bg``); a
    path ``-`` (standard output) is bedGraph. ``chrom_sizes`` (contig -> bases, in FASTA order,
    e.g. :attr:`Genome.lengths`) is the bigWig header.

    Returns:
        Summary: ``bases`` with a value, ``values`` written, their ``mean``, ``min`` and ``max``.
    Raises:
        ConfigError: a name without a track extension and no ``fmt``, bigWig to a stream, or
            bigWig without pyBigWig installed.
    """
    writer = writer_for("track", path, fmt, need_extension=True)
    runs = _Runs(segments)
    writer.write(runs, path, chrom_sizes=chrom_sizes, name=name)
    return runs.summary()
