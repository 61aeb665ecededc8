"""Learned top-k block routing (MoBA, Lu et al. 2025; NSA's compressed branch, Yuan et al. 2025): a
block window plus the key blocks each query block selects, built from each input
(:class:`~genosparse.attention.routing.RoutedAttention`)."""

from __future__ import annotations

import math

import torch

from genosparse.attention.patterns.base import NUM_WINDOW_BLOCKS, Option, Pattern, integer
from genosparse.attention.reference import masked_attention
from genosparse.attention.routing import RoutedAttention

NUM_SELECTED_BLOCKS = Option("num_selected_blocks", 4, "key blocks each query block selects by its routing score",
                             integer("num_selected_blocks", 0))


def reference(core: RoutedAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """:class:`RoutedAttention` by its definition: pooled routing keys, top-k plus window per query
    block as a dense token mask, exact softmax over it, plus the gated compressed branch.

    Loops and full ``(B, H, L, L)`` score matrices (tests only). Shapes as ``core.forward``.
    """
    cfg = core.config
    batch, heads, length, dim = q.shape
    bs, n = cfg.block_size, math.ceil(length / cfg.block_size)
    valid = torch.ones(batch, length, dtype=torch.bool) if key_padding_mask is None else ~key_padding_mask
    kc, vc, qc = (torch.zeros(batch, heads, n, dim, dtype=q.dtype) for _ in range(3))
    block_valid = torch.zeros(batch, n, dtype=torch.bool)
    for j in range(n):
        part = slice(j * bs, min(length, (j + 1) * bs))
        m = valid[:, part].to(q.dtype)[:, None, :, None]
        count = m.sum(2).clamp_min(1)
        kc[:, :, j] = (k[:, :, part] * m).sum(2) / count
        vc[:, :, j] = (v[:, :, part] * m).sum(2) / count
        qc[:, :, j] = (q[:, :, part] * m).sum(2) / count  # routing queries from real positions only
        block_valid[:, j] = valid[:, part].any(1)
    kc = kc @ core.router.weight.to(q.dtype).T
    scale = 1 / math.sqrt(dim)
    with torch.no_grad():
        scores = (qc @ kc.transpose(-1, -2) * scale).masked_fill(~block_valid[:, None, None, :], float("-inf"))
        top = scores.topk(min(cfg.num_selected_blocks, n), -1).indices
    half = cfg.num_window_blocks // 2
    block_mask = torch.zeros(batch, heads, n, n, dtype=torch.bool)
    for b in range(batch):
        for h in range(heads):
            for i in range(n):
                block_mask[b, h, i, top[b, h, i]] = True
                block_mask[b, h, i, max(0, i - half):i + half + 1] = True
    mask = block_mask.repeat_interleave(bs, 2).repeat_interleave(bs, 3)[:, :, :length, :length]
    sparse, _ = masked_attention(q, k, v, mask & valid[:, None, None, :], scale)
    compressed, _ = masked_attention(q, kc, vc, block_valid[:, None, None, :].expand(batch, heads, length, n), scale)
    return sparse + torch.sigmoid(core.gate.to(q.dtype))[None, :, None, None] * compressed


PATTERN = Pattern(
    name="learned",
    summary="learned top-k block routing (MoBA / NSA): block window + the key blocks each query block selects",
    options=(NUM_WINDOW_BLOCKS, NUM_SELECTED_BLOCKS),
    core=RoutedAttention,
    reference=reference,
    cases={"learned": dict(num_selected_blocks=2)},
    benchmarks={"learned": dict(num_window_blocks=3, num_selected_blocks=8)},
)
