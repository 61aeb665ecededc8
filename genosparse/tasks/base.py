"""Shared LightningModule plumbing: model construction, optimizer, checkpoint export."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable

import lightning as L
import torch

from genosparse.errors import ConfigError
from genosparse.models.backbone import GenomicModel
from genosparse.models.checkpoint import load_model, save_model
from genosparse.models.config import ModelConfig

log = logging.getLogger(__name__)
OptimizerFactory = Callable[[Any], torch.optim.Optimizer]
BACKBONE_FIELDS = ("d_model", "num_layers", "num_heads", "mlp_ratio", "vocab_size")


class GenomicTask(L.LightningModule):
    """Base of the training tasks: holds a :class:`GenomicModel` as ``self.model``.

    Args:
        model: the model config (a dict is converted; Hydra passes one); its ``head`` is set
            to the task's.
        optimizer: ``params -> Optimizer`` (a Hydra ``_partial_`` works); default AdamW, lr 1e-3.
        warmup_steps: linear learning-rate warm-up steps.
        lr_schedule: after the warm-up, ``constant`` or ``cosine`` (decay to 0 at the trainer's last
            step, ``trainer.max_steps`` or epochs x batches; Loshchilov & Hutter, SGDR, 2017). The
            schedule is a function of the global step, so a run resumed with ``ckpt_path`` continues it.
        init_from: optional checkpoint folder or shipped name (e.g. ``chr20-mlm``) whose backbone
            initialises this model's (and whose head too when it is of this task's kind, as when
            an MLM continues with another attention pattern); ``d_model``, ``num_layers``, ``num_heads`` and ``mlp_ratio``
            must match; the head, context length and attention settings need not. Layers whose
            pattern has weights of its own (``learned``'s router and gate) that the checkpoint
            lacks start from their initial values; weights the checkpoint has that this model
            lacks are an error.
    Raises:
        ConfigError: an ``init_from`` checkpoint whose backbone does not match, an unknown
            ``lr_schedule``, or ``cosine`` on a run without ``max_steps`` or ``max_epochs``.
    """

    head: str = ""
    lr_schedules = ("constant", "cosine")

    def __init__(self, model: ModelConfig | dict, optimizer: OptimizerFactory | None = None,
                 warmup_steps: int = 0, init_from: str | os.PathLike | None = None,
                 lr_schedule: str = "constant") -> None:
        super().__init__()
        if lr_schedule not in self.lr_schedules:
            raise ConfigError(f"unknown lr_schedule {lr_schedule!r}; choose one of {', '.join(self.lr_schedules)}")
        config = (dataclasses.replace(model, head=self.head) if isinstance(model, ModelConfig)
                  else ModelConfig(**dict(model, head=self.head)))
        self.save_hyperparameters({"model": config.to_dict(), "warmup_steps": warmup_steps})
        self.model = GenomicModel(config)
        self.optimizer_factory = optimizer or functools.partial(torch.optim.AdamW, lr=1e-3, weight_decay=0.01)
        self.warmup_steps = warmup_steps
        self.lr_schedule = lr_schedule
        if init_from:
            self._init_backbone(init_from)

    def _init_backbone(self, path: str | os.PathLike) -> None:
        pretrained = load_model(path)
        try:
            result = self.model.backbone.load_state_dict(pretrained.backbone.state_dict(), strict=False)
            fresh = [key for key in result.missing_keys if ".attn.core." in key]
            if result.unexpected_keys or len(fresh) != len(result.missing_keys):
                raise RuntimeError(f"missing {result.missing_keys}, unexpected {result.unexpected_keys}")
        except RuntimeError as err:
            theirs, ours = pretrained.config, self.model.config
            fixes = [f"model.{name}={getattr(theirs, name)}" for name in BACKBONE_FIELDS
                     if getattr(theirs, name) != getattr(ours, name)]
            if theirs.attention.patterns != ours.attention.patterns:
                fixes.append(f"attention={theirs.attention.pattern}")
            raise ConfigError(f"init_from={path}: its backbone does not match this model's; set "
                              f"{' '.join(fixes) or 'the model options of its config.json'}") from err
        if pretrained.config.head == self.model.config.head and \
                self.model.head.weight.shape == pretrained.head.weight.shape:
            self.model.head.load_state_dict(pretrained.head.state_dict())
        if fresh:
            log.info("init_from=%s: %d attention-pattern weights start fresh (%s)", path, len(fresh),
                     ", ".join(sorted({key.rsplit(".", 1)[-1] for key in fresh})))

    def lr_factor(self, step: int, total_steps: int) -> float:
        """Learning-rate multiplier at optimizer step ``step`` (0-based) of ``total_steps``."""
        warmup = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        if self.lr_schedule == "constant":
            return warmup
        progress = min(1.0, step / max(1, total_steps))
        return warmup * 0.5 * (1.0 + math.cos(math.pi * progress))

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.warmup_steps <= 0 and self.lr_schedule == "constant":
            return optimizer
        total = self.trainer.estimated_stepping_batches if self.lr_schedule == "cosine" else 0
        if not math.isfinite(total):
            raise ConfigError("lr_schedule=cosine needs a finite run: set trainer.max_steps or trainer.max_epochs")
        # the trainer's global step, not the scheduler's count: a run resumed from a checkpoint saved
        # without this scheduler (or with another) still continues the schedule where the run is
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda _: self.lr_factor(self.trainer.global_step, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_train_epoch_start(self) -> None:
        """Select this epoch's augmentation draws (datasets with ``set_epoch``)."""
        dataset = getattr(self.trainer.train_dataloader, "dataset", None)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.current_epoch)

    def export(self, path: str | os.PathLike) -> Path:
        """Write the model as a checkpoint folder (``model.safetensors`` + ``config.json``)."""
        return save_model(self.model, path)
