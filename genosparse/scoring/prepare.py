"""The one inference path: device, model, genome and window, prepared once for every scorer.

Every scorer (:func:`~genosparse.scoring.fasta.score_fasta`,
:func:`~genosparse.scoring.tracks.score_track`, :func:`~genosparse.scoring.embed.embed`,
:func:`~genosparse.scoring.ism.ism`, :func:`~genosparse.scoring.vep.score_variants`,
:func:`~genosparse.scoring.vep.annotate_vcf`) and the CLI start with :func:`prepare`, which

- picks the device (:func:`default_device`: CUDA when available, else the CPU);
- loads the model (a loaded :class:`GenomicModel`, a checkpoint folder, a Lightning ``.ckpt``
  or a shipped name), puts it in eval mode on the device and checks its head;
- opens the genome (a path or an open :class:`Genome`);
- chooses the window (default the model's context) and checks it, warning when it is longer
  than the trained context or, on a CPU, longer than :data:`LONG_CPU_WINDOW`.

:meth:`Inference.running` is the context every model call runs in: no autograd
(``torch.inference_mode``) and, on CUDA, bf16 autocast (the dtype the shipped models were
trained in; logits are read in float32). The model's weights stay float32. :func:`prefetch`
runs the genome reads of the next items in a thread while the model computes.
:func:`fit_in_memory` is where every scorer's batches meet GPU out-of-memory: the work is redone
with half the batch size, down to one window.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from queue import Empty, Full, Queue
from typing import Callable, Iterable, Iterator, TypeVar

import torch

from genosparse.errors import PATH, ConfigError, ResourceError, check_ints, check_type
from genosparse.genome import Genome
from genosparse.models.backbone import GenomicModel
from genosparse.models.checkpoint import load_model

log = logging.getLogger(__name__)
T = TypeVar("T")

LONG_CPU_WINDOW = 16_384
"""Bases; longer windows on a CPU get a warning (the shipped chr20-mlm: about 260 bases/s on 2 cores)."""


def default_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` as a ``torch.device``; when None, CUDA when available, else the CPU.

    Raises:
        ArgumentError: ``device`` neither a string nor a ``torch.device``.
    """
    check_type("device", device, (str, torch.device), "a device such as 'cpu', 'cuda:1' or a torch.device",
               optional=True)
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class Inference:
    """A model ready to score: on ``device``, in eval mode, with its genome and window.

    Attributes:
        model: the model (float32 weights, eval mode) on ``device``.
        device: where it runs.
        genome: the reference, or None for scorers of in-memory sequences.
        window: window length in bases.
    """

    model: GenomicModel
    device: torch.device
    genome: Genome | None
    window: int

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """bf16 on CUDA, None (float32) elsewhere."""
        return torch.bfloat16 if self.device.type == "cuda" else None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """No autograd, and bf16 autocast on CUDA. Enter it in a function, not across a generator's
        ``yield`` (the caller would run in inference mode between items)."""
        dtype = self.autocast_dtype
        autocast = torch.autocast(self.device.type, dtype) if dtype else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            yield


def load_on_device(model: GenomicModel | str | os.PathLike,
                   device: torch.device | str | None = None) -> tuple[GenomicModel, torch.device]:
    """``(model, device)``: the model loaded (if a path or shipped name), in eval mode, on the device.

    Raises:
        ConfigError: an unreadable checkpoint (see :func:`~genosparse.models.checkpoint.load_model`).
    """
    device = default_device(device)
    if not isinstance(model, GenomicModel):
        model = load_model(model, device)
    return model.eval().to(device), device


def prepare(model: GenomicModel | Inference | str | os.PathLike, fasta: str | os.PathLike | Genome | None = None, *,
            window: int | None = None, device: torch.device | str | None = None, head: str | None = None,
            what: str = "scoring", min_window: int = 1, needs_genome: bool = False) -> Inference:
    """Everything a scorer needs before its first forward pass (see the module docstring).

    Args:
        model: a :class:`GenomicModel`, a checkpoint folder or ``.ckpt``, a shipped name, or an
            :class:`Inference` (returned as it is when ``fasta``, ``window`` and ``device`` are
            None or its own, so a scorer called by another does not prepare twice).
        fasta: FASTA path or open :class:`Genome` (None: the genome of an :class:`Inference`).
        window: window in bases; default the model's ``context_length``.
        device: default CUDA when available, else the CPU.
        head: the head the scorer needs (``"mlm"``), or None for any.
        what: the scorer's name, for messages.
        min_window: the shortest window the scorer accepts.
        needs_genome: the scorer reads the genome (``fasta``, or the :class:`Inference`'s, must be given).
    Returns:
        An :class:`Inference`.
    Raises:
        ConfigError: unreadable checkpoint, a model with another head, ``window < min_window``.
        FastaError: unusable FASTA.
        ArgumentError: ``model``, ``fasta``, ``window`` or ``device`` of the wrong type, or no ``fasta``
            where the scorer reads one.
    """
    check_type("model", model, (GenomicModel, Inference, *PATH), "a GenomicModel, a checkpoint folder or .ckpt "
               "path, or a shipped model name such as 'chr20-mlm'")
    check_ints(window=window)
    if window is not None and window < min_window:
        raise ConfigError(f"{what} needs a window of at least {min_window} bases, got {window}")
    if isinstance(model, Inference):
        ready = model
        model, fasta = ready.model, ready.genome if fasta is None else fasta
        window, device = window or ready.window, device or ready.device
        if (fasta is ready.genome and window == ready.window and default_device(device) == ready.device
                and (head is None or model.config.head == head)):
            return ready
    check_type("fasta", fasta, (*PATH, Genome), "a FASTA path or an open Genome", optional=not needs_genome)
    model, device = load_on_device(model, device)
    if head is not None and model.config.head != head:
        kind = {"mlm": "an MLM (masked-LM) checkpoint, head 'mlm'"}.get(head, f"a checkpoint with head {head!r}")
        raise ConfigError(f"{what} needs {kind}, this model's head is {model.config.head!r}")
    genome = fasta if isinstance(fasta, Genome) or fasta is None else Genome(fasta)
    context = model.config.context_length
    window = window or context
    if window > context:
        log.warning("windows of %d bases are longer than the %d bases the model was trained on", window, context)
    if device.type == "cpu" and window > LONG_CPU_WINDOW:
        log.warning("windows of %d bases on the CPU are slow (the shipped chr20-mlm: about 260 bases/s on 2 cores); "
                    "use a GPU or --window 4096", window)
    return Inference(model, device, genome, window)


def fit_in_memory(run: Callable[[int], T], batch_size: int, where: str, window: int,
                  progress=None) -> tuple[T, int]:
    """``(run(b), b)``: ``run`` called with ``batch_size``, again with half of it after each out-of-memory
    error (``torch.OutOfMemoryError``), a WARNING giving the new size each time.

    Callers pass a ``run`` that redoes a whole chunk of their work (results written at fixed
    places, so a retry overwrites what the failed attempt wrote) and keep the returned ``b`` for
    their next chunks.

    Args:
        where: what the chunk holds (e.g. its first window, ``20:1,000,001-1,131,072``), for messages.
        window: window length in bases, for messages.
        progress: a tqdm bar that ``run`` advances; put back where it was before each retry.
    Raises:
        ResourceError: out of memory with one window per batch.
    """
    start = progress.n if progress is not None else 0
    while True:
        try:
            return run(batch_size), batch_size
        except torch.OutOfMemoryError:
            pass  # leave the handler first: its traceback holds the failed batch's tensors
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if progress is not None:
            progress.n = start
            progress.refresh()
        if batch_size == 1:
            raise ResourceError(f"out of GPU memory scoring one window of {window:,} bases at a time ({where}); "
                                "use a shorter --window or --device cpu")
        batch_size //= 2
        log.warning("out of GPU memory at %s: retrying with --batch-size %d", where, batch_size)


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced up to ``depth`` ahead in a background thread (genome reads and window
    building overlap the model's compute; the GIL is released by zlib, pysam and numpy).

    An exception in the producer is raised here, at the item where it happened; closing this
    generator early stops the producer and waits for it.
    """
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put((item, None), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put((done, None))
        except BaseException as err:  # handed to the consumer
            queue.put((done, err))

    thread = threading.Thread(target=produce, name="genosparse-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = queue.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # drain so a producer blocked on a full queue sees the stop
            with contextlib.suppress(Empty):
                queue.get(timeout=0.1)
        thread.join()
