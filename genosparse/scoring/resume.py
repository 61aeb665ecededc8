"""Resume state of long scoring jobs (``vep``, ``track``): the completed chunks of a run, kept beside its output.

A job that writes ``<dir>/<name>`` keeps its state in the hidden folder ``<dir>/.<name>.resume/``:

``manifest.json``
    Everything that affects the output (:func:`model_identity`, :func:`file_identity` of the
    inputs, the scorer's settings, output format, package version).
``.lock``
    Locked (``fcntl.flock``) by the run that has the state open, so a second run writing the same
    output stops at once instead of mixing its chunks in.
``chunk-000000.npz``, ``chunk-000001.npz``, ...
    One per completed chunk, in order: its results only (per-ALT scores, per-tile values) and
    ``span = [start, stop]``, the units it covers (VCF record indices ``[start, stop)`` for
    ``vep``, track windows for ``track``; 0-based, each chunk starting where the one before stopped).
    Each is written to a temporary file and renamed, so a killed run (SIGTERM, SIGKILL) leaves
    only whole chunk files.

A job runs in two phases: it computes the chunks the state lacks into the folder, then writes
its output from the chunk files in order, atomically; after a successful write the folder is
removed. Without the output open while the model runs, a killed run leaves no partial output.
``resume=True`` (``--resume``) continues from the chunks found (logging
``resuming from ...: k chunks done``) when the manifest matches, and refuses with the settings
that differ otherwise; without it an existing folder is replaced. Chunks cached by an earlier
run are neither planned nor run again: the job skips their units before reading any sequence.
Chunk boundaries are a function of the inputs and ``batch_size`` as given (never of the batch
size that GPU out-of-memory retries fall back to); a run resumed with the same settings cuts
the rest of the job exactly where an uninterrupted run does, so its output is identical.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pysam
import torch

import genosparse
from genosparse.errors import ConfigError
from genosparse.genome.alleles import Variant
from genosparse.io import atomic_output, display_name, is_stream
from genosparse.models.backbone import GenomicModel
from genosparse.scoring.effects import ScoredRecord, VariantScore

if TYPE_CHECKING:
    from genosparse.scoring.tracks import TrackWindow  # tracks imports this module

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LOCK = ".lock"


def state_folder(out: str | os.PathLike) -> Path:
    """The resume state folder of output ``out``: ``<dir>/.<name>.resume``."""
    out = Path(out)
    return out.parent / f".{out.name}.resume"


def model_identity(model: GenomicModel) -> dict[str, Any]:
    """``config`` (:meth:`ModelConfig.to_dict`) and ``weights_sha256``, the SHA-256 of every
    state-dict tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return {"config": model.config.to_dict(), "weights_sha256": digest.hexdigest()}


def file_identity(path: str | os.PathLike | None) -> dict[str, Any] | None:
    """``path`` (absolute), ``size`` in bytes and ``mtime_ns`` of an input file; None for None."""
    if path is None:
        return None
    path = Path(path).absolute()
    info = path.stat()
    return {"path": str(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def base_manifest(job: str, model: GenomicModel, device: torch.device, fmt: str, **settings: Any) -> dict[str, Any]:
    """The manifest of a ``job`` (``"vep"``, ``"track"``): package version, model identity, compute
    dtype (bf16 autocast on CUDA, float32 elsewhere: it changes the values), output format and
    the job's ``settings`` (JSON values; inputs through :func:`file_identity`)."""
    return {"job": job, "version": genosparse.__version__, "model": model_identity(model),
            "dtype": "bfloat16" if device.type == "cuda" else "float32", "format": fmt, **settings}


class ChunkStore:
    """The chunks of one job in its state folder (see the module docstring); a context manager.

    Use :meth:`open`. Leaving the ``with`` block normally removes the folder (call it after the
    output is written); leaving it with an exception (an error, Ctrl-C, SIGTERM) keeps the
    completed chunks and logs how to resume, or removes the folder when it holds none.

    Attributes:
        folder: the state folder.
        cached: chunks found from an earlier run (0 when starting from zero).
        saved: chunks computed and saved by this run.
        done: units covered by the chunks so far (the ``stop`` of the last one; 0 for none).
    """

    def __init__(self, folder: Path, spans: list[tuple[int, int]], unit: str):
        self.folder, self._spans, self._unit = folder, spans, unit
        self.cached, self.saved = len(spans), 0
        self._lock: IO | None = None

    @classmethod
    def open(cls, out: str | os.PathLike, manifest: dict[str, Any], resume: bool, unit: str) -> "ChunkStore":
        """The state of output ``out``: the chunks of the folder when ``resume`` and its manifest is
        ``manifest``, else none (an existing folder is removed, with an INFO line saying so).
        ``unit`` names what chunks cover, for the log (``"VCF records"``). The state is this run's
        alone while it is open: an exclusive lock (``fcntl.flock``) on its ``.lock`` file.

        Raises:
            ConfigError: another run holds the lock (is writing ``out``); ``resume`` and the folder's
                manifest differs from ``manifest`` (naming each setting that differs, e.g. ``window``,
                ``model.weights_sha256``, ``vcf.mtime_ns``), or is unreadable.
            OSError: the folder cannot be made (naming ``out``).
        """
        folder = state_folder(out)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = open(folder / LOCK, "a")
        except OSError as err:
            raise type(err)(err.errno, err.strerror, str(out)) from err
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ConfigError(f"another genosparse run is writing {out} (its resume state {folder} is locked); wait "
                              "for it to finish, or write to another file") from None
        try:
            store = cls._open_locked(folder, out, manifest, resume, unit)
        except BaseException:
            lock.close()
            raise
        store._lock = lock
        return store

    @classmethod
    def _open_locked(cls, folder: Path, out: str | os.PathLike, manifest: dict[str, Any], resume: bool,
                     unit: str) -> "ChunkStore":
        """:meth:`open` once the lock is held."""
        manifest = json.loads(json.dumps(manifest))  # as it reads back: tuples become lists
        if not resume:
            if _clear(folder):
                log.info("replacing the resume state %s of an earlier run (--resume continues from it)", folder)
            return cls._new(folder, manifest, out, unit)
        try:
            found = json.loads((folder / MANIFEST).read_text())
        except FileNotFoundError:
            log.info("no resume state in %s: starting from zero", folder)
            _clear(folder)
            return cls._new(folder, manifest, out, unit)
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read the resume state {folder / MANIFEST}: {err}; delete {folder} "
                              "or drop --resume to start from zero") from err
        if not isinstance(found, dict):
            raise ConfigError(f"cannot read the resume state {folder / MANIFEST}: not a genosparse manifest (a JSON "
                              f"object); delete {folder} or drop --resume to start from zero")
        now, then = _flat(manifest), _flat(found)
        differ = [key for key in sorted(now.keys() | then.keys()) if now.get(key) != then.get(key)]
        if differ:
            listing = "; ".join(f"{key} {_short(then.get(key))} then, {_short(now.get(key))} now" for key in differ)
            raise ConfigError(f"cannot resume from {folder}: its run had other settings ({listing}). Run with the "
                              f"same settings, or drop --resume (resume=False) to start from zero, which replaces "
                              f"it (or delete {folder})")
        spans = cls._cached_spans(folder)
        log.info("resuming from %s: %d chunks done (%s)", folder, len(spans),
                 f"{unit} 1-{spans[-1][1]}" if spans else "none yet")
        return cls(folder, spans, unit)

    @classmethod
    def _new(cls, folder: Path, manifest: dict[str, Any], out: str | os.PathLike, unit: str) -> "ChunkStore":
        """An empty state: the folder made with its manifest now, so an output location that cannot be
        written fails before any model work (the error names ``out``, not the hidden folder)."""
        try:
            with atomic_output(folder / MANIFEST) as handle:
                json.dump(manifest, handle, indent=1)
        except OSError as err:
            shutil.rmtree(folder, ignore_errors=True)
            raise type(err)(err.errno, err.strerror, str(out)) from err
        return cls(folder, [], unit)

    @staticmethod
    def _cached_spans(folder: Path) -> list[tuple[int, int]]:
        """``(start, stop)`` of the chunks ``chunk-000000.npz``, ``chunk-000001.npz``, ... that follow
        one another from unit 0. The first chunk file that is unreadable (e.g. emptied by a power
        cut before the disk was written), out of sequence or not following the one before, and all
        after it, are removed with a WARNING and computed again."""
        spans: list[tuple[int, int]] = []
        files = sorted(folder.glob("chunk-*.npz"))
        for k, path in enumerate(files):
            try:
                with np.load(path) as data:
                    start, stop = (int(x) for x in data["span"])
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                break
            if path.name != _chunk_name(k) or start != (spans[-1][1] if spans else 0):
                break
            spans.append((start, stop))
        for path in files[len(spans):]:
            log.warning("dropping %s: unreadable or not following the chunks before it; it is computed again", path)
            path.unlink()
        return spans

    @property
    def done(self) -> int:
        return self._spans[-1][1] if self._spans else 0

    def save(self, arrays: dict[str, np.ndarray], stop: int) -> None:
        """Write the next chunk, covering units ``[done, stop)``, atomically."""
        with atomic_output(self.folder / _chunk_name(len(self._spans)), "wb") as handle:
            np.savez(handle, span=np.array([self.done, stop], np.int64), **arrays)
        self._spans.append((self.done, stop))
        self.saved += 1

    def chunks(self) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """``(start, stop, arrays)`` of every chunk in order, read one at a time; logs how many
        came from the earlier run."""
        log.info("all %d chunks done: %d from the resume state, %d computed now", len(self._spans), self.cached,
                 self.saved)
        for k, (start, stop) in enumerate(self._spans):
            with np.load(self.folder / _chunk_name(k)) as data:
                yield start, stop, {key: data[key] for key in data.files if key != "span"}

    def mismatch(self, start: int, stop: int, what: str) -> ConfigError:
        """The error for a cached chunk of units ``[start, stop)`` (0-based) that does not fit the input
        (``what`` differs); the message counts units from 1."""
        return ConfigError(f"the resume state {self.folder} does not fit the input: its chunk of {self._unit} "
                           f"{start + 1}-{stop} has {what}. Delete {self.folder} or drop --resume to start from zero")

    def __enter__(self) -> "ChunkStore":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None or not self._spans:
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            log.warning("stopped with %d chunks done, kept in %s: run the same command again with --resume "
                        "(resume=True) to go on from them", len(self._spans), self.folder)
        if self._lock is not None:
            self._lock.close()  # releases the lock
            self._lock = None


def _clear(folder: Path) -> bool:
    """Remove everything in the state ``folder`` but its lock file; True if there was something."""
    found = False
    for path in folder.iterdir():
        if path.name != LOCK:
            found = True
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return found


def job_state(out: str | os.PathLike, resume: bool, manifest: Callable[[], dict[str, Any]], unit: str, *,
              unsupported: str | None = None) -> contextlib.AbstractContextManager[ChunkStore | None]:
    """The resume state of a job writing ``out``: :meth:`ChunkStore.open` (``manifest()`` called then),
    or, for an output that is a stream (``-``, ``/dev/stdout``) or where ``unsupported`` says why
    (e.g. input from standard input), no state: a context giving None, the job streaming as it goes.

    Raises:
        ConfigError: ``resume`` where no state is kept (naming why), or as :meth:`ChunkStore.open`.
    """
    why = f"the output is {display_name(out)}, not a file" if is_stream(out) else unsupported
    if why is None:
        return ChunkStore.open(out, manifest(), resume, unit)
    if resume:
        raise ConfigError(f"cannot resume: {why}, so no resume state is kept; write to a file from a file, or "
                          "drop --resume (resume=False)")
    return contextlib.nullcontext()


def vep_arrays(scored: list[ScoredRecord]) -> dict[str, np.ndarray]:
    """A ``vep`` chunk's results: per ALT its ``record`` (0-based VCF record index), ``alt`` index,
    ``pos`` (0-based), ``alleles`` (``REF>ALT``, so an edited VCF of the same size and time is caught),
    ``llr`` and ``distance`` (float64, exact) and ``flag``."""
    scores = [s for record in scored for s in record.scores]
    return {"record": np.array([s.variant.record_index for s in scores], np.int64),
            "alt": np.array([s.variant.alt_index for s in scores], np.int64),
            "pos": np.array([s.variant.pos for s in scores], np.int64),
            "alleles": np.array([f"{s.variant.ref}>{s.variant.alt}" for s in scores], str),
            "llr": np.array([s.llr for s in scores], np.float64),
            "distance": np.array([s.embedding_distance for s in scores], np.float64),
            "flag": np.array([s.flag for s in scores], str)}


def stored_records(store: ChunkStore, records: Iterable[tuple[pysam.VariantRecord, list[Variant]]]
                   ) -> Iterator[ScoredRecord]:
    """The VCF's ``records`` (:meth:`~genosparse.genome.vcf.VcfSource.variants`, in order) with the scores
    of the store's chunks (:func:`vep_arrays`), each ALT checked to be the one its score was made for.

    Raises:
        ConfigError: a chunk's ALTs are not the VCF's (:meth:`ChunkStore.mismatch`).
    """
    records = iter(records)
    for start, stop, arrays in store.chunks():
        keys = list(zip(arrays["record"].tolist(), arrays["alt"].tolist(), arrays["pos"].tolist(),
                        arrays["alleles"].tolist()))
        values = list(zip(arrays["llr"].tolist(), arrays["distance"].tolist(), arrays["flag"].tolist()))
        k = 0
        while k < len(keys):
            record, variants = next(records, (None, []))
            scores = []
            for v in variants:
                key = (v.record_index, v.alt_index, v.pos, f"{v.ref}>{v.alt}")
                if k == len(keys) or keys[k] != key or not start <= keys[k][0] < stop:
                    raise store.mismatch(start, stop, f"no score for ALT {v.alt} of record {v.record_index + 1} "
                                         f"({v.chrom}:{v.pos + 1})")
                scores.append(VariantScore(v, *values[k]))
                k += 1
            if record is None:
                raise store.mismatch(start, stop, "scores for records past the end of the VCF")
            yield ScoredRecord(record, scores)
    rest = next(records, None)
    if rest is not None:
        raise store.mismatch(store.done, store.done, f"no scores from record {rest[1][0].record_index + 1} on")


def track_arrays(part: list[tuple[TrackWindow, np.ndarray]]) -> dict[str, np.ndarray]:
    """A ``track`` chunk's results: per window the ``contig``, ``start`` and ``end`` (0-based) of its
    ``keep`` part, and the ``values`` (float32) of all keep parts, concatenated."""
    return {"contig": np.array([tile.keep.contig for tile, _ in part], str),
            "start": np.array([tile.keep.start for tile, _ in part], np.int64),
            "end": np.array([tile.keep.end for tile, _ in part], np.int64),
            "values": np.concatenate([values for _, values in part]).astype(np.float32, copy=False)}


def stored_kept(store: ChunkStore, tiles: Iterable[TrackWindow]) -> Iterator[tuple[TrackWindow, np.ndarray]]:
    """Each of ``tiles`` (all of the track's windows, in order) with the values of its keep part from
    the store's chunks (:func:`track_arrays`), each checked to cover that keep part.

    Raises:
        ConfigError: a chunk's windows are not the track's (:meth:`ChunkStore.mismatch`).
    """
    tiles = iter(tiles)
    for start, stop, arrays in store.chunks():
        keeps = list(zip(arrays["contig"].tolist(), arrays["start"].tolist(), arrays["end"].tolist()))
        values, offset = arrays["values"], 0
        for contig, lo, hi in keeps:
            tile = next(tiles, None)
            if tile is None or (tile.keep.contig, tile.keep.start, tile.keep.end) != (contig, lo, hi):
                raise store.mismatch(start, stop, f"values for {contig}:{lo + 1:,}-{hi:,} where the track has "
                                     f"{tile.keep if tile else 'no window'}")
            yield tile, values[offset:offset + hi - lo]
            offset += hi - lo
        if offset != len(values) or len(keeps) != stop - start:
            raise store.mismatch(start, stop, f"{len(keeps)} windows and {len(values)} values")
    rest = next(tiles, None)
    if rest is not None:
        raise store.mismatch(store.done, store.done, f"no values from {rest.keep} on")


def _chunk_name(k: int) -> str:
    return f"chunk-{k:06d}.npz"


def _flat(manifest: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys: ``{"model": {"weights_sha256": h}}`` -> ``{"model.weights_sha256": h}``."""
    flat: dict[str, Any] = {}
    for key, value in manifest.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."
