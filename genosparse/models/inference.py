"""Prediction helpers shared by the tasks and scoring: the one strand-averaging helper.

:func:`strand_average` is how every scorer averages over both strands (the strand-symmetric
prediction of e.g. DeepSEA and Enformer): a value computed on a window and the same value
computed on its reverse complement, mapped back to the forward strand, averaged. What
"mapped back" means depends on the value, so callers pass it:

- per-sequence values (a score, logits): nothing to map;
- per-position values ``(B, L, ...)``: :func:`flip_positions` (position ``i`` of the reverse
  complement is position ``L - 1 - i`` of the window);
- per-position base probabilities ``(B, L, 4)``: :func:`flip_positions_and_bases` (and A<->T, C<->G);
- values read at chosen positions: the caller's function receives, for each strand, the
  position masks in that strand's coordinates (:func:`strand_average`'s ``masks``).
"""

from __future__ import annotations

from typing import Callable

import torch

from genosparse.models.backbone import GenomicModel
from genosparse.sequence.vocab import PAD, reverse_complement

COMPLEMENT_BASES = (3, 2, 1, 0)
"""Index of the complement of A, C, G, T (the four MLM classes): T, G, C, A."""


def reverse_complement_padded(tokens: torch.Tensor) -> torch.Tensor:
    """Reverse complement of right-padded token rows ``(B, L)`` int64, ``[PAD]`` kept on the right.

    The model pools over non-pad tokens and uses relative positions, so with padding kept at
    the end the RC of a padded batch equals the RC of each sequence on its own. Rows without
    padding are plainly reverse-complemented.
    """
    length = tokens.shape[-1]
    shift = length - (tokens != PAD).sum(-1)
    idx = (torch.arange(length, device=tokens.device)[None, :] + shift[:, None]) % length
    return torch.gather(reverse_complement(tokens), 1, idx)


def flip_positions(values: torch.Tensor) -> torch.Tensor:
    """Per-position values ``(B, L, ...)`` of a reverse-complemented window in forward order."""
    return values.flip(1)


def flip_positions_and_bases(values: torch.Tensor) -> torch.Tensor:
    """Per-position values over A, C, G, T ``(B, L, 4)`` of a reverse complement in forward order and bases."""
    return values.flip(1)[..., list(COMPLEMENT_BASES)]


def strand_average(fn: Callable[..., torch.Tensor], tokens: torch.Tensor, rc_average: bool = True, *,
                   masks: tuple[torch.Tensor, ...] = (),
                   back: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """``fn`` of the forward strand, averaged with ``back(fn(...))`` of the reverse complement.

    Args:
        fn: called as ``fn(tokens, *masks)`` on each strand.
        tokens: ``(B, L)`` int64 token rows, right-padded with ``[PAD]`` if at all.
        rc_average: False: just ``fn(tokens, *masks)``.
        masks: ``(B, L)`` position masks (any dtype) given in forward coordinates; the reverse
            strand's call gets them flipped, so they name the same bases.
        back: maps the reverse strand's result to the forward strand (default: as it is).
    Returns:
        ``(fn(forward) + back(fn(reverse))) / 2`` (float, as ``fn`` returns it).
    """
    value = fn(tokens, *masks)
    if not rc_average:
        return value
    reverse = fn(reverse_complement_padded(tokens), *(m.flip(1) for m in masks))
    return (value + (back(reverse) if back else reverse)) / 2


def classification_logits(model: GenomicModel, tokens: torch.Tensor, rc_average: bool) -> torch.Tensor:
    """Logits ``(B, num_outputs)`` of a classification model for tokens ``(B, L)``, averaged over
    both strands with ``rc_average``."""
    return strand_average(model, tokens, rc_average)
