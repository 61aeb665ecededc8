"""Fixed/strided, learned-routing and LSH attention against their definitions (CPU, fp64).

The definitions are the registered patterns' own (``Pattern.dense``, ``Pattern.reference``:
:mod:`genosparse.attention.patterns`); every registered case is checked in
``tests/attention/test_registry.py``, these vary the settings further."""

import math

import pytest
import torch

from genosparse.attention import (PATTERNS, AttentionConfig, LSHAttention, RoutedAttention, build_layout,
                                  fixed_layout, selected_blocks_layout)
from genosparse.errors import ConfigError, LayoutError

routed_reference = PATTERNS["learned"].reference
lsh_reference = PATTERNS["lsh"].reference


@pytest.mark.parametrize("variant", ["fixed", "strided"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seq_len,stride,summary", [(16 * 13, 4, 1), (16 * 20 - 5, 3, 2), (40, 8, 8)])
def test_fixed_layout_is_the_paper_pattern(variant, causal, seq_len, stride, summary):
    cfg = AttentionConfig(pattern="fixed", stride=stride, num_summary_blocks=summary, variant=variant, causal=causal,
                          block_size=16)
    layout = build_layout(cfg, seq_len, 2)
    layout.validate()
    expected = PATTERNS["fixed"].dense(cfg, seq_len, 2, 0)
    assert torch.equal(layout.to_token_mask(), expected)
    n = math.ceil(seq_len / 16)
    if causal:  # no block above the diagonal is stored
        assert not (layout.to_block_mask() & torch.ones(n, n, dtype=torch.bool).triu(1)).any()


def test_fixed_layout_rejects_bad_parameters():
    with pytest.raises(LayoutError, match="variant"):
        fixed_layout(64, 1, variant="axial", block_size=16)
    with pytest.raises(LayoutError, match="num_summary_blocks"):
        fixed_layout(64, 1, stride=2, num_summary_blocks=3, block_size=16)
    with pytest.raises(LayoutError, match="stride"):
        fixed_layout(64, 1, stride=0, block_size=16)


@pytest.mark.parametrize("overrides,match", [
    (dict(pattern="lsh", num_buckets=7), "even"), (dict(num_summary_blocks=5, stride=4), "num_summary_blocks"),
    (dict(variant="axial"), "variant"), (dict(num_hashes=0), "num_hashes"), (dict(causal="yes"), "causal"),
    (dict(pattern="bigbird", causal=True), "fixed pattern only"),
])
def test_config_validation(overrides, match):
    with pytest.raises(ConfigError, match=match):
        AttentionConfig(**{"pattern": "fixed", **overrides})


def test_bad_layout_arguments_raise_layout_error():
    with pytest.raises(LayoutError, match="int32 or int64"):
        selected_blocks_layout(40, torch.full((1, 3, 1), 1.7), block_size=16)
    with pytest.raises(LayoutError, match="causal"):
        fixed_layout(64, 1, causal="yes", block_size=16)
    with pytest.raises(LayoutError, match="stride"):
        fixed_layout(64, 1, stride=True, block_size=16)
    core = LSHAttention(AttentionConfig(pattern="lsh", block_size=16), num_heads=1, head_dim=8)
    q = torch.randn(2, 1, 40, 8)
    for mask in (torch.zeros(2, 37, dtype=torch.bool), torch.zeros(1, 40, dtype=torch.bool), torch.zeros(2, 40)):
        for pattern_core in (core, RoutedAttention(AttentionConfig(pattern="learned", block_size=16), 1, 8)):
            with pytest.raises(LayoutError, match=r"key_padding_mask must be a bool tensor of shape \(B, L\) = \(2, 40\)"):
                pattern_core(q, q, q, mask)


@pytest.mark.parametrize("pattern", ["learned", "lsh"])
def test_padding_changes_nothing_for_real_tokens(pattern):
    """What sits at padded positions (queries, keys, values) never reaches the real tokens' outputs."""
    torch.manual_seed(3)
    cfg = AttentionConfig(pattern=pattern, backend="torch", block_size=8, num_window_blocks=1, num_selected_blocks=1,
                          num_buckets=4)
    core = (RoutedAttention if pattern == "learned" else LSHAttention)(cfg, num_heads=2, head_dim=8).double()
    q, k, v = (t.detach() for t in _inputs(2, 2, 40, 8, seed=9))
    padding = torch.zeros(2, 40, dtype=torch.bool)
    padding[0, 30:] = True
    out = core(q, k, v, padding)
    noisy = [t.clone() for t in (q, k, v)]
    for t in noisy:
        t[0, :, 30:] = 100 * torch.randn_like(t[0, :, 30:])
    changed = core(*noisy, padding)
    torch.testing.assert_close(changed[:, :, :30], out[:, :, :30], rtol=0, atol=1e-12)
    torch.testing.assert_close(changed[1], out[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("pattern", ["learned", "lsh"])
def test_dynamic_patterns_have_no_static_layout(pattern):
    with pytest.raises(ConfigError, match="every forward"):
        build_layout(AttentionConfig(pattern=pattern), 256, 2)


def _inputs(batch, heads, length, dim, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, length, dim, generator=g, dtype=torch.float64).requires_grad_()
            for _ in range(3)]


def _padding(batch, length):
    mask = torch.zeros(batch, length, dtype=torch.bool)
    mask[1, length - 37:] = True  # the second sequence ends in padding, including two whole blocks
    return mask


def _compare(core, reference, q, k, v, kpm, extra=()):
    out = core(q, k, v, kpm)
    ref = reference(core, q, k, v, kpm)
    rows = torch.ones_like(out[..., 0], dtype=torch.bool) if kpm is None else ~kpm[:, None, :].expand_as(out[..., 0])
    torch.testing.assert_close(out[rows], ref[rows], rtol=0, atol=1e-10)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(5), dtype=out.dtype) * rows[..., None]
    params = (q, k, v, *extra)
    ours = torch.autograd.grad(out, params, grad)
    theirs = torch.autograd.grad(ref, params, grad)
    for a, b in zip(ours, theirs):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("length,selected,window", [(200, 3, 1), (128, 2, 3), (77, 0, 1)])
def test_learned_routing_matches_definition(padded, length, selected, window):
    """Forward and gradients (q, k, v, router, gate) equal the dense definition; the top-k ids
    and window blocks form the layout."""
    torch.manual_seed(0)
    cfg = AttentionConfig(pattern="learned", backend="torch", block_size=16, num_selected_blocks=selected,
                          num_window_blocks=window)
    core = RoutedAttention(cfg, num_heads=3, head_dim=8).double()
    with torch.no_grad():
        core.router.weight.add_(0.3 * torch.randn_like(core.router.weight))
        core.gate.copy_(torch.tensor([-1.0, 0.0, 2.0]))
    q, k, v = _inputs(2, 3, length, 8, seed=length)
    _compare(core, routed_reference, q, k, v, _padding(2, length) if padded else None,
             extra=(core.router.weight, core.gate))


def test_learned_layout_is_built_on_the_fly_per_input():
    cfg = AttentionConfig(pattern="learned", backend="torch", block_size=16, num_selected_blocks=2)
    core = RoutedAttention(cfg, num_heads=2, head_dim=8)
    q, k, v = (t.float().detach() for t in _inputs(2, 2, 160, 8, seed=1))
    kc, _, block_valid = core.pooled(k, v, torch.ones(2, 160, dtype=torch.bool))
    layout = core.routing_layout(q, kc, block_valid, torch.ones(2, 160, dtype=torch.bool))
    assert layout.num_heads == 4 and layout.num_blocks == 10  # batch x heads
    assert (layout.row_degrees() <= 2 + 3).all() and (layout.row_degrees() >= 2).all()
    other = core.routing_layout(q.flip(2), kc, block_valid, torch.ones(2, 160, dtype=torch.bool))
    assert not torch.equal(layout.to_block_mask(), other.to_block_mask())


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("length,hashes,buckets", [(200, 2, 8), (128, 1, 4), (96, 3, 6)])
def test_lsh_matches_definition(padded, length, hashes, buckets):
    cfg = AttentionConfig(pattern="lsh", backend="torch", block_size=16, num_hashes=hashes, num_buckets=buckets,
                          seed=2)
    core = LSHAttention(cfg, num_heads=2, head_dim=8).double()
    q, k, v = _inputs(2, 2, length, 8, seed=length + hashes)
    _compare(core, lsh_reference, q, k, v, _padding(2, length) if padded else None)


def test_lsh_hashing():
    cfg = AttentionConfig(pattern="lsh", num_hashes=3, num_buckets=8, seed=4)
    core = LSHAttention(cfg, num_heads=1, head_dim=16, layer_index=1)
    x = torch.randn(2, 1, 50, 16)
    valid = torch.ones(2, 50, dtype=torch.bool)
    valid[0, 40:] = False
    ids = core.buckets(x, valid)
    assert ids.shape == (2, 1, 3, 50)
    assert ((ids >= 0) & (ids < 8))[:, :, :, :40].all() and (ids[0, :, :, 40:] == 8).all()
    proj = torch.einsum("bhld,rdk->bhrlk", torch.nn.functional.normalize(x, dim=-1), core.rotations)
    expected = torch.cat([proj, -proj], -1).argmax(-1)  # Kitaev et al. 2020, section 2.2
    assert torch.equal(ids[1], expected[1]) and torch.equal(ids[0, :, :, :40], expected[0, :, :, :40])
    assert torch.equal(core.buckets(3.0 * x, valid), ids)  # angular: invariant to the vector's length
    assert torch.equal(core.buckets(-x, valid)[valid[:, None, None].expand_as(ids)],
                       ((ids + 4) % 8)[valid[:, None, None].expand_as(ids)])  # -x lands in the opposite bucket
    same = LSHAttention(cfg, num_heads=1, head_dim=16, layer_index=1)
    assert torch.equal(same.rotations, core.rotations)  # seeded: identical in training and evaluation
    assert not torch.equal(LSHAttention(cfg, num_heads=1, head_dim=16, layer_index=2).rotations, core.rotations)
    order = core.sort_order(x, valid)
    assert torch.equal(order.sort(-1).values, torch.arange(50).expand_as(order))  # a permutation
    assert (ids.gather(3, order).diff(dim=-1) >= 0).all()  # sorted by bucket
