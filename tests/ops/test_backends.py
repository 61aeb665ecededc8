"""Every attention backend against the dense masked reference, forward and gradients, on every static
test setting of the pattern registry (``Pattern.cases``)."""

import math

import pytest
import torch

from genosparse.attention import bigbird_layout, dense_layout, sliding_window_layout, sparse_attention
from genosparse.attention.patterns import CASES, build_layout, case_config
from genosparse.errors import LayoutError

STATIC_CASES = [name for name, (pattern, _) in CASES.items() if not pattern.dynamic]


def _layout(case, length, heads):
    return build_layout(case_config(case, block_size=16)[1], length, heads)


def _inputs(batch, heads, length, dim, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, length, dim, generator=g, dtype=dtype).requires_grad_() for _ in range(3)]


def _grad_out(out):
    """The same upstream gradient for every dtype (drawn in fp64, then cast)."""
    return torch.randn(out.shape, generator=torch.Generator().manual_seed(99), dtype=torch.float64).to(out.dtype)


def _run(backend, q, k, v, layout, **kw):
    out = sparse_attention(q, k, v, layout, backend=backend, **kw)
    grad_out = _grad_out(out)
    grads = torch.autograd.grad(out, (q, k, v), grad_out)
    return out, grads


@pytest.mark.parametrize("pattern", STATIC_CASES)
@pytest.mark.parametrize("length", [128, 200, 37])
def test_torch_matches_dense_fp64(pattern, length):
    """In fp64 the block-gather backend equals the reference to rounding, output and gradients."""
    layout = _layout(pattern, length, 3)
    q, k, v = _inputs(2, 3, length, 8, torch.float64)
    padding = torch.rand(2, length, generator=torch.Generator().manual_seed(1)) < 0.2
    ref, ref_grads = _run("dense", q, k, v, layout, key_padding_mask=padding)
    out, grads = _run("torch", q, k, v, layout, key_padding_mask=padding)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    for g, rg in zip(grads, ref_grads):
        torch.testing.assert_close(g, rg, rtol=0, atol=1e-12)


@pytest.mark.parametrize("pattern", ["bigbird", "window", "dilated_global"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_torch_error_within_low_precision_baseline(pattern, dtype):
    """Low-precision error vs an fp64 reference is no worse than a plain PyTorch computation's
    in the same dtype (flash-attention test style), not a fixed tolerance."""
    length, heads = 160, 2
    layout = _layout(pattern, length, heads)
    q64, k64, v64 = _inputs(2, heads, length, 16, torch.float64, seed=5)
    ref, ref_grads = _run("dense", q64, k64, v64, layout)
    low = [t.detach().to(dtype).requires_grad_() for t in (q64, k64, v64)]
    out, grads = _run("torch", *low, layout)
    # baseline: the same masked attention written plainly in `dtype` (scores and softmax in dtype)
    mask = layout.to_token_mask()
    base_in = [t.detach().to(dtype).requires_grad_() for t in (q64, k64, v64)]
    scores = (base_in[0] @ base_in[1].transpose(-1, -2)) / math.sqrt(16)
    base = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1) @ base_in[2]
    base_grads = torch.autograd.grad(base, base_in, _grad_out(base))
    assert out.dtype == dtype

    def err(a, b):
        return (a.double() - b.double()).abs().max().item()

    assert err(out, ref) <= 2 * err(base, ref) + 1e-6
    for g, bg, rg in zip(grads, base_grads, ref_grads):
        assert err(g, rg) <= 2 * err(bg, rg) + 1e-6


@pytest.mark.parametrize("backend", ["torch", "dense"])
def test_fully_padded_rows_give_zeros_not_nan(backend):
    length = 70
    layout = bigbird_layout(length, 2, block_size=16)
    q, k, v = _inputs(2, 2, length, 8, torch.float32)
    padding = torch.zeros(2, length, dtype=torch.bool)
    padding[1] = True  # second sequence: every key is padding
    out, grads = _run(backend, q, k, v, layout, key_padding_mask=padding)
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads)
    assert (out[1] == 0).all()
    assert out[0].abs().sum() > 0
    _, lse = sparse_attention(q, k, v, layout, backend=backend, key_padding_mask=padding, return_lse=True)
    assert torch.isneginf(lse[1]).all() and torch.isfinite(lse[0]).all()


def test_lse_matches_reference():
    length = 100
    layout = sliding_window_layout(length, 2, window=9, block_size=16)
    q, k, v = _inputs(1, 2, length, 8, torch.float64)
    _, lse = sparse_attention(q, k, v, layout, backend="torch", return_lse=True)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(8)
    expected = torch.logsumexp(scores.masked_fill(~layout.to_token_mask(), float("-inf")), -1)
    torch.testing.assert_close(lse, expected)


def test_dense_layout_equals_sdpa():
    q, k, v = _inputs(2, 2, 90, 8, torch.float64)
    out = sparse_attention(q, k, v, dense_layout(90, 2, block_size=32), backend="torch")
    torch.testing.assert_close(out, torch.nn.functional.scaled_dot_product_attention(q, k, v))


def test_bad_inputs_raise_layout_error():
    q, k, v = _inputs(1, 2, 64, 8, torch.float32)
    with pytest.raises(LayoutError, match="seq_len=128"):
        sparse_attention(q, k, v, bigbird_layout(128, 2, block_size=16))
    with pytest.raises(LayoutError, match="heads=3"):
        sparse_attention(q, k, v, bigbird_layout(64, 3, block_size=16))
    with pytest.raises(LayoutError, match="key_padding_mask"):
        sparse_attention(q, k, v, bigbird_layout(64, 2, block_size=16), key_padding_mask=torch.ones(1, 64))
    with pytest.raises(LayoutError, match="unknown attention backend"):
        sparse_attention(q, k, v, bigbird_layout(64, 2, block_size=16), backend="flash")
    with pytest.raises(LayoutError, match="CUDA"):
        sparse_attention(q, k, v, bigbird_layout(64, 2, block_size=16), backend="triton")
