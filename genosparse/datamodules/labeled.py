"""Labeled short sequences (TSV ``sequence<TAB>label``) as a Lightning DataModule."""

from __future__ import annotations

import os

import lightning as L
from torch.utils.data import DataLoader

from genosparse.sequence.labeled import LabeledSequenceDataset, read_labeled_tsv


class LabeledSequenceDataModule(L.LightningDataModule):
    """Train / validation (/ test) TSV files of labeled sequences.

    Args:
        train, val: TSV paths with header ``sequence<TAB>label``.
        test: optional TSV path.
        length: tokens per sequence (shorter padded, longer centre-cropped); default the
            longest training sequence.
        rc_prob: training augmentation, probability of reverse complementing a sequence.
        batch_size, num_workers: DataLoader settings.
        seed: seeds the augmentation.
    """

    def __init__(self, train: str, val: str, test: str | None = None, length: int | None = None,
                 rc_prob: float = 0.5, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.paths = {"train": os.fspath(train), "val": os.fspath(val), "test": test and os.fspath(test)}
        self.length = length
        self.rc_prob = rc_prob
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def setup(self, stage: str | None = None) -> None:
        train = read_labeled_tsv(self.paths["train"])
        length = self.length or max(len(s) for s in train.sequences)
        self.train_set = LabeledSequenceDataset(train, length=length, rc_prob=self.rc_prob, seed=self.seed)
        self.val_set = LabeledSequenceDataset(read_labeled_tsv(self.paths["val"]), length=length)
        self.test_set = (LabeledSequenceDataset(read_labeled_tsv(self.paths["test"]), length=length)
                         if self.paths["test"] else None)

    def _loader(self, dataset, shuffle: bool = False) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set if self.test_set is not None else self.val_set)
