"""Masked-language-model pretraining on genome windows (BERT-style, Devlin et al. 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genosparse.sequence.vocab import MASK, NUM_BASES
from genosparse.tasks.base import GenomicTask


def mask_tokens(tokens: torch.Tensor, mask_prob: float, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of base tokens.

    ``mask_prob`` of the A/C/G/T positions are selected; of those 80% become ``[MASK]``, 10%
    a random base and 10% stay. N and special tokens are never selected.

    Args:
        tokens: ``(B, L)`` int64 token ids.
    Returns:
        ``inputs`` ``(B, L)`` int64 and ``targets`` ``(B, L)`` int64 holding the original
        base at selected positions and -100 (ignored by the loss) elsewhere.
    """
    u = torch.rand(tokens.shape, generator=generator, device=tokens.device)
    selected = (u < mask_prob) & (tokens < NUM_BASES)
    targets = torch.where(selected, tokens, -100)
    action = torch.rand(tokens.shape, generator=generator, device=tokens.device)
    random_bases = torch.randint(0, NUM_BASES, tokens.shape, generator=generator, device=tokens.device)
    inputs = torch.where(selected & (action < 0.8), MASK, tokens)
    inputs = torch.where(selected & (action >= 0.8) & (action < 0.9), random_bases, inputs)
    return inputs, targets


class MLMTask(GenomicTask):
    """Masked-LM pretraining: loss and accuracy on the masked positions.

    Batches are dicts with ``tokens`` ``(B, L)`` int64 (see ``GenomeWindowDataset``).

    Args:
        mask_prob: fraction of bases selected for prediction (0.15 as in BERT).
        (others: see :class:`GenomicTask`)
    """

    head = "mlm"

    def __init__(self, model, optimizer=None, warmup_steps: int = 0, mask_prob: float = 0.15,
                 init_from: str | None = None, lr_schedule: str = "constant") -> None:
        super().__init__(model, optimizer, warmup_steps, init_from, lr_schedule)
        self.mask_prob = mask_prob

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        inputs, targets = mask_tokens(batch["tokens"], self.mask_prob)
        logits = self.model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)
        selected = targets != -100
        accuracy = (logits.argmax(-1)[selected] == targets[selected]).float().mean()
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=inputs.shape[0])
        self.log(f"{stage}/accuracy", accuracy, prog_bar=stage == "val", batch_size=inputs.shape[0])
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")
