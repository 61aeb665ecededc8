"""Labelled sequence sets (e.g. promoter classification): readers and a dataset.

Formats:

- TSV with a header ``sequence<TAB>label`` and one row per sequence
  (:func:`read_labeled_tsv`).
- A FASTA file plus a TSV ``name<TAB>label`` (optional header ``name<TAB>label``)
  (:func:`read_labeled_fasta`).

Bases follow :mod:`genosparse.sequence.vocab` (any case, IUPAC codes -> N).
Blank lines in the TSV files are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from Bio import SeqIO
from torch.utils.data import Dataset

from genosparse.errors import SequenceError
from genosparse.sequence.vocab import PAD, encode, reverse_complement


@dataclass
class LabeledSequences:
    """Sequences with one label each.

    Attributes:
        names: ``(n,)`` record names (FASTA ids, or ``<file name>:<line>`` for a TSV).
        sequences: ``(n,)`` base strings as read (case kept).
        labels: ``(n,)`` array, int64 for integer labels, float64 for float labels.
    """

    names: list[str]
    sequences: list[str]
    labels: np.ndarray

    def __post_init__(self) -> None:
        if not len(self.names) == len(self.sequences) == len(self.labels):
            raise SequenceError(
                f"names, sequences and labels differ in length: {len(self.names)}, "
                f"{len(self.sequences)}, {len(self.labels)}"
            )

    def __len__(self) -> int:
        return len(self.names)


def read_labeled_tsv(
    path: str | os.PathLike, *, label_type: Callable[[str], object] = int
) -> LabeledSequences:
    """Read a ``sequence<TAB>label`` TSV with a header line.

    Args:
        path: the TSV file.
        label_type: converts a label field, e.g. ``int`` (default) or ``float``.

    Raises:
        SequenceError: naming the file and 1-based line, on an empty file, a missing
            header, a wrong column count, a bad label, an empty sequence or bad bases.
    """
    path = Path(path)
    names, sequences, labels = [], [], []
    rows = _tsv_rows(path)
    header = next(rows, None)
    if header is None:
        raise SequenceError(f"{path} is empty; expected a header 'sequence<TAB>label' then rows")
    lineno, fields = header
    if [f.strip().lower() for f in fields] != ["sequence", "label"]:
        raise SequenceError(
            f"{path}, line {lineno}: expected the header 'sequence<TAB>label', found "
            f"{'<TAB>'.join(fields)!r}. Add or fix the header line"
        )
    for lineno, fields in rows:
        if len(fields) != 2:
            raise SequenceError(
                f"{path}, line {lineno}: expected 2 tab-separated columns (sequence, label), "
                f"found {len(fields)}. Fix the line"
            )
        seq, label = fields
        _check_bases(seq, f"{path}, line {lineno}")
        sequences.append(seq)
        labels.append(_parse_label(label, label_type, path, lineno))
        names.append(f"{path.name}:{lineno}")
    if not sequences:
        raise SequenceError(f"{path} has a header but no rows. Add data rows")
    return LabeledSequences(names, sequences, np.asarray(labels))


def read_labeled_fasta(
    fasta_path: str | os.PathLike,
    labels_path: str | os.PathLike,
    *,
    label_type: Callable[[str], object] = int,
) -> LabeledSequences:
    """Read FASTA records (Bio.SeqIO) and their labels from a ``name<TAB>label`` TSV.

    Every record must have exactly one label and every label a record. Records keep
    FASTA order; names are the FASTA ids (first word of the header).

    Raises:
        SequenceError: no records, duplicate names, bad bases (naming the record),
            malformed label lines (naming file and 1-based line), or names present in
            only one of the files (listed).
    """
    fasta_path, labels_path = Path(fasta_path), Path(labels_path)
    try:
        records = [(r.id, str(r.seq)) for r in SeqIO.parse(str(fasta_path), "fasta")]
    except (OSError, ValueError) as err:
        raise SequenceError(f"cannot read {fasta_path} as FASTA: {err}") from err
    names = [name for name, _ in records]
    sequences = [seq for _, seq in records]
    for name, seq in records:
        _check_bases(seq, f"{fasta_path}, record {name!r}")
    if not names:
        raise SequenceError(f"{fasta_path} holds no FASTA records (headers start with '>')")
    _no_duplicates(names, fasta_path)

    label_of: dict[str, object] = {}
    for lineno, fields in _tsv_rows(labels_path):
        if lineno == 1 and [f.strip().lower() for f in fields] == ["name", "label"]:
            continue
        if len(fields) != 2:
            raise SequenceError(
                f"{labels_path}, line {lineno}: expected 2 tab-separated columns (name, "
                f"label), found {len(fields)}. Fix the line"
            )
        if fields[0] in label_of:
            raise SequenceError(f"{labels_path}, line {lineno}: duplicate name {fields[0]!r}")
        label_of[fields[0]] = _parse_label(fields[1], label_type, labels_path, lineno)

    missing = [n for n in names if n not in label_of]
    extra = sorted(set(label_of) - set(names))
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"records without a label in {labels_path}: {_listing(missing)}")
        if extra:
            problems.append(f"labels without a record in {fasta_path}: {_listing(extra)}")
        raise SequenceError("; ".join(problems) + ". Make the names match")
    return LabeledSequences(names, sequences, np.asarray([label_of[n] for n in names]))


class LabeledSequenceDataset(Dataset):
    """Fixed-length token ids of labelled sequences.

    Item ``i`` is a dict:

    - ``tokens``: ``(length,)`` int64; longer sequences are centre-cropped (start
      ``(n - length) // 2``), shorter ones right-padded with ``PAD``;
    - ``mask``: ``(length,)`` bool, True on real (non-PAD) positions;
    - ``label``: float32 scalar tensor;
    - ``index``: ``i``.

    With probability ``rc_prob`` the (cropped) sequence is reverse-complemented
    before padding, so padding stays on the right. Draws come from a generator
    seeded with ``(seed, epoch, i)``; see :meth:`set_epoch`.

    Args:
        data: the sequences and numeric labels.
        length: output length in bases; default the longest sequence.

    Raises:
        ValueError: ``length`` < 1, negative ``seed``, ``rc_prob`` outside [0, 1].
        SequenceError: a sequence with bytes outside the alphabet.
    """

    def __init__(
        self,
        data: LabeledSequences,
        *,
        length: int | None = None,
        rc_prob: float = 0.0,
        seed: int = 0,
    ):
        self.tokens = [encode(s, name=n) for n, s in zip(data.names, data.sequences)]
        self.labels = np.asarray(data.labels, dtype=np.float32)
        self.length = max(map(len, self.tokens), default=0) if length is None else length
        if self.length < 1 or seed < 0 or not 0.0 <= rc_prob <= 1.0:
            raise ValueError(
                f"need length >= 1, seed >= 0 and 0 <= rc_prob <= 1, got "
                f"{self.length}, {seed}, {rc_prob}"
            )
        self.rc_prob = rc_prob
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (>= 0)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self.tokens):
            raise IndexError(f"index {index} out of range for {len(self.tokens)} sequences")
        ids = self.tokens[index]
        if len(ids) > self.length:
            offset = (len(ids) - self.length) // 2
            ids = ids[offset : offset + self.length]
        if np.random.default_rng((self.seed, self.epoch, index)).random() < self.rc_prob:
            ids = reverse_complement(ids)
        tokens = torch.full((self.length,), PAD, dtype=torch.long)
        tokens[: len(ids)] = torch.from_numpy(ids)
        return {
            "tokens": tokens,
            "mask": tokens != PAD,
            "label": torch.tensor(self.labels[index]),
            "index": index,
        }


def _tsv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(1-based line number, fields)`` of non-blank lines."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for lineno, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield lineno, line.split("\t")
    except UnicodeDecodeError as err:
        raise SequenceError(f"{path} is not UTF-8 text ({err}). Is it compressed?") from err
    except OSError as err:
        raise SequenceError(f"cannot read {path}: {err}") from err


def _check_bases(seq: str, where: str) -> None:
    if not seq:
        raise SequenceError(f"{where}: empty sequence. Remove the line or add the sequence")
    try:
        encode(seq)
    except SequenceError as err:
        raise SequenceError(f"{where}: {err}") from None


def _parse_label(field: str, label_type: Callable[[str], object], path: Path, lineno: int):
    try:
        return label_type(field.strip())
    except ValueError:
        name = getattr(label_type, "__name__", str(label_type))
        raise SequenceError(
            f"{path}, line {lineno}: bad label {field!r} (expected {name}). Fix the label"
        ) from None


def _no_duplicates(names: list[str], path: Path) -> None:
    seen, dups = set(), []
    for name in names:
        if name in seen:
            dups.append(name)
        seen.add(name)
    if dups:
        raise SequenceError(f"{path}: duplicate record names {_listing(dups)}. Rename them")


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" ... ({len(names)} in all)" if len(names) > limit else "")
