"""Kernel tiles (kernels/tiles.py): grouped CSR rows against a plain Python grouping, and the group choice."""

from __future__ import annotations

import pytest
import torch

from genosparse.attention import (bigbird_layout, dense_layout, dilated_window_layout, fixed_layout,
                                  sliding_window_layout)
from genosparse.kernels.tiles import _grouped, choose_group, tiles


def _python_grouping(indptr: torch.Tensor, indices: torch.Tensor, group: int) -> list[list[dict[int, int]]]:
    """Per head, per grouped row: {key block: membership bits}."""
    heads, n = indptr.shape[0], indptr.shape[1] - 1
    result = []
    for h in range(heads):
        rows = [dict() for _ in range(-(-n // group))]
        for r in range(n):
            for c in indices[h, indptr[h, r]:indptr[h, r + 1]].tolist():
                rows[r // group][c] = rows[r // group].get(c, 0) | (1 << (r % group))
        result.append(rows)
    return result


@pytest.mark.parametrize("group", [2, 4])
@pytest.mark.parametrize("make", [
    lambda: bigbird_layout(700, 3, block_size=16, seed=5),
    lambda: sliding_window_layout(690, 2, window=40, block_size=16),
    lambda: dilated_window_layout(650, 2, dilations=[1, 3], num_global_blocks=1, block_size=16),
    lambda: bigbird_layout(700, 2, block_size=16, seed=1).select_rows(torch.tensor([1, 2, 9, 30])),
], ids=["bigbird", "window", "dilated_global", "selected_rows"])
def test_grouped_rows_match_python(make, group):
    layout = make()
    for indptr, indices in ((layout.kv_indptr, layout.kv_indices), (layout.q_indptr, layout.q_indices)):
        g_indptr, g_indices, g_member = _grouped(indptr, indices, group)
        expected = _python_grouping(indptr, indices, group)
        for h, rows in enumerate(expected):
            for r, entries in enumerate(rows):
                lo, hi = int(g_indptr[h, r]), int(g_indptr[h, r + 1])
                assert g_indices[h, lo:hi].tolist() == sorted(entries), (h, r)
                assert g_member[h, lo:hi].tolist() == [entries[c] for c in sorted(entries)], (h, r)


def test_group_choice_follows_overlap():
    """Fixed local groups and dense layouts hold the same key blocks in neighbouring rows: grouped up to
    128-token tiles; windows (whose union adds blocks), BigBird and dilated windows: one block per tile."""
    fixed = fixed_layout(64 * 256, 2, stride=16, block_size=64)
    assert choose_group(fixed.kv_indptr, fixed.kv_indices, 64) == 2
    dense = dense_layout(16 * 32, 2, block_size=16)
    assert choose_group(dense.kv_indptr, dense.kv_indices, 16) == 8
    for layout in (sliding_window_layout(64 * 256, 2, window=256, block_size=64),
                   bigbird_layout(64 * 256, 2, block_size=64, seed=0),
                   dilated_window_layout(64 * 256, 2, dilations=[2, 4], block_size=64)):
        assert choose_group(layout.kv_indptr, layout.kv_indices, 64) == 1


def test_tiles_are_cached_and_honour_the_layout_group():
    layout = fixed_layout(64 * 64, 2, stride=8, block_size=64)
    auto = tiles(layout.kv_indptr, layout.kv_indices, 64)
    assert auto is tiles(layout.kv_indptr, layout.kv_indices, 64) and auto.group == 2
    single = tiles(layout.kv_indptr, layout.kv_indices, 64, 1)
    assert single.group == 1 and single.indices is layout.kv_indices
    forced = tiles(layout.q_indptr, layout.q_indices, 64, 2)
    assert forced.group == 2 and forced.indptr.shape == (2, 33)
