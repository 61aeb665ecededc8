"""Rotary position embedding (RoPE; Su et al. 2021, "RoFormer").

Scores depend only on the relative offset of query and key, so a model trained on short
windows applies unchanged to longer ones; a large ``base`` (as in long-context LLaMA
variants) keeps far-apart positions, seen through global and random blocks, distinct.
"""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    """Rotates pairs of channels of q and k by position-dependent angles.

    Args:
        head_dim: channels per head (even).
        base: wavelength base of the rotation frequencies.
    """

    def __init__(self, head_dim: int, base: float = 100_000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embedding needs an even head dimension, got {head_dim}")
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate ``x`` ``(B, H, L, D)`` by positions ``0..L-1``; same shape and dtype."""
        length = x.shape[-2]
        angles = torch.outer(torch.arange(length, device=x.device, dtype=torch.float32), self.inv_freq)
        cos, sin = angles.cos(), angles.sin()  # (L, D/2)
        x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
        rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
        return rotated.to(x.dtype)
