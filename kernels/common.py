"""Pieces shared by the forward and backward kernels: tile masks, the element-mask test, launch arguments.

Every kernel program owns a *tile* of ``GROUP x BLOCK`` query rows (forward, dQ) or key rows
(dK/dV) and streams the blocks of the other side one ``BLOCK`` at a time
(:mod:`genosparse.kernels.tiles`). Masking happens only in the tiles that need it
(:func:`tile_needs_mask`): key padding, keys past ``L``, token pairs outside the band
``band_lo <= q_pos - k_pos <= band_hi`` (exact windows, causal attention) and, in a grouped
tile, the blocks of the group whose CSR row does not hold the streamed block
(:func:`member_rows`).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

__all__ = ["LN2", "LOG2E", "dot_precision", "key_padding_arg"]

LOG2E = 1.0 / math.log(2.0)
LN2: tl.constexpr = tl.constexpr(math.log(2.0))


@triton.jit
def tile_mask(offs, L, offs_d, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr):
    """Load/store mask of a ``(rows, BLOCK_D)`` tile: rows inside the sequence and, when the
    head dimension is padded, real columns. Without column padding the mask is constant
    along the contiguous axis, which keeps the loads vectorised (and pipelined)."""
    if HEAD_DIM == BLOCK_D:
        return (offs < L)[:, None]
    else:
        return (offs < L)[:, None] & (offs_d < HEAD_DIM)[None, :]


@triton.jit
def key_valid(Kpm, b, offs_n, L, stride_kpm, has_kpm):
    """Bool per key position: inside the sequence and, when ``has_kpm``, not padding."""
    inside = offs_n < L
    pad = tl.load(Kpm + b * stride_kpm + offs_n, mask=inside & (has_kpm != 0), other=0)
    return inside & (pad == 0)


@triton.jit
def tile_needs_mask(q_start, k_start, L, has_kpm, band_lo, band_hi, ROWS: tl.constexpr, COLS: tl.constexpr):
    """Whether the tile of queries ``q_start .. q_start + ROWS - 1`` and keys ``k_start .. k_start + COLS - 1``
    needs the element mask: key padding is on, the keys run past ``L``, or a pair lies outside the band
    of ``q_pos - k_pos``. Interior tiles of a sliding window and the off-diagonal tiles of a causal
    layout skip the masking arithmetic."""
    return ((has_kpm != 0) | (k_start + COLS > L) | (q_start - k_start - (COLS - 1) < band_lo)
            | (q_start + ROWS - 1 - k_start > band_hi))


@triton.jit
def in_band(dist, band_lo, band_hi):
    """Token pairs whose ``q_pos - k_pos`` lies in ``[band_lo, band_hi]``."""
    return (dist >= band_lo) & (dist <= band_hi)


@triton.jit
def member_rows(member, ROWS: tl.constexpr, BLOCK: tl.constexpr):
    """``(ROWS,)`` bool: which rows of a grouped tile belong to a block whose bit is set in ``member``."""
    return ((member >> (tl.arange(0, ROWS) // BLOCK)) & 1) != 0


@triton.jit
def streamed_member(Member, offset, GROUP: tl.constexpr):
    """Membership bits of the streamed block at ``offset`` of a grouped tile (1 when ``GROUP == 1``)."""
    if GROUP > 1:
        return tl.load(Member + offset)
    else:
        return 1


@triton.jit
def query_tile_valid(Kpm, b, offs_m, offs_n, L, stride_kpm, has_kpm, band_lo, band_hi, member,
                     ROWS: tl.constexpr, BLOCK: tl.constexpr, GROUP: tl.constexpr):
    """``(ROWS, BLOCK)`` bool of a query tile against one key block: valid keys, pairs in the band and,
    in a grouped tile, the rows whose block holds the key block."""
    valid = key_valid(Kpm, b, offs_n, L, stride_kpm, has_kpm)[None, :]
    valid = valid & in_band(offs_m[:, None] - offs_n[None, :], band_lo, band_hi)
    if GROUP > 1:
        valid = valid & member_rows(member, ROWS, BLOCK)[:, None]
    return valid


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision: exact fp32 products for fp32 inputs (no TF32 rounding)."""
    return "ieee" if dtype == torch.float32 else "tf32"


def key_padding_arg(key_padding_mask: torch.Tensor | None, q: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The ``(B, L)`` mask as a uint8 tensor and its batch stride. Without a mask, a uint8 view
    of ``q`` that the kernels never read (``has_kpm = 0``), so both cases share one compiled kernel."""
    if key_padding_mask is None:
        return q.view(torch.uint8), 0
    kpm = key_padding_mask.contiguous().view(torch.uint8)
    return kpm, kpm.stride(0)
