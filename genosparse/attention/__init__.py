"""Block-sparse attention: layouts (CSR), backends behind ``sparse_attention``, the module."""

from genosparse.attention.functional import BACKENDS, resolve_backend, sparse_attention
from genosparse.attention.layouts import (BlockLayout, bigbird_layout, chunked_layout, dense_layout,
                                          dilated_window_layout, fixed_layout, selected_blocks_layout,
                                          sliding_window_layout)
from genosparse.attention.lsh import LSHAttention
from genosparse.attention.module import LayoutAttention, SparseSelfAttention
from genosparse.attention.patterns import (ALL_PATTERNS, DYNAMIC_PATTERNS, PATTERNS, STATIC_PATTERNS, AttentionConfig,
                                          Pattern, build_layout, get_pattern)
from genosparse.attention.routing import RoutedAttention

__all__ = [
    "ALL_PATTERNS", "BACKENDS", "DYNAMIC_PATTERNS", "PATTERNS", "STATIC_PATTERNS", "AttentionConfig", "BlockLayout",
    "LSHAttention", "LayoutAttention", "Pattern", "RoutedAttention", "SparseSelfAttention", "bigbird_layout",
    "build_layout", "chunked_layout", "dense_layout", "dilated_window_layout", "fixed_layout", "get_pattern",
    "resolve_backend", "selected_blocks_layout",
    "sliding_window_layout", "sparse_attention",
]
