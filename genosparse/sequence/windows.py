"""Genome windows: deterministic tiling and a training dataset with shift/RC augmentation.

Coordinates are 0-based, end-exclusive, in bases.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from genosparse.errors import FastaError
from genosparse.sequence.vocab import N, reverse_complement

if TYPE_CHECKING:
    from genosparse.genome.fasta import Genome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """Interval ``contig[start:end]`` (0-based, end-exclusive); ``len()`` in bases."""

    contig: str
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class TilingResult:
    """Output of :func:`tile_windows`.

    Attributes:
        windows: the kept windows, contig by contig in FASTA (or requested) order, then
            by start.
        num_all_n_skipped: windows dropped because they were entirely N.
        short_contigs: contigs skipped because they are shorter than the window.
    """

    windows: list[Window]
    num_all_n_skipped: int
    short_contigs: list[str]


def tile_windows(
    genome: Genome,
    window_size: int = 131072,
    stride: int | None = None,
    contigs: Sequence[str] | None = None,
    skip_all_n: bool = True,
) -> TilingResult:
    """Tile contigs with windows of exactly ``window_size`` bases.

    Windows start at ``0, stride, 2*stride, ...`` while they fit; if a tail remains,
    one more window ends exactly at the contig end (``start = length - window_size``),
    so with ``stride <= window_size`` every base is covered. Contigs shorter than
    ``window_size`` are skipped (logged as a warning). Windows that are entirely ``N``
    are skipped when ``skip_all_n`` (their sequence is fetched; count logged at INFO).

    Args:
        genome: the reference.
        window_size: window length in bases (default 131,072 = 2**17).
        stride: distance between window starts in bases (default ``window_size``).
        contigs: contigs to tile (aliases accepted), default all in FASTA order.
        skip_all_n: drop windows without any A, C, G or T.

    Raises:
        ValueError: non-positive ``window_size`` or ``stride``.
        FastaError: unknown contig (all names are resolved before tiling).
    """
    stride = window_size if stride is None else stride
    if window_size <= 0 or stride <= 0:
        raise ValueError(f"window_size and stride must be positive, got {window_size}, {stride}")
    names = genome.contigs if contigs is None else [genome.resolve(c) for c in contigs]
    lengths = genome.lengths
    windows: list[Window] = []
    short: list[str] = []
    num_all_n = 0
    for name in names:
        length = lengths[name]
        if length < window_size:
            short.append(name)
            continue
        starts = list(range(0, length - window_size + 1, stride))
        if starts[-1] + window_size < length:
            starts.append(length - window_size)
        for start in starts:
            end = start + window_size
            if skip_all_n and not (genome.fetch_tokens(name, start, end) != N).any():
                num_all_n += 1
                continue
            windows.append(Window(name, start, end))
    if short:
        log.warning(
            "skipped %d contig(s) shorter than the %d-base window: %s",
            len(short), window_size, ", ".join(short[:10]) + (", ..." if len(short) > 10 else ""),
        )
    if num_all_n:
        log.info("skipped %d all-N window(s) of %d bases", num_all_n, window_size)
    return TilingResult(windows, num_all_n, short)


class GenomeWindowDataset(Dataset):
    """Token ids of genome windows, with optional shift and reverse-complement augmentation.

    Item ``i`` is ``{"tokens": LongTensor (L,), "index": i}`` where ``L = len(windows[i])``
    (use windows of one length to batch them). The window is shifted by a uniform
    random integer in ``[-max_shift, max_shift]`` bases (positions beyond a contig end
    become ``N``) and reverse-complemented with probability ``rc_prob``. The draws come
    from a generator seeded with ``(seed, epoch, i)``, so a run is reproducible and
    independent of worker count; call :meth:`set_epoch` before each epoch (with
    ``persistent_workers=True`` the workers keep the epoch they started with). With
    ``max_shift=0`` and ``rc_prob=0`` items are exactly the windows.

    Picklable: it holds the lazily opened :class:`~genosparse.genome.Genome`.

    Raises:
        ValueError: negative ``max_shift`` or ``seed``, ``rc_prob`` outside [0, 1].
        FastaError: a window on an unknown contig or outside its contig.
    """

    def __init__(
        self,
        genome: Genome,
        windows: Sequence[Window],
        *,
        max_shift: int = 0,
        rc_prob: float = 0.0,
        seed: int = 0,
    ):
        if max_shift < 0 or seed < 0 or not 0.0 <= rc_prob <= 1.0:
            raise ValueError(
                f"need max_shift >= 0, seed >= 0 and 0 <= rc_prob <= 1, got "
                f"{max_shift}, {seed}, {rc_prob}"
            )
        lengths = genome.lengths  # opens (and indexes) the FASTA once, before any worker
        for w in windows:
            length = lengths[genome.resolve(w.contig)]
            if not 0 <= w.start < w.end <= length:
                raise FastaError(
                    f"window {w.contig}:{w.start}-{w.end} (0-based, end-exclusive) is empty "
                    f"or outside the contig (length {length}) in {genome.path}. Fix the windows"
                )
        self.genome = genome
        self.windows = list(windows)
        self.max_shift = max_shift
        self.rc_prob = rc_prob
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (>= 0)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self.windows):
            raise IndexError(f"index {index} out of range for {len(self.windows)} windows")
        w = self.windows[index]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        shift = int(rng.integers(-self.max_shift, self.max_shift + 1))
        rc = rng.random() < self.rc_prob
        ids = self.genome.fetch_tokens(w.contig, w.start + shift, w.end + shift, pad=True)
        tokens = torch.from_numpy(ids.astype(np.int64))
        return {"tokens": reverse_complement(tokens) if rc else tokens, "index": index}
