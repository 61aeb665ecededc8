"""Contig names: the one alias rule shared by FASTA, VCF and BED readers.

Rule: a ``chr`` prefix may be added or stripped (``chr20`` <-> ``20``,
``chrX`` <-> ``X``), and the mitochondrion is any of ``chrM``, ``MT``, ``M``,
``chrMT``. Names are otherwise case-sensitive.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from genosparse.errors import FastaError

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


def resolve_contig(name: str, available: Sequence[str], source: str) -> str:
    """Return ``name`` as it is spelled in ``available``.

    An exact match wins; otherwise exactly one alias (see :func:`contig_aliases`)
    must be present.

    Args:
        name: requested contig name, e.g. ``"chr20"``.
        available: the contig names of ``source`` (e.g. a FASTA's, in file order).
        source: the file the names come from, for error messages.

    Raises:
        FastaError: when no spelling of ``name`` is present (the message lists the
            closest available names) or when several aliases are present.
    """
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
