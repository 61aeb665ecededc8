"""Contig names: the one alias rule shared by FASTA, VCF and BED readers.

Rule: a ``chr`` prefix may be added or stripped (``chr20`` <-> ``20``,
``chrX`` <-> ``X``), and the mitochondrion is any of ``chrM``, ``MT``, ``M``,
``chrMT``. Names are otherwise case-sensitive.
"""

from __future__ import annotations

import contextlib
import difflib
import operator
from collections.abc import Sequence

from genosparse.errors import ArgumentError, FastaError

MITOCHONDRION = ("chrM", "MT", "M", "chrMT")


def contig_aliases(name: str) -> list[str]:
    """Return ``name`` followed by its equivalent spellings under the alias rule.

    >>> contig_aliases("chr20")
    ['chr20', '20']
    >>> contig_aliases("MT")
    ['MT', 'chrM', 'M', 'chrMT']
    """
    if name in MITOCHONDRION:
        return [name] + [alias for alias in MITOCHONDRION if alias != name]
    if name.startswith("chr"):
        return [name, name[3:]] if len(name) > 3 else [name]
    return [name, "chr" + name] if name else [name]


def contig_name(name: object) -> str:
    """A contig name given as ``str`` or integer (``20`` means ``"20"``).

    Raises:
        ArgumentError: any other type.
    """
    if isinstance(name, str):
        return name
    if not isinstance(name, bool):
        with contextlib.suppress(TypeError):
            return str(operator.index(name))  # int, numpy integers
    raise ArgumentError(f"a contig name must be a string such as '20' or 'chr20' (or an integer), "
                        f"got {name!r} ({type(name).__name__})")


def resolve_contig(name: str | int, available: Sequence[str], source: str) -> str:
    """Return ``name`` as it is spelled in ``available``.

    An exact match wins; otherwise exactly one alias (see :func:`contig_aliases`)
    must be present.

    Args:
        name: requested contig name, e.g. ``"chr20"`` (an integer such as ``20`` means ``"20"``).
        available: the contig names of ``source`` (e.g. a FASTA's, in file order).
        source: the file the names come from, for error messages.

    Raises:
        FastaError: when no spelling of ``name`` is present (the message lists the
            closest available names) or when several aliases are present.
        ArgumentError: ``name`` is neither a string nor an integer.
    """
    name = contig_name(name)
    present = set(available)
    if name in present:
        return name
    matches = [alias for alias in contig_aliases(name) if alias in present]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise FastaError(
            f"contig {name!r} is ambiguous in {source}: it matches {', '.join(matches)}."
            " Request one of them by its exact name"
        )
    close: list[str] = []
    for alias in contig_aliases(name):
        close += [c for c in difflib.get_close_matches(alias, available, n=3) if c not in close]
    hint = (
        f"close names: {', '.join(close)}"
        if close
        else f"available ({len(available)}): {', '.join(list(available)[:10])}"
        + (", ..." if len(available) > 10 else "")
    )
    raise FastaError(
        f"contig {name!r} not found in {source}; {hint}. "
        "Check the reference build or rename contigs"
    )
