"""Backward block-sparse attention: dQ, dK, dV over a CSR block layout and its transpose.

Method: FlashAttention-2's backward (Dao 2023) in the form of the Triton fused-attention
tutorial, with separate dK/dV and dQ kernels so that no program writes another's output
(no atomics, deterministic):

1. ``delta = rowsum(dO * O) - dlse`` (:func:`_attn_bwd_delta_kernel`); the ``dlse`` term
   makes the returned log-sum-exp differentiable too (``d lse / d s = P``).
2. dQ (:func:`_attn_bwd_dq_kernel`): one program per query tile (per chunk of it; a tile is
   ``GROUP`` neighbouring query blocks, :mod:`~genosparse.kernels.tiles`) streams the key blocks
   of its rows: ``P = exp(S - lse)``, ``dS = P * (dO V^T - delta)``, ``dQ += dS K``.
3. dK, dV (:func:`_attn_bwd_dkdv_kernel`): one program per key tile (per chunk of it) streams
   the query blocks of its columns of the transposed layout (``q_indptr``/``q_indices``):
   ``dV += P^T dO``, ``dK += dS^T Q``.

Global rows and the global columns (every query block attends a global key block) are split
into chunks by the work plans of ``kv_indptr`` and ``q_indptr``; split rows and columns
write fp32 partial sums to scratch slots that :func:`_sum_partials_kernel` adds in slot
order (flash-decoding's split, with a deterministic reduction).

Shapes: ``q, k, v, out, grad_out`` ``(B, H, L, D)``; ``lse`` ``(B, H, L)`` fp32 (natural log,
as the forward returns it); gradients ``(B, H, L, D)`` in the dtype of their input.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .attention_fwd import need_mask
from .common import (LOG2E, dot_precision, in_band, key_padding_arg, key_valid, member_rows, query_tile_valid,
                     streamed_member, tile_mask, tile_needs_mask)
from .tiles import Tiles
from .tuning import TunedKernel, length_bucket

__all__ = ["attention_backward"]

_LOG2E: tl.constexpr = tl.constexpr(LOG2E)


@triton.jit(do_not_specialize=["H", "L"])
def _attn_bwd_delta_kernel(
    Out, dOut, dLse, Delta, stride_ob, stride_oh, stride_ol, stride_gb, stride_gh, stride_gl, H, L,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK: tl.constexpr, HAS_DLSE: tl.constexpr,
):
    """``delta = rowsum(dO * O) - dlse`` in fp32 for one block of rows: grid ``(nQ, B * H)``."""
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    offs_m = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    offs_d = tl.arange(0, BLOCK_D)
    rows_ok = offs_m < L
    mask = tile_mask(offs_m, L, offs_d, HEAD_DIM, BLOCK_D)
    o = tl.load(Out + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_ol + offs_d[None, :], mask=mask,
                other=0.0)
    do = tl.load(dOut + b * stride_gb + h * stride_gh + offs_m[:, None] * stride_gl + offs_d[None, :], mask=mask,
                 other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
    if HAS_DLSE:
        delta -= tl.load(dLse + bh * L + offs_m, mask=rows_ok, other=0.0)
    tl.store(Delta + bh * L + offs_m, delta, mask=rows_ok)


@triton.jit
def _row_stats(Lse, Delta, bh, offs_m, L):
    """Base-2 log-sum-exp and delta of a block of rows; rows attending nothing (``lse = -inf``)
    and rows past ``L`` get ``+inf`` so that their probabilities are exactly 0."""
    rows_ok = offs_m < L
    lse = tl.load(Lse + bh * L + offs_m, mask=rows_ok, other=float("inf"))
    lse2 = tl.where(lse == float("-inf"), float("inf"), lse * _LOG2E)
    delta = tl.load(Delta + bh * L + offs_m, mask=rows_ok, other=0.0)
    return lse2, delta


@triton.jit(do_not_specialize=["stride_kpm", "H", "L", "num_chunks", "idx_width", "num_slots", "has_kpm",
                                "band_lo", "band_hi", "L_BUCKET"])
def _attn_bwd_dq_kernel(
    Q, K, V, dOut, dQ, Lse, Delta, Kpm, Chunks, KvIdx, Member, dQPart,
    stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl, stride_vb, stride_vh, stride_vl,
    stride_gb, stride_gh, stride_gl, stride_kpm,
    H, L, num_chunks, idx_width, num_slots, qk_scale, sm_scale, has_kpm, band_lo, band_hi, L_BUCKET,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK: tl.constexpr, GROUP: tl.constexpr,
    NEED_MASK: tl.constexpr, PRECISION: tl.constexpr,
):
    """dQ of one chunk of one grouped query row: grid ``(num_chunks, B * H)``; ``dQ`` is
    contiguous ``(B, H, L, D)``."""
    ROWS: tl.constexpr = GROUP * BLOCK
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    entry = Chunks + (h * num_chunks + tl.program_id(0)) * 4
    row = tl.load(entry)
    if row < 0:
        return
    start = tl.load(entry + 1)
    end = tl.load(entry + 2)
    slot = tl.load(entry + 3)

    q_start = row.to(tl.int64) * ROWS
    offs_m = q_start + tl.arange(0, ROWS)
    offs_d = tl.arange(0, BLOCK_D)
    offs_j = tl.arange(0, BLOCK)
    q_mask = tile_mask(offs_m, L, offs_d, HEAD_DIM, BLOCK_D)
    q = tl.load(Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_ql + offs_d[None, :], mask=q_mask,
                other=0.0)
    do = tl.load(dOut + b * stride_gb + h * stride_gh + offs_m[:, None] * stride_gl + offs_d[None, :], mask=q_mask,
                 other=0.0)
    lse2, delta = _row_stats(Lse, Delta, bh, offs_m, L)
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh
    idx_base = KvIdx + h * idx_width

    dq = tl.zeros([ROWS, BLOCK_D], tl.float32)
    for p in range(start, end):
        k_block = tl.load(idx_base + p)
        offs_n = k_block.to(tl.int64) * BLOCK + offs_j
        kv_mask = tile_mask(offs_n, L, offs_d, HEAD_DIM, BLOCK_D)
        k = tl.load(k_base + offs_n[:, None] * stride_kl + offs_d[None, :], mask=kv_mask, other=0.0)
        v = tl.load(v_base + offs_n[:, None] * stride_vl + offs_d[None, :], mask=kv_mask, other=0.0)
        prob = tl.exp2(tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale - lse2[:, None])
        if NEED_MASK:
            member = streamed_member(Member, h * idx_width + p, GROUP)
            if (member != (1 << GROUP) - 1) | tile_needs_mask(q_start, k_block * BLOCK, L, has_kpm, band_lo, band_hi,
                                                              ROWS, BLOCK):
                valid = query_tile_valid(Kpm, b, offs_m, offs_n, L, stride_kpm, has_kpm, band_lo, band_hi, member,
                                         ROWS, BLOCK, GROUP)
                prob = tl.where(valid, prob, 0.0)
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)
        ds = prob * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
    dq *= sm_scale

    if slot < 0:
        tl.store(dQ + bh * L * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :], dq.to(dQ.dtype.element_ty),
                 mask=q_mask)
    else:
        part = (bh * num_slots + slot) * ROWS + tl.arange(0, ROWS)
        tl.store(dQPart + part[:, None] * BLOCK_D + offs_d[None, :], dq)


@triton.jit(do_not_specialize=["stride_kpm", "H", "L", "num_chunks", "idx_width", "num_slots", "has_kpm",
                                "band_lo", "band_hi", "L_BUCKET"])
def _attn_bwd_dkdv_kernel(
    Q, K, V, dOut, dK, dV, Lse, Delta, Kpm, Chunks, QIdx, Member, dKPart, dVPart,
    stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl, stride_vb, stride_vh, stride_vl,
    stride_gb, stride_gh, stride_gl, stride_kpm,
    H, L, num_chunks, idx_width, num_slots, qk_scale, sm_scale, has_kpm, band_lo, band_hi, L_BUCKET,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK: tl.constexpr, GROUP: tl.constexpr,
    NEED_MASK: tl.constexpr, PRECISION: tl.constexpr,
):
    """dK and dV of one chunk of one grouped key column of the transposed layout:
    grid ``(num_chunks, B * H)``; ``dK``, ``dV`` are contiguous ``(B, H, L, D)``."""
    COLS: tl.constexpr = GROUP * BLOCK
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    entry = Chunks + (h * num_chunks + tl.program_id(0)) * 4
    col = tl.load(entry)
    if col < 0:
        return
    start = tl.load(entry + 1)
    end = tl.load(entry + 2)
    slot = tl.load(entry + 3)

    k_start = col.to(tl.int64) * COLS
    offs_n = k_start + tl.arange(0, COLS)
    offs_d = tl.arange(0, BLOCK_D)
    offs_j = tl.arange(0, BLOCK)
    kv_mask = tile_mask(offs_n, L, offs_d, HEAD_DIM, BLOCK_D)
    k = tl.load(K + b * stride_kb + h * stride_kh + offs_n[:, None] * stride_kl + offs_d[None, :], mask=kv_mask,
                other=0.0)
    v = tl.load(V + b * stride_vb + h * stride_vh + offs_n[:, None] * stride_vl + offs_d[None, :], mask=kv_mask,
                other=0.0)
    if NEED_MASK:
        key_ok = key_valid(Kpm, b, offs_n, L, stride_kpm, has_kpm)
    q_base = Q + b * stride_qb + h * stride_qh
    do_base = dOut + b * stride_gb + h * stride_gh
    idx_base = QIdx + h * idx_width

    dk = tl.zeros([COLS, BLOCK_D], tl.float32)
    dv = tl.zeros([COLS, BLOCK_D], tl.float32)
    for p in range(start, end):
        q_block = tl.load(idx_base + p)
        offs_m = q_block.to(tl.int64) * BLOCK + offs_j
        q_mask = tile_mask(offs_m, L, offs_d, HEAD_DIM, BLOCK_D)
        q = tl.load(q_base + offs_m[:, None] * stride_ql + offs_d[None, :], mask=q_mask, other=0.0)
        do = tl.load(do_base + offs_m[:, None] * stride_gl + offs_d[None, :], mask=q_mask, other=0.0)
        lse2, delta = _row_stats(Lse, Delta, bh, offs_m, L)
        prob_t = tl.exp2(tl.dot(k, tl.trans(q), input_precision=PRECISION) * qk_scale - lse2[None, :])
        if NEED_MASK:
            member = streamed_member(Member, h * idx_width + p, GROUP)
            if (member != (1 << GROUP) - 1) | tile_needs_mask(q_block * BLOCK, k_start, L, has_kpm, band_lo, band_hi,
                                                              BLOCK, COLS):
                valid = key_ok[:, None] & in_band(offs_m[None, :] - offs_n[:, None], band_lo, band_hi)
                if GROUP > 1:
                    valid = valid & member_rows(member, COLS, BLOCK)[:, None]
                prob_t = tl.where(valid, prob_t, 0.0)
        dv += tl.dot(prob_t.to(do.dtype), do, input_precision=PRECISION)
        dp_t = tl.dot(v, tl.trans(do), input_precision=PRECISION)
        ds_t = prob_t * (dp_t - delta[None, :])
        dk += tl.dot(ds_t.to(q.dtype), q, input_precision=PRECISION)
    dk *= sm_scale

    if slot < 0:
        dst = bh * L * HEAD_DIM + offs_n[:, None] * HEAD_DIM + offs_d[None, :]
        tl.store(dK + dst, dk.to(dK.dtype.element_ty), mask=kv_mask)
        tl.store(dV + dst, dv.to(dV.dtype.element_ty), mask=kv_mask)
    else:
        part = (bh * num_slots + slot) * COLS + tl.arange(0, COLS)
        tl.store(dKPart + part[:, None] * BLOCK_D + offs_d[None, :], dk)
        tl.store(dVPart + part[:, None] * BLOCK_D + offs_d[None, :], dv)


@triton.jit(do_not_specialize=["H", "L", "num_heavy", "num_slots"])
def _sum_partials_kernel(
    Dst, Part, Heavy, H, L, num_heavy, num_slots,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, ROWS: tl.constexpr,
):
    """Sum the partial gradients of one split row or column in slot order into the
    contiguous ``(B, H, L, D)`` ``Dst``: grid ``(num_heavy, B * H)``."""
    bh = tl.program_id(1).to(tl.int64)
    h = bh % H
    entry = Heavy + (h * num_heavy + tl.program_id(0)) * 3
    count = tl.load(entry + 2)
    if count == 0:
        return
    first = bh * num_slots + tl.load(entry + 1)
    offs_j = tl.arange(0, ROWS)
    offs_d = tl.arange(0, BLOCK_D)
    acc = tl.zeros([ROWS, BLOCK_D], tl.float32)
    for s in range(count):
        acc += tl.load(Part + ((first + s) * ROWS + offs_j)[:, None] * BLOCK_D + offs_d[None, :])
    offs_m = tl.load(entry).to(tl.int64) * ROWS + offs_j
    tl.store(Dst + bh * L * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :], acc.to(Dst.dtype.element_ty),
             mask=tile_mask(offs_m, L, offs_d, HEAD_DIM, BLOCK_D))


def _dq_smem(stages: int, rows: int, block: int, block_d: int, elem: int) -> int:
    """Pipelined K and V tiles, resident Q and dO tiles, the dS tile."""
    return (2 * stages * block + 2 * rows) * block_d * elem + rows * block * elem


def _dkdv_smem(stages: int, cols: int, block: int, block_d: int, elem: int) -> int:
    """Pipelined Q and dO tiles, resident K and V tiles, the P and dS tiles."""
    return (2 * stages * block + 2 * cols) * block_d * elem + 2 * cols * block * elem


_DQ = TunedKernel(_attn_bwd_dq_kernel, _dq_smem)
_DKDV = TunedKernel(_attn_bwd_dkdv_kernel, _dkdv_smem)


def _sum_partials(dst: torch.Tensor, part: torch.Tensor, tiles: Tiles, block_size: int, block_d: int) -> None:
    batch, heads, length, dim = dst.shape
    plan = tiles.plan
    _sum_partials_kernel[(plan.num_heavy, batch * heads)](
        dst, part, plan.heavy, heads, length, plan.num_heavy, plan.num_slots,
        HEAD_DIM=dim, BLOCK_D=block_d, ROWS=tiles.group * block_size, num_warps=4,
    )


def attention_backward(grad_out: torch.Tensor, grad_lse: torch.Tensor | None, q: torch.Tensor, k: torch.Tensor,
                       v: torch.Tensor, out: torch.Tensor, lse: torch.Tensor, rows: Tiles, cols: Tiles,
                       key_padding_mask: torch.Tensor | None, block_size: int, band: tuple[int, int] | None,
                       scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Launch the backward kernels.

    Args:
        grad_out: ``(B, H, L, D)`` gradient of ``out``; ``grad_lse``: ``(B, H, L)`` gradient of
            ``lse`` or None.
        q, k, v, out, lse: the forward's inputs and results (see ``attention_forward``).
        rows: :func:`~genosparse.kernels.tiles.tiles` of the layout's ``kv_indptr, kv_indices`` (dQ).
        cols: tiles of the transposed layout's ``q_indptr, q_indices`` (dK, dV).
        key_padding_mask, block_size, band, scale: as in the forward.
    Returns:
        ``dq, dk, dv``: contiguous ``(B, H, L, D)`` in the dtypes of ``q, k, v``.
    """
    batch, heads, length, dim = q.shape
    block_d = max(16, triton.next_power_of_2(dim))
    device = q.device
    grid_rows = triton.cdiv(length, block_size)
    delta = torch.empty(batch, heads, length, dtype=torch.float32, device=device)
    _attn_bwd_delta_kernel[(grid_rows, batch * heads)](
        out, grad_out, grad_lse if grad_lse is not None else lse, delta, *out.stride()[:3], *grad_out.stride()[:3],
        heads, length, HEAD_DIM=dim, BLOCK_D=block_d, BLOCK=block_size, HAS_DLSE=grad_lse is not None, num_warps=4,
    )
    dq, dk, dv = (torch.empty(t.shape, dtype=t.dtype, device=device) for t in (q, k, v))
    kpm, stride_kpm = key_padding_arg(key_padding_mask, q)

    def scratch(tiles: Tiles) -> torch.Tensor:
        size = batch * heads * tiles.plan.num_slots * tiles.group * block_size * block_d
        return torch.empty(size, dtype=torch.float32, device=device) if size else delta

    strides = (*q.stride()[:3], *k.stride()[:3], *v.stride()[:3], *grad_out.stride()[:3],
               stride_kpm)
    masks = (int(key_padding_mask is not None), *(band or (-length, length)))
    bucket = length_bucket(length)

    def meta(tiles: Tiles) -> dict:
        return dict(HEAD_DIM=dim, BLOCK_D=block_d, BLOCK=block_size, GROUP=tiles.group,
                    NEED_MASK=need_mask(key_padding_mask, band, length, block_size, tiles.group),
                    PRECISION=dot_precision(q.dtype))

    dq_part = scratch(rows)
    _DQ((rows.plan.num_chunks, batch * heads), q, k, v, grad_out, dq, lse, delta, kpm, rows.plan.chunks,
        rows.indices, rows.member, dq_part, *strides, heads, length, rows.plan.num_chunks, rows.indices.shape[1],
        rows.plan.num_slots, scale * LOG2E, scale, *masks, bucket, **meta(rows))
    dk_part, dv_part = scratch(cols), scratch(cols)
    _DKDV((cols.plan.num_chunks, batch * heads), q, k, v, grad_out, dk, dv, lse, delta, kpm, cols.plan.chunks,
          cols.indices, cols.member, dk_part, dv_part, *strides, heads, length, cols.plan.num_chunks,
          cols.indices.shape[1], cols.plan.num_slots, scale * LOG2E, scale, *masks, bucket, **meta(cols))
    if rows.plan.num_heavy:
        _sum_partials(dq, dq_part, rows, block_size, block_d)
    if cols.plan.num_heavy:
        _sum_partials(dk, dk_part, cols, block_size, block_d)
        _sum_partials(dv, dv_part, cols, block_size, block_d)
    return dq, dk, dv
