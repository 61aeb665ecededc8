"""Per-position (or binned) MLM log-likelihood tracks over whole genomes, stitched from overlapping windows.

Each span (a whole contig, a region, or a merged BED interval) is tiled into windows of
``window`` bases every ``stride`` bases (``stride < window``), the last window aligned to the
span's end. Consecutive windows overlap; the boundary between two is the middle of their
overlap, so every base of the span takes its value from exactly one window: the one whose
centre is nearest (ties go to the later window). The first window keeps the span's start and
the last its end. A span shorter than ``window`` is scored as one shorter window. Values are
the masked log-likelihood of the reference base (:func:`~genosparse.scoring.scorers.position_log_likelihood`,
natural log), by default averaged with the reverse-complement strand's value of the same base;
``N`` bases have no value (NaN, written as gaps). Windows of only ``N`` are not run through
the model.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from itertools import islice
from typing import Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from genosparse.errors import ConfigError, FastaError, check_ints
from genosparse.genome import Genome
from genosparse.genome.bed import read_bed
from genosparse.genome.regions import Interval, parse_region, region_list
from genosparse.io import Table, register_table
from genosparse.models.backbone import GenomicModel
from genosparse.scoring.fasta import STREAM_CHUNK, interval_batches
from genosparse.scoring.prepare import Inference, fit_in_memory, prepare
from genosparse.scoring.resume import ChunkStore, stored_kept, track_arrays
from genosparse.scoring.scorers import position_log_likelihood
from genosparse.sequence.vocab import N

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackSegment:
    """Consecutive values on one contig: value ``i`` covers ``[start + i*step, start + (i+1)*step)``.

    ``start`` is 0-based, ``step`` in bases; ``values`` is ``(n,)`` float32, NaN where there is no
    value (``N`` bases).
    """

    contig: str
    start: int
    step: int
    values: np.ndarray

    @property
    def end(self) -> int:
        return self.start + self.step * len(self.values)


def _segment_block(seg: TrackSegment) -> dict[str, np.ndarray | list]:
    keep = np.flatnonzero(np.isfinite(seg.values))
    starts = seg.start + seg.step * keep
    return {"chrom": [seg.contig] * len(keep), "start": starts, "end": starts + seg.step,
            "value": seg.values[keep].astype(np.float64)}


register_table(TrackSegment, Table("track", (
    ("chrom", "contig as in the FASTA"),
    ("start", "0-based start of the value's bases (bases)"),
    ("end", "0-based end, exclusive (start + bin size)"),
    ("value", "masked log-likelihood (natural log), mean over the bin; bases without a value (N) are left out"),
), _segment_block))


@dataclass(frozen=True)
class TrackWindow:
    """A model window ``window`` and the part of it written to the track, ``keep`` (inside ``window``)."""

    window: Interval
    keep: Interval


def tile_span(span: Interval, window: int, stride: int) -> Iterator[TrackWindow]:
    """Overlapping windows of ``span`` whose ``keep`` parts cover it exactly once, in order (see module doc),
    made as they are read (a whole contig holds millions).

    Raises:
        ConfigError: ``stride`` not in ``[1, window)`` (when called, not when iterated).
    """
    _check_stride(window, stride)
    return _tiles(span, window, stride)


def _check_stride(window: int, stride: int) -> None:
    if not 0 < stride < window:
        raise ConfigError(f"stride must be in [1, window), got stride {stride} for window {window}")


def _tiles(span: Interval, window: int, stride: int) -> Iterator[TrackWindow]:
    if len(span) <= window:
        yield TrackWindow(span, span)
        return
    last = span.end - window  # the last window ends at the span's end
    lo = span.start
    for s in range(span.start, last, stride):
        hi = (s + window + min(s + stride, last)) // 2  # the middle of the overlap with the next window
        yield TrackWindow(Interval(span.contig, s, s + window), Interval(span.contig, lo, hi))
        lo = hi
    yield TrackWindow(Interval(span.contig, last, span.end), Interval(span.contig, lo, span.end))


def num_tiles(span: Interval, window: int, stride: int) -> int:
    """How many windows :func:`tile_span` gives ``span``."""
    return 1 if len(span) <= window else len(range(span.start, span.end - window, stride)) + 1


def track_spans(genome: Genome, window: int, regions: Iterable[str] | None = None,
                bed: str | os.PathLike | None = None) -> list[Interval]:
    """The spans a track covers, sorted in FASTA order and merged where they overlap or touch.

    Default every contig (empty ones left out). ``regions`` are samtools-style strings (1-based
    inclusive) or ``(chrom, start, end)`` tuples (0-based; :mod:`genosparse.genome.regions`); ``bed`` a BED file (0-based) whose intervals shorter than ``window`` are widened to
    ``window`` bases centred on their midpoint (shifted to stay inside the contig; a contig shorter
    than ``window`` is taken whole). A track is per base of the reference, averaged over both strands
    by default: BED names and strands are ignored here.

    Raises:
        FastaError: unknown contig, a region past a contig end, BED contigs absent from the FASTA.
        SequenceError: a malformed BED line.
    """
    regions = region_list(regions)
    lengths = genome.lengths
    spans: list[Interval] = []
    for text in regions or ():
        contig, start, end = parse_region(text)
        name = genome.resolve(contig)
        if end is not None and end > lengths[name]:
            raise FastaError(f"region {text} extends past the end of contig {name} ({lengths[name]:,} bases) "
                             f"in {genome.path}")
        spans.append(Interval(name, start or 0, lengths[name] if end is None else end))
    if bed is not None:
        for line in read_bed(bed, genome):
            iv = Interval(line.contig, line.start, line.end)  # a per-base genome track: names and strands unused
            if len(iv) < window:
                length = lengths[iv.contig]
                start = min(max((iv.start + iv.end) // 2 - window // 2, 0), max(length - window, 0))
                iv = Interval(iv.contig, start, min(start + window, length))
            spans.append(iv)
    if regions is None and bed is None:
        spans = [Interval(name, 0, length) for name, length in lengths.items()]
    order = {name: k for k, name in enumerate(lengths)}
    merged: list[Interval] = []
    for iv in sorted((s for s in spans if len(s)), key=lambda s: (order[s.contig], s.start)):
        if merged and merged[-1].contig == iv.contig and iv.start <= merged[-1].end:
            merged[-1] = Interval(iv.contig, merged[-1].start, max(merged[-1].end, iv.end))
        else:
            merged.append(iv)
    return merged


def score_track(model: GenomicModel | Inference | str | os.PathLike, fasta: str | os.PathLike | Genome, *,
                window: int | None = None, stride: int | None = None, regions: Iterable[str] | None = None,
                bed: str | os.PathLike | None = None, bin_size: int = 1, batch_size: int = 8,
                rc_average: bool = True, device: torch.device | str | None = None, devices: int | None = None,
                progress: bool = True, store: ChunkStore | None = None) -> Iterator[TrackSegment]:
    """A per-position (``bin_size=1``) or binned MLM log-likelihood track in genome order, streamed.

    Args:
        model: an MLM :class:`GenomicModel` or its checkpoint folder.
        fasta: FASTA path or open :class:`Genome`.
        window: window in bases (default the model's ``context_length``).
        stride: bases between window starts, ``< window`` (default ``window // 2``).
        regions, bed: what to cover (see :func:`track_spans`); default every contig.
        bin_size: bases per output value; bins start at each span's start, the span's last bin
            may be shorter; a bin's value is the mean over its bases with a value (NaN if none).
        rc_average: average each base over both strands.
        device: where the model runs (default CUDA when available).
        devices: predict through Lightning on this many devices of ``device``'s type (DDP for more than
            one; :func:`~genosparse.scoring.distributed.predict_windows`), outputs merged in genome
            order. Default: stream in this process.
        store: keep the values in this resume state (:mod:`genosparse.scoring.resume`, as
            :func:`~genosparse.scoring.track_writers.write_score_track` does): the windows it lacks are scored and saved when this is
            called, ``STREAM_CHUNK * batch_size`` per chunk, then the track is read from it. Not with
            ``devices``.
    Returns:
        :class:`TrackSegment` s, in FASTA order, not overlapping, covering every span exactly.
    Raises:
        ConfigError: a non-MLM model, bad window/stride/bin_size/batch_size.
        FastaError, SequenceError: unusable FASTA, region or BED (see :func:`~genosparse.genome.bed.read_bed`).
    """
    check_ints(window=window, stride=stride, bin_size=bin_size, batch_size=batch_size)
    if bin_size < 1 or batch_size < 1 or (window is not None and window < 2):
        raise ConfigError(f"need bin_size >= 1, batch_size >= 1, window >= 2; got {bin_size}, {batch_size}, {window}")
    inference = prepare(model, fasta, window=window, device=device, head="mlm", needs_genome=True,
                        what="a track (per-base log-likelihoods; `genosparse score` gives per-window scores)")
    genome, window = inference.genome, inference.window
    stride = stride or window // 2
    _check_stride(window, stride)
    spans = track_spans(genome, window, regions, bed)
    count = sum(num_tiles(span, window, stride) for span in spans)

    def all_tiles() -> Iterator[TrackWindow]:
        return (tile for span in spans for tile in tile_span(span, window, stride))

    tiles = all_tiles()
    log.info("track of %d windows of %d bases (stride %d) from %s", count, window, stride, genome.path)
    if store is not None and devices is not None:
        raise ConfigError("a track kept in a resume state is scored in this process; drop devices (--devices)")
    if store is not None:
        for part in _kept_parts(inference, tiles, count, batch_size, rc_average, progress, store.done):
            store.save(track_arrays(part), store.done + len(part))
        kept = stored_kept(store, all_tiles())
    elif devices is None:
        kept = (item for part in _kept_parts(inference, tiles, count, batch_size, rc_average, progress)
                for item in part)
    else:
        from genosparse.scoring.distributed import predict_windows
        tiles = list(tiles)
        values = predict_windows(inference.model, genome, [t.window for t in tiles], batch_size=batch_size,
                                 rc_average=rc_average, devices=devices,
                                 accelerator="gpu" if inference.device.type == "cuda" else "cpu", progress=progress)
        kept = ((tile, _keep(tile, ll)) for tile, ll in zip(tiles, values, strict=True))
    return _binned(_stitched(kept), bin_size)


def window_log_likelihood(model: GenomicModel, tokens: np.ndarray, rc_average: bool,
                          device: torch.device) -> np.ndarray:
    """:func:`~genosparse.scoring.scorers.position_log_likelihood` of equal-length windows ``(B, L)`` (numpy
    ids) as ``(B, L)`` float32; windows of only ``N`` are not run through the model (all NaN)."""
    ll = np.full(tokens.shape, np.nan, dtype=np.float32)
    some = ~(tokens == N).all(axis=1)
    if some.any():
        batch = torch.from_numpy(tokens[some].astype(np.int64)).to(device)
        ll[some] = position_log_likelihood(model, batch, rc_average).float().cpu().numpy()
    return ll


def _kept_parts(inference: Inference, tiles: Iterable[TrackWindow], count: int, batch_size: int, rc_average: bool,
                progress: bool, done: int = 0) -> Iterator[list[tuple[TrackWindow, np.ndarray]]]:
    """The ``count`` tiles from tile ``done`` on (earlier ones are skipped unread), ``STREAM_CHUNK * batch_size``
    at a time, each with the per-base values ``(len(keep),)`` float32 of its ``keep`` part, in order."""
    tiles, step = iter(tiles), STREAM_CHUNK * batch_size  # step fixed: fit_in_memory may lower batch_size
    with tqdm(total=count, initial=done, unit="window", disable=not progress, desc="track") as bar:
        next(islice(tiles, done, done), None)  # consume the first `done` tiles
        while part := list(islice(tiles, step)):
            windows = [tile.window for tile in part]
            values, batch_size = fit_in_memory(lambda b: _part_values(inference, windows, b, rc_average, bar),
                                               batch_size, f"the windows from {windows[0]}", inference.window, bar)
            yield [(tile, _keep(tile, values[tile.window])) for tile in part]


def _keep(tile: TrackWindow, values: np.ndarray) -> np.ndarray:
    """The part of a window's per-base ``values`` that the track takes (``tile.keep``)."""
    offset = tile.keep.start - tile.window.start
    return values[offset:offset + len(tile.keep)]


def _part_values(inference: Inference, part: list[Interval], batch_size: int, rc_average: bool,
                 bar: tqdm) -> dict[Interval, np.ndarray]:
    """Values of the windows ``part`` (a function: no inference mode leaks to the caller between yields)."""
    values: dict[Interval, np.ndarray] = {}
    with inference.running():
        for chunk, tokens in interval_batches(inference.genome, part, batch_size):
            values.update(zip(chunk, window_log_likelihood(inference.model, tokens, rc_average, inference.device)))
            bar.update(len(chunk))
    return values


def _stitched(kept: Iterable[tuple[TrackWindow, np.ndarray]]) -> Iterator[tuple[TrackSegment, bool]]:
    """Per-base segments of each tile's ``keep`` part, in order; the flag says a new span starts."""
    previous = None
    for tile, values in kept:
        keep = tile.keep
        new_span = previous is None or previous.end != keep.start or previous.contig != keep.contig
        yield TrackSegment(keep.contig, keep.start, 1, values), new_span
        previous = keep


def _binned(pieces: Iterable[tuple[TrackSegment, bool]], bin_size: int) -> Iterator[TrackSegment]:
    """Average consecutive per-base segments of a span into bins of ``bin_size`` starting at the span start."""
    if bin_size == 1:
        yield from (segment for segment, _ in pieces)
        return
    carry: TrackSegment | None = None
    for segment, new_span in pieces:
        if carry is not None and new_span:
            yield _bin_means(carry, len(carry.values))
            carry = None
        if carry is not None:
            segment = TrackSegment(carry.contig, carry.start, 1, np.concatenate([carry.values, segment.values]))
        whole = len(segment.values) // bin_size * bin_size
        if whole:
            yield _bin_means(TrackSegment(segment.contig, segment.start, 1, segment.values[:whole]), bin_size)
        carry = TrackSegment(segment.contig, segment.start + whole, 1, segment.values[whole:]) \
            if whole < len(segment.values) else None
    if carry is not None:
        yield _bin_means(carry, len(carry.values))


def _bin_means(segment: TrackSegment, bin_size: int) -> TrackSegment:
    """NaN-ignoring means of per-base ``segment`` in bins of ``bin_size`` (its length a multiple)."""
    bins = segment.values.reshape(-1, bin_size)
    count = np.isfinite(bins).sum(axis=1)
    total = np.where(np.isfinite(bins), bins, 0).sum(axis=1)
    means = np.divide(total, count, out=np.full(len(bins), np.nan, np.float32), where=count > 0)
    return TrackSegment(segment.contig, segment.start, bin_size, means.astype(np.float32))
