"""Attention patterns by name: the configuration a model stores and the layout it builds.

``AttentionConfig`` is what Hydra's ``attention/`` group and checkpoints hold; the
``PATTERNS`` registry maps its ``pattern`` name to a layout builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from genosparse.attention.functional import BACKENDS
from genosparse.attention.layouts import (BlockLayout, bigbird_layout, dense_layout, dilated_window_layout,
                                          sliding_window_layout)
from genosparse.errors import ConfigError


@dataclass
class AttentionConfig:
    """Sparse-attention settings of every layer of a model.

    Attributes:
        pattern: ``"bigbird"``, ``"window"``, ``"dilated"`` or ``"dense"``.
        backend: ``"auto"``, ``"torch"``, ``"triton"`` or ``"dense"`` (see ``sparse_attention``).
        block_size: tokens per block.
        num_window_blocks: window blocks per query block (odd; bigbird, dilated).
        num_global_blocks: global blocks, full rows and columns (bigbird, dilated).
        num_random_blocks: random key blocks per query block (bigbird).
        window: one-sided window in tokens (window).
        dilations: dilation in blocks per head, repeated over heads if shorter (dilated).
        seed: base seed of the random blocks; layer ``i`` uses ``seed + i``.
    """

    pattern: str = "bigbird"
    backend: str = "auto"
    block_size: int = 64
    num_window_blocks: int = 3
    num_global_blocks: int = 2
    num_random_blocks: int = 3
    window: int = 256
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ConfigError(f"unknown attention pattern {self.pattern!r}; choose one of {', '.join(PATTERNS)}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown attention backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        counts = {"block_size": 1, "num_window_blocks": 1, "num_global_blocks": 0, "num_random_blocks": 0,
                  "window": 0, "seed": 0}
        for name, minimum in counts.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ConfigError(f"attention.{name} must be an integer >= {minimum}, got {value!r}")
        if self.num_window_blocks % 2 == 0:
            raise ConfigError(f"attention.num_window_blocks must be odd (the block plus equal neighbours on each "
                              f"side), got {self.num_window_blocks}")
        dilations = [self.dilations] if isinstance(self.dilations, int) else list(self.dilations)
        if not dilations or not all(isinstance(d, int) and d >= 1 for d in dilations):
            raise ConfigError(f"attention.dilations must be positive integers (blocks), got {self.dilations!r}")
        self.dilations = dilations


def _bigbird(cfg: AttentionConfig, seq_len: int, num_heads: int, layer: int, device) -> BlockLayout:
    return bigbird_layout(seq_len, num_heads, block_size=cfg.block_size, num_window_blocks=cfg.num_window_blocks,
                          num_global_blocks=cfg.num_global_blocks, num_random_blocks=cfg.num_random_blocks,
                          seed=cfg.seed + layer, device=device)


def _window(cfg: AttentionConfig, seq_len: int, num_heads: int, layer: int, device) -> BlockLayout:
    return sliding_window_layout(seq_len, num_heads, window=cfg.window, block_size=cfg.block_size, device=device)


def _dilated(cfg: AttentionConfig, seq_len: int, num_heads: int, layer: int, device) -> BlockLayout:
    dilations = (cfg.dilations * num_heads)[:num_heads]
    return dilated_window_layout(seq_len, num_heads, dilations=dilations, num_window_blocks=cfg.num_window_blocks,
                                 num_global_blocks=cfg.num_global_blocks, block_size=cfg.block_size, device=device)


def _dense(cfg: AttentionConfig, seq_len: int, num_heads: int, layer: int, device) -> BlockLayout:
    return dense_layout(seq_len, num_heads, block_size=cfg.block_size, device=device)


PATTERNS: dict[str, Callable[..., BlockLayout]] = {
    "bigbird": _bigbird,
    "window": _window,
    "dilated": _dilated,
    "dense": _dense,
}


def build_layout(cfg: AttentionConfig, seq_len: int, num_heads: int, layer: int = 0,
                 device: torch.device | str = "cpu") -> BlockLayout:
    """The layout of layer ``layer`` for ``seq_len`` tokens and ``num_heads`` heads."""
    return PATTERNS[cfg.pattern](cfg, seq_len, num_heads, layer, device)
