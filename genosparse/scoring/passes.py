"""Planned model passes: each distinct (window, strand, mask) computed once, in batches, on the device.

Variant scoring and ISM need many forward passes over windows that share most of their
bases: the masked REF window of a position serves its three ALTs; the unmasked REF window of
a position serves every ALT's embedding distance; an SNV's ALT window is its REF window with
one base changed. A :class:`PassPlan` collects what the scorers need as *readouts* of
*passes*, and :meth:`PassPlan.run` computes each distinct pass once:

- a *source* is a window of token ids ``(L,)`` fetched on the host (int8) and copied to the
  device once per plan; a pass is a source, point *edits* (an SNV's ALT base), the strand
  (the reverse complement of the edited window) and a *mask* (positions set to ``[MASK]``, or
  every ``num_passes``-th base as in :func:`~genosparse.scoring.scorers.mlm_log_likelihood`);
- readouts are the MLM log-probabilities of A, C, G, T at chosen positions
  (:meth:`PassPlan.log_probs`) or the mean of the last hidden states over a range of positions
  (:meth:`PassPlan.pooled`). Positions are given in forward coordinates and log-probabilities
  come back in forward bases, whichever strand the pass runs on.

Passes are grouped by strand into batches of ``batch_size`` (:meth:`PassPlan.batches`, built
ahead on the host, in the prefetch thread); the windows and every batch's index arrays go to the
device in one copy each and the windows are built there (gather, edits, reverse complement,
masks); the model computes the last hidden states only at the positions a readout reads and what
they depend on (:func:`~genosparse.models.partial.embed_at`), only those rows go through the MLM
head, and the results stay on the device until one copy to the host at the end: no host
synchronisation per batch. The arithmetic of every readout is that of running the model on the
whole window (``model(tokens)`` and ``model.embed(tokens)``), to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from genosparse.models.inference import COMPLEMENT_BASES
from genosparse.models.partial import embed_at
from genosparse.scoring.prepare import Inference
from genosparse.sequence.vocab import MASK, NUM_BASES, reverse_complement

_Mask = tuple  # () none; (positions...) forward coordinates; ("every", num_passes, p) strand coordinates


@dataclass
class _Pass:
    source: int
    edits: tuple[tuple[int, int], ...]
    reverse: bool
    mask: _Mask
    positions: dict[int, int] = field(default_factory=dict)  # forward position -> row of the log-prob output
    ranges: dict[tuple[int, int], int] = field(default_factory=dict)  # (lo, hi) -> row of the pooled output


@dataclass(frozen=True)
class PassResults:
    """Readouts of a run plan on the host.

    Attributes:
        log_probs: ``(n, 4)`` float32 natural-log probabilities over A, C, G, T (forward bases).
        pooled: ``(m, C)`` float32 mean hidden states.
    """

    log_probs: np.ndarray
    pooled: np.ndarray


class PassPlan:
    """Passes over windows of ``length`` bases and what is read from them (see the module docstring)."""

    def __init__(self, length: int):
        self.length = length
        self._sources: dict[object, int] = {}
        self._tokens: list[np.ndarray] = []
        self._passes: dict[tuple, _Pass] = {}
        self._num_log_probs = 0
        self._num_pooled = 0
        self._batches: tuple[int, list[_Batch]] | None = None

    def source(self, key: object, tokens) -> int:
        """Index of the window ``key``; ``tokens()`` gives its ``(length,)`` ids the first time it is named."""
        if key not in self._sources:
            window = np.asarray(tokens(), dtype=np.int8)
            if window.shape != (self.length,):
                raise ValueError(f"window {key!r} has shape {window.shape}, expected ({self.length},)")
            self._sources[key] = len(self._tokens)
            self._tokens.append(window)
        return self._sources[key]

    def _pass(self, source: int, edits, reverse: bool, mask: _Mask) -> _Pass:
        key = (source, tuple(edits), reverse, mask)
        if key not in self._passes:
            self._passes[key] = _Pass(source, tuple(edits), reverse, mask)
        return self._passes[key]

    def log_probs(self, source: int, positions, *, reverse: bool = False, edits=(), mask: _Mask = ()) -> list[int]:
        """Rows of :attr:`PassResults.log_probs` that will hold the MLM log-probabilities at ``positions``.

        Args:
            source: a window from :meth:`source`.
            positions: forward-strand window indices to read.
            reverse: run on the reverse complement of the (edited) window.
            edits: ``(position, token)`` changes to the source, forward coordinates.
            mask: ``()``, positions to ``[MASK]`` (forward coordinates, a tuple of ints), or
                ``("every", num_passes, p)``: mask the bases at strand coordinates ``i`` with
                ``i % num_passes == p``.
        """
        run = self._pass(source, edits, reverse, mask)
        rows = []
        for position in positions:
            if position not in run.positions:
                run.positions[position] = self._num_log_probs
                self._num_log_probs += 1
            rows.append(run.positions[position])
        return rows

    def pooled(self, source: int, lo: int, hi: int, *, reverse: bool = False, edits=()) -> int:
        """Row of :attr:`PassResults.pooled` that will hold the mean last hidden state over forward
        positions ``[lo, hi)`` of the unmasked (edited) window, on the given strand."""
        run = self._pass(source, edits, reverse, ())
        if (lo, hi) not in run.ranges:
            run.ranges[(lo, hi)] = self._num_pooled
            self._num_pooled += 1
        return run.ranges[(lo, hi)]

    @property
    def num_passes(self) -> int:
        """Distinct forward passes the plan will run."""
        return len(self._passes)

    def batches(self, batch_size: int) -> list[_Batch]:
        """The host side of :meth:`run`: passes grouped by strand into batches with their index arrays.

        Built once (call it ahead, e.g. in a prefetch thread, so the device does not wait for it).
        """
        if self._batches is None or self._batches[0] != batch_size:
            built = []
            for reverse in (False, True):  # one strand per batch
                runs = [r for r in self._passes.values() if r.reverse == reverse]
                built += [_Batch.of(runs[i:i + batch_size], reverse, self.length)
                          for i in range(0, len(runs), batch_size)]
            self._batches = (batch_size, built)
        return self._batches[1]

    def run(self, inference: Inference, batch_size: int) -> PassResults:
        """Compute every readout (see the module docstring); ``batch_size`` passes per forward.

        The windows and every batch's index arrays go to the device in one copy each, before the
        first forward; the readouts come back in one copy at the end.
        """
        device = inference.device
        batches = self.batches(batch_size)
        with inference.running():
            log_probs = torch.full((self._num_log_probs, NUM_BASES), float("nan"), device=device)
            pooled = torch.full((self._num_pooled, inference.model.config.d_model), float("nan"), device=device)
            if batches:
                sources = _to_device(np.stack(self._tokens), device)
                packed = _to_device(np.concatenate([a for b in batches for a in b.arrays.values()]), device)
                offset = 0
                for batch in batches:
                    views = {}
                    for name, array in batch.arrays.items():
                        views[name] = packed[offset:offset + len(array)]
                        offset += len(array)
                    _forward(inference, sources, batch, views, self.length, log_probs, pooled)
            return PassResults(log_probs.cpu().numpy(), pooled.cpu().numpy())


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    host = torch.from_numpy(array)
    return (host.pin_memory() if device.type == "cuda" else host).to(device, non_blocking=True)


@dataclass(frozen=True)
class _Batch:
    """One forward pass of up to ``batch_size`` passes of one strand, as host index arrays (int64)."""

    reverse: bool
    wanted: tuple[int, ...]  # strand positions whose last hidden states are read, sorted
    width: int  # longest pooled range
    arrays: dict[str, np.ndarray]

    @staticmethod
    def of(runs: list[_Pass], reverse: bool, length: int) -> "_Batch":
        def strand(position: int) -> int:
            return length - 1 - position if reverse else position

        edits = [(row, pos, tok) for row, r in enumerate(runs) for pos, tok in r.edits]
        point = [(row, strand(pos)) for row, r in enumerate(runs) if r.mask and r.mask[0] != "every"
                 for pos in r.mask]
        every = [(row, r.mask[1], r.mask[2]) for row, r in enumerate(runs) if r.mask and r.mask[0] == "every"]
        reads = [(row, strand(pos), out) for row, r in enumerate(runs) for pos, out in r.positions.items()]
        spans = [(row, *sorted((strand(lo), strand(hi - 1))), out) for row, r in enumerate(runs)
                 for (lo, hi), out in r.ranges.items()]
        wanted = sorted({c for _, c, _ in reads} | {c for _, lo, hi, _ in spans for c in range(lo, hi + 1)})
        column = {pos: k for k, pos in enumerate(wanted)}

        def columns(rows: list[tuple], n: int) -> list[np.ndarray]:
            table = np.array(rows, dtype=np.int64).reshape(-1, n)
            return [table[:, k] for k in range(n)]

        arrays = {"source": np.array([r.source for r in runs], np.int64)}
        for name, rows, n in (("edit", edits, 3), ("point", point, 2), ("every", every, 3),
                              ("read", [(row, column[c], out) for row, c, out in reads], 3),
                              ("span", [(row, column[lo], column[hi], out) for row, lo, hi, out in spans], 4)):
            arrays.update((f"{name}{k}", values) for k, values in enumerate(columns(rows, n)))
        arrays["wanted"] = np.array(wanted, np.int64)
        width = max((hi - lo for _, lo, hi, _ in spans), default=0) + 1
        return _Batch(reverse, tuple(wanted), width, arrays)


def _forward(inference: Inference, sources: torch.Tensor, batch: _Batch, a: dict[str, torch.Tensor], length: int,
             log_probs: torch.Tensor, pooled: torch.Tensor) -> None:
    """One forward pass of ``batch`` (index arrays ``a`` on the device), readouts written into
    ``log_probs`` and ``pooled`` (no host synchronisation)."""
    model, device = inference.model, inference.device
    tokens = sources[a["source"]].long()
    if len(a["edit0"]):
        tokens[a["edit0"], a["edit1"]] = a["edit2"]
    if batch.reverse:
        tokens = reverse_complement(tokens, check=False)
    if len(a["point0"]):
        tokens[a["point0"], a["point1"]] = MASK
    if len(a["every0"]):
        rows = a["every0"]
        selected = (torch.arange(length, device=device)[None, :] % a["every1"][:, None]) == a["every2"][:, None]
        part = tokens[rows]
        tokens[rows] = torch.where(selected & (part < NUM_BASES), MASK, part)
    hidden = embed_at(model, tokens, batch.wanted, a["wanted"])  # (B, P, C): only what the readouts need
    if len(a["read0"]):
        logp = torch.log_softmax(model.head(hidden[a["read0"], a["read1"]]).float(), dim=-1)
        log_probs[a["read2"]] = logp[:, list(COMPLEMENT_BASES)] if batch.reverse else logp
    if len(a["span0"]):
        cols = a["span1"][:, None] + torch.arange(batch.width, device=device)
        valid = (cols <= a["span2"][:, None]).unsqueeze(-1)
        picked = hidden[a["span0"][:, None], cols.clamp_max(len(batch.wanted) - 1)].float()
        pooled[a["span3"]] = (picked * valid).sum(1) / valid.sum(1).clamp_min(1)
