"""Variants given in memory, a pandas DataFrame or an open ``pysam.VariantFile``, written as the VCF
:func:`~genosparse.genome.vcf.open_vcf` reads, so they take the one reading path of VCF files
(contig reconciliation, REF checks, multi-allelic splitting, flags).

A DataFrame needs the columns ``chrom``, ``pos``, ``ref`` and ``alt`` (any case, a leading ``#``
ignored: ``#CHROM``, ``POS`` ...). ``pos`` is 1-based, as VCF ``POS``: the first base of ``ref``.
``alt`` holds one ALT or several separated by commas (``A,T``), or ``.``; one ALT per row is as
good (each row is one record). An ``id`` column, when present, becomes the VCF ``ID``; other columns
are ignored. pandas is imported only when a DataFrame is given.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pysam

from genosparse.errors import VariantError
from genosparse.genome.fasta import Genome

COLUMNS = ("chrom", "pos", "ref", "alt")
"""The columns a DataFrame of variants needs (``pos`` 1-based)."""


def is_dataframe(value: object) -> bool:
    """True for a pandas DataFrame, checked by type name so pandas is not imported for other inputs."""
    return any(cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas") for cls in type(value).__mro__)


def write_variant_file(vcf: pysam.VariantFile, target: Path) -> str:
    """Write the records ``vcf`` has left to read, under its header, as a plain VCF at ``target``.

    Returns:
        What the records are, for messages (``the VariantFile calls.vcf.gz``).
    Raises:
        VariantError: ``vcf`` is closed, or opened for writing.
    """
    if not vcf.is_open or not vcf.is_read:
        raise VariantError(f"the VariantFile {os.fsdecode(vcf.filename)} is closed or open for writing; pass an "
                           "open one, e.g. pysam.VariantFile(path), or the path itself")
    with open(target, "w") as out:
        out.write(str(vcf.header))
        for record in vcf:
            out.write(str(record))
    return f"the VariantFile {os.fsdecode(vcf.filename)}"


def write_dataframe(frame, genome: Genome, target: Path) -> str:
    """Write a DataFrame of variants (see the module docstring) as a plain VCF at ``target``, its
    header listing the genome's contigs, records in row order.

    Returns:
        What the records are, for messages (``the DataFrame``).
    Raises:
        VariantError: a missing column, an empty value (NaN, None, ``""``), a ``pos`` that is not
            an integer >= 1, a ``chrom``/``ref``/``alt`` that is not text (naming the row).
    """
    import pandas as pd

    names = {str(column).lower().lstrip("#"): column for column in frame.columns}
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise VariantError(f"the DataFrame of variants has no column {', '.join(missing)}; it needs chrom, pos "
                           f"(1-based, as VCF POS), ref and alt (its columns: {', '.join(map(str, frame.columns))})")
    columns = {c: frame[names[c]] for c in COLUMNS}
    for name, column in columns.items():
        empty = column.isna().to_numpy() | (column.astype(str).str.strip() == "").to_numpy()
        _refuse(frame, empty, f"has no {name} (NaN, None or empty); fill or drop those rows")
    pos = columns["pos"]
    if not pd.api.types.is_integer_dtype(pos):
        bad = np.array([isinstance(p, bool) or not isinstance(p, (int, np.integer)) for p in pos])
        _refuse(frame, bad, f"has a pos that is not an integer ({pos.dtype}); give 1-based integer positions, "
                            "e.g. frame['pos'].astype(int)")
    pos = pos.astype(np.int64)
    _refuse(frame, (pos < 1).to_numpy(), "has pos < 1; pos is 1-based, as VCF POS")
    text = {}
    for name in ("chrom", "ref", "alt"):
        column = columns[name]
        if name == "chrom" and pd.api.types.is_integer_dtype(column):
            column = column.astype(str)  # 20 means "20"
        bad = np.array([not isinstance(v, str) or any(ch.isspace() for ch in v) for v in column])
        _refuse(frame, bad, f"has a {name} that is not text without blanks")
        text[name] = column
    ids = frame[names["id"]].fillna(".").astype(str) if "id" in names else "."
    records = pd.DataFrame({"chrom": text["chrom"], "pos": pos, "id": ids, "ref": text["ref"], "alt": text["alt"],
                            "qual": ".", "filter": ".", "info": "."})
    contigs = [*genome.lengths.items(), *((c, None) for c in dict.fromkeys(text["chrom"]) if c not in genome.lengths)]
    with open(target, "w") as out:
        out.write("##fileformat=VCFv4.2\n")
        out.writelines(f"##contig=<ID={name}{'' if length is None else f',length={length}'}>\n"
                       for name, length in contigs)
        out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        records.to_csv(out, sep="\t", header=False, index=False)
    return "the DataFrame"


def _refuse(frame, bad: np.ndarray, problem: str) -> None:
    """Raise a :class:`VariantError` naming the first rows where ``bad`` holds."""
    rows = np.flatnonzero(bad)
    if rows.size:
        shown = ", ".join(repr(frame.index[k]) for k in rows[:5]) + (" ..." if rows.size > 5 else "")
        raise VariantError(f"the DataFrame of variants: {rows.size} row(s) (index {shown}) {problem}")
