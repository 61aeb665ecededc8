"""``score_fasta`` and ``score_sequences``: stream scores of the records or tiled windows of a FASTA or
of in-memory sequences."""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from genosparse.errors import ConfigError, FastaError, check_ints
from genosparse.genome import Genome
from genosparse.genome.bed import read_bed
from genosparse.genome.regions import Interval, parse_region, region_list
from genosparse.models.backbone import GenomicModel
from genosparse.pretrained import DEFAULT_MODEL
from genosparse.scoring.prepare import Inference, fit_in_memory, prefetch, prepare
from genosparse.scoring.scorers import score_batch, score_name
from genosparse.sequence.named import Sequences, SequenceSet, named_sequences
from genosparse.sequence.vocab import N, reverse_complement

log = logging.getLogger(__name__)
T = TypeVar("T")

STREAM_CHUNK = 16
"""Intervals are read, grouped by length and scored ``STREAM_CHUNK * batch_size`` at a time."""


@dataclass(frozen=True)
class ScoreRow:
    """One scored interval: a whole short record, one window of a long contig, or a BED interval.

    ``name`` is the record or contig (or the BED name), ``contig`` where the interval lies (default
    ``name``); ``start``/``end`` are 0-based half-open (bases) on it; ``strand`` is ``+``, or ``-``
    where the reverse complement was scored (BED column 6); ``flag`` is empty, ``"all_N"`` for an
    interval without any A/C/G/T, or ``"empty"`` for a record without bases (both: no score, ``nan``).
    """

    name: str
    start: int
    end: int
    score: float
    flag: str = ""
    contig: str = ""
    strand: str = "+"

    def __post_init__(self) -> None:
        if not self.contig:
            object.__setattr__(self, "contig", self.name)


def tile_intervals(genome: Genome | SequenceSet, window: int, regions: Iterable[str] | None,
                   bed: str | os.PathLike | None = None) -> list[Interval]:
    """Tile each contig or in-memory sequence (or region of a genome, or BED interval) into consecutive
    windows of ``window`` bases; the last may be shorter. BED tiles keep their line's name and strand
    (:class:`~genosparse.genome.bed.BedInterval`)."""
    if bed is not None:
        spans = read_bed(bed, genome)
    elif regions:
        spans = [_whole(genome, region) for region in regions]
    else:
        spans = [Interval(name, 0, length) for name, length in genome.lengths.items()]
    intervals = []
    for iv in spans:  # an empty record still gets its (flagged) row
        intervals += [dataclasses.replace(iv, start=s, end=min(s + window, iv.end))
                      for s in range(iv.start, max(iv.end, iv.start + 1), window)]
    return intervals


def equal_length_batches(items: Sequence[T], batch_size: int) -> Iterator[list[T]]:
    """Batches of at most ``batch_size`` items of equal ``len``, in order within each length.

    Equal lengths mean no padding: BigBird's global and random blocks depend on the input
    length, so padding a short record would change the pattern it is scored with.
    """
    by_length: dict[int, list[T]] = {}
    for item in items:
        by_length.setdefault(len(item), []).append(item)
    for group in by_length.values():
        for i in range(0, len(group), batch_size):
            yield group[i:i + batch_size]


def read_tokens(source: Genome | SequenceSet, contig: str, start: int, end: int, strand: str = "+") -> np.ndarray:
    """Token ids ``(end - start,)`` int64 of ``source``'s ``contig[start:end]`` (0-based half-open),
    reverse-complemented when ``strand`` is ``-`` (a BED interval on the minus strand)."""
    ids = source.fetch_tokens(contig, start, end).astype(np.int64)
    return reverse_complement(ids, check=False) if strand == "-" else ids


def interval_batches(genome: Genome | SequenceSet, intervals: list[Interval], batch_size: int
             ) -> Iterator[tuple[list[Interval], np.ndarray]]:
    """:func:`equal_length_batches` of intervals with their tokens ``(B, L)`` int64, read ahead in a
    thread (:func:`~genosparse.scoring.prepare.prefetch`); an interval with ``strand`` ``-`` (a BED
    line's) is read as the reverse complement."""
    def read() -> Iterator[tuple[list[Interval], np.ndarray]]:
        for chunk in equal_length_batches(intervals, batch_size):
            yield chunk, np.stack([read_tokens(genome, iv.contig, iv.start, iv.end, getattr(iv, "strand", "+"))
                                   for iv in chunk])

    return prefetch(read())


def score_fasta(model: GenomicModel | Inference | str | os.PathLike, fasta: str | os.PathLike | Genome, *,
                window: int | None = None, regions: Iterable[str] | None = None,
                bed: str | os.PathLike | None = None, batch_size: int = 8, rc_average: bool = True,
                device: torch.device | str | None = None, progress: bool = True) -> Iterator[ScoreRow]:
    """Score a FASTA with a model, streaming one :class:`ScoreRow` per interval in FASTA order.

    Records no longer than ``window`` give one row each (the whole record); longer contigs
    are tiled into consecutive windows of ``window`` bases (the last one shorter), one row
    per window. The score is the probability of a classification model, or the mean masked
    log-likelihood per base of an MLM model (:func:`genosparse.scoring.scorers.score_batch`).

    Args:
        model: a loaded :class:`GenomicModel`, a checkpoint folder or a shipped name
            (:func:`~genosparse.scoring.prepare.prepare`).
        fasta: FASTA path (plain or BGZF) or an open :class:`Genome`.
        window: window length in bases; default the model's ``context_length``.
        regions: optional regions to score instead of every contig, one or several: ``chrom:start-end``
            strings (1-based inclusive, samtools style) or ``(chrom, start, end)`` tuples (0-based,
            end-exclusive); see :mod:`genosparse.genome.regions`.
        bed: a BED file (0-based) to score instead: each interval as one row (tiled like a contig when
            longer than ``window``), named by its name column (:func:`~genosparse.genome.bed.read_bed`);
            a ``-`` interval (column 6) is scored as the reverse complement of the reference.
        rc_average: average each score with the reverse complement's.
        device: default CUDA when available, else CPU.
    Raises:
        FastaError: unreadable FASTA, unknown contig or a region past a contig end.
        SequenceError: a malformed BED line.
        ConfigError: unreadable checkpoint, ``window`` or ``batch_size`` < 1, both ``regions`` and ``bed``.
        ArgumentError: an argument of the wrong type (also a ``TypeError``).
    """
    regions = region_list(regions)
    if regions and bed is not None:
        raise ConfigError("give regions or a BED file, not both")
    check_batch_size(batch_size)
    inference = prepare(model, fasta, window=window, device=device, what="scoring", needs_genome=True)
    intervals = tile_intervals(inference.genome, inference.window, regions, bed)
    yield from _score_intervals(inference, inference.genome, intervals, batch_size, rc_average, progress)


def score_sequences(sequences: Sequences, model: GenomicModel | Inference | str | os.PathLike = DEFAULT_MODEL, *,
                    window: int | None = None, batch_size: int = 8, rc_average: bool = True,
                    device: torch.device | str | None = None, progress: bool = True) -> Iterator[ScoreRow]:
    """Score in-memory sequences exactly as :func:`score_fasta` scores the records of a FASTA holding
    them, without writing one: one :class:`ScoreRow` per sequence no longer than ``window``, longer
    ones tiled into consecutive windows of ``window`` bases (the last one shorter); same scores,
    batching and flags (``all_N``).

    Args:
        sequences: a list of strings (rows named ``seq0``, ``seq1``, ...), a name -> sequence
            mapping, or ``(name, sequence)`` pairs; A/C/G/T/N in either case, IUPAC codes read as N.
        model: a loaded :class:`GenomicModel`, a checkpoint folder or a shipped name (default
            ``chr20-mlm``; ``chr20-promoter`` gives promoter probabilities).
        window, batch_size, rc_average, device, progress: as :func:`score_fasta`.
    Yields:
        :class:`ScoreRow` s in input order; ``start``/``end`` are 0-based half-open on the sequence.
    Raises:
        ArgumentError: one string instead of a list, or an item that is not a string or a pair.
        SequenceError: an empty sequence, an invalid base (naming sequence and position), a name twice.
        ConfigError: unreadable checkpoint, ``window`` or ``batch_size`` < 1.
    """
    source = named_sequences(sequences)
    check_batch_size(batch_size)
    inference = prepare(model, window=window, device=device, what="scoring")
    intervals = tile_intervals(source, inference.window, None)
    yield from _score_intervals(inference, source, intervals, batch_size, rc_average, progress)


def check_batch_size(batch_size: int) -> None:
    """Raise unless ``batch_size`` is an integer >= 1 (:class:`ArgumentError`, :class:`ConfigError`)."""
    check_ints(batch_size=batch_size)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")


def _score_intervals(inference: Inference, source: Genome | SequenceSet, intervals: list[Interval], batch_size: int,
                     rc_average: bool, progress: bool) -> Iterator[ScoreRow]:
    """Rows of ``intervals`` of ``source``, in order, ``STREAM_CHUNK * batch_size`` at a time."""
    window = inference.window
    log.info("scoring %d intervals of up to %d bases from %s (%s)", len(intervals), window, source.path,
             score_name(inference.model))
    with tqdm(total=len(intervals), unit="window", disable=not progress, desc="score") as bar:
        step = STREAM_CHUNK * batch_size  # fixed: fit_in_memory may lower batch_size
        for start in range(0, len(intervals), step):
            part = intervals[start:start + step]
            rows, batch_size = fit_in_memory(lambda b: _score_part(inference, source, part, b, rc_average, bar),
                                             batch_size, f"the windows from {part[0]}", window, bar)
            yield from (rows[iv] for iv in part)


def _score_part(inference: Inference, source: Genome | SequenceSet, part: list[Interval], batch_size: int,
                rc_average: bool, bar: tqdm) -> dict[Interval, ScoreRow]:
    """Rows of the intervals ``part`` (a function, so no inference mode leaks to the caller between yields)."""
    rows: dict[Interval, ScoreRow] = {}
    with inference.running():
        for chunk, tokens in interval_batches(source, part, batch_size):
            if tokens.shape[1] == 0:
                rows.update((iv, _row(iv, float("nan"), "empty")) for iv in chunk)
            else:
                batch = torch.from_numpy(tokens).to(inference.device)
                scores = score_batch(inference.model, batch, rc_average).float().cpu().numpy()
                for iv, score, empty in zip(chunk, scores, (tokens == N).all(axis=1)):
                    rows[iv] = _row(iv, float("nan") if empty else float(score), "all_N" if empty else "")
            bar.update(len(chunk))
    return rows


def _row(iv: Interval, score: float, flag: str) -> ScoreRow:
    """The row of ``iv``: named by its contig, or by its BED name with its strand."""
    return ScoreRow(getattr(iv, "name", iv.contig), iv.start, iv.end, score, flag, iv.contig,
                    getattr(iv, "strand", "+"))


def sorted_regions(genome: Genome, regions: Iterable[str] | None) -> list[Interval] | None:
    """``regions`` (as :func:`score_fasta` takes them) in genome order, FASTA contig order then start, as
    bedGraph needs them; None stays None.

    Raises:
        FastaError: two regions overlap (naming both: merge them, or write TSV, which keeps them as given),
            an unknown contig, or a region past a contig end.
    """
    regions = region_list(regions)
    if not regions:
        return None
    order = {name: k for k, name in enumerate(genome.lengths)}
    spans = sorted((_whole(genome, region) for region in regions), key=lambda iv: (order[iv.contig], iv.start))
    for before, after in zip(spans, spans[1:]):
        if after.contig == before.contig and after.start < before.end:
            raise FastaError(f"regions {before} and {after} overlap; bedGraph intervals must not overlap: merge "
                             "them into one region, or write TSV (--format tsv), which keeps regions as given")
    return spans


def _whole(genome: Genome, region) -> Interval:
    """One region as an :class:`Interval` of ``genome`` (a bare contig: all of it)."""
    contig, start, end = parse_region(region)
    name, length = genome.resolve(contig), genome.length(contig)
    if end is not None and end > length:
        raise FastaError(f"region {region} extends past the end of contig {name} ({length:,} bases) in {genome.path}")
    return Interval(name, start or 0, length if end is None else end)
