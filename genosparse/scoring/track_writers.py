"""Track segments as bedGraph and bigWig (registered in :mod:`genosparse.io`; atomic, bedGraph also to a
stream), and :func:`write_score_track`, what ``genosparse track`` does: score, keep resumable chunks, write.

bigWig needs pyBigWig (a core dependency, imported only here, when a bigWig is written); bedGraph
needs nothing and can go to standard output.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterable, Iterator

import numpy as np
import torch

from genosparse.errors import ConfigError
from genosparse.genome import Genome
from genosparse.io import atomic_output, atomic_path, register_writer, writer_for
from genosparse.models.backbone import GenomicModel
from genosparse.scoring.prepare import Inference, prepare
from genosparse.scoring.resume import base_manifest, file_identity, job_state
from genosparse.scoring.tracks import TrackSegment, score_track, track_spans


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


def write_score_track(model: GenomicModel | str | os.PathLike, fasta: str | os.PathLike | Genome,
                      out: str | os.PathLike, *, fmt: str | None = None, resume: bool = False, window: int | None = None,
                      stride: int | None = None, regions: Iterable[str] | None = None,
                      bed: str | os.PathLike | None = None, bin_size: int = 1, batch_size: int = 8,
                      rc_average: bool = True, device: torch.device | str | None = None, devices: int | None = None,
                      progress: bool = True) -> dict[str, float]:
    """Score a track (:func:`score_track`) and write it to ``out`` as bigWig or bedGraph
    (:func:`write_track`), resumably: what ``genosparse track`` does.

    The values are kept, a chunk of ``STREAM_CHUNK * batch_size`` windows at a time, in the resume
    state folder ``<dir>/.<out name>.resume/`` (about 4 bytes per base), and the output is written
    from them at the end (:mod:`genosparse.scoring.resume`). With ``devices`` (Lightning) or to a
    stream (``-``: bedGraph on standard output) nothing is kept and the track streams.

    Args:
        fmt: ``bigwig`` or ``bedgraph``; default from ``out``'s extension.
        resume: continue from the chunks that an interrupted run with the same inputs and settings
            left (with the same ``batch_size`` too, the output is identical to an uninterrupted
            run's); without it an earlier run's state is replaced.
        others: as :func:`score_track`.
    Returns:
        The writer's summary: ``bases`` with a value, ``values`` written, their ``mean``, ``min``, ``max``.
    Raises:
        ConfigError: ``resume`` with a state made with other inputs or settings, or with ``devices`` or
            a stream output (and as :func:`score_track` and the writer).
    """
    fmt = writer_for("track", out, fmt, need_extension=True).format  # a name or format that cannot work fails now
    inference = prepare(model, fasta, window=window, device=device, head="mlm", needs_genome=True,
                        what="a track (per-base log-likelihoods; `genosparse score` gives per-window scores)")
    state = job_state(out, resume, lambda: _manifest(inference, fmt, stride, bin_size, rc_average, regions, bed),
                      "windows", unsupported=None if devices is None else "--devices predicts through Lightning")
    with state as store:
        segments = score_track(inference, inference.genome, stride=stride, regions=regions, bed=bed,
                               bin_size=bin_size, batch_size=batch_size, rc_average=rc_average, devices=devices,
                               progress=progress, store=store)
        return write_track(segments, out, inference.genome.lengths, fmt)


def _manifest(inference: Inference, fmt: str, stride: int | None, bin_size: int, rc_average: bool,
              regions: Iterable[str] | None, bed: str | os.PathLike | None) -> dict:
    """What makes :func:`write_score_track`'s output (its resume state's manifest); the spans as their
    count and the SHA-256 of their samtools-style names."""
    spans = track_spans(inference.genome, inference.window, regions, bed)
    digest = hashlib.sha256("\n".join(map(str, spans)).encode()).hexdigest()
    return base_manifest("track", inference.model, inference.device, fmt, fasta=file_identity(inference.genome.path),
                         window=inference.window, stride=stride or inference.window // 2, bin_size=bin_size,
                         rc_average=rc_average, spans={"count": len(spans), "sha256": digest})
