"""``embed``: token ``(N, L, C)`` or pooled ``(N, C)`` embeddings of sequences, BED intervals or tiled windows.

Embeddings are the backbone's final hidden states (:meth:`GenomicModel.embed`, after the last
LayerNorm). Items are batched only with items of the same length (no padding reaches the model,
see :func:`~genosparse.scoring.fasta.equal_length_batches`), and come back in input order, a
chunk at a time, so a genome never has to fit in memory. :func:`write_embeddings` writes them
with their coordinates to NPZ, streaming, atomically; :func:`collect_embeddings` gathers them
into numpy arrays (:class:`Embeddings`, and from there an AnnData).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from genosparse.errors import ConfigError
from genosparse.io import Table, atomic_output, register_table, register_writer, writer_for
from genosparse.genome import Genome
from genosparse.genome.bed import read_bed
from genosparse.genome.regions import region_list
from genosparse.models.backbone import GenomicModel
from genosparse.scoring.fasta import (STREAM_CHUNK, check_batch_size, equal_length_batches, read_tokens,
                                     tile_intervals)
from genosparse.scoring.prepare import Inference, fit_in_memory, prepare
from genosparse.sequence.named import Sequences, named_sequences
from genosparse.sequence.vocab import N

if TYPE_CHECKING:
    import anndata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingChunk:
    """Embeddings of consecutive input items.

    ``names``: per item the BED name, else the contig (or the in-memory sequence's name);
    ``starts``/``ends``: ``(n,)`` int64, 0-based half-open bases on the contig (``0``/length for
    in-memory sequences); ``values``: ``(n, C)`` float32 pooled (mean over the item's positions) or
    ``(n, L, C)`` token embeddings, where ``L`` is the longest item of the whole call and positions
    past an item's length are NaN (for ``-`` items, positions run 5' to 3' on the minus strand);
    ``flags``: per item ``""``, ``"all_N"`` (no A/C/G/T: embedded, but of no sequence) or
    ``"empty"`` (no bases: NaN), as :class:`~genosparse.scoring.fasta.ScoreRow` flags them;
    ``contigs``: per item the contig (the sequence's name for in-memory sequences); ``strands``: per
    item ``+``, or ``-`` for a BED interval embedded as the reverse complement of the reference.
    """

    names: list[str]
    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    flags: list[str]
    contigs: list[str]
    strands: list[str]


@dataclass(frozen=True)
class _Item:
    name: str
    contig: str
    start: int
    end: int
    strand: str
    tokens: np.ndarray | None  # in-memory sequences; None: fetch from the genome

    def __len__(self) -> int:
        return self.end - self.start

    def read(self, genome: Genome) -> np.ndarray:
        """Token ids ``(L,)``, reverse-complemented on the ``-`` strand."""
        if self.tokens is not None:  # in-memory sequences are whole and forward
            return self.tokens
        return read_tokens(genome, self.contig, self.start, self.end, self.strand)


def embed(model: GenomicModel | Inference | str | os.PathLike, fasta: str | os.PathLike | Genome | None = None, *,
          sequences: Sequences | None = None, bed: str | os.PathLike | None = None,
          regions: Iterable[str] | None = None, window: int | None = None, pooled: bool = True,
          batch_size: int = 8, device: torch.device | str | None = None,
          progress: bool = True) -> Iterator[EmbeddingChunk]:
    """Stream embeddings, in input order, of one of:

    - ``sequences``: strings (named ``seq0``, ``seq1``, ...), a name -> sequence mapping or
      ``(name, sequence)`` pairs, each whole;
    - ``fasta`` + ``bed``: each BED interval (0-based half-open) as it is, named by its BED name
      (column 4, else the contig); ``-`` intervals (column 6) as the reverse complement of the reference;
    - ``fasta`` (optionally ``regions``, samtools style 1-based inclusive): records no longer than
      ``window`` whole, longer ones tiled into consecutive windows of ``window`` bases (the last
      shorter), as :func:`~genosparse.scoring.fasta.score_fasta` tiles them.

    :func:`collect_embeddings` gathers the stream into arrays (and an AnnData).

    Args:
        window: tile length in bases (default the model's ``context_length``).
        pooled: ``(n, C)`` means over positions if True, else ``(n, L, C)`` token embeddings.
    Yields:
        :class:`EmbeddingChunk` s of up to ``16 * batch_size`` items.
    Raises:
        ConfigError: not exactly one input given, bad ``window``/``batch_size``, unreadable checkpoint.
        FastaError, SequenceError: unusable FASTA, region, BED or sequence (an empty one included).
        ArgumentError: an argument of the wrong type (also a ``TypeError``), one string as ``sequences``.
    """
    source = named_sequences(sequences) if sequences is not None else None
    if (sequences is None) == (fasta is None) or (bed is not None and regions is not None):
        raise ConfigError("give either sequences or a FASTA (with at most one of bed and regions)")
    check_batch_size(batch_size)
    inference = prepare(model, fasta, window=window, device=device, what="embedding", needs_genome=source is None)
    if source is not None:
        items = [_Item(name, name, 0, len(ids), "+", ids) for name, ids in source.tokens.items()]
    elif bed is not None:
        items = [_Item(iv.name, iv.contig, iv.start, iv.end, iv.strand, None) for iv in read_bed(bed, inference.genome)]
    else:
        ivs = tile_intervals(inference.genome, inference.window, region_list(regions))
        items = [_Item(iv.contig, iv.contig, iv.start, iv.end, "+", None) for iv in ivs]
    longest = max((len(it) for it in items), default=0)
    log.info("embedding %d items of up to %d bases (%s)", len(items), longest, "pooled" if pooled else "tokens")
    with tqdm(total=len(items), unit="item", disable=not progress, desc="embed") as bar:
        step = STREAM_CHUNK * batch_size  # fixed: fit_in_memory may lower batch_size
        for first in range(0, len(items), step):
            part = items[first:first + step]
            where = f"the items from {part[0].contig}:{part[0].start + 1:,}"
            (values, flags), batch_size = fit_in_memory(lambda b: _embed_part(inference, part, b, pooled, bar),
                                                        batch_size, where, max(map(len, part)), bar)
            yield _chunk(part, values, pooled, longest, flags)


def _embed_part(inference: Inference, part: list[_Item], batch_size: int, pooled: bool,
                bar: tqdm) -> tuple[list[np.ndarray], list[str]]:
    """Embeddings and flags of ``part``, in order (a function: no inference mode leaks between yields)."""
    model, genome = inference.model, inference.genome
    out: dict[int, np.ndarray] = {}
    flags: dict[int, str] = {}
    with inference.running():
        for chunk in equal_length_batches(part, batch_size):
            tokens = np.stack([it.read(genome) for it in chunk]).astype(np.int64)
            hidden = model.embed(torch.from_numpy(tokens).to(inference.device)).float() if tokens.shape[1] else \
                torch.zeros(len(chunk), 0, model.config.d_model)
            values = hidden.mean(1) if pooled else hidden
            out.update(zip(map(id, chunk), values.cpu().numpy()))
            no_base = ~(tokens < N).any(axis=1)
            flags.update((id(it), ("empty" if not len(it) else "all_N") if bad else "")
                         for it, bad in zip(chunk, no_base))
            bar.update(len(chunk))
    return [out[id(it)] for it in part], [flags[id(it)] for it in part]


def _chunk(items: list[_Item], values: list[np.ndarray], pooled: bool, longest: int,
           flags: list[str]) -> EmbeddingChunk:
    if pooled:
        stacked = np.stack(values)
    else:
        stacked = np.full((len(items), longest, values[0].shape[-1]), np.nan, np.float32)
        for k, v in enumerate(values):
            stacked[k, :len(v)] = v
    return EmbeddingChunk([it.name for it in items], np.array([it.start for it in items], np.int64),
                          np.array([it.end for it in items], np.int64), stacked.astype(np.float32), flags,
                          [it.contig for it in items], [it.strand for it in items])


@dataclass(frozen=True)
class Embeddings:
    """A whole embedding stream as arrays (:func:`collect_embeddings`), one row per item, in input order.

    Attributes:
        names: ``(N,)`` str, the BED name, else the contig or the in-memory sequence's name.
        contigs: ``(N,)`` str, the contig (the sequence's name for in-memory sequences).
        starts, ends: ``(N,)`` int64, 0-based half-open bases on the contig.
        strands: ``(N,)`` str, ``+``, or ``-`` where the item is the reverse complement of the reference.
        flags: ``(N,)`` str, ``""``, ``"all_N"`` or ``"empty"`` (see :class:`EmbeddingChunk`).
        values: ``(N, C)`` float32 pooled, or ``(N, L, C)`` token embeddings (NaN past an item's length).
    """

    names: np.ndarray
    contigs: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    strands: np.ndarray
    flags: np.ndarray
    values: np.ndarray

    def to_anndata(self) -> anndata.AnnData:
        """The pooled embeddings as an ``anndata.AnnData``: ``X`` the ``(N, C)`` float32 matrix, ``obs``
        the columns ``name``, ``chrom``, ``start``, ``end`` (0-based half-open), ``strand`` and ``flag``
        (index ``"0"``, ``"1"``, ...), ``var`` one row per embedding dimension.

        Raises:
            ConfigError: token embeddings (``pooled=False``; AnnData holds a 2-D matrix), or the
                ``anndata`` package is missing (``pip install anndata``).
        """
        if self.values.ndim != 2:
            raise ConfigError(f"AnnData holds one (N, C) matrix; these are token embeddings of shape "
                              f"{self.values.shape}: embed with pooled=True")
        try:
            import anndata
        except ImportError:
            raise ConfigError("to_anndata needs the anndata package: pip install anndata") from None
        import pandas as pd

        obs = pd.DataFrame({"name": self.names, "chrom": self.contigs, "start": self.starts, "end": self.ends,
                            "strand": self.strands, "flag": self.flags}, index=[str(k) for k in range(len(self.names))])
        return anndata.AnnData(X=self.values, obs=obs)


_COLUMNS = {"names": str, "contigs": str, "starts": np.int64, "ends": np.int64, "strands": str, "flags": str}
"""The per-item columns of an embedding stream and their dtypes."""


class _Columns:
    """The per-item columns of a stream of :class:`EmbeddingChunk` s, gathered as the chunks pass."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {key: [] for key in _COLUMNS}

    def add(self, chunk: EmbeddingChunk) -> None:
        for key, dtype in _COLUMNS.items():
            self.parts[key].append(np.asarray(getattr(chunk, key), dtype=dtype))

    def arrays(self) -> dict[str, np.ndarray]:
        """Each column as one ``(N,)`` array."""
        return {key: np.concatenate(parts) if parts else np.zeros(0, _COLUMNS[key])
                for key, parts in self.parts.items()}


def collect_embeddings(chunks: Iterable[EmbeddingChunk]) -> Embeddings:
    """Gather an :func:`embed` stream into one :class:`Embeddings` (arrays held in memory; for a
    genome, stream to NPZ with :func:`write_embeddings` instead).

    >>> emb = collect_embeddings(embed(model, sequences={"a": "ACGT...", "b": "GGCA..."}))
    >>> emb.names, emb.values.shape          # ['a', 'b'], (2, C)
    >>> adata = emb.to_anndata()             # needs anndata
    """
    columns = _Columns()
    values: list[np.ndarray] = []
    for chunk in chunks:
        columns.add(chunk)
        values.append(chunk.values)
    return Embeddings(**columns.arrays(), values=np.concatenate(values) if values else np.zeros((0, 0), np.float32))


def _chunk_block(chunk: EmbeddingChunk) -> dict[str, list | np.ndarray]:
    """Table rows of a chunk: coordinates and flag, then ``emb_0 ... emb_{C-1}`` (pooled) or ``embedding``
    (per item, its ``(L, C)`` token embeddings)."""
    block: dict[str, list | np.ndarray] = {"name": chunk.names, "chrom": chunk.contigs, "start": chunk.starts,
                                           "end": chunk.ends, "strand": chunk.strands, "flag": chunk.flags}
    if chunk.values.ndim == 2:
        block.update((f"emb_{c}", chunk.values[:, c]) for c in range(chunk.values.shape[1]))
    else:
        block["embedding"] = list(chunk.values)
    return block


register_table(EmbeddingChunk, Table("embeddings", (
    ("name", "BED name, else the contig or in-memory sequence name"),
    ("chrom", "contig (the sequence's name for in-memory sequences)"),
    ("start", "0-based start (bases; 0 for in-memory sequences)"),
    ("end", "0-based end, exclusive"),
    ("strand", "+, or - where the item is the reverse complement of the reference"),
    ("flag", "empty, all_N (no A/C/G/T) or empty (no bases)"),
), _chunk_block))


def write_embeddings(chunks: Iterable[EmbeddingChunk], path: str | os.PathLike, fmt: str | None = None) -> int:
    """Write ``chunks`` to ``path`` in a format of the registry (``npz``, the only one; chosen by
    :func:`genosparse.io.writer_for`). Returns N, the number of items written.

    Raises:
        ConfigError: an unknown format, or a stream (``-``) as ``path`` (NPZ needs a file).
    """
    return writer_for("embeddings", path, fmt).write(chunks, path)


@register_writer("embeddings", "npz", (".npz",), streams=False)
def write_npz(chunks: Iterable[EmbeddingChunk], path: str | os.PathLike) -> int:
    """Write ``chunks`` to an NPZ at ``path`` atomically, streaming the values through a spool file.

    Arrays: ``names``, ``contigs``, ``strands`` (N,) str, ``starts``/``ends`` (N,) int64 (0-based
    half-open bases), ``flags`` (N,) str (see :class:`EmbeddingChunk`), ``embeddings`` (N, C) or
    (N, L, C) float32 (NaN past each item's length). Read with ``np.load``.

    Returns:
        N, the number of items written.
    """
    columns = _Columns()
    shape: tuple[int, ...] | None = None
    count = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=path.parent, prefix=f".{path.name}.spool.") as spool:
        for chunk in chunks:
            columns.add(chunk)
            shape = chunk.values.shape[1:]
            count += len(chunk.names)
            spool.write(np.ascontiguousarray(chunk.values, dtype="<f4").tobytes())
        spool.seek(0)
        with atomic_output(path, "wb") as out, zipfile.ZipFile(out, "w", allowZip64=True) as npz:
            for key, array in columns.arrays().items():
                with npz.open(f"{key}.npy", "w") as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
            with npz.open("embeddings.npy", "w", force_zip64=True) as member:
                header = {"descr": "<f4", "fortran_order": False, "shape": (count, *(shape or (0,)))}
                np.lib.format.write_array_header_1_0(member, header)
                shutil.copyfileobj(spool, member, 1 << 20)
    return count
