"""Writers of scored VCF records: a bgzip VCF with per-ALT INFO keys and a tabix index, or a TSV.

Both are atomic (temporary files renamed at the end) and stream: records are written as they
come, none is held. :data:`INFO_KEYS` describes the keys; without the embedding distance
(``embedding=False``) ``GS_EMB`` is left out of the VCF and ``nan`` in the TSV.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pysam

import genosparse
from genosparse.errors import ConfigError, VariantError
from genosparse.genome.vcf import quiet_htslib
from genosparse.scoring.effects import FLAGS, ScoredRecord, VariantScore
from genosparse.scoring.writers import atomic_output

FORMATS = ("vcf", "tsv")

INFO_KEYS = ("GS_LLR", "GS_EMB", "GS_KIND", "GS_FLAG")


def info_definitions(window: int, flank: int, rc_average: bool, num_passes: int,
                     embedding: bool = True) -> list[tuple[str, str, str]]:
    """``(key, type, description)`` of the INFO keys written (``GS_EMB`` only with ``embedding``)."""
    strands = "averaged over both strands" if rc_average else "forward strand only"
    reasons = "; ".join(f"{key}: {text}" for key, text in FLAGS.items())
    definitions = [
        ("GS_LLR", "Float",
         f"genosparse log-likelihood ratio log P(ALT) - log P(REF) (natural log) from windows of {window} bases "
         f"centred on the variant, {strands}. SNV/MNV: masked marginal (changed bases masked in the REF window; "
         f"Meier et al. 2021, GPN, Nucleotide Transformer). Insertion/deletion/complex: pseudo-log-likelihood of "
         f"the ALT window minus the REF window over the variant and {flank} bases either side ({num_passes} "
         f"masking passes). Missing when not scored (see GS_FLAG)"),
        ("GS_EMB", "Float",
         f"genosparse cosine distance between the mean last-layer hidden states of the REF and ALT windows over "
         f"the variant and {flank} bases either side, {strands}. Missing when not scored"),
        ("GS_KIND", "String",
         "genosparse variant kind after trimming shared bases: SNV, MNV, insertion, deletion, complex, identical "
         "(ALT equals REF), symbolic, breakend, star, no_alt"),
        ("GS_FLAG", "String",
         f"genosparse flag: '.' scored; 'padded' scored, the window padded with N beyond the contig end; "
         f"otherwise the reason it is not scored: {reasons}"),
    ]
    return [d for d in definitions if embedding or d[0] != "GS_EMB"]


def write_vcf(records: Iterable[ScoredRecord], header: pysam.VariantHeader, out: str | os.PathLike,
              definitions: list[tuple[str, str, str]], *, index: bool = True) -> None:
    """Write ``records`` as a bgzip VCF with the INFO keys of ``definitions`` (Number=A) and a tabix index.

    Every record passed in is written, in order, with its other fields unchanged (values as
    htslib formats them, e.g. ``100.0`` becomes ``100``), except that pysam adds
    ``END = POS + len(REF) - 1`` to records with a symbolic ALT that have none (the span
    they already have; END is then defined in the header). A record with ALT ``.`` gets no
    genosparse keys (Number=A has no value to hold). Both files are written in a temporary
    folder beside ``out`` and renamed at the end (index first).

    Args:
        header: the source's header (:attr:`genosparse.genome.vcf.VcfSource.header`).
        out: output path, ending in ``.vcf.gz`` or ``.vcf.bgz``; the index is ``out + ".tbi"``.
        definitions: ``(key, type, description)`` of the INFO keys to add.
        index: build the tabix index (needs records sorted by contig and position); when
            False a stale ``out.tbi`` is removed.
    Raises:
        ConfigError: ``out`` without a ``.vcf.gz``/``.vcf.bgz`` name.
        VariantError: the header already defines one of the keys.
    """
    out = vcf_output(out)
    check_info_keys(header, definitions)
    keys = {key for key, _, _ in definitions}
    header = header.copy()
    header.add_meta("genosparse_version", genosparse.__version__)
    for key, kind, description in definitions:
        header.info.add(key, "A", kind, description)
    if "END" not in header.info:  # pysam writes END on records with symbolic ALTs, defined or not
        header.info.add("END", "1", "Integer", "Stop position of the interval")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        data = tmp / out.name
        with pysam.VariantFile(str(data), "wz", header=header) as vcf:
            for scored in records:
                record = scored.record
                record.translate(vcf.header)  # the writer's own copy: its tag ids are the ones written
                if record.alts:
                    for key, values in _info_values(scored.scores).items():
                        if key in keys:
                            record.info[key] = values
                vcf.write(record)
        tbi = Path(str(out) + ".tbi")
        if index:
            with quiet_htslib():  # tabix re-reads the header and repeats its sanity warnings
                pysam.tabix_index(str(data), preset="vcf", force=True)
            os.replace(str(data) + ".tbi", tbi)
        else:
            with contextlib.suppress(FileNotFoundError):
                tbi.unlink()
        os.replace(data, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_info_keys(header: pysam.VariantHeader, definitions: list[tuple[str, str, str]]) -> None:
    """Raise :class:`VariantError` when ``header`` already defines one of the INFO keys of ``definitions``."""
    present = [key for key, _, _ in definitions if key in header.info]
    if present:
        raise VariantError(f"the input VCF already has INFO/{', INFO/'.join(present)}; remove them first, e.g. "
                           f"`bcftools annotate -x {','.join('INFO/' + k for k in present)}`")


def vcf_output(out: str | os.PathLike) -> Path:
    """``out`` as a path, checked to be named like the bgzip VCF it will be."""
    out = Path(out)
    if not out.name.endswith((".vcf.gz", ".vcf.bgz")):
        raise ConfigError(f"VCF output is bgzip-compressed: name it .vcf.gz (got {out})")
    return out


def _info_values(scores: list[VariantScore]) -> dict[str, tuple]:
    """Per-ALT values of each of :data:`INFO_KEYS` (``None`` writes ``.``)."""
    def number(value: float) -> float | None:
        return None if math.isnan(value) else value

    return {"GS_LLR": tuple(number(s.llr) for s in scores),
            "GS_EMB": tuple(number(s.embedding_distance) for s in scores),
            "GS_KIND": tuple(s.variant.kind for s in scores), "GS_FLAG": tuple(s.flag or "." for s in scores)}


TSV_COLUMNS = ("record", "chrom", "pos", "id", "ref", "alt", "kind", "llr", "embedding_distance", "flag")


def write_tsv(records: Iterable[ScoredRecord], out: str | os.PathLike) -> None:
    """Write one row per ALT (columns :data:`TSV_COLUMNS`), atomically.

    ``record`` is the 1-based record number in the VCF; ``chrom pos id ref alt`` are copied
    from the VCF (``pos`` is the VCF's 1-based POS); unscored values are ``nan``.
    """
    with atomic_output(out) as handle:
        handle.write("\t".join(TSV_COLUMNS) + "\n")
        for scored in records:
            record = scored.record
            for s in scored.scores:
                v = s.variant
                handle.write(f"{v.record_index + 1}\t{record.chrom}\t{record.pos}\t{record.id or '.'}\t{record.ref}\t"
                             f"{v.alt}\t{v.kind}\t{s.llr:.6g}\t{s.embedding_distance:.6g}\t{s.flag or '.'}\n")
