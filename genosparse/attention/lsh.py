"""LSH attention (Kitaev et al. 2020, "Reformer: The Efficient Transformer") on the block-sparse kernels.

Per head and hash round ``r``:

1. Angular LSH: queries and keys are L2-normalised, projected by a random rotation ``R_r``
   ``(D, num_buckets / 2)`` and hashed to ``argmax([xR_r, -xR_r])``, one of ``num_buckets``
   buckets. Padding keys (and queries) go to an extra last bucket.
2. Queries and keys are each sorted by (bucket, position); the sorted sequences are cut into
   chunks of ``block_size`` tokens and chunk ``i`` of the queries attends chunks ``i - 1`` and
   ``i`` of the keys (:func:`~genosparse.attention.layouts.chunked_layout`), with the same
   block-sparse kernels as every other pattern: the rounds and heads are folded into the
   batch, so one kernel call serves all of them.
3. The outputs are unsorted and the rounds combined by their log-sum-exps,
   ``out = sum_r softmax_r(lse_r) * out_r``: the exact softmax over the union of the rounds'
   key sets, where a key found by several rounds counts once per round (Reformer's paper
   divides such duplicates out; Hugging Face's implementation, like this one, does not).

Differences from the paper: queries and keys have their own projections (no shared-QK), so
both are hashed and sorted; chunks are not restricted to equal buckets (as in the Hugging Face
and trax implementations); the rotations are drawn once per layer from ``seed + layer_index``,
so a layer attends identically in training and evaluation, and saved with the model. Gradients reach q, k and v through
the kernels, including through the log-sum-exp weights of step 3; hashing passes none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from genosparse.attention.functional import check_key_padding_mask, sparse_attention
from genosparse.attention.layouts import BlockLayout, chunked_layout

if TYPE_CHECKING:  # the config is built from the pattern registry, which registers this module's class
    from genosparse.attention.patterns import AttentionConfig


class LSHAttention(nn.Module):
    """Multi-round LSH attention over sorted chunks (see module doc).

    Args:
        config: ``num_hashes``, ``num_buckets`` (even), ``block_size`` (the chunk length),
            ``seed`` and ``backend``.
        num_heads: heads ``H`` (unused: the rotations are shared by the heads).
        head_dim: per-head width ``D``.
        layer_index: seeds the rotations (``config.seed + layer_index``).
    Shapes:
        ``q, k, v`` ``(B, H, L, D)`` (fp16, bf16, fp32) -> ``(B, H, L, D)`` in ``q.dtype``;
        ``key_padding_mask`` ``(B, L)`` bool, True on padding keys.
    """

    def __init__(self, config: AttentionConfig, num_heads: int, head_dim: int, layer_index: int = 0) -> None:
        super().__init__()
        self.config = config
        generator = torch.Generator().manual_seed(config.seed + layer_index)
        rotations = torch.randn(config.num_hashes, head_dim, config.num_buckets // 2, generator=generator)
        self.register_buffer("rotations", rotations)  # saved with the model: hashing survives RNG changes
        self._layouts: dict[tuple[int, str], BlockLayout] = {}

    def buckets(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Bucket ids ``(B, H, R, L)`` int64 of ``x`` ``(B, H, L, D)``; ``num_buckets`` where ``valid`` is False."""
        acc = torch.promote_types(x.dtype, torch.float32)
        rounds, dim, half = self.rotations.shape
        rotations = self.rotations.to(acc).permute(1, 0, 2).reshape(dim, rounds * half)
        proj = (F.normalize(x.to(acc), dim=-1) @ rotations).unflatten(-1, (rounds, half))  # (B, H, L, R, half)
        # argmax of [proj, -proj] without forming it: the largest entry, or the most negative one
        top, bottom = proj.max(dim=-1), proj.min(dim=-1)
        ids = torch.where(top.values >= -bottom.values, top.indices, bottom.indices + half).transpose(-1, -2)
        return ids.masked_fill(~valid[:, None, None, :], self.config.num_buckets)

    def sort_order(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Positions ``(B, H, R, L)`` int64 of ``x`` sorted by (bucket, position) in each round."""
        length = x.shape[2]
        return (self.buckets(x, valid) * length + torch.arange(length, device=x.device)).argsort(dim=-1)

    def layout(self, length: int, device: torch.device) -> BlockLayout:
        """The (cached) one-head chunk layout of ``length`` sorted tokens."""
        key = (length, str(device))
        if key not in self._layouts:
            self._layouts[key] = chunked_layout(length, 1, num_previous=1, block_size=self.config.block_size,
                                                device=device)
        return self._layouts[key]

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, heads, length, dim = q.shape
        check_key_padding_mask(key_padding_mask, batch, length)
        rounds = self.config.num_hashes
        valid = torch.ones(batch, length, dtype=torch.bool, device=q.device) if key_padding_mask is None \
            else ~key_padding_mask
        order_q, order_k = self.sort_order(q, valid), self.sort_order(k, valid)
        shape = (batch, heads, rounds, length, dim)
        sorted_mask = None if key_padding_mask is None else \
            key_padding_mask[:, None, None, :].expand(shape[:4]).gather(3, order_k).reshape(-1, length)
        out, lse = sparse_attention(sorted_rounds(q, order_q), sorted_rounds(k, order_k), sorted_rounds(v, order_k),
                                    self.layout(length, q.device), backend=self.config.backend,
                                    key_padding_mask=sorted_mask, return_lse=True)
        inverse = order_q.argsort(dim=-1)
        out = out.view(shape).gather(3, inverse[..., None].expand(shape))
        return combine_rounds(out, lse.view(shape[:4]).gather(3, inverse))


def sorted_rounds(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``x`` ``(B, H, L, D)`` in each round's order ``(B, H, R, L)``, as the one-head batch
    ``(B * H * R, 1, L, D)`` the chunk layout is applied to."""
    batch, heads, rounds, length = order.shape
    shape = (batch, heads, rounds, length, x.shape[-1])
    return x[:, :, None].expand(shape).gather(3, order[..., None].expand(shape)).reshape(-1, 1, length, x.shape[-1])


def combine_rounds(out: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
    """Merge per-round attention ``out`` ``(B, H, R, L, D)`` by its ``lse`` ``(B, H, R, L)``: ``(B, H, L, D)``.

    Each round is weighted by ``softmax_r(lse_r)``, which makes the result the softmax over the
    union of the rounds' scores (Reformer, section 2.3); a row that attends nothing in any round is 0.
    """
    empty = torch.isinf(lse).all(dim=2, keepdim=True)
    weights = torch.softmax(lse.masked_fill(empty, 0.0), dim=2).masked_fill(empty, 0.0)
    return (weights[..., None].to(out.dtype) * out).sum(dim=2)
