"""Learned block routing: each query block attends its block window plus the key blocks it selects.

Method: the mixture-of-block-attention idea (Lu et al. 2025, "MoBA: Mixture of Block Attention
for Long-Context LLMs") with the compressed branch of native sparse attention (Yuan et al.
2025, "Native Sparse Attention", NSA):

1. Keys and values are mean-pooled over each block of ``block_size`` tokens (padding keys left
   out); a learned linear map, the router, turns the pooled keys into routing keys ``kc``.
2. The routing score of query block ``i`` and key block ``j`` is the mean-pooled query of block
   ``i`` dotted with ``kc_j`` (scaled by ``1/sqrt(D)``). Each query block keeps its
   ``num_selected_blocks`` best key blocks (blocks of only padding are never preferred) and its
   ``num_window_blocks`` window.
3. The selected pairs become a CSR :class:`~genosparse.attention.layouts.BlockLayout` built on
   the device on every forward (:func:`~genosparse.attention.layouts.selected_blocks_layout`), and
   :func:`~genosparse.attention.functional.sparse_attention` (the same Triton kernels as every
   static pattern) computes exact softmax attention over those blocks.
4. A compressed branch attends every query to all routing keys ``kc`` with the pooled values;
   its output, weighted by a learned per-head gate ``sigmoid(g)``, is added to the sparse output.

How gradients reach the router: the top-k choice is discrete and passes no gradient (as in MoBA
and NSA). The router is trained through the compressed branch of step 4, whose keys are the
routing keys: the loss gradient flows through that branch's softmax into ``kc`` and the router.
The same routing keys rank the blocks of step 2, so what the router learns (which blocks answer
which queries) decides the selection. ``q``, ``k`` and ``v`` get gradients from both branches.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from genosparse.attention.functional import check_key_padding_mask, sparse_attention
from genosparse.attention.layouts import BlockLayout, num_blocks, selected_blocks_layout

if TYPE_CHECKING:  # the config is built from the pattern registry, which registers this module's class
    from genosparse.attention.patterns import AttentionConfig

ROUTING_ROWS_PER_CHUNK = 1024
"""Query blocks scored at a time, bounding the ``(B, H, rows, nK)`` routing scores."""


def block_means(x: torch.Tensor, valid: torch.Tensor, block_size: int) -> torch.Tensor:
    """Mean of ``x`` ``(B, H, L, D)`` over the ``valid`` ``(B, L)`` positions of each block of
    ``block_size`` tokens: ``(B, H, nBlocks, D)`` in ``x.dtype`` (0 for a block without one)."""
    batch, heads, length, dim = x.shape
    n = num_blocks(length, block_size)
    pad = n * block_size - length
    weight = F.pad(valid, (0, pad)).to(x.dtype).view(batch, 1, n, block_size, 1)
    total = (F.pad(x, (0, 0, 0, pad)).view(batch, heads, n, block_size, dim) * weight).sum(3)
    return total / weight.sum(3).clamp_min(1)


class RoutedAttention(nn.Module):
    """Attention over a per-input block layout chosen by learned routing (see module doc).

    Args:
        config: ``block_size``, ``num_window_blocks`` (odd), ``num_selected_blocks`` and ``backend``.
        num_heads: heads ``H``.
        head_dim: per-head width ``D``.
    Shapes:
        ``q, k, v`` ``(B, H, L, D)`` (fp16, bf16, fp32) -> ``(B, H, L, D)`` in ``q.dtype``;
        ``key_padding_mask`` ``(B, L)`` bool, True on padding keys.
    """

    def __init__(self, config: AttentionConfig, num_heads: int, head_dim: int, layer_index: int = 0) -> None:
        super().__init__()
        self.config = config
        self.router = nn.Linear(head_dim, head_dim, bias=False)  # a bias would shift all scores of a query equally
        nn.init.eye_(self.router.weight)
        self.gate = nn.Parameter(torch.zeros(num_heads))

    def pooled(self, k: torch.Tensor, v: torch.Tensor,
               key_valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Routing keys ``kc`` and pooled values ``vc`` ``(B, H, nK, D)``, and ``(B, nK)`` bool: block has a key."""
        bs = self.config.block_size
        return self.router(block_means(k, key_valid, bs)), block_means(v, key_valid, bs), \
            F.pad(key_valid, (0, num_blocks(k.shape[2], bs) * bs - k.shape[2])).unflatten(1, (-1, bs)).any(-1)

    @torch.no_grad()
    def selected_blocks(self, q: torch.Tensor, kc: torch.Tensor, block_valid: torch.Tensor,
                        query_valid: torch.Tensor) -> torch.Tensor:
        """``(B, H, nQ, k)`` int64 key blocks with the highest routing scores for each query block.

        The routing query of a block is the mean of its ``query_valid`` ``(B, L)`` positions, so
        padding never changes which blocks the real tokens attend.
        """
        dim = q.shape[-1]
        n = kc.shape[2]
        count = min(self.config.num_selected_blocks, n)
        acc = torch.promote_types(q.dtype, torch.float32)
        qc = block_means(q.to(acc), query_valid, self.config.block_size)
        kc = kc.to(acc) / math.sqrt(dim)
        masked = torch.where(block_valid, 0.0, float("-inf"))[:, None, None, :]
        parts = [(torch.matmul(qc[:, :, r:r + ROUTING_ROWS_PER_CHUNK], kc.transpose(-1, -2)) + masked)
                 .topk(count, dim=-1).indices for r in range(0, n, ROUTING_ROWS_PER_CHUNK)]
        return torch.cat(parts, dim=2)

    def routing_layout(self, q: torch.Tensor, kc: torch.Tensor, block_valid: torch.Tensor,
                       query_valid: torch.Tensor) -> BlockLayout:
        """The layout of this input: ``B * H`` "heads", batch element ``b`` owning heads ``b*H .. b*H + H - 1``."""
        batch, heads, length, _ = q.shape
        selected = self.selected_blocks(q, kc, block_valid, query_valid)
        return selected_blocks_layout(length, selected.reshape(batch * heads, *selected.shape[2:]),
                                      num_window_blocks=self.config.num_window_blocks,
                                      block_size=self.config.block_size)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, heads, length, dim = q.shape
        check_key_padding_mask(key_padding_mask, batch, length)
        key_valid = torch.ones(batch, length, dtype=torch.bool, device=q.device) if key_padding_mask is None \
            else ~key_padding_mask
        kc, vc, block_valid = self.pooled(k, v, key_valid)
        layout = self.routing_layout(q, kc, block_valid, key_valid)  # padding positions are padding queries too
        backend = self.config.backend
        if key_padding_mask is None or batch == 1:  # one call: batch folded into the layout's heads
            flat = (t.reshape(1, batch * heads, length, dim) for t in (q, k, v))
            out = sparse_attention(*flat, layout, backend=backend, key_padding_mask=key_padding_mask).view_as(q)
        else:  # key padding differs per batch element: one call each
            out = torch.cat([sparse_attention(q[b:b + 1], k[b:b + 1], v[b:b + 1],
                                              layout.select_heads(slice(b * heads, (b + 1) * heads)),
                                              backend=backend, key_padding_mask=key_padding_mask[b:b + 1])
                             for b in range(batch)])
        mask = None if key_padding_mask is None else block_valid[:, None, None, :]
        compressed = F.scaled_dot_product_attention(q, kc.to(q.dtype), vc.to(q.dtype), attn_mask=mask)
        if mask is not None:  # a batch element whose keys are all padding attends nothing
            compressed = compressed.masked_fill(~block_valid.any(-1)[:, None, None, None], 0.0)
        return out + torch.sigmoid(self.gate).to(q.dtype)[None, :, None, None] * compressed
