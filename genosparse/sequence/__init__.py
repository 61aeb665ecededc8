"""Sequences as tokens: the vocabulary, genome windows and labelled sequence sets."""

from genosparse.sequence.labeled import (
    LabeledSequenceDataset,
    LabeledSequences,
    read_labeled_fasta,
    read_labeled_tsv,
)
from genosparse.sequence.vocab import decode, encode, reverse_complement, reverse_complement_str
from genosparse.sequence.windows import GenomeWindowDataset, TilingResult, Window, tile_windows

__all__ = [
    "GenomeWindowDataset",
    "LabeledSequenceDataset",
    "LabeledSequences",
    "TilingResult",
    "Window",
    "decode",
    "encode",
    "read_labeled_fasta",
    "read_labeled_tsv",
    "reverse_complement",
    "reverse_complement_str",
    "tile_windows",
]
