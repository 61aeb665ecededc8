"""Attention patterns by name: one module per pattern, one registry, the config built from it.

Each module of this package (``bigbird``, ``window``, ``dilated``, ``fixed``, ``dense``: static
layouts; ``learned``, ``lsh``: layouts built from each input) declares one
:class:`~genosparse.attention.patterns.base.Pattern`: the ``AttentionConfig`` options it reads,
its layout builder (or its module class), its FlexAttention ``mask_mod``, its dense definition
for tests and its named test and benchmark settings. :mod:`.registry` lists the modules once;
:class:`AttentionConfig`, the Hydra group ``conf/attention/``, the tests, the GPU check and the
benchmarks read the registry.
"""

from genosparse.attention.patterns.base import Option, Pattern, layout_mask_mod
from genosparse.attention.patterns.registry import (ALL_PATTERNS, BENCHMARKS, CASES, DYNAMIC_PATTERNS, OPTIONS,
                                                    PATTERNS, STATIC_PATTERNS, get_pattern)
from genosparse.attention.patterns.config import (AttentionConfig, benchmark_config, build_layout,  # noqa: I001
                                                  case_config)

__all__ = [
    "ALL_PATTERNS", "BENCHMARKS", "CASES", "DYNAMIC_PATTERNS", "OPTIONS", "PATTERNS", "STATIC_PATTERNS",
    "AttentionConfig", "Option", "Pattern", "benchmark_config", "build_layout", "case_config", "get_pattern",
    "layout_mask_mod",
]
