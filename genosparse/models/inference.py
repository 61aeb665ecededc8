"""Prediction helpers shared by the tasks and scoring: reverse-complement averaging."""

from __future__ import annotations

import torch

from genosparse.models.backbone import GenomicModel
from genosparse.sequence.vocab import PAD, reverse_complement


def reverse_complement_padded(tokens: torch.Tensor) -> torch.Tensor:
    """Reverse complement of right-padded token rows ``(B, L)`` int64, ``[PAD]`` kept on the right.

    The model pools over non-pad tokens and uses relative positions, so with padding kept at
    the end the RC of a padded batch equals the RC of each sequence on its own.
    """
    length = tokens.shape[-1]
    shift = length - (tokens != PAD).sum(-1)
    idx = (torch.arange(length, device=tokens.device)[None, :] + shift[:, None]) % length
    return torch.gather(reverse_complement(tokens), 1, idx)


def classification_logits(model: GenomicModel, tokens: torch.Tensor, rc_average: bool) -> torch.Tensor:
    """Logits ``(B, num_outputs)`` of a classification model for tokens ``(B, L)``.

    With ``rc_average`` the mean of the logits of each sequence and of its reverse
    complement (the strand-symmetric prediction used by e.g. DeepSEA and Enformer).
    """
    logits = model(tokens)
    if rc_average:
        logits = (logits + model(reverse_complement_padded(tokens))) / 2
    return logits
