"""Lightning callbacks for the faults of long training runs: a non-finite loss and SIGTERM.

Both write the run's state as ``<dirpath>/last.ckpt`` (weights, optimizer, step; written to a
temporary file and renamed, so a kill leaves the previous one whole), which
``genosparse train ckpt_path=last`` resumes:

- :class:`StopOnNonFiniteLoss` checks every training loss before its backward pass. A NaN or
  infinite loss stops the run with a :class:`~genosparse.errors.TrainingError` naming the step,
  before that step updates anything, so the saved state is the last good one.
- :class:`CheckpointOnSigterm` saves when Lightning stops on SIGTERM (``kill``, ``timeout``, a
  cluster's pre-emption), which it does at the next step boundary.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from genosparse.errors import TrainingError
from genosparse.io import atomic_path

log = logging.getLogger(__name__)

LAST = "last.ckpt"


def save_last(trainer: L.Trainer, dirpath: str | os.PathLike) -> Path | None:
    """Write the trainer's state to ``dirpath/last.ckpt`` atomically; None when there is nothing to
    keep (no step done yet, or ``fast_dev_run``)."""
    if trainer.global_step == 0 or trainer.fast_dev_run:
        return None
    path = Path(dirpath) / LAST
    with atomic_path(path, commit=trainer.is_global_zero) as tmp:  # Lightning writes on rank 0 only
        trainer.save_checkpoint(tmp)
    return path


class StopOnNonFiniteLoss(L.Callback):
    """Stop on a NaN or infinite training loss, keeping the last good state in ``dirpath/last.ckpt``."""

    def __init__(self, dirpath: str | os.PathLike):
        self.dirpath = dirpath

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        """Raise :class:`TrainingError` when ``loss`` is not finite (before its gradients exist)."""
        if torch.isfinite(loss).all():
            return
        step = trainer.global_step
        saved = save_last(trainer, self.dirpath)
        kept = (f"the state after the last good step is saved in {saved}; after fixing the cause resume with "
                "ckpt_path=last" if saved else "no step had finished, so there is no checkpoint to keep")
        raise TrainingError(
            f"the training loss is {loss.detach().float().cpu().item()} at step {step} (epoch "
            f"{trainer.current_epoch}); training stopped before that step changed the weights, and {kept}. "
            "Lower the learning rate (task.optimizer.lr), train in 32-bit (trainer.precision=32-true) or check "
            "the data")


class CheckpointOnSigterm(L.Callback):
    """On SIGTERM, save the state Lightning stopped at (a step boundary) to ``dirpath/last.ckpt``."""

    def __init__(self, dirpath: str | os.PathLike):
        self.dirpath = dirpath

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        """Save when ``exception`` is Lightning's SIGTERM stop."""
        if isinstance(exception, SIGTERMException):
            saved = save_last(trainer, self.dirpath)
            log.warning("SIGTERM at step %d: %s", trainer.global_step,
                        f"saved {saved}" if saved else "no step had finished, nothing saved")
