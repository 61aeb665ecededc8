"""Sparse Transformer fixed and strided patterns on blocks (Child et al. 2019, "Generating Long
Sequences with Sparse Transformers"; :func:`~genosparse.attention.layouts.fixed_layout`)."""

from __future__ import annotations

from typing import Any

import torch

from genosparse.attention.layouts import FIXED_VARIANTS, fixed_layout, num_blocks
from genosparse.attention.patterns.base import Option, Pattern, boolean, integer, tokens_of_blocks
from genosparse.errors import ConfigError


def _variant(value: Any) -> str:
    if value not in FIXED_VARIANTS:
        raise ConfigError(f"attention.variant must be one of {', '.join(FIXED_VARIANTS)}, got {value!r}")
    return value


STRIDE = Option("stride", 16, "blocks per local group (fixed) or between summary columns (strided)",
                integer("stride", 1))
NUM_SUMMARY_BLOCKS = Option("num_summary_blocks", 1, "summary blocks at the end of each group (variant fixed)",
                            integer("num_summary_blocks", 1))
VARIANT = Option("variant", "fixed", "fixed: groups of stride blocks + their last num_summary_blocks; strided: "
                 "|i - j| < stride + every stride-th block", _variant)
CAUSAL = Option("causal", False, "mask keys after the query", boolean("causal"), exclusive=True)


def check(cfg) -> None:
    if cfg.variant == "fixed" and cfg.num_summary_blocks > cfg.stride:
        raise ConfigError(f"attention.num_summary_blocks ({cfg.num_summary_blocks}) must not exceed "
                          f"attention.stride ({cfg.stride} blocks)")


def layout(cfg, seq_len: int, num_heads: int, layer: int, device):
    return fixed_layout(seq_len, num_heads, stride=cfg.stride, num_summary_blocks=cfg.num_summary_blocks,
                        variant=cfg.variant, causal=cfg.causal, block_size=cfg.block_size, device=device)


def dense(cfg, seq_len: int, num_heads: int, layer: int) -> torch.Tensor:
    """Block ``(i, j)`` written out pair by pair; causal: keys after the query masked token by token."""
    n, stride = num_blocks(seq_len, cfg.block_size), cfg.stride
    blocks = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        for j in range(n):
            if cfg.variant == "fixed":
                blocks[i, j] = j // stride == i // stride or j % stride >= stride - cfg.num_summary_blocks
            else:
                blocks[i, j] = abs(i - j) < stride or (i - j) % stride == 0
    tokens = tokens_of_blocks(blocks.expand(num_heads, n, n), cfg.block_size, seq_len)
    pos = torch.arange(seq_len)
    return tokens & (pos[None, :] <= pos[:, None]) if cfg.causal else tokens


PATTERN = Pattern(
    name="fixed",
    summary="Sparse Transformer fixed/strided pattern (Child et al. 2019): local blocks + summary columns",
    options=(STRIDE, NUM_SUMMARY_BLOCKS, VARIANT, CAUSAL),
    check=check,
    layout=layout,
    dense=dense,
    cases={"fixed": dict(stride=3, num_summary_blocks=2),
           "fixed_causal": dict(stride=3, num_summary_blocks=1, causal=True),
           "strided": dict(stride=2, variant="strided")},
    benchmarks={"fixed": dict(stride=16), "strided": dict(stride=32, variant="strided"),
                "fixed causal": dict(stride=16, causal=True)},
)
