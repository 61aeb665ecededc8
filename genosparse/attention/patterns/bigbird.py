"""BigBird ITC (Zaheer et al. 2020, "Big Bird: Transformers for Longer Sequences"): window, global
and random blocks (:func:`~genosparse.attention.layouts.bigbird_layout`)."""

from __future__ import annotations

import torch

from genosparse.attention.layouts import bigbird_layout, num_blocks
from genosparse.attention.patterns.base import (NUM_GLOBAL_BLOCKS, NUM_WINDOW_BLOCKS, Option, Pattern,
                                                global_rows_and_columns, integer, tokens_of_blocks)

NUM_RANDOM_BLOCKS = Option("num_random_blocks", 3, "random key blocks per query block, drawn per head from a "
                           "generator seeded by seed + layer", integer("num_random_blocks", 0))


def layout(cfg, seq_len: int, num_heads: int, layer: int, device):
    return bigbird_layout(seq_len, num_heads, block_size=cfg.block_size, num_window_blocks=cfg.num_window_blocks,
                          num_global_blocks=cfg.num_global_blocks, num_random_blocks=cfg.num_random_blocks,
                          seed=cfg.seed + layer, device=device)


def dense(cfg, seq_len: int, num_heads: int, layer: int) -> torch.Tensor:
    """Window and global blocks (the random blocks are drawn by the layout: ``random_blocks``)."""
    n = num_blocks(seq_len, cfg.block_size)
    half = cfg.num_window_blocks // 2
    offset = torch.arange(n)[None, :] - torch.arange(n)[:, None]
    blocks = (offset.abs() <= half) | global_rows_and_columns(cfg.num_global_blocks, n)
    return tokens_of_blocks(blocks.expand(num_heads, n, n), cfg.block_size, seq_len)


PATTERN = Pattern(
    name="bigbird",
    summary="BigBird ITC: window + global + random blocks (Zaheer et al. 2020)",
    options=(NUM_WINDOW_BLOCKS, NUM_GLOBAL_BLOCKS, NUM_RANDOM_BLOCKS),
    layout=layout,
    dense=dense,
    random_blocks="num_random_blocks",
    cases={"bigbird": dict(seed=3), "bigbird_no_global": dict(num_global_blocks=0, seed=4)},
    benchmarks={"bigbird": dict(num_window_blocks=3, num_global_blocks=2, num_random_blocks=3, seed=0)},
)
