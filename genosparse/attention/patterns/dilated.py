"""Dilated sliding window, one dilation (in blocks) per head, plus global blocks (Longformer, Beltagy
et al. 2020; :func:`~genosparse.attention.layouts.dilated_window_layout`)."""

from __future__ import annotations

from typing import Any

import torch

from genosparse.attention.layouts import dilated_window_layout, num_blocks
from genosparse.attention.patterns.base import (NUM_GLOBAL_BLOCKS, NUM_WINDOW_BLOCKS, Option, Pattern,
                                                global_rows_and_columns, tokens_of_blocks)
from genosparse.errors import ConfigError


def _dilations(value: Any) -> list[int]:
    dilations = [value] if isinstance(value, int) else list(value)
    if not dilations or not all(isinstance(d, int) and d >= 1 for d in dilations):
        raise ConfigError(f"attention.dilations must be positive integers (blocks), got {value!r}")
    return dilations


DILATIONS = Option("dilations", [1, 2, 4, 8], "dilation in blocks per head, repeated over the heads if shorter",
                   _dilations)


def head_dilations(cfg, num_heads: int) -> list[int]:
    """The dilation of each head: ``cfg.dilations`` repeated over ``num_heads`` heads."""
    return (cfg.dilations * num_heads)[:num_heads]


def layout(cfg, seq_len: int, num_heads: int, layer: int, device):
    return dilated_window_layout(seq_len, num_heads, dilations=head_dilations(cfg, num_heads),
                                 num_window_blocks=cfg.num_window_blocks, num_global_blocks=cfg.num_global_blocks,
                                 block_size=cfg.block_size, device=device)


def dense(cfg, seq_len: int, num_heads: int, layer: int) -> torch.Tensor:
    """Head ``h`` attends blocks ``i + d_h * j``, ``|j| <= num_window_blocks // 2``, plus global rows and columns."""
    n = num_blocks(seq_len, cfg.block_size)
    d = torch.tensor(head_dilations(cfg, num_heads))[:, None, None]
    offset = torch.arange(n)[None, None, :] - torch.arange(n)[None, :, None]  # key block - query block
    window = (offset % d == 0) & (offset.abs() <= d * (cfg.num_window_blocks // 2))
    blocks = window | global_rows_and_columns(cfg.num_global_blocks, n)
    return tokens_of_blocks(blocks, cfg.block_size, seq_len)


PATTERN = Pattern(
    name="dilated",
    summary="dilated sliding window, one dilation (in blocks) per head, plus global blocks (Longformer)",
    options=(NUM_WINDOW_BLOCKS, NUM_GLOBAL_BLOCKS, DILATIONS),
    layout=layout,
    dense=dense,
    cases={"dilated": dict(dilations=[1, 2, 3], num_global_blocks=0),
           "dilated_global": dict(dilations=[2], num_global_blocks=2)},
    benchmarks={"dilated": dict(dilations=[1, 2, 4, 8], num_window_blocks=3, num_global_blocks=0)},
)
