"""Sliding window of +-``window`` tokens (Beltagy et al. 2020, Longformer): the blocks covering the
band, masked to the exact band (:func:`~genosparse.attention.layouts.sliding_window_layout`)."""

from __future__ import annotations

import torch

from genosparse.attention.layouts import sliding_window_layout
from genosparse.attention.patterns.base import Option, Pattern, integer

WINDOW = Option("window", 256, "one-sided window in tokens: token i attends j with |i - j| <= window",
                integer("window", 0))


def layout(cfg, seq_len: int, num_heads: int, layer: int, device):
    return sliding_window_layout(seq_len, num_heads, window=cfg.window, block_size=cfg.block_size, device=device)


def dense(cfg, seq_len: int, num_heads: int, layer: int) -> torch.Tensor:
    pos = torch.arange(seq_len)
    return ((pos[:, None] - pos[None, :]).abs() <= cfg.window).expand(num_heads, -1, -1)


def mask_mod(cfg, layout):
    """``|q - kv| <= window``: FlexAttention's own construction of the window (issue-14 table)."""
    window = cfg.window
    return lambda b, h, q_idx, kv_idx: (q_idx - kv_idx).abs() <= window


PATTERN = Pattern(
    name="window",
    summary="sliding window of +-window tokens (Longformer, Beltagy et al. 2020)",
    options=(WINDOW,),
    layout=layout,
    dense=dense,
    mask_mod=mask_mod,
    cases={"window": dict(window=21)},
    benchmarks={"window": dict(window=256)},
)
