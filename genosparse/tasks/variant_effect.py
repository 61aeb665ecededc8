"""Supervised variant effect: a head on REF/ALT window pairs sharing one backbone.

The backbone embeds the REF and the ALT window (``model.embed``, one pass over both); each is
mean-pooled over the focus (the variant and ``flank`` bases either side, given by the data as
a mask), and a two-layer MLP maps ``[e_ref, e_alt, e_alt - e_ref]`` to one output: a logit for
binary labels (BCE; AUROC and accuracy) or a value for continuous effect sizes (MSE; Pearson
and Spearman correlation). Evaluation averages the output over both strands unless
``rc_average=False``. This is the Siamese REF/ALT set-up of supervised variant-effect heads
on DNA language models (e.g. the GPN and Nucleotide Transformer fine-tuning baselines).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torchmetrics import MeanSquaredError, MetricCollection, PearsonCorrCoef, SpearmanCorrCoef
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC

from genosparse.errors import ConfigError
from genosparse.io import atomic_output, atomic_path
from genosparse.models.checkpoint import load_model, save_model
from genosparse.sequence.vocab import reverse_complement
from genosparse.tasks.base import GenomicTask

LABEL_TYPES = ("binary", "continuous")
HEAD_WEIGHTS = "effect_head.safetensors"
HEAD_CONFIG = "effect_head.json"


class VariantEffectTask(GenomicTask):
    """Train a variant-effect head (and fine-tune the backbone) on labelled REF/ALT window pairs.

    Batches are dicts with ``ref``, ``alt`` ``(B, L)`` int64, ``focus`` ``(B, L)`` bool and
    ``label`` ``(B,)`` float32 (see :class:`genosparse.datamodules.variants.VariantDataModule`).

    Args:
        label_type: ``binary`` (labels 0/1) or ``continuous``.
        head_hidden: width of the head's hidden layer (default ``d_model``).
        head_dropout: dropout inside the head.
        rc_average: average outputs over both strands in validation, test and prediction.
        init_from: optional MLM checkpoint folder whose backbone initialises this one (the
            architecture must match).
        (others: see :class:`GenomicTask`; the model keeps an MLM head, unused here, so a
        pretrained MLM checkpoint loads into it)
    Raises:
        ConfigError: unknown ``label_type``, or an ``init_from`` checkpoint that does not match.
    """

    head = "mlm"

    def __init__(self, model, optimizer=None, warmup_steps: int = 0, label_type: str = "binary",
                 head_hidden: int | None = None, head_dropout: float = 0.1, rc_average: bool = True,
                 init_from: str | None = None, lr_schedule: str = "constant") -> None:
        super().__init__(model, optimizer, warmup_steps, init_from, lr_schedule)
        if label_type not in LABEL_TYPES:
            raise ConfigError(f"unknown label_type {label_type!r}; choose one of {', '.join(LABEL_TYPES)}")
        self.label_type, self.rc_average = label_type, rc_average
        self.head_config = {"label_type": label_type, "head_hidden": head_hidden or self.model.config.d_model,
                            "head_dropout": head_dropout}
        width = self.model.config.d_model
        self.effect_head = nn.Sequential(nn.Linear(3 * width, self.head_config["head_hidden"]), nn.GELU(),
                                         nn.Dropout(head_dropout), nn.Linear(self.head_config["head_hidden"], 1))
        if label_type == "binary":
            metrics = MetricCollection({"auroc": BinaryAUROC(), "accuracy": BinaryAccuracy()})
        else:
            metrics = MetricCollection({"pearson": PearsonCorrCoef(), "spearman": SpearmanCorrCoef(),
                                        "mse": MeanSquaredError()})
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")

    def forward(self, ref: torch.Tensor, alt: torch.Tensor, focus: torch.Tensor) -> torch.Tensor:
        """Outputs ``(B,)`` (logits or values).

        Args:
            ref, alt: ``(B, L)`` int64 token windows.
            focus: ``(B, L)`` bool, the positions each window is mean-pooled over.
        """
        hidden = self.model.embed(torch.cat([ref, alt]))
        weights = torch.cat([focus, focus]).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        e_ref, e_alt = pooled.chunk(2)
        return self.effect_head(torch.cat([e_ref, e_alt, e_alt - e_ref], -1)).squeeze(-1)

    def predict_pairs(self, batch: dict) -> torch.Tensor:
        """Outputs ``(B,)`` of a batch, averaged with the reverse-complement strand when ``rc_average``."""
        out = self(batch["ref"], batch["alt"], batch["focus"])
        if self.rc_average:
            rc = self(reverse_complement(batch["ref"]), reverse_complement(batch["alt"]), batch["focus"].flip(-1))
            out = (out + rc) / 2
        return out

    def _loss(self, out: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if self.label_type == "continuous":
            return F.mse_loss(out.float(), label.float())
        if not bool(((label == 0) | (label == 1)).all()):
            raise ConfigError("task.label_type=binary needs labels 0 or 1; got "
                              f"{sorted(set(label.tolist()))[:5]}. Use task.label_type=continuous for effect sizes")
        return F.binary_cross_entropy_with_logits(out.float(), label.float())

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(self(batch["ref"], batch["alt"], batch["focus"]), batch["label"])
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["label"].shape[0])
        return loss

    def _evaluate(self, batch: dict, metrics: MetricCollection, stage: str) -> None:
        out = self.predict_pairs(batch).float()
        loss = self._loss(out, batch["label"])
        if self.label_type == "binary":
            metrics.update(torch.sigmoid(out), batch["label"].long())
        else:
            metrics.update(out, batch["label"].float())
        size = out.shape[0]
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size)
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage == "val", batch_size=size)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics, "test")

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """Probabilities (binary) or values (continuous), ``(B,)``."""
        out = self.predict_pairs(batch)
        return torch.sigmoid(out) if self.label_type == "binary" else out

    def export(self, path: str | os.PathLike) -> Path:
        """Write the model as a checkpoint folder plus ``effect_head.safetensors`` and ``effect_head.json``.

        :func:`genosparse.load_model` reads the folder's backbone (with its MLM head);
        :meth:`load_exported` restores the whole task.
        """
        folder = save_model(self.model, path)
        with atomic_path(folder / HEAD_WEIGHTS) as weights:
            save_file({k: v.detach().contiguous().cpu() for k, v in self.effect_head.state_dict().items()}, weights)
        with atomic_output(folder / HEAD_CONFIG) as config:
            config.write(json.dumps({**self.head_config, "rc_average": self.rc_average}, indent=2) + "\n")
        return folder

    @classmethod
    def load_exported(cls, path: str | os.PathLike) -> "VariantEffectTask":
        """Restore a task written by :meth:`export`, in eval mode on the CPU.

        Raises:
            ConfigError: a folder without the head files or with mismatching weights.
        """
        path = Path(path)
        model = load_model(path)
        try:
            head = json.loads((path / HEAD_CONFIG).read_text())
            state = load_file(path / HEAD_WEIGHTS)
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path} has no readable variant-effect head ({err}); export it with "
                              "`genosparse train task=variant_effect`") from err
        task = cls(model.config, **head)
        task.model.load_state_dict(model.state_dict())
        try:
            task.effect_head.load_state_dict(state)
        except RuntimeError as err:
            raise ConfigError(f"{path / HEAD_WEIGHTS} does not match {path / HEAD_CONFIG}: {err}") from err
        return task.eval()
