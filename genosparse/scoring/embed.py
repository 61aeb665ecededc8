"""``embed``: token ``(N, L, C)`` or pooled ``(N, C)`` embeddings of sequences, BED intervals or tiled windows.

Embeddings are the backbone's final hidden states (:meth:`GenomicModel.embed`, after the last
LayerNorm). Items are batched only with items of the same length (no padding reaches the model,
see :func:`~genosparse.scoring.fasta.equal_length_batches`), and come back in input order, a
chunk at a time, so a genome never has to fit in memory. :func:`write_embeddings` writes them
with their coordinates to NPZ, streaming, atomically.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from genosparse.errors import ConfigError, check_ints
from genosparse.io import Table, atomic_output, register_table, register_writer, writer_for
from genosparse.genome import Genome
from genosparse.genome.bed import read_bed
from genosparse.genome.regions import region_list
from genosparse.models.backbone import GenomicModel
from genosparse.scoring.fasta import STREAM_CHUNK, equal_length_batches, tile_intervals
from genosparse.scoring.prepare import Inference, fit_in_memory, prepare
from genosparse.sequence.vocab import N, encode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingChunk:
    """Embeddings of consecutive input items.

    ``names``: contig (or sequence name) per item; ``starts``/``ends``: ``(n,)`` int64, 0-based
    half-open bases on the contig (``0``/length for in-memory sequences); ``values``: ``(n, C)``
    float32 pooled (mean over the item's positions) or ``(n, L, C)`` token embeddings, where ``L``
    is the longest item of the whole call and positions past an item's length are NaN;
    ``flags``: per item ``""``, ``"all_N"`` (no A/C/G/T: embedded, but of no sequence) or
    ``"empty"`` (no bases: NaN), as :class:`~genosparse.scoring.fasta.ScoreRow` flags them.
    """

    names: list[str]
    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    flags: list[str]


@dataclass(frozen=True)
class _Item:
    name: str
    start: int
    end: int
    tokens: np.ndarray | None  # in-memory sequences; None: fetch from the genome

    def __len__(self) -> int:
        return self.end - self.start


def embed(model: GenomicModel | Inference | str | os.PathLike, fasta: str | os.PathLike | Genome | None = None, *,
          sequences: Mapping[str, str] | Iterable[str] | None = None, bed: str | os.PathLike | None = None,
          regions: Iterable[str] | None = None, window: int | None = None, pooled: bool = True,
          batch_size: int = 8, device: torch.device | str | None = None,
          progress: bool = True) -> Iterator[EmbeddingChunk]:
    """Stream embeddings, in input order, of one of:

    - ``sequences``: strings (named ``seq0``, ``seq1``, ...) or a name -> sequence mapping, each whole;
    - ``fasta`` + ``bed``: each BED interval (0-based half-open) as it is;
    - ``fasta`` (optionally ``regions``, samtools style 1-based inclusive): records no longer than
      ``window`` whole, longer ones tiled into consecutive windows of ``window`` bases (the last
      shorter), as :func:`~genosparse.scoring.fasta.score_fasta` tiles them.

    Args:
        window: tile length in bases (default the model's ``context_length``).
        pooled: ``(n, C)`` means over positions if True, else ``(n, L, C)`` token embeddings.
    Yields:
        :class:`EmbeddingChunk` s of up to ``16 * batch_size`` items.
    Raises:
        ConfigError: not exactly one input given, bad ``window``/``batch_size``, unreadable checkpoint.
        FastaError, SequenceError: unusable FASTA, region, BED or sequence.
    """
    if isinstance(sequences, (str, bytes)):
        raise ConfigError("embed: sequences must be a list of sequences or a name -> sequence mapping, not one "
                          "string (it would be read as one-base sequences); pass [sequence]")
    if (sequences is None) == (fasta is None) or (bed is not None and regions is not None):
        raise ConfigError("give either sequences or a FASTA (with at most one of bed and regions)")
    check_ints(batch_size=batch_size)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    inference = prepare(model, fasta, window=window, device=device, what="embedding")
    if sequences is not None:
        named = sequences.items() if isinstance(sequences, Mapping) else \
            ((f"seq{k}", seq) for k, seq in enumerate(sequences))
        items = [_Item(name, 0, len(seq), encode(seq, name=name)) for name, seq in named]
    else:
        regions = region_list(regions)
        ivs = read_bed(bed, inference.genome) if bed is not None else \
            tile_intervals(inference.genome, inference.window, regions)
        items = [_Item(iv.contig, iv.start, iv.end, None) for iv in ivs]
    longest = max((len(it) for it in items), default=0)
    log.info("embedding %d items of up to %d bases (%s)", len(items), longest, "pooled" if pooled else "tokens")
    with tqdm(total=len(items), unit="item", disable=not progress, desc="embed") as bar:
        step = STREAM_CHUNK * batch_size  # fixed: fit_in_memory may lower batch_size
        for first in range(0, len(items), step):
            part = items[first:first + step]
            where = f"the items from {part[0].name}:{part[0].start + 1:,}"
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
            tokens = np.stack([it.tokens if it.tokens is not None else
                               genome.fetch_tokens(it.name, it.start, it.end) for it in chunk]).astype(np.int64)
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
                          np.array([it.end for it in items], np.int64), stacked.astype(np.float32), flags)


def _chunk_block(chunk: EmbeddingChunk) -> dict[str, list | np.ndarray]:
    """Table rows of a chunk: coordinates and flag, then ``emb_0 ... emb_{C-1}`` (pooled) or ``embedding``
    (per item, its ``(L, C)`` token embeddings)."""
    block: dict[str, list | np.ndarray] = {"name": chunk.names, "start": chunk.starts, "end": chunk.ends,
                                           "flag": chunk.flags}
    if chunk.values.ndim == 2:
        block.update((f"emb_{c}", chunk.values[:, c]) for c in range(chunk.values.shape[1]))
    else:
        block["embedding"] = list(chunk.values)
    return block


register_table(EmbeddingChunk, Table("embeddings", (
    ("name", "contig or sequence name"),
    ("start", "0-based start (bases; 0 for in-memory sequences)"),
    ("end", "0-based end, exclusive"),
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

    Arrays: ``names`` (N,) str, ``starts``/``ends`` (N,) int64 (0-based half-open bases),
    ``flags`` (N,) str (see :class:`EmbeddingChunk`), ``embeddings`` (N, C) or (N, L, C) float32
    (NaN past each item's length). Read with ``np.load``.

    Returns:
        N, the number of items written.
    """
    names: list[str] = []
    flags: list[str] = []
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    shape: tuple[int, ...] | None = None
    count = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=path.parent, prefix=f".{path.name}.spool.") as spool:
        for chunk in chunks:
            names += chunk.names
            flags += chunk.flags
            starts.append(chunk.starts)
            ends.append(chunk.ends)
            shape = chunk.values.shape[1:]
            count += len(chunk.names)
            spool.write(np.ascontiguousarray(chunk.values, dtype="<f4").tobytes())
        spool.seek(0)
        with atomic_output(path, "wb") as out, zipfile.ZipFile(out, "w", allowZip64=True) as npz:
            for key, array in (("names", np.array(names, dtype=str)), ("flags", np.array(flags, dtype=str)),
                               ("starts", np.concatenate(starts) if starts else np.zeros(0, np.int64)),
                               ("ends", np.concatenate(ends) if ends else np.zeros(0, np.int64))):
                with npz.open(f"{key}.npy", "w") as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
            with npz.open("embeddings.npy", "w", force_zip64=True) as member:
                header = {"descr": "<f4", "fortran_order": False, "shape": (count, *(shape or (0,)))}
                np.lib.format.write_array_header_1_0(member, header)
                shutil.copyfileobj(spool, member, 1 << 20)
    return count
