"""``AttentionConfig``: the attention settings a model stores, with one field per registered option.

The fields are the common ones (``pattern``, ``backend``, ``block_size``, ``seed``, ``layers``)
plus every option the registered patterns declare (:data:`~genosparse.attention.patterns.registry.OPTIONS`),
flat, as Hydra's ``attention/`` group and checkpoints' ``config.json`` hold them. A pattern module
adds its options by declaring them; nothing here names a pattern.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

import torch

from genosparse.attention.functional import BACKENDS
from genosparse.attention.layouts import BlockLayout
from genosparse.attention.patterns.base import Option, Pattern, integer
from genosparse.attention.patterns.registry import BENCHMARKS, CASES, OPTIONS, PATTERNS, get_pattern
from genosparse.errors import ConfigError

BLOCK_SIZE = Option("block_size", 64, "tokens per block (the chunk length for lsh)", integer("block_size", 1))
SEED = Option("seed", 0, "base seed of the random blocks and hash rotations; layer i uses seed + i",
              integer("seed", 0))
COMMON = {
    "pattern": "one of the registered patterns (genosparse.attention.patterns.PATTERNS)",
    "backend": '"auto", "torch", "triton" or "dense" (see sparse_attention)',
    BLOCK_SIZE.name: BLOCK_SIZE.doc,
    SEED.name: SEED.doc,
    "layers": "per-layer overrides of the settings above, layer i of a model taking layers[i % len(layers)], any "
              "setting but block_size (e.g. [{}, {}, {pattern: learned}] for local layers below routed ones); "
              "empty: every layer the same; for_layer applies them",
}


class _Settings:
    """The methods of :class:`AttentionConfig` (its fields come from the registry)."""

    def __post_init__(self) -> None:
        pattern = get_pattern(self.pattern)
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown attention backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        for option in (BLOCK_SIZE, *(option for option, _ in OPTIONS.values()), SEED):
            setattr(self, option.name, option.check(getattr(self, option.name)))
        for option, users in OPTIONS.values():
            if option.exclusive and getattr(self, option.name) != option.default and self.pattern not in users:
                raise ConfigError(f"attention.{option.name} is supported by the {', '.join(users)} pattern only, "
                                  f"not {self.pattern!r}")
        if pattern.check is not None:
            pattern.check(self)
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

    def for_layer(self, layer: int):
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

    @property
    def spec(self) -> Pattern:
        """The registered :class:`~genosparse.attention.patterns.base.Pattern` of ``pattern``."""
        return PATTERNS[self.pattern]


def _field(option: Option) -> tuple[str, type, Any]:
    default = option.default
    value = field(default_factory=lambda: list(default)) if isinstance(default, list) else field(default=default)
    return option.name, type(default), value


def _docstring() -> str:
    lines = ["Sparse-attention settings of every layer of a model (flat, as checkpoints and Hydra hold them).",
             "", "Attributes:"]
    docs = dict(COMMON)
    docs.update({name: f"{option.doc} (read by {', '.join(users)})" for name, (option, users) in OPTIONS.items()})
    lines += [f"    {name}: {doc}." for name, doc in docs.items()]
    lines += ["", "Raises:", "    ConfigError: on an unknown pattern, backend or option, or an invalid value (message "
              "names attention.<field>)."]
    return "\n".join(lines)


AttentionConfig = dataclasses.make_dataclass(
    "AttentionConfig",
    [("pattern", str, field(default="bigbird")), ("backend", str, field(default="auto")), _field(BLOCK_SIZE),
     *(_field(option) for option, _ in OPTIONS.values()), _field(SEED),
     ("layers", list, field(default_factory=list))],
    bases=(_Settings,),
    namespace={"__doc__": _docstring()},
)
AttentionConfig.__module__ = "genosparse.attention.patterns"  # where pickles (Lightning checkpoints) find it


def build_layout(cfg: AttentionConfig, seq_len: int, num_heads: int, layer: int = 0,
                 device: torch.device | str = "cpu") -> BlockLayout:
    """The layout of layer ``layer`` for ``seq_len`` tokens and ``num_heads`` heads (static patterns).

    Raises:
        ConfigError: for a dynamic pattern, whose layout depends on the input.
    """
    pattern = PATTERNS[cfg.pattern]
    if pattern.dynamic:
        raise ConfigError(f"attention pattern {cfg.pattern!r} builds its layout from the input on every forward; "
                          f"it has no fixed layout (see SparseSelfAttention)")
    return pattern.layout(cfg, seq_len, num_heads, layer, device)


def case_config(name: str, **settings: Any) -> tuple[Pattern, AttentionConfig]:
    """The pattern and config of test setting ``name`` (``Pattern.cases``), ``settings`` applied on top
    (e.g. ``block_size``). Raises KeyError for an unknown name."""
    pattern, overrides = CASES[name]
    return pattern, AttentionConfig(pattern=pattern.name, **{**overrides, **settings})


def benchmark_config(name: str, **settings: Any) -> tuple[Pattern, AttentionConfig]:
    """The pattern and config of benchmark setting ``name`` (``Pattern.benchmarks``), ``settings`` on top."""
    pattern, overrides = BENCHMARKS[name]
    return pattern, AttentionConfig(pattern=pattern.name, **{**overrides, **settings})
