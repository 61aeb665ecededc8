"""The one registry of output formats and of the tables result streams become.

Two kinds of entries, both keyed by the result they describe (``"scores"``, ``"variants"``,
``"track"``, ``"embeddings"``, ``"ism"``):

- a :class:`Table` per result type: its flat columns, defined once and used by both the TSV
  writers and :func:`to_dataframe`;
- a :class:`Writer` per (result, format): ``tsv``, ``bedgraph``, ``bigwig``, ``vcf``, ``npz``,
  ``png``, chosen by format name or by the output's extension (:func:`writer_for`). The
  command line's ``--format`` choices are :func:`formats`.

io sits below scoring in the one-way import order, so it defines no result types: the modules
that define them (``genosparse.scoring``) register their table and writers here when they are
imported. That keeps each result's columns next to the result and its domain objects (pysam
records, variants), while the choice of a writer and the conversion to a table live in one place.

Coordinates in every table: ``start``/``end`` are 0-based half-open bases; a VCF ``pos`` is
1-based, as in the VCF.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from genosparse.errors import ArgumentError, ConfigError, described
from genosparse.io.files import atomic_output, display_name, is_stream

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Table:
    """How one result type becomes flat rows.

    Attributes:
        result: the result it describes (``"scores"``, ...).
        columns: ``(name, description)`` of the fixed columns, in order; a result may add more
            after them (an embedding's ``emb_0 ... emb_{C-1}``).
        block: one item of a result stream -> its rows as ``{column: values}`` (equal-length
            sequences, the fixed columns first).
    """

    result: str
    columns: tuple[tuple[str, str], ...]
    block: Callable[[Any], Mapping[str, Sequence]]


@dataclass(frozen=True)
class Writer:
    """A format a result can be written in.

    Attributes:
        result, format: what it writes, and its name (``--format``).
        extensions: output names it is chosen for, lower case, with the dot (``".bw"``).
        write: ``write(stream, path, **options) -> summary``.
        streams: whether it can write to ``-`` or a device/FIFO (bigWig and NPZ need a file).
    """

    result: str
    format: str
    extensions: tuple[str, ...]
    write: Callable[..., Any]
    streams: bool = True


_TABLES: dict[type, Table] = {}
_WRITERS: dict[str, dict[str, Writer]] = {}


def register_table(kind: type, table: Table) -> None:
    """Declare the table of items of type ``kind`` (called by the module that defines ``kind``)."""
    _TABLES[kind] = table


def register_writer(result: str, format: str, extensions: Sequence[str] = (), *,
                    streams: bool = True) -> Callable[[Callable], Callable]:
    """Decorator: register ``write(stream, path, **options)`` as ``result``'s writer of ``format``.

    The first format registered for a result is its default; the first that ``streams`` is the
    default for ``-``.
    """
    def register(write: Callable) -> Callable:
        _WRITERS.setdefault(result, {})[format] = Writer(result, format, tuple(extensions), write, streams)
        return write
    return register


def formats(result: str) -> tuple[str, ...]:
    """The format names registered for ``result``, the default first."""
    return tuple(_WRITERS.get(result, {}))


def writer_for(result: str, path: str | os.PathLike, fmt: str | None = None, *,
               need_extension: bool = False) -> Writer:
    """The writer of ``result`` for ``path``: ``fmt`` if given, else by extension (the longest that
    matches, e.g. ``.vcf.gz``), else the default (for a stream, the default that can stream).

    Args:
        need_extension: a file name must name its format (no default for files).
    Raises:
        ConfigError: an unknown result or format, a file name without a known extension
            (``need_extension``), or a format that cannot stream asked to write to a stream.
    """
    writers = _WRITERS.get(result, {})
    if not writers:
        raise ConfigError(f"no writer of {result!r} results is registered; results: {', '.join(_WRITERS)}")
    stream = is_stream(path)
    if fmt is not None:
        if fmt not in writers:
            raise ConfigError(f"unknown {result} format {fmt!r}; choose one of {', '.join(writers)}")
        writer = writers[fmt]
    else:
        name = Path(str(path)).name.lower()
        by_extension = sorted(((ext, w) for w in writers.values() for ext in w.extensions if name.endswith(ext)),
                              key=lambda pair: -len(pair[0]))
        candidates = [w for w in writers.values() if w.streams or not stream]
        if need_extension and not by_extension and not stream:
            names = " or ".join("/".join(w.extensions) for w in writers.values())
            raise ConfigError(f"cannot tell the {result} format of {path}; name it {names}, or pass a format: "
                              f"{', '.join(writers)}")
        writer = by_extension[0][1] if by_extension else (candidates or list(writers.values()))[0]
    if stream and not writer.streams:
        can = [w.format for w in writers.values() if w.streams]
        raise ConfigError(f"{writer.format} cannot be written to {display_name(path)} (it needs a file it can seek "
                          f"in); give a file name{', or --format ' + ' / '.join(can) if can else ''}")
    return writer


def table_of(item: object) -> Table:
    """The :class:`Table` of an item of a result stream.

    Raises:
        ConfigError: no table is registered for the item's type.
    """
    for kind in type(item).__mro__:
        if kind in _TABLES:
            return _TABLES[kind]
    raise ConfigError(f"no table is defined for {type(item).__name__} items; pass a stream of genosparse "
                      "results (score rows, variant scores or records, track segments, embedding chunks, ISM)")


def _items(stream: object) -> Iterator[object]:
    """A result stream's items: a single result (ISM) is a stream of one."""
    if any(isinstance(stream, kind) for kind in _TABLES):
        yield stream
    elif isinstance(stream, Iterable) and not isinstance(stream, (str, bytes)):
        yield from stream
    else:
        raise ArgumentError(f"stream must be a genosparse result stream (e.g. score_fasta(...), score_variants(...)) "
                            f"or an ISM result, got {described(stream)}")


def rows(stream: Iterable[object] | object) -> Iterator[tuple[list[str], Mapping[str, Sequence]]]:
    """``(column names, block)`` per item of ``stream`` (see :class:`Table`)."""
    for item in _items(stream):
        block = table_of(item).block(item)
        yield list(block), block


def _text(value: object) -> str:
    if isinstance(value, float) or (hasattr(value, "dtype") and getattr(value, "dtype").kind == "f"):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def write_table(stream: Iterable[object] | object, path: str | os.PathLike, table: Table,
                rename: Mapping[str, str] | None = None) -> int:
    """Write a result stream as TSV: a header of its table's columns, one line per row; atomic (or a stream).

    Floats are written with 6 significant digits, missing values as ``nan``.

    Args:
        table: the stream's table (its fixed columns head an empty stream's file).
        rename: header names to use instead of the table's (``{"score": "probability"}``).
    Returns:
        The number of rows written.
    """
    rename = rename or {}
    count = 0
    with atomic_output(path) as out:
        header = None
        for names, block in rows(stream):
            if header is None:
                header = names
                out.write("\t".join(rename.get(name, name) for name in names) + "\n")
            for line in zip(*(block[name] for name in header)):
                out.write("\t".join(map(_text, line)) + "\n")
                count += 1
        if header is None:
            out.write("\t".join(rename.get(name, name) for name, _ in table.columns) + "\n")
    return count


def to_dataframe(stream: Iterable[object] | object) -> "pd.DataFrame":
    """A result stream (or one result) as a pandas DataFrame, one row per table row, flat columns.

    Works on every stream genosparse returns: :func:`~genosparse.scoring.score_fasta` rows,
    :func:`~genosparse.scoring.vep.score_variants` scores (one row per ALT) and scored records,
    :func:`~genosparse.scoring.tracks.score_track` segments (one row per value, ``NaN`` gaps
    left out), :func:`~genosparse.embed` chunks (pooled: ``emb_0 ... emb_{C-1}``; per-token: an
    ``embedding`` column holding each item's ``(L, C)`` array) and an ISM result (one row per
    position and alternative). The columns are those of the result's TSV file; ``start``/``end``
    are 0-based half-open, a variant's ``pos`` is the VCF's 1-based POS.

    An empty stream gives an empty DataFrame without columns.

    Raises:
        ArgumentError: ``stream`` is neither a result stream nor a result (also a ``TypeError``).
        ConfigError: items that are not genosparse results.
    """
    import pandas as pd

    data: dict[str, list] = {}
    for names, block in rows(stream):
        if not data:
            data = {name: [] for name in names}
        for name in data:
            data[name].extend(block[name])
    return pd.DataFrame(data)
