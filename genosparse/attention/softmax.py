"""Softmax attention over pre-masked scores, with defined results for rows that attend nothing."""

from __future__ import annotations

import torch


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """Dtype the softmax runs in: fp32, or fp64 for fp64 inputs."""
    return torch.promote_types(dtype, torch.float32)


def mask_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive bias: 0 where ``mask`` is True, the most negative finite ``dtype`` value elsewhere."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, torch.finfo(dtype).min)


def softmax_attention(scores: torch.Tensor, attended: torch.Tensor, v: torch.Tensor,
                      need_lse: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``softmax(scores) @ v`` for scores whose masked entries hold the most negative finite value.

    A row with at least one attended key is exact (masked keys get weight 0 after the fused
    softmax); a fully masked row gets finite weights that are then zeroed, so its output is
    0 and every gradient stays finite (never NaN).

    Args:
        scores: ``(..., Q, K)`` scaled, masked scores in fp32 (fp64 for fp64 input).
        attended: ``(..., Q, 1)`` bool, True where the row attends at least one key.
        v: ``(..., K, D)``.
        need_lse: also compute the log-sum-exp (one more pass over the scores).
    Returns:
        ``out`` ``(..., Q, D)`` in ``v.dtype`` and ``lse`` ``(..., Q)`` in the scores' dtype
        (``-inf`` on fully masked rows), or None when not ``need_lse``.
    """
    out = torch.matmul(torch.softmax(scores, dim=-1).to(v.dtype), v) * attended
    lse = None
    if need_lse:
        lse = torch.logsumexp(scores, dim=-1).masked_fill(~attended.squeeze(-1), float("-inf"))
    return out, lse
