"""The ``"torch"`` backend: block-sparse attention by gathering key/value blocks.

Query blocks are split into two groups by how many key blocks they attend:

* light rows (window, random, global columns): their key-block lists are padded to the
  longest light row and gathered into an ELLPACK tensor ``(B, H, rows, W, block, D)``;
* heavy rows (global rows, which attend the whole sequence): gathered the same way in a
  group of their own, so one long row does not widen every other row's padding.

Memory is O(L x key blocks per row x block_size); no ``L x L`` tensor is formed. Forward and
backward go through autograd. Works on any device; it is the portable fallback of the
Triton kernels (``genosparse.kernels``) and the backend used on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genosparse.attention.layouts import BlockLayout
from genosparse.attention.softmax import accumulation_dtype, mask_bias, softmax_attention

# A row is heavy when it attends more than this many times the median row's key blocks.
HEAVY_ROW_FACTOR = 2
DENSE_MAX_TOKENS = 2048
"""Layouts up to this length that store at least :data:`DENSE_MIN_DENSITY` of their blocks run as masked
dense attention when no gradient is needed: on 2 CPU cores, BigBird (64-token blocks) at 1,024 tokens
(density 0.55) took 345 ms as masked SDPA against 1,390 ms gathered, at 2,048 (0.29) 822 against 1,391;
at 4,096 (0.15) gathering wins (B 8, H 4, D 64, fp32, one thread)."""
DENSE_MIN_DENSITY = 0.25


def _cached(layout: BlockLayout, name: str, build):
    """``build(layout)``, computed once per layout object and kept on it (layouts are cached per length)."""
    if name not in layout.__dict__:
        object.__setattr__(layout, name, build(layout))
    return layout.__dict__[name]


def dense_bias(layout: BlockLayout) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """Masked dense attention for a short, dense layout: ``(bias, rows)``, or None where gathering pays.

    ``bias`` is the ``(1, H, R, L)`` float32 additive mask (0 attended, -inf not) of the ``R``
    query tokens of the rows that attend anything, ``rows`` their ``(R,)`` token positions (None
    when every row attends). None unless ``L <= DENSE_MAX_TOKENS`` and those rows store at least
    ``DENSE_MIN_DENSITY`` of their blocks. Kept on the layout (4 H R L bytes: 16 MB at H 4, L 2,048).
    """
    def build(layout: BlockLayout):
        active = layout.row_degrees().amax(0) > 0  # (nQ,)
        rows, n = int(active.sum()), layout.num_blocks
        if layout.seq_len > DENSE_MAX_TOKENS or float(layout.nnz().sum()) < DENSE_MIN_DENSITY * layout.num_heads * rows * n:
            return None
        mask = layout.to_token_mask()
        positions = None
        if rows < n:
            positions = torch.nonzero(active.repeat_interleave(layout.block_size)[:layout.seq_len]).flatten()
            mask = mask[:, positions]
        return torch.zeros(mask.shape, device=layout.device).masked_fill_(~mask, float("-inf"))[None], positions

    return _cached(layout, "_dense_bias", build)


@dataclass(frozen=True)
class _RowGroup:
    rows: torch.Tensor  # (R,) int64 query-block ids
    cols: torch.Tensor  # (H, R, W) int64 key-block ids (0 where padding)
    valid: torch.Tensor  # (H, R, W) bool, False on padding
    full: bool  # every row attends every key block in every head: no gather needed


def _row_groups(layout: BlockLayout) -> list[_RowGroup]:
    """Split the query blocks that attend anything into light and heavy rows and pad each group's rows
    to equal width (once per layout object)."""
    def build(layout: BlockLayout) -> list[_RowGroup]:
        degree = layout.row_degrees()  # (H, nQ)
        widest = degree.amax(dim=0)  # (nQ,)
        active = widest > 0
        threshold = HEAVY_ROW_FACTOR * widest[active].float().median()
        heavy = widest > threshold
        groups = []
        for rows in (torch.nonzero(active & ~heavy).flatten(), torch.nonzero(heavy).flatten()):
            if rows.numel() == 0:
                continue
            width = int(widest[rows].max())
            slot = torch.arange(width, device=rows.device)
            start = layout.kv_indptr[:, rows].long()  # (H, R)
            valid = slot[None, None, :] < degree[:, rows, None]
            pos = (start[..., None] + slot).clamp_max(layout.kv_indices.shape[1] - 1)
            cols = torch.gather(layout.kv_indices.long(), 1, pos.flatten(1)).view_as(pos)
            full = bool((degree[:, rows] == layout.num_blocks).all())
            groups.append(_RowGroup(rows, torch.where(valid, cols, 0), valid, full))
        return groups

    return _cached(layout, "_row_groups", build)


def blockgather_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: BlockLayout, scale: float,
                          key_valid: torch.Tensor, need_lse: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Block-sparse attention by gathering key/value blocks (any device, autograd).

    Args:
        q, k, v: ``(B, H, Lp, D)`` with ``Lp = layout.num_blocks * layout.block_size``
            (already padded by the caller).
        key_valid: ``(B, Lp)`` bool, False for padding keys.
        need_lse: compute the log-sum-exp.
    Returns:
        ``out`` ``(B, H, Lp, D)`` in ``q.dtype`` and ``lse`` ``(B, H, Lp)`` fp32 (None
        unless ``need_lse``).
    """
    batch, heads, length, dim = q.shape
    bs, n = layout.block_size, layout.num_blocks
    acc = accumulation_dtype(q.dtype)
    qb = (q * scale).view(batch, heads, n, bs, dim)
    kflat, vflat = (t.reshape(batch, heads * n, bs, dim) for t in (k, v))
    valid_b = key_valid.view(batch, n, bs)
    head_base = (torch.arange(heads, device=q.device) * n)[:, None, None]
    outs, lses, order = [], [], []
    for group in _row_groups(layout):
        rows, cols = group.rows, group.cols
        r, w = cols.shape[1], cols.shape[2]
        if group.full:
            out, lse = _full_rows(qb[:, :, rows].reshape(batch, heads, r * bs, dim), k, v, rows, key_valid, layout,
                                  need_lse)
            outs.append(out.view(batch, heads, r, bs, dim))
            lses.append(lse.view(batch, heads, r, bs) if need_lse else None)
            order.append(rows)
            continue
        flat = (head_base + cols).flatten()  # index_select: its backward is index_add, not index_put
        kg = kflat.index_select(1, flat).view(batch * heads * r, w * bs, dim)
        vg = vflat.index_select(1, flat).view(batch * heads * r, w * bs, dim)
        mask = _group_mask(group, valid_b, layout).reshape(batch * heads * r, -1, w * bs)
        scores = torch.baddbmm(mask_bias(mask, acc), qb[:, :, rows].reshape(-1, bs, dim).to(acc),
                               kg.transpose(1, 2).to(acc))  # (B*H*R, bs, W*bs), masked
        out, lse = softmax_attention(scores, mask.any(dim=-1, keepdim=True), vg, need_lse)
        outs.append(out.view(batch, heads, r, bs, dim))
        lses.append(lse.view(batch, heads, r, bs) if need_lse else None)
        order.append(rows)
    order = torch.cat(order)
    if len(order) < n:  # rows that attend nothing (a row-selected layout) get zeros and lse -inf
        out = qb.new_zeros(batch, heads, n, bs, dim, dtype=outs[0].dtype).index_copy(2, order, torch.cat(outs, 2))
        lse = torch.full((batch, heads, n, bs), float("-inf"), device=q.device).index_copy(
            2, order, torch.cat(lses, 2)) if need_lse else None
        return out.reshape(batch, heads, length, dim).to(q.dtype), \
            lse.reshape(batch, heads, length) if need_lse else None
    inverse = torch.argsort(order)
    out = torch.cat(outs, dim=2)[:, :, inverse].reshape(batch, heads, length, dim)
    lse = torch.cat(lses, dim=2)[:, :, inverse].reshape(batch, heads, length) if need_lse else None
    return out.to(q.dtype), lse


def _full_rows(q_rows: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rows: torch.Tensor, key_valid: torch.Tensor,
               layout: BlockLayout, need_lse: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Rows that attend every key block (global rows, dense layouts): plain attention on the
    whole of k and v, ``q_rows`` ``(B, H, R * bs, D)`` (already scaled), no gather."""
    acc = accumulation_dtype(q_rows.dtype)
    mask = key_valid[:, None, None, :]  # (B, 1, 1, Lp)
    bs = layout.block_size
    q_pos = (rows[:, None] * bs + torch.arange(bs, device=rows.device)).flatten()
    band = layout.pair_mask(q_pos[:, None], torch.arange(k.shape[2], device=rows.device)[None, :])
    if band is not None:
        mask = mask & band
    scores = torch.matmul(q_rows.to(acc), k.transpose(-1, -2).to(acc)) + mask_bias(mask, acc)
    return softmax_attention(scores, mask.any(dim=-1, keepdim=True), v, need_lse)


def _group_mask(group: _RowGroup, valid_b: torch.Tensor, layout: BlockLayout) -> torch.Tensor:
    """Attended keys of a row group: ``(B, H, R, bs or 1, W, bs)`` bool.

    Combines the group's padding slots, the padding keys and, for exact sliding windows and
    causal layouts, the token band (:meth:`BlockLayout.pair_mask`; then the query axis has
    ``bs`` entries).
    """
    bs = layout.block_size
    mask = (group.valid[None, :, :, :, None] & valid_b[:, group.cols])[:, :, :, None]
    offs = torch.arange(bs, device=valid_b.device)
    q_pos = group.rows[:, None] * bs + offs  # (R, bs)
    k_pos = group.cols[..., None] * bs + offs  # (H, R, W, bs)
    band = layout.pair_mask(q_pos[None, :, :, None, None], k_pos[:, :, None])
    return mask if band is None else mask & band[None]
