"""Prediction over many devices through Lightning (DDP), merged back into genome order.

The windows are grouped into equal-length batches (:func:`~genosparse.scoring.fasta.equal_length_batches`);
rank ``r`` of ``W`` predicts batches ``r, r + W, ...``, and writes its window indices and values to
a temporary folder; the calling process then returns every window's values in input order. With
one device the same code runs in-process (Lightning's single-device strategy); with several it
uses ``ddp_spawn``, so the calling script is not re-executed per rank (as ``ddp`` would) and only
the calling process writes outputs.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from genosparse.genome import Genome
from genosparse.genome.regions import Interval
from genosparse.models.backbone import GenomicModel
from genosparse.scoring.fasta import equal_length_batches

log = logging.getLogger(__name__)


class _Batches(Dataset):
    """Item ``k``: ``(indices (B,) int64, tokens (B, L) int64)`` of this rank's ``k``-th batch of windows."""

    def __init__(self, genome: Genome, windows: list[Interval], batches: list[list[int]]):
        self.genome, self.windows, self.batches = genome, windows, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        ivs = [self.windows[i] for i in self.batches[k]]
        tokens = np.stack([self.genome.fetch_tokens(iv.contig, iv.start, iv.end) for iv in ivs]).astype(np.int64)
        return torch.tensor(self.batches[k]), torch.from_numpy(tokens)


class _Predictor(L.LightningModule):
    """Runs :func:`~genosparse.scoring.tracks.window_log_likelihood` on this rank's batches; saves them on the way."""

    def __init__(self, model: GenomicModel, genome: Genome, windows: list[Interval], batch_size: int,
                 rc_average: bool, out_dir: Path):
        super().__init__()
        self.model, self.genome, self.windows = model, genome, windows
        self.batch_size, self.rc_average, self.out_dir = batch_size, rc_average, out_dir
        self.indices: list[np.ndarray] = []
        self.values: list[np.ndarray] = []

    def predict_dataloader(self) -> DataLoader:
        index = {iv: i for i, iv in enumerate(self.windows)}
        batches = [[index[iv] for iv in chunk] for chunk in equal_length_batches(self.windows, self.batch_size)]
        mine = batches[self.global_rank::self.trainer.world_size]
        return DataLoader(_Batches(self.genome, self.windows, mine), batch_size=None, shuffle=False)

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        from genosparse.scoring.tracks import window_log_likelihood

        indices, tokens = batch
        ll = window_log_likelihood(self.model, tokens.cpu().numpy(), self.rc_average, self.device)
        self.indices.append(indices.cpu().numpy())
        width = max((len(w) for w in self.windows), default=0)
        self.values.append(np.pad(ll, ((0, 0), (0, width - ll.shape[1])), constant_values=np.nan))
        return indices  # kept on disk by on_predict_end; returned only so Lightning does not warn

    def on_predict_end(self) -> None:
        width = max((len(w) for w in self.windows), default=0)
        np.savez(self.out_dir / f"rank{self.global_rank}.npz",
                 indices=np.concatenate(self.indices) if self.indices else np.zeros(0, np.int64),
                 values=np.concatenate(self.values) if self.values else np.zeros((0, width), np.float32))


def predict_windows(model: GenomicModel, genome: Genome, windows: list[Interval], *, batch_size: int = 8,
                    rc_average: bool = True, devices: int = 1, accelerator: str = "auto",
                    progress: bool = True) -> Iterator[np.ndarray]:
    """Per-base masked log-likelihood of each window, predicted on ``devices`` devices, in input order.

    ``model`` is moved to the CPU first (Lightning then moves each rank's copy to its device).

    Args:
        windows: 0-based half-open intervals of ``genome`` (bases).
        devices: number of devices (GPUs, or CPU processes with ``accelerator="cpu"``); more than one
            runs DDP (``ddp_spawn``, NCCL on GPUs, gloo on CPUs).
        accelerator: Lightning accelerator: ``"gpu"``, ``"cpu"`` or ``"auto"``.
    Yields:
        ``(len(window),)`` float32 per window (NaN at ``N``), in the order of ``windows``. All windows
        are predicted before the first is yielded (held in memory: 4 bytes per base of ``windows``).
    """
    with tempfile.TemporaryDirectory(prefix="genosparse-predict-") as tmp:
        out_dir = Path(tmp)
        trainer = L.Trainer(accelerator=accelerator, devices=devices, precision="bf16-mixed" if accelerator == "gpu"
                            else "32-true",  # as scoring.prepare: bf16 autocast on CUDA
                            strategy="ddp_spawn" if devices > 1 else "auto", logger=False,
                            enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=progress,
                            use_distributed_sampler=False, inference_mode=True)
        log.info("predicting %d windows on %d %s device(s)", len(windows), devices, accelerator)
        # from the CPU, so that spawned ranks each move their copy to their own device
        trainer.predict(_Predictor(model.eval().cpu(), genome, windows, batch_size, rc_average, out_dir),
                        return_predictions=False)
        values: list[np.ndarray | None] = [None] * len(windows)
        for part in sorted(out_dir.glob("rank*.npz")):
            with np.load(part) as data:
                for i, row in zip(data["indices"].tolist(), data["values"]):
                    values[i] = row[:len(windows[i])]
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(windows)} windows came back from no rank "
                           f"(first: {windows[missing[0]]})")
    yield from values
