"""Forward block-sparse attention: output and log-sum-exp over a CSR block layout.

Method: FlashAttention-2's forward (Dao 2023, "FlashAttention-2: Faster Attention with
Better Parallelism and Work Partitioning"; the Triton fused-attention tutorial): one program
holds a ``GROUP * BLOCK x D`` query tile (:mod:`~genosparse.kernels.tiles`: ``GROUP``
neighbouring query blocks over the union of their key blocks) and streams those key/value
blocks, keeping a running maximum, running sum and fp32 accumulator (online softmax, base 2).
Rows longer than the plan's chunk length (global rows) are split over several programs whose
normalised partial outputs and log-sum-exps are merged by :func:`_attn_fwd_combine_kernel`
(flash-decoding), so a row over the whole sequence does not serialise the launch.

Masking (only in the ``NEED_MASK`` specialisation, and there only in the tiles that need it,
:func:`~genosparse.kernels.common.tile_needs_mask`): tail keys past ``L``, padding keys
(``key_padding_mask`` True), token pairs outside the band ``band_lo <= q_pos - k_pos <= band_hi``
(exact sliding windows ``(-w, w)``, causal attention ``(0, L)``) and the rows of a grouped
tile whose block does not hold the streamed key block. The key padding and the band are
runtime arguments (``has_kpm``; ``band = (-L, L)`` when there is none), so one compiled kernel
serves all masked cases. A row that attends nothing gets output 0 and ``lse = -inf``.

Shapes: ``q, k, v, out`` ``(B, H, L, D)`` (any strides with unit stride on ``D``), ``lse``
``(B, H, L)`` fp32 natural log; ``key_padding_mask`` ``(B, L)`` bool.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .common import (LN2, LOG2E, dot_precision, key_padding_arg, query_tile_valid, streamed_member, tile_mask,
                     tile_needs_mask)
from .tiles import Tiles
from .tuning import TunedKernel, length_bucket

__all__ = ["attention_forward"]


@triton.jit(do_not_specialize=["stride_kpm", "H", "L", "num_chunks", "idx_width", "num_slots", "has_kpm",
                                "band_lo", "band_hi", "L_BUCKET"])
def _attn_fwd_kernel(
    Q, K, V, Out, Lse, Kpm, Chunks, KvIdx, Member, OutPart, LsePart,
    stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl,
    stride_vb, stride_vh, stride_vl, stride_ob, stride_oh, stride_ol, stride_kpm,
    H, L, num_chunks, idx_width, num_slots, qk_scale, has_kpm, band_lo, band_hi, L_BUCKET,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK: tl.constexpr, GROUP: tl.constexpr,
    NEED_MASK: tl.constexpr, PRECISION: tl.constexpr,
):
    """One chunk of one grouped query row of one (batch, head): grid ``(num_chunks, B * H)``."""
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
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh
    idx_base = KvIdx + h * idx_width

    m_i = tl.full([ROWS], float("-inf"), tl.float32)
    l_i = tl.zeros([ROWS], tl.float32)
    acc = tl.zeros([ROWS, BLOCK_D], tl.float32)
    for p in range(start, end):
        k_block = tl.load(idx_base + p)
        offs_n = k_block.to(tl.int64) * BLOCK + offs_j
        kv_mask = tile_mask(offs_n, L, offs_d, HEAD_DIM, BLOCK_D)
        k = tl.load(k_base + offs_n[:, None] * stride_kl + offs_d[None, :], mask=kv_mask, other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
        if NEED_MASK:
            member = streamed_member(Member, h * idx_width + p, GROUP)
            if (member != (1 << GROUP) - 1) | tile_needs_mask(q_start, k_block * BLOCK, L, has_kpm, band_lo, band_hi,
                                                              ROWS, BLOCK):
                valid = query_tile_valid(Kpm, b, offs_m, offs_n, L, stride_kpm, has_kpm, band_lo, band_hi, member,
                                         ROWS, BLOCK, GROUP)
                s = tl.where(valid, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)  # rows with no key yet
        alpha = tl.exp2(m_i - m_use)
        prob = tl.exp2(s - m_use[:, None])
        l_i = l_i * alpha + tl.sum(prob, 1)
        v = tl.load(v_base + offs_n[:, None] * stride_vl + offs_d[None, :], mask=kv_mask, other=0.0)
        acc = acc * alpha[:, None] + tl.dot(prob.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new

    empty = l_i == 0.0
    l_safe = tl.where(empty, 1.0, l_i)
    out = acc / l_safe[:, None]
    lse2 = tl.where(empty, float("-inf"), m_i + tl.log2(l_safe))
    if slot < 0:
        tl.store(Out + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_ol + offs_d[None, :],
                 out.to(Out.dtype.element_ty), mask=q_mask)
        tl.store(Lse + bh * L + offs_m, lse2 * LN2, mask=offs_m < L)
    else:
        offs_r = tl.arange(0, ROWS)
        part = bh * num_slots + slot
        tl.store(OutPart + (part * ROWS + offs_r)[:, None] * BLOCK_D + offs_d[None, :], out)
        tl.store(LsePart + part * ROWS + offs_r, lse2)


@triton.jit(do_not_specialize=["H", "L", "num_heavy", "num_slots"])
def _attn_fwd_combine_kernel(
    Out, Lse, OutPart, LsePart, Heavy, stride_ob, stride_oh, stride_ol, H, L, num_heavy, num_slots,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, ROWS: tl.constexpr,
):
    """Merge the partial results of one split row, weighting each by its sum-exp:
    grid ``(num_heavy, B * H)``. Partials hold normalised outputs and base-2 log-sum-exps."""
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    entry = Heavy + (h * num_heavy + tl.program_id(0)) * 3
    count = tl.load(entry + 2)
    if count == 0:
        return
    row = tl.load(entry)
    first = bh * num_slots + tl.load(entry + 1)
    offs_j = tl.arange(0, ROWS)
    offs_d = tl.arange(0, BLOCK_D)
    m = tl.full([ROWS], float("-inf"), tl.float32)
    for s in range(count):
        m = tl.maximum(m, tl.load(LsePart + (first + s) * ROWS + offs_j))
    m_use = tl.where(m == float("-inf"), 0.0, m)
    acc = tl.zeros([ROWS, BLOCK_D], tl.float32)
    total = tl.zeros([ROWS], tl.float32)
    for s in range(count):
        w = tl.exp2(tl.load(LsePart + (first + s) * ROWS + offs_j) - m_use)
        part = tl.load(OutPart + ((first + s) * ROWS + offs_j)[:, None] * BLOCK_D + offs_d[None, :])
        acc += w[:, None] * part
        total += w
    empty = total == 0.0
    total_safe = tl.where(empty, 1.0, total)
    offs_m = row.to(tl.int64) * ROWS + offs_j
    tl.store(Out + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_ol + offs_d[None, :],
             (acc / total_safe[:, None]).to(Out.dtype.element_ty),
             mask=tile_mask(offs_m, L, offs_d, HEAD_DIM, BLOCK_D))
    tl.store(Lse + bh * L + offs_m, tl.where(empty, float("-inf"), m_use + tl.log2(total_safe)) * LN2,
             mask=offs_m < L)


def _fwd_smem(stages: int, rows: int, block: int, block_d: int, elem: int) -> int:
    """Pipelined K and V tiles, the resident Q tile and the probability tile."""
    return (2 * stages * block + rows) * block_d * elem + rows * block * elem


_FWD = TunedKernel(_attn_fwd_kernel, _fwd_smem)


def need_mask(key_padding_mask: torch.Tensor | None, band: tuple[int, int] | None, length: int, block_size: int,
              group: int) -> bool:
    """Whether the kernels need their masking specialisation."""
    return key_padding_mask is not None or band is not None or length % block_size != 0 or group > 1


def attention_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rows: Tiles,
                      key_padding_mask: torch.Tensor | None, block_size: int, band: tuple[int, int] | None,
                      scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch the forward kernels.

    Args:
        q, k, v: ``(B, H, L, D)`` fp16, bf16 or fp32, unit stride on ``D``, ``D <= 128``.
        rows: :func:`~genosparse.kernels.tiles.tiles` of the layout's ``kv_indptr, kv_indices``.
        key_padding_mask: ``(B, L)`` bool, True for padding keys, or None.
        block_size: the layout's block size (16, 32, 64 or 128).
        band: ``(lo, hi)`` allowed range of ``q_pos - k_pos`` in tokens (exact windows, causal), or None.
        scale: score scale (usually ``1 / sqrt(D)``).
    Returns:
        ``out`` ``(B, H, L, D)`` in ``q.dtype`` (contiguous) and ``lse`` ``(B, H, L)`` fp32,
        the natural-log sum of exp of the scaled scores (``-inf`` for rows attending nothing).
    """
    batch, heads, length, dim = q.shape
    block_d = max(16, triton.next_power_of_2(dim))
    tile_rows = rows.group * block_size
    plan = rows.plan
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty(batch, heads, length, dtype=torch.float32, device=q.device)
    slots = batch * heads * plan.num_slots * tile_rows
    out_part = torch.empty(slots * block_d, dtype=torch.float32, device=q.device) if slots else lse
    lse_part = torch.empty(slots, dtype=torch.float32, device=q.device) if slots else lse
    kpm, stride_kpm = key_padding_arg(key_padding_mask, q)
    _FWD(
        (plan.num_chunks, batch * heads),
        q, k, v, out, lse, kpm, plan.chunks, rows.indices, rows.member, out_part, lse_part,
        *q.stride()[:3], *k.stride()[:3], *v.stride()[:3], *out.stride()[:3],
        stride_kpm,
        heads, length, plan.num_chunks, rows.indices.shape[1], plan.num_slots, scale * LOG2E,
        int(key_padding_mask is not None), *(band or (-length, length)),
        length_bucket(length), HEAD_DIM=dim, BLOCK_D=block_d, BLOCK=block_size, GROUP=rows.group,
        NEED_MASK=need_mask(key_padding_mask, band, length, block_size, rows.group), PRECISION=dot_precision(q.dtype),
    )
    if plan.num_heavy:
        _attn_fwd_combine_kernel[(plan.num_heavy, batch * heads)](
            out, lse, out_part, lse_part, plan.heavy, *out.stride()[:3], heads, length, plan.num_heavy,
            plan.num_slots, HEAD_DIM=dim, BLOCK_D=block_d, ROWS=tile_rows, num_warps=4,
        )
    return out, lse
