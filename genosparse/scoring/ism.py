"""In-silico mutagenesis (ISM): the zero-shot effect of every single-base change in a region.

For each position ``i`` of the region and each of the three bases other than the reference
base, the score is the masked-marginal log-likelihood ratio ``log P(alt) - log P(ref)``
(natural log; Meier et al. 2021, as GPN and the Nucleotide Transformer score SNVs) read at
``i`` masked, in the window of the model's context length that has ``i`` at index
``window // 2`` (N beyond contig ends), averaged over both strands unless
``rc_average=False``. That is exactly the ``llr`` :func:`genosparse.scoring.vep.score_variants`
gives the SNV (the same passes, :mod:`genosparse.scoring.passes`), so both tools agree. Cost: one
forward pass per base and strand, shared by its three alternatives.

Row order of the ``(3, L)`` matrix: row ``k`` at position ``i`` is the ``k``-th base other
than the reference base, in the order A, C, G, T (:data:`ALTERNATIVES`): reference A -> rows
C, G, T; C -> A, G, T; G -> A, C, T; T -> A, C, G. Positions whose reference is N get ``nan``
(and the alternatives A, C, G).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from genosparse.errors import ConfigError, FastaError, check_ints, check_type
from genosparse.io import (Table, atomic_output, display_name, formats, is_stream, register_table, register_writer,
                           write_table, writer_for)
from genosparse.genome import Genome
from genosparse.genome.regions import Interval, Region, parse_region
from genosparse.models.backbone import GenomicModel
from genosparse.scoring.passes import PassPlan
from genosparse.scoring.prepare import fit_in_memory, prepare
from genosparse.sequence.vocab import NUM_BASES, TOKEN_TO_BYTE

log = logging.getLogger(__name__)

ALTERNATIVES = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2], [0, 1, 2]])
"""``(5, 3)`` token ids of the three alternatives per reference token (A, C, G, T, N)."""
CHUNK = 256
"""Bases planned and run at a time."""


@dataclass(frozen=True)
class IsmResult:
    """ISM scores of ``contig[start:end]`` (0-based, end-exclusive; ``L = end - start`` bases).

    Attributes:
        contig: the contig as named in the FASTA.
        ref: the ``L`` reference bases.
        alts: ``(3, L)`` ``<U1`` alternative base of each row (see the module docstring).
        scores: ``(3, L)`` float32 LLR of each alternative vs the reference (natural log),
            ``nan`` where the reference is N.
    """

    contig: str
    start: int
    end: int
    ref: str
    alts: np.ndarray
    scores: np.ndarray


def ism(model: GenomicModel | str | os.PathLike, fasta: str | os.PathLike | Genome, region: Region, *,
        window: int | None = None, batch_size: int = 8, rc_average: bool = True,
        device: torch.device | str | None = None, progress: bool = True) -> IsmResult:
    """Score every single-base substitution of ``region`` with an MLM model.

    One masked pass per base and strand (:class:`~genosparse.scoring.passes.PassPlan`), planned
    :data:`CHUNK` bases at a time; bases whose reference is N are not run.

    Args:
        model: a loaded MLM :class:`GenomicModel`, a checkpoint folder or a shipped name.
        fasta: FASTA path or :class:`Genome`.
        region: ``chrom:start-end``, samtools style (1-based, inclusive), or ``(chrom, start, end)`` /
            an :class:`Interval` (0-based, end-exclusive).
        window: window length in bases; default the model's ``context_length``.
        batch_size: windows per forward pass.
        rc_average: average with the reverse-complement strand.
        device: default CUDA when available, else CPU.
    Returns:
        An :class:`IsmResult` (0-based half-open coordinates).
    Raises:
        FastaError: malformed region, a region without start-end, unknown contig, or a
            region past the contig end.
        ConfigError: a model without an MLM head.
        ArgumentError: an argument of the wrong type (also a ``TypeError``).
    """
    check_ints(batch_size=batch_size)
    check_type("region", region, (str, tuple, Interval), "a region such as '20:1,000,001-1,000,200' (1-based) or "
               "('20', 1_000_000, 1_000_200) (0-based)")
    inference = prepare(model, fasta, window=window, device=device, head="mlm", what="ISM", needs_genome=True)
    genome, window = inference.genome, inference.window
    contig, start, end = parse_region(region)
    if start is None:
        raise FastaError(f"ISM needs a region chrom:start-end, got {region!r} (a whole contig costs one forward "
                         "pass per base)")
    name = genome.resolve(contig)
    if end > genome.length(name):
        raise FastaError(f"region {region!r} ends past contig {name!r} of {genome.path} ({genome.length(name)} "
                         "bases); give an end within the contig")
    ref = genome.fetch(name, start, end)
    centre, length = window // 2, end - start
    span = genome.fetch_tokens(name, start - centre, end - centre + window, pad=True)
    log.info("ISM of %s:%d-%d (0-based, %d bases): %d windows of %d bases", name, start, end, length, length, window)
    ref_tokens = span[centre:centre + length].astype(np.int64)
    alts = ALTERNATIVES[ref_tokens].T  # (3, L)
    scores = np.full((3, length), np.nan, dtype=np.float32)
    strands = (False, True) if rc_average else (False,)
    with tqdm(total=length, unit="base", disable=not progress, desc="ism") as bar:
        for lo in range(0, length, CHUNK):
            hi = min(lo + CHUNK, length)
            plan = PassPlan(window)
            rows = {j: [plan.log_probs(plan.source(j, lambda j=j: span[j:j + window]), [centre], reverse=s,
                                       mask=(centre,))[0] for s in strands]
                    for j in range(lo, hi) if ref_tokens[j] < NUM_BASES}
            results, batch_size = fit_in_memory(lambda b: plan.run(inference, b), batch_size,
                                                f"the windows centred on {name}:{start + lo + 1:,}", window)
            log_probs = results.log_probs
            for j, strand_rows in rows.items():
                logp = log_probs[strand_rows].mean(axis=0)  # (4,): both strands, forward bases
                scores[:, j] = logp[alts[:, j]] - logp[ref_tokens[j]]
            bar.update(hi - lo)
    bases = TOKEN_TO_BYTE.view("S1").astype("<U1")
    return IsmResult(name, start, end, ref, bases[alts], scores)


def _ism_block(result: IsmResult) -> dict[str, list | np.ndarray]:
    """One row per position and alternative, positions in order, alternatives in row order."""
    length = result.end - result.start
    starts = np.repeat(np.arange(result.start, result.end), 3)
    return {"chrom": [result.contig] * (3 * length), "start": starts, "end": starts + 1,
            "ref": np.repeat(np.array(list(result.ref), dtype="<U1"), 3), "alt": result.alts.T.reshape(-1),
            "llr": result.scores.T.reshape(-1).astype(np.float64)}


ISM_TABLE = Table("ism", (
    ("chrom", "contig as in the FASTA"),
    ("start", "0-based position of the base (bases)"),
    ("end", "start + 1"),
    ("ref", "reference base"),
    ("alt", "the substituted base"),
    ("llr", "log P(alt) - log P(ref), natural log; nan where the reference is N"),
), _ism_block)
register_table(IsmResult, ISM_TABLE)


@register_writer("ism", "tsv", (".tsv",))
def _write_tsv(result: IsmResult, path: str | os.PathLike) -> None:
    write_table(result, path, ISM_TABLE)


@register_writer("ism", "npz", (".npz",), streams=False)
def _write_npz(result: IsmResult, path: str | os.PathLike) -> None:
    with atomic_output(path, "wb") as out:
        np.savez_compressed(out, scores=result.scores, alts=result.alts, ref=np.array(list(result.ref)),
                            contig=result.contig, start=result.start, end=result.end)


@register_writer("ism", "png", (".png",), streams=False)
def _write_png(result: IsmResult, path: str | os.PathLike) -> None:
    with atomic_output(path, "wb") as out:
        _heatmap(result).savefig(out, format="png", dpi=120)


def write_ism(result: IsmResult, prefix: str | os.PathLike) -> list[Path]:
    """Write ``PREFIX.tsv``, ``PREFIX.npz`` and ``PREFIX.png`` (every ISM format of the registry), each atomically.

    - TSV: header ``chrom start end ref alt llr``, one line per position and alternative
      (rows in the order of the module docstring); ``start``/``end`` 0-based half-open.
    - NPZ: ``scores`` (3, L) float32, ``alts`` (3, L) ``<U1``, ``ref`` (L,) ``<U1``,
      ``contig``, ``start``, ``end``.
    - PNG: heatmap of the LLR with one row per base A, C, G, T (the reference base's cell
      grey), diverging colours centred on 0.

    Returns:
        The three paths.
    Raises:
        ConfigError: ``prefix`` is a stream (``-``, ``/dev/stdout``): three files need a file prefix
            (refused before anything is written).
    """
    prefix = ism_prefix(prefix)
    paths = []
    for fmt in formats("ism"):
        writer = writer_for("ism", prefix, fmt)
        paths.append(prefix.with_name(prefix.name + writer.extensions[0]))
        writer.write(result, paths[-1])
    return paths


def ism_prefix(prefix: str | os.PathLike) -> Path:
    """``prefix`` of :func:`write_ism`'s files, checked (call it before scoring to fail early).

    Raises:
        ConfigError: a stream (``-``, ``/dev/stdout``): three files need a file prefix.
    """
    if is_stream(prefix):
        raise ConfigError(f"ism writes PREFIX.tsv, PREFIX.npz and PREFIX.png: give a file prefix, not "
                          f"{display_name(prefix)}")
    return Path(prefix)


def _heatmap(result: IsmResult):
    """Matplotlib figure (Agg, no global state) of the LLRs as a 4 x L base-by-position map."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    length = result.end - result.start
    grid = np.full((4, length), np.nan, dtype=np.float32)
    rows = "ACGT"
    for k in range(3):
        for base_index, base in enumerate(rows):
            hit = result.alts[k] == base
            grid[base_index, hit] = result.scores[k, hit]
    limit = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    figure = Figure(figsize=(min(40.0, max(6.0, length / 40)), 2.6))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    cmap = colormaps["RdBu_r"].with_extremes(bad="0.8")  # reference bases (no score) in grey
    image = axes.imshow(grid, aspect="auto", cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest",
                        extent=(result.start - 0.5, result.end - 0.5, 3.5, -0.5))
    axes.ticklabel_format(axis="x", style="plain", useOffset=False)
    axes.set_yticks(range(4), list(rows))
    axes.set_xlabel(f"{result.contig} position (0-based)")
    axes.set_title(f"ISM log-likelihood ratio ALT vs REF, {result.contig}:{result.start + 1}-{result.end}")
    figure.colorbar(image, ax=axes, label="LLR (nat)")
    figure.tight_layout()
    return figure
