"""In-memory sequences given to the Python API (:func:`~genosparse.scoring.fasta.score_sequences`,
``embed(sequences=...)``): a list of strings, a name -> sequence mapping, or (name, sequence) pairs.

They are read like the contigs of a :class:`~genosparse.genome.Genome` (0-based half-open
coordinates on each sequence), so the scorers tile and batch them exactly as FASTA records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from genosparse.errors import ArgumentError, SequenceError, check_type, described
from genosparse.sequence.vocab import encode

Sequences = Mapping[str, str] | Iterable[str] | Iterable[tuple[str, str]]


@dataclass(frozen=True)
class SequenceSet:
    """Named sequences as token ids, with the part of :class:`~genosparse.genome.Genome`'s interface
    the scorers read (``lengths``, ``fetch_tokens``, ``path``).

    Attributes:
        tokens: name -> ``(L,)`` int64 token ids, in input order.
        path: what the sequences are, for messages.
    """

    tokens: dict[str, np.ndarray]
    path: str = "the given sequences"

    @property
    def lengths(self) -> dict[str, int]:
        """Name -> length in bases, in input order."""
        return {name: len(ids) for name, ids in self.tokens.items()}

    def fetch_tokens(self, name: str, start: int, end: int) -> np.ndarray:
        """Token ids of ``name[start:end]`` (0-based, end-exclusive), ``(end - start,)`` int64."""
        return self.tokens[name][start:end]


def named_sequences(sequences: Sequences) -> SequenceSet:
    """The ``sequences`` argument of the API as a :class:`SequenceSet`.

    Strings are named ``seq0``, ``seq1``, ... by position; a mapping or (name, sequence) pairs keep
    their names. Lowercase bases read as uppercase and IUPAC codes as ``N`` (:func:`encode`).

    Raises:
        ArgumentError: one string instead of a list (it would read as one-base sequences), or an
            item that is neither a string nor a ``(name, sequence)`` pair of strings.
        SequenceError: an empty sequence, a byte outside the alphabet (naming the sequence and the
            0-based position), or a name given twice.
    """
    if isinstance(sequences, (str, bytes)):
        raise ArgumentError("sequences must be a list of sequences or a name -> sequence mapping, not one string "
                            "(it would be read as one-base sequences); pass [sequence]")
    check_type("sequences", sequences, Iterable, "a list of sequence strings, a name -> sequence mapping or "
               "(name, sequence) pairs")
    items = sequences.items() if isinstance(sequences, Mapping) else sequences
    tokens: dict[str, np.ndarray] = {}
    for k, item in enumerate(items):
        name, seq = (f"seq{k}", item) if isinstance(item, str) else _pair(item, k)
        if name in tokens:
            raise SequenceError(f"sequence name {name!r} is given twice; names must be unique")
        if not seq:
            raise SequenceError(f"sequence {name!r} is empty; pass sequences of at least one base")
        tokens[name] = encode(seq, name=name)
    return SequenceSet(tokens)


def _pair(item: object, k: int) -> tuple[str, str]:
    """``(name, sequence)`` of the ``k``-th item of a mapping or of pairs."""
    if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(x, str) for x in item)):
        raise ArgumentError(f"sequences[{k}] must be a sequence string or a (name, sequence) pair of strings, got "
                            f"{described(item)}")
    return item
