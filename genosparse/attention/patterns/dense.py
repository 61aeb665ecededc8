"""Full attention as a layout (every query block attends every key block)."""

from __future__ import annotations

import torch

from genosparse.attention.layouts import dense_layout
from genosparse.attention.patterns.base import Pattern


def layout(cfg, seq_len: int, num_heads: int, layer: int, device):
    return dense_layout(seq_len, num_heads, block_size=cfg.block_size, device=device)


def dense(cfg, seq_len: int, num_heads: int, layer: int) -> torch.Tensor:
    return torch.ones(num_heads, seq_len, seq_len, dtype=torch.bool)


PATTERN = Pattern(
    name="dense",
    summary="full attention (O(L^2)); for short inputs and comparisons",
    layout=layout,
    dense=dense,
    cases={"dense": {}},
)
