"""Properties of the CSR block layouts."""

import pytest
import torch

from genosparse.attention import bigbird_layout, dense_layout, dilated_window_layout, sliding_window_layout
from genosparse.attention.layouts import _global_ids
from genosparse.errors import LayoutError


def _rows(layout, h):
    ptr, idx = layout.kv_indptr[h].tolist(), layout.kv_indices[h].tolist()
    return [idx[ptr[i]:ptr[i + 1]] for i in range(layout.num_blocks)]


@pytest.mark.parametrize("seq_len,block_size", [(4096, 64), (1000, 32), (33, 16)])
def test_bigbird_rows(seq_len, block_size):
    heads, r = 4, 3
    layout = bigbird_layout(seq_len, heads, block_size=block_size, num_random_blocks=r, seed=7)
    n = layout.num_blocks
    glob = set(_global_ids(2, n, "cpu").tolist())
    assert glob == ({0, n - 1} if n > 1 else {0})
    for h in range(heads):
        for i, row in enumerate(_rows(layout, h)):
            assert row == sorted(set(row)), "rows are sorted without duplicates"
            if i in glob:
                assert row == list(range(n)), "global rows attend every block"
                continue
            window = {j for j in (i - 1, i, i + 1) if 0 <= j < n}
            assert window | glob <= set(row), "window and global blocks always attended"
            random = set(row) - window - glob
            assert len(random) == min(r, n - len(window | glob)), "exactly num_random_blocks random blocks"


def test_bigbird_is_seeded_and_differs_by_head():
    a = bigbird_layout(8192, 4, seed=1)
    b = bigbird_layout(8192, 4, seed=1)
    c = bigbird_layout(8192, 4, seed=2)
    assert torch.equal(a.kv_indices, b.kv_indices) and torch.equal(a.kv_indptr, b.kv_indptr)
    assert not torch.equal(a.kv_indices, c.kv_indices)
    assert not torch.equal(a.kv_indices[0], a.kv_indices[1])


def test_random_blocks_are_uniform():
    """Over many rows every eligible block is drawn about equally often."""
    layout = bigbird_layout(64 * 40, 64, num_window_blocks=1, num_global_blocks=0, num_random_blocks=3, seed=0)
    row = 20
    counts = torch.zeros(40)
    for h in range(64):
        for j in _rows(layout, h)[row]:
            if j != row:
                counts[j] += 1
    counts = counts[torch.arange(40) != row]
    assert counts.sum() == 64 * 3
    expected = 64 * 3 / 39
    assert ((counts - expected) ** 2 / expected).sum() < 80  # chi-square, 38 dof: p ~ 1e-4


@pytest.mark.parametrize("make", [
    lambda: bigbird_layout(3000, 3, block_size=32, seed=5),
    lambda: sliding_window_layout(777, 2, window=50, block_size=16),
    lambda: dilated_window_layout(2048, 4, dilations=[1, 2, 3, 5], num_global_blocks=2, block_size=64),
    lambda: dense_layout(300, 2, block_size=64),
])
def test_transpose_matches_rows(make):
    layout = make()
    mask = layout.to_block_mask()
    for h in range(layout.num_heads):
        ptr, idx = layout.q_indptr[h].tolist(), layout.q_indices[h].tolist()
        for j in range(layout.num_blocks):
            col = idx[ptr[j]:ptr[j + 1]]
            assert col == sorted(col)
            assert col == torch.nonzero(mask[h, :, j]).flatten().tolist()
    assert layout.kv_indptr.dtype == layout.kv_indices.dtype == torch.int32
    assert layout.q_indptr.dtype == layout.q_indices.dtype == torch.int32


def test_sliding_window_is_exact_band():
    layout = sliding_window_layout(300, 1, window=37, block_size=16)
    pos = torch.arange(300)
    assert torch.equal(layout.to_token_mask()[0], (pos[:, None] - pos[None, :]).abs() <= 37)


def test_dilated_window_per_head():
    dil = [1, 3]
    layout = dilated_window_layout(64 * 20, 2, dilations=dil, num_window_blocks=5, block_size=64)
    for h, d in enumerate(dil):
        for i, row in enumerate(_rows(layout, h)):
            assert row == [i + d * j for j in range(-2, 3) if 0 <= i + d * j < 20]


def test_memory_is_linear_in_nnz():
    """Index memory grows linearly with length: no O(nQ x nK) structure."""
    small = bigbird_layout(1 << 16, 4)
    large = bigbird_layout(1 << 18, 4)
    nnz_small, nnz_large = int(small.nnz().sum()), int(large.nnz().sum())
    # kv and q indices of the widest head plus two indptr rows per head
    assert large.nbytes() <= 2 * 4 * (large.kv_indices.numel() + large.kv_indptr.numel())
    assert large.nbytes() / small.nbytes() == pytest.approx(4, rel=0.05)
    assert nnz_large / nnz_small == pytest.approx(4, rel=0.05)
    n = large.num_blocks
    assert large.kv_indices.shape[1] < 12 * n + 2 * n  # 3 window + 2 global + 3 random per row, 2 full rows


@pytest.mark.parametrize("call,match", [
    (lambda: bigbird_layout(100, 2, num_window_blocks=2), "odd"),
    (lambda: bigbird_layout(0, 2), "seq_len"),
    (lambda: bigbird_layout(100, 2, num_random_blocks=-1), "num_random_blocks"),
    (lambda: sliding_window_layout(100, 2, window=-1), "window"),
    (lambda: dilated_window_layout(100, 2, dilations=[1, 2, 3]), "one dilation"),
    (lambda: dilated_window_layout(100, 2, dilations=[0]), "one dilation"),
])
def test_bad_parameters(call, match):
    with pytest.raises(LayoutError, match=match):
        call()
