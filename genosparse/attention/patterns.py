"""Attention patterns by name: the configuration a model stores and the layout it builds.

``AttentionConfig`` is what Hydra's ``attention/`` group and checkpoints hold. Static
patterns (``PATTERNS``) map the ``pattern`` name to a layout builder: the layout depends only
on the length and is built once per length. Dynamic patterns (``DYNAMIC_PATTERNS``: learned
routing, LSH) build their layout from the input on every forward
(:mod:`genosparse.attention.routing`, :mod:`genosparse.attention.lsh`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from genosparse.attention.functional import BACKENDS
from genosparse.attention.layouts import (FIXED_VARIANTS, BlockLayout, bigbird_layout, dense_layout,
                                          dilated_window_layout, fixed_layout, sliding_window_layout)
from genosparse.errors import ConfigError


@dataclass
class AttentionConfig:
    """Sparse-attention settings of every layer of a model.

    Attributes:
        pattern: ``"bigbird"``, ``"window"``, ``"dilated"``, ``"fixed"``, ``"dense"`` (static
            layouts) or ``"learned"``, ``"lsh"`` (built from the input each forward).
        backend: ``"auto"``, ``"torch"``, ``"triton"`` or ``"dense"`` (see ``sparse_attention``).
        block_size: tokens per block (the chunk length for lsh).
        num_window_blocks: window blocks per query block (odd; bigbird, dilated, learned).
        num_global_blocks: global blocks, full rows and columns (bigbird, dilated).
        num_random_blocks: random key blocks per query block (bigbird).
        window: one-sided window in tokens (window).
        dilations: dilation in blocks per head, repeated over heads if shorter (dilated).
        stride: blocks per local group or between summary columns (fixed).
        num_summary_blocks: summary blocks at the end of each group (fixed, variant "fixed").
        variant: ``"fixed"`` or ``"strided"`` (fixed; Child et al. 2019).
        causal: mask keys after the query (fixed).
        num_selected_blocks: key blocks each query block selects by its routing score (learned).
        num_hashes: hash rounds (lsh).
        num_buckets: hash buckets per round, even (lsh).
        seed: base seed of the random blocks and hash rotations; layer ``i`` uses ``seed + i``.
        layers: per-layer overrides of the settings above, layer ``i`` of a model taking
            ``layers[i % len(layers)]``, any setting but ``block_size`` (e.g. ``[{}, {}, {"pattern": "learned"}]`` for local
            layers below routed ones, or growing ``dilations``); empty: every layer the same.
            :meth:`for_layer` applies them.
    """

    pattern: str = "bigbird"
    backend: str = "auto"
    block_size: int = 64
    num_window_blocks: int = 3
    num_global_blocks: int = 2
    num_random_blocks: int = 3
    window: int = 256
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    stride: int = 16
    num_summary_blocks: int = 1
    variant: str = "fixed"
    causal: bool = False
    num_selected_blocks: int = 4
    num_hashes: int = 2
    num_buckets: int = 64
    seed: int = 0
    layers: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.pattern not in ALL_PATTERNS:
            raise ConfigError(f"unknown attention pattern {self.pattern!r}; choose one of {', '.join(ALL_PATTERNS)}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown attention backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        counts = {"block_size": 1, "num_window_blocks": 1, "num_global_blocks": 0, "num_random_blocks": 0,
                  "window": 0, "stride": 1, "num_summary_blocks": 1, "num_selected_blocks": 0, "num_hashes": 1,
                  "num_buckets": 2, "seed": 0}
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
        if self.variant not in FIXED_VARIANTS:
            raise ConfigError(f"attention.variant must be one of {', '.join(FIXED_VARIANTS)}, got {self.variant!r}")
        if self.pattern == "fixed" and self.variant == "fixed" and self.num_summary_blocks > self.stride:
            raise ConfigError(f"attention.num_summary_blocks ({self.num_summary_blocks}) must not exceed "
                              f"attention.stride ({self.stride} blocks)")
        if self.pattern == "lsh" and self.num_buckets % 2:
            raise ConfigError(f"attention.num_buckets must be even (angular LSH hashes to the argmax of [xR, -xR]), "
                              f"got {self.num_buckets}")
        if not isinstance(self.causal, bool):
            raise ConfigError(f"attention.causal must be true or false, got {self.causal!r}")
        if self.causal and self.pattern != "fixed":
            raise ConfigError(f"attention.causal is supported by the fixed pattern only, not {self.pattern!r}")
        self._check_layers()

    def _check_layers(self) -> None:
        if not isinstance(self.layers, (list, tuple)) or not all(isinstance(o, dict) for o in self.layers):
            raise ConfigError(f"attention.layers must be a list of mappings (one per layer), got {self.layers!r}")
        names = {f.name for f in dataclasses.fields(self)} - {"layers"}
        self.layers = [dict(o) for o in self.layers]
        for i, override in enumerate(self.layers):
            if "block_size" in override:
                raise ConfigError(f"attention.layers[{i}] sets block_size; every layer shares attention.block_size "
                                  "(the partial forwards of scoring read positions block by block)")
            unknown = sorted(set(override) - names)
            if unknown:
                raise ConfigError(f"attention.layers[{i}] sets unknown attention options {', '.join(unknown)}; "
                                  f"choose from {', '.join(sorted(names))}")
            self.for_layer(i)  # each layer's settings are checked as a whole

    def for_layer(self, layer: int) -> AttentionConfig:
        """The settings of layer ``layer`` (0-based): these with ``layers[layer % len(layers)]`` applied.

        Raises:
            ConfigError: the override makes an invalid configuration (message names the layer).
        """
        if not self.layers:
            return self
        override = self.layers[layer % len(self.layers)]
        try:
            return dataclasses.replace(self, layers=[], **override)
        except ConfigError as err:
            raise ConfigError(f"attention.layers[{layer % len(self.layers)}]: {err}") from err

    @property
    def patterns(self) -> list[str]:
        """The pattern of each entry of ``layers`` (or the one pattern when there are none)."""
        return [self.for_layer(i).pattern for i in range(max(1, len(self.layers)))]


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


def _fixed(cfg: AttentionConfig, seq_len: int, num_heads: int, layer: int, device) -> BlockLayout:
    return fixed_layout(seq_len, num_heads, stride=cfg.stride, num_summary_blocks=cfg.num_summary_blocks,
                        variant=cfg.variant, causal=cfg.causal, block_size=cfg.block_size, device=device)


def _dense(cfg: AttentionConfig, seq_len: int, num_heads: int, layer: int, device) -> BlockLayout:
    return dense_layout(seq_len, num_heads, block_size=cfg.block_size, device=device)


PATTERNS: dict[str, Callable[..., BlockLayout]] = {
    "bigbird": _bigbird,
    "window": _window,
    "dilated": _dilated,
    "fixed": _fixed,
    "dense": _dense,
}
DYNAMIC_PATTERNS = ("learned", "lsh")
ALL_PATTERNS = (*PATTERNS, *DYNAMIC_PATTERNS)


def build_layout(cfg: AttentionConfig, seq_len: int, num_heads: int, layer: int = 0,
                 device: torch.device | str = "cpu") -> BlockLayout:
    """The layout of layer ``layer`` for ``seq_len`` tokens and ``num_heads`` heads (static patterns).

    Raises:
        ConfigError: for a dynamic pattern, whose layout depends on the input.
    """
    if cfg.pattern not in PATTERNS:
        raise ConfigError(f"attention pattern {cfg.pattern!r} builds its layout from the input on every forward; "
                          f"it has no fixed layout (see SparseSelfAttention)")
    return PATTERNS[cfg.pattern](cfg, seq_len, num_heads, layer, device)
