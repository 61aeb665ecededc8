"""Binary sequence classification (promoter vs non-promoter)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryF1Score, BinaryMatthewsCorrCoef

from genosparse.models.inference import classification_logits
from genosparse.tasks.base import GenomicTask


class PromoterTask(GenomicTask):
    """Binary classification with BCE; accuracy, F1, MCC and AUROC logged per epoch.

    Batches are dicts with ``tokens`` ``(B, L)`` int64 and ``label`` ``(B,)`` float32
    (see ``LabeledSequenceDataset``; reverse-complement augmentation lives there).

    Args:
        rc_average: average the logits of each sequence and its reverse complement in
            validation, test and prediction.
        init_from: a pretrained checkpoint (e.g. ``genosparse train experiment=pretrain``) whose
            backbone initialises this model's.
        (others: see :class:`GenomicTask`)
    """

    head = "classification"

    def __init__(self, model, optimizer=None, warmup_steps: int = 0, rc_average: bool = True,
                 init_from: str | None = None, lr_schedule: str = "constant") -> None:
        super().__init__(model, optimizer, warmup_steps, init_from, lr_schedule)
        self.rc_average = rc_average
        metrics = MetricCollection({"accuracy": BinaryAccuracy(), "f1": BinaryF1Score(),
                                    "mcc": BinaryMatthewsCorrCoef(), "auroc": BinaryAUROC()})
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits = self.model(batch["tokens"]).squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(logits.float(), batch["label"].float())
        self.log("train/loss", loss, prog_bar=True, batch_size=logits.shape[0])
        return loss

    def _evaluate(self, batch: dict, metrics: MetricCollection, stage: str) -> None:
        logits = classification_logits(self.model, batch["tokens"], self.rc_average).squeeze(-1).float()
        loss = F.binary_cross_entropy_with_logits(logits, batch["label"].float())
        metrics.update(torch.sigmoid(logits), batch["label"].long())
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=logits.shape[0])
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage == "val", batch_size=logits.shape[0])

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics, "test")

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return torch.sigmoid(classification_logits(self.model, batch["tokens"], self.rc_average).squeeze(-1))
