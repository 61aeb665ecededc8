"""Writers of scored VCF records, registered in :mod:`genosparse.io`: a VCF with per-ALT INFO keys
(bgzip with a tabix index, plain, or plain to standard output), or a TSV; and their table.

Files are atomic (temporary files renamed at the end); all writers stream: records are written as
they come, none is held. :data:`INFO_KEYS` describes the keys; without the embedding distance
(``embedding=False``) ``GS_EMB`` is left out of the VCF and ``nan`` in the TSV.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import pysam

import genosparse
from genosparse.errors import ConfigError, VariantError
from genosparse.genome.vcf import quiet_htslib
from genosparse.io import Table, atomic_path, is_stream, register_table, register_writer, write_table
from genosparse.scoring.effects import FLAGS, ScoredRecord, VariantScore

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


def output_header(header: pysam.VariantHeader, definitions: list[tuple[str, str, str]],
                  provenance: dict[str, str], used: frozenset[tuple[str, str]] | None = None) -> pysam.VariantHeader:
    """The header of the annotated VCF: the input's, rewritten by this rule.

    - ``##fileformat=VCFv4.2`` (htslib writes VCF 4.2 records; the input's fileformat line is dropped);
    - every other input line is kept once, in order: exact duplicates are dropped, and so are
      ``##genosparse_*`` lines of an earlier run (they described that run, not this one);
    - INFO, FORMAT and FILTER definitions that no record uses are dropped when ``used`` (the
      ``(kind, ID)`` pairs the records use, :attr:`~genosparse.genome.vcf.VcfScan.used_tags`) is
      given, and kept otherwise; records pass through unchanged, so every definition they use
      stays; ``FILTER=PASS``, contigs, ``ALT`` and other meta lines are always kept;
    - this run's provenance is added: ``##genosparse_version``, ``##genosparse_command`` (the
      command line) and ``##genosparse_checkpoint`` (name, ``sha256:`` of its weights, first 12 hex
      digits), then the INFO keys of ``definitions`` (and ``END`` when missing, see :func:`write_vcf`).

    Args:
        header: the source's header (every contig and tag its records use defined).
        definitions: ``(key, type, description)`` of the INFO keys to add (Number=A).
        provenance: ``{"version": ..., "command": ..., "checkpoint": ...}`` written as
            ``##genosparse_<key>=<value>`` (empty values left out).
    Raises:
        VariantError: the header already defines one of the keys.
    """
    check_info_keys(header, definitions)
    out = pysam.VariantHeader()  # ##fileformat=VCFv4.2
    seen = {str(line) for line in out.records}
    for line in header.records:
        text = str(line)
        if line.key == "fileformat" or line.key.startswith("genosparse_") or text in seen:
            continue
        if used is not None and line.type in ("INFO", "FORMAT", "FILTER") and line.get("ID") != "PASS" \
                and (line.type, line.get("ID")) not in used:
            continue
        seen.add(text)
        out.add_record(line)
    for sample in header.samples:
        out.add_sample(sample)
    for key, value in provenance.items():
        if value:
            out.add_meta(f"genosparse_{key}", value)
    for key, kind, description in definitions:
        out.info.add(key, "A", kind, description)
    if "END" not in out.info:  # pysam writes END on records with symbolic ALTs, defined or not
        out.info.add("END", "1", "Integer", "Stop position of the interval")
    return out


def write_vcf(records: Iterable[ScoredRecord], header: pysam.VariantHeader, out: str | os.PathLike,
              definitions: list[tuple[str, str, str]], *, index: bool = True,
              provenance: dict[str, str] | None = None, used: frozenset[tuple[str, str]] | None = None,
              threads: int = 1) -> None:
    """Write ``records`` as a VCF with the INFO keys of ``definitions`` (Number=A): bgzip and tabix-indexed
    for a ``.vcf.gz``/``.vcf.bgz`` name, plain for ``.vcf``, and plain, unindexed VCF to a stream
    (``-``, ``/dev/stdout``, a FIFO), as ``bcftools view -o -`` writes (pipe it through
    ``bgzip`` or ``bcftools view -Oz`` to compress).

    Every record passed in is written, in order, with its other fields unchanged (values as
    htslib formats them, e.g. ``100.0`` becomes ``100``), except that pysam adds
    ``END = POS + len(REF) - 1`` to records with a symbolic ALT that have none (the span
    they already have; END is then defined in the header). A record with ALT ``.`` gets no
    genosparse keys (Number=A has no value to hold). The header is :func:`output_header`'s.
    A file is written in a temporary folder beside ``out`` and renamed at the end (index first);
    a stream is written as the records come.

    Args:
        header: the source's header (:attr:`genosparse.genome.vcf.VcfSource.header`).
        out: output path (see above); the index is ``out + ".tbi"``.
        definitions: ``(key, type, description)`` of the INFO keys to add.
        index: build the tabix index of a bgzip file (needs records sorted by contig and
            position); when False a stale ``out.tbi`` is removed.
        provenance: ``version``, ``command``, ``checkpoint`` for the header (version defaults to
            genosparse's).
        used: the definitions the records use (see :func:`output_header`); None keeps all.
        threads: htslib threads compressing a bgzip output (``-@``).
    Raises:
        ConfigError: ``out`` not named ``.vcf``, ``.vcf.gz`` or ``.vcf.bgz`` (files only).
        VariantError: the header already defines one of the keys.
    """
    compressed = vcf_output(out)
    with quiet_htslib():  # the input header's warnings, already silenced when it was read
        header = output_header(header, definitions, {"version": genosparse.__version__, **(provenance or {})},
                               used)
    keys = {key for key, _, _ in definitions}

    def write(target: str | Path, mode: str) -> None:
        with quiet_htslib():
            vcf = pysam.VariantFile(str(target), mode, header=header, threads=threads)
        with vcf:
            for scored in records:
                record = scored.record
                record.translate(vcf.header)  # the writer's own copy: its tag ids are the ones written
                if record.alts:
                    for key, values in _info_values(scored.scores).items():
                        if key in keys:
                            record.info[key] = values
                vcf.write(record)

    if is_stream(out):
        sys.stdout.flush()  # htslib writes to the file descriptor after what Python wrote
        write(out, "w")
        return
    tbi = Path(f"{os.path.realpath(out)}.tbi")
    with atomic_path(out) as data:
        write(data, "wz" if compressed else "w")
        if compressed and index:
            with quiet_htslib():  # tabix re-reads the header and repeats its sanity warnings
                pysam.tabix_index(str(data), preset="vcf", force=True)
            os.replace(f"{data}.tbi", tbi)
        else:
            tbi.unlink(missing_ok=True)


def vcf_output(out: str | os.PathLike) -> bool:
    """Whether ``out`` is a bgzip VCF (``.vcf.gz``/``.vcf.bgz``); a stream is plain VCF.

    Raises:
        ConfigError: a file named otherwise than ``.vcf``, ``.vcf.gz`` or ``.vcf.bgz``.
    """
    if is_stream(out):
        return False
    name = Path(out).name.lower()
    if not name.endswith((".vcf", ".vcf.gz", ".vcf.bgz")):
        raise ConfigError(f"name the VCF output .vcf.gz (bgzip + tabix index) or .vcf (plain), or write it to "
                          f"standard output with -o - (got {out})")
    return not name.endswith(".vcf")


def check_info_keys(header: pysam.VariantHeader, definitions: list[tuple[str, str, str]]) -> None:
    """Raise :class:`VariantError` when ``header`` already defines one of the INFO keys of ``definitions``
    (checked before scoring, since the writer opens the output after it)."""
    present = [key for key, _, _ in definitions if key in header.info]
    if present:
        raise VariantError(f"the input VCF already has INFO/{', INFO/'.join(present)}; remove them first, e.g. "
                           f"`bcftools annotate -x {','.join('INFO/' + k for k in present)}`")


def _info_values(scores: list[VariantScore]) -> dict[str, tuple]:
    """Per-ALT values of each of :data:`INFO_KEYS` (``None`` writes ``.``)."""
    def number(value: float) -> float | None:
        return None if math.isnan(value) else value

    return {"GS_LLR": tuple(number(s.llr) for s in scores),
            "GS_EMB": tuple(number(s.embedding_distance) for s in scores),
            "GS_KIND": tuple(s.variant.kind for s in scores), "GS_FLAG": tuple(s.flag or "." for s in scores)}


def _variant_block(scores: list[VariantScore], record: pysam.VariantRecord | None) -> dict[str, list]:
    """Rows of the ALTs ``scores`` (of ``record`` when known: its ``id`` and ``ref`` as written)."""
    block: dict[str, list] = {name: [] for name, _ in VARIANT_COLUMNS}
    for s in scores:
        v = s.variant
        values = (v.record_index + 1, v.chrom, v.pos + 1, (record.id or ".") if record is not None else None,
                  record.ref if record is not None else v.ref, v.alt, v.kind, s.llr, s.embedding_distance,
                  s.flag or ".")
        for (name, _), value in zip(VARIANT_COLUMNS, values):
            block[name].append(value)
    return block


VARIANT_COLUMNS = (
    ("record", "1-based record number in the VCF"),
    ("chrom", "CHROM as in the VCF"),
    ("pos", "POS, 1-based, as in the VCF"),
    ("id", "ID as in the VCF (None for a bare VariantScore, which does not carry it)"),
    ("ref", "REF"),
    ("alt", "this ALT allele (one row per ALT)"),
    ("kind", "GS_KIND: SNV, MNV, insertion, deletion, complex, ..."),
    ("llr", "GS_LLR, log-likelihood ratio ALT vs REF (natural log); nan when not scored"),
    ("embedding_distance", "GS_EMB, cosine distance of the REF and ALT embeddings; nan when not scored"),
    ("flag", "GS_FLAG: '.' scored, 'padded', or why there is no score"),
)
TSV_COLUMNS = tuple(name for name, _ in VARIANT_COLUMNS)
RECORD_TABLE = Table("variants", VARIANT_COLUMNS, lambda scored: _variant_block(scored.scores, scored.record))
register_table(ScoredRecord, RECORD_TABLE)
register_table(VariantScore, Table("variants", VARIANT_COLUMNS, lambda score: _variant_block([score], None)))


@register_writer("variants", "vcf", (".vcf", ".vcf.gz", ".vcf.bgz"))
def _write_vcf(records: Iterable[ScoredRecord], out: str | os.PathLike, **options) -> None:
    write_vcf(records, out=out, **options)


@register_writer("variants", "tsv", (".tsv", ".txt"))
def write_tsv(records: Iterable[ScoredRecord], out: str | os.PathLike, **options) -> None:
    """Write one row per ALT (columns :data:`VARIANT_COLUMNS`), atomically (or to a stream).

    ``record`` is the 1-based record number in the VCF; ``chrom pos id ref alt`` are copied
    from the VCF (``pos`` is the VCF's 1-based POS); unscored values are ``nan``. The VCF
    writer's ``options`` (header, ...) are ignored.
    """
    write_table(records, out, RECORD_TABLE)
