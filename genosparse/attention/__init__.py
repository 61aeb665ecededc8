"""Block-sparse attention: layouts (CSR), backends behind ``sparse_attention``, the module."""

from genosparse.attention.functional import BACKENDS, resolve_backend, sparse_attention
from genosparse.attention.layouts import (BlockLayout, bigbird_layout, dense_layout, dilated_window_layout,
                                          sliding_window_layout)
from genosparse.attention.module import SparseSelfAttention
from genosparse.attention.patterns import PATTERNS, AttentionConfig, build_layout

__all__ = [
    "BACKENDS", "PATTERNS", "AttentionConfig", "BlockLayout", "SparseSelfAttention", "bigbird_layout",
    "build_layout", "dense_layout", "dilated_window_layout", "resolve_backend", "sliding_window_layout",
    "sparse_attention",
]
