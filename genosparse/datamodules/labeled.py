"""Labeled short sequences as a Lightning DataModule: TSV ``sequence<TAB>label`` or FASTA + labels."""

from __future__ import annotations


import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from genosparse.errors import SequenceError
from genosparse.sequence.labeled import (LabeledSequenceDataset, LabeledSequences, read_labeled_fasta,
                                         read_labeled_tsv)


def read_labeled(path: str, labels: str | None = None, binary: bool = False) -> LabeledSequences:
    """A TSV ``sequence<TAB>label`` file, or, when ``labels`` is given, a FASTA and its
    ``name<TAB>label`` file.

    Raises:
        SequenceError: on a malformed file, or with ``binary`` a label other than 0 or 1.
    """
    data = read_labeled_fasta(path, labels) if labels else read_labeled_tsv(path)
    if binary:
        bad = np.flatnonzero((data.labels != 0) & (data.labels != 1))
        if bad.size:
            i = int(bad[0])
            raise SequenceError(f"{labels or path}: label {data.labels[i]!r} of record {data.names[i]!r} is not 0 or 1; "
                                "binary classification needs 0/1 labels")
    return data


class LabeledSequenceDataModule(L.LightningDataModule):
    """Train / validation (/ test) sets of labeled sequences.

    Each split is a TSV with header ``sequence<TAB>label``, or a FASTA whose labels come from
    the matching ``*_labels`` TSV (``name<TAB>label``).

    Args:
        train, val: TSV or FASTA paths.
        test: optional TSV or FASTA path.
        train_labels, val_labels, test_labels: label files for FASTA splits.
        length: tokens per sequence (shorter padded, longer centre-cropped); default the
            longest training sequence.
        rc_prob: training augmentation, probability of reverse complementing a sequence.
        batch_size, num_workers: DataLoader settings.
        seed: seeds the augmentation.
        binary: labels must be 0 or 1 (binary classification).
    """

    def __init__(self, train: str, val: str, test: str | None = None, train_labels: str | None = None,
                 val_labels: str | None = None, test_labels: str | None = None, length: int | None = None,
                 rc_prob: float = 0.5, batch_size: int = 64, num_workers: int = 0, seed: int = 0,
                 binary: bool = True) -> None:
        super().__init__()
        self.binary = binary
        self.paths = {"train": (train, train_labels), "val": (val, val_labels), "test": (test, test_labels)}
        self.length = length
        self.rc_prob = rc_prob
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):  # fit, then validate: read once
            return
        train = read_labeled(*self.paths["train"], binary=self.binary)
        length = self.length or max(len(s) for s in train.sequences)
        self.train_set = LabeledSequenceDataset(train, length=length, rc_prob=self.rc_prob, seed=self.seed)
        self.val_set = LabeledSequenceDataset(read_labeled(*self.paths["val"], binary=self.binary), length=length)
        test, test_labels = self.paths["test"]
        self.test_set = (LabeledSequenceDataset(read_labeled(test, test_labels, self.binary), length=length)
                         if test else None)

    def _loader(self, dataset, shuffle: bool = False) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set if self.test_set is not None else self.val_set)
