"""Exception types, one per area.

Every message names the file, the record or line, and what the user can do about it.
All derive from :class:`GenosparseError` (itself a ``ValueError``), so a pipeline can
catch every input problem of genosparse with one ``except``.
"""

from __future__ import annotations

import operator
import os
from pathlib import Path


class GenosparseError(ValueError):
    """Base class of every error genosparse raises on bad input or configuration."""


class ArgumentError(GenosparseError, TypeError):
    """An argument of the Python API has the wrong type (also a ``TypeError``)."""


class FastaError(GenosparseError):
    """A FASTA file, index, contig name or coordinate is unusable."""


class SequenceError(GenosparseError):
    """A sequence or label file (TSV, FASTA + labels) is malformed."""


class VariantError(GenosparseError):
    """A VCF record or file is unusable."""


class LayoutError(GenosparseError):
    """A block-sparse layout or attention input is inconsistent."""


class ConfigError(GenosparseError):
    """A configuration or checkpoint is invalid."""


class ResourceError(GenosparseError):
    """The device ran out of memory even at the smallest setting genosparse can fall back to."""


class TrainingError(GenosparseError):
    """A training run cannot go on (a non-finite loss, no checkpoint to resume from)."""


def check_ints(**values: object) -> None:
    """Raise :class:`ArgumentError` unless every value that is not None is an integer (bool excluded),
    e.g. ``check_ints(window="4096")``: "window must be an integer, got '4096' (str)"."""
    for name, value in values.items():
        if value is None:
            continue
        try:
            if isinstance(value, bool):
                raise TypeError
            operator.index(value)
        except TypeError:
            raise ArgumentError(f"{name} must be an integer, got {described(value)}") from None


PATH = (str, os.PathLike)
"""The types a file argument of the Python API takes."""


def check_type(name: str, value: object, expected: type | tuple[type, ...], description: str, *,
               optional: bool = False) -> None:
    """Raise :class:`ArgumentError` unless ``value`` is an instance of ``expected`` (or None when
    ``optional``), e.g. ``check_type("fasta", 5, (*PATH, Genome), "a FASTA path or a Genome")``:
    "fasta must be a FASTA path or a Genome, got 5 (int)".

    The one type check of the public API's arguments, so a wrong type fails at the call with the
    argument's name, never deep inside as an ``AttributeError``.
    """
    if (value is None and optional) or isinstance(value, expected):
        return
    raise ArgumentError(f"{name} must be {description}, got {described(value)}")


def described(value: object) -> str:
    """``value`` for a message: its repr (cut at 60 characters) and its type, e.g. ``5 (int)``."""
    shown = repr(value)
    return f"{shown if len(shown) <= 60 else shown[:57] + '...'} ({type(value).__name__})"


def input_file(path: str | os.PathLike, what: str, error: type[GenosparseError]) -> Path:
    """``path`` as a :class:`Path`, checked to be an existing file.

    Args:
        what: what the file is, for the message (``"FASTA"``, ``"VCF"``, ...).
        error: the area's exception type to raise.
    Raises:
        ``error``: the path is a directory, or does not exist.
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} path {path} is a directory; give the {what} file itself")
    if not path.is_file():
        raise error(f"{what} file not found: {path}. Check the path")
    return path
