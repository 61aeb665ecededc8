"""Dense masked softmax attention: the reference every backend is tested against.

O(L^2) memory; used in tests and for short inputs only.
"""

from __future__ import annotations

import torch

from genosparse.attention.layouts import BlockLayout
from genosparse.attention.softmax import accumulation_dtype, softmax_attention


def dense_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: BlockLayout, scale: float,
                    key_valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention over ``layout`` computed with a dense ``(H, L, L)`` mask, in fp32 (fp64 for fp64 input).

    Args:
        q, k, v: ``(B, H, L, D)``, any float dtype; ``L == layout.seq_len``.
        key_valid: ``(B, L)`` bool, False for keys that must not be attended.
    Returns:
        ``out`` ``(B, H, L, D)`` in ``q.dtype`` and ``lse`` ``(B, H, L)`` fp32 (natural-log
        sum of exp of the scaled scores; ``-inf`` where a row attends nothing, whose
        output is zero).
    """
    acc = accumulation_dtype(q.dtype)
    mask = layout.to_token_mask()[None] & key_valid[:, None, None, :]
    scores = torch.einsum("bhqd,bhkd->bhqk", q.to(acc), k.to(acc)) * scale
    scores = scores.masked_fill(~mask, torch.finfo(acc).min)
    out, lse = softmax_attention(scores, mask.any(dim=-1, keepdim=True), v.to(acc))
    return out.to(q.dtype), lse


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                     scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention with a token mask, written plainly (the dense definitions of the dynamic patterns).

    Args:
        q: ``(B, H, Lq, D)``; k, v: ``(B, H, Lk, D)``; mask: ``(B, H, Lq, Lk)`` bool, True where attended.
    Returns:
        ``out`` ``(B, H, Lq, D)`` and ``lse`` ``(B, H, Lq)`` in the inputs' dtype; rows attending
        nothing give 0 and lse ``-inf``.
    """
    scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(scores, -1)
    attended = mask.any(-1)
    probs = torch.exp(scores - torch.where(attended, lse, 0.0)[..., None])
    return probs @ v, lse
