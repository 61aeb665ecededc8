"""Genome windows for masked-LM pretraining, as a Lightning DataModule."""

from __future__ import annotations

import logging
import math
import os

import lightning as L
from torch.utils.data import DataLoader

from genosparse.errors import ConfigError
from genosparse.genome import Genome
from genosparse.sequence.windows import GenomeWindowDataset, tile_windows

log = logging.getLogger(__name__)


class GenomeWindowDataModule(L.LightningDataModule):
    """Tiles a FASTA into windows; the last ``val_fraction`` of each contig's windows validate.

    The split is by position (a contiguous tail of every contig), so validation windows do
    not overlap training windows when ``stride >= window_size``; training windows within
    ``max_shift`` bases of the tail are dropped, so shifted windows do not reach into it either.

    Args:
        fasta: FASTA path (plain or BGZF).
        window_size: window length in bases (= model context length).
        stride: step between window starts in bases (default ``window_size``).
        contigs: contigs to use (aliases accepted; one name or a list); default all.
        val_fraction: fraction of each contig's windows held out for validation.
        max_shift: training augmentation, random shift in bases.
        rc_prob: training augmentation, probability of reverse complementing a window.
        batch_size, num_workers: DataLoader settings.
        seed: seeds the augmentation.
    Raises:
        ConfigError: negative ``max_shift``, ``val_fraction`` outside (0, 1), or no window left
            for training or validation.
    """

    def __init__(self, fasta: str, window_size: int = 4096, stride: int | None = None,
                 contigs: list[str] | None = None, val_fraction: float = 0.05, max_shift: int = 0,
                 rc_prob: float = 0.5, batch_size: int = 8, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        if max_shift < 0 or not 0.0 < val_fraction < 1.0:
            raise ConfigError(f"need data.max_shift >= 0 and 0 < data.val_fraction < 1, got {max_shift} and "
                              f"{val_fraction}")
        self.fasta = os.fspath(fasta)
        self.window_size = window_size
        self.stride = stride
        # `data.contigs=[20]` arrives as an int from Hydra; a single name may come without a list
        self.contigs = ([str(c) for c in ([contigs] if isinstance(contigs, (str, int)) else contigs)]
                        if contigs else None)
        self.val_fraction = val_fraction
        self.max_shift = max_shift
        self.rc_prob = rc_prob
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):  # fit, then validate: tile once
            return
        genome = Genome(self.fasta)
        tiling = tile_windows(genome, self.window_size, self.stride, contigs=self.contigs)
        train, val, num_dropped = [], [], 0
        for contig in dict.fromkeys(w.contig for w in tiling.windows):
            windows = [w for w in tiling.windows if w.contig == contig]
            n_val = max(1, round(len(windows) * self.val_fraction)) if len(windows) > 1 else 0
            held_out = windows[len(windows) - n_val:]
            # a shifted training window must not reach into the held-out tail
            limit = held_out[0].start - self.max_shift if held_out else math.inf
            kept = [w for w in windows[: len(windows) - n_val] if w.end <= limit]
            num_dropped += len(windows) - n_val - len(kept)
            train += kept
            val += held_out
        if not train and num_dropped:
            raise ConfigError(f"{self.fasta}: data.max_shift={self.max_shift} drops all {num_dropped} training "
                              "windows, which could shift into the held-out tail; use a smaller data.max_shift")
        if not train or not val:
            raise ConfigError(f"{self.fasta}: {len(train)} training and {len(val)} validation windows of "
                              f"{self.window_size} bases; use a smaller data.window_size or more contigs")
        log.info("%s: %d training and %d validation windows of %d bases (%d all-N windows skipped)",
                 self.fasta, len(train), len(val), self.window_size, tiling.num_all_n_skipped)
        self.train_set = GenomeWindowDataset(genome, train, max_shift=self.max_shift, rc_prob=self.rc_prob,
                                             seed=self.seed)
        self.val_set = GenomeWindowDataset(genome, val)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=self.num_workers)
