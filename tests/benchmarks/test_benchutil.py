"""benchmarks/benchutil.py on CPU: the FlexAttention BlockMask it builds from a registered layout
(no flex_attention compile; the GPU runs the benchmarks)."""

import importlib.util
from pathlib import Path

import pytest
import torch

from genosparse.attention.patterns import BENCHMARKS, benchmark_config, build_layout
from genosparse.attention.patterns.base import index_grid

pytest.importorskip("triton")
_spec = importlib.util.spec_from_file_location("benchutil", Path(__file__).resolve().parents[2] / "benchmarks" /
                                               "benchutil.py")
benchutil = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchutil)

FROM_LAYOUT = [name for name, (pattern, _) in BENCHMARKS.items() if not pattern.dynamic and pattern.mask_mod is None]


def test_patterns_are_the_static_benchmark_settings():
    assert set(benchutil.PATTERNS) == set(FROM_LAYOUT) | {"window"}


@pytest.mark.parametrize("name", FROM_LAYOUT)
def test_block_mask_from_the_layout(name):
    """Every 128-token block holding a layout block is in the BlockMask; the ones it marks full attend
    every token pair; its mask_mod is the layout's token mask."""
    length, heads = 128 * 20, 4
    layout = build_layout(benchmark_config(name)[1], length, heads)
    mask = benchutil.flex_block_mask(name, layout, length)
    tokens = layout.to_token_mask()
    tiles = tokens.view(heads, 20, 128, 20, 128)
    dense = mask.to_dense()[0].bool()  # (H, 20, 20): full or partial
    assert torch.equal(dense, tiles.any(4).any(2))
    full = torch.zeros_like(dense)
    counts, indices = mask.full_kv_num_blocks[0], mask.full_kv_indices[0]
    for h in range(heads):
        for i in range(20):
            full[h, i, indices[h, i, :counts[h, i]].long()] = True
    assert full.any() and torch.equal(full, full & tiles.all(4).all(2))
    assert torch.equal(mask.mask_mod(0, *index_grid(heads, length)).expand_as(tokens), tokens)
