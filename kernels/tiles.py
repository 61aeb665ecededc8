"""Tiles: the rows (or columns) of a CSR block layout that one kernel program owns, and its work plan.

A program holds a tile of ``group`` neighbouring query blocks (forward, dQ) or key blocks
(dK/dV) and streams the *union* of their CSR rows, one block at a time; each streamed block
carries a bit mask saying which blocks of the group hold it, and the kernels mask the other
rows of the tile. Hopper's tensor cores are fed best by 128-row tiles, and neighbouring query
blocks of a sliding window (or of a fixed pattern's local group) share almost all their key
blocks, so grouping two 64-token blocks costs little extra arithmetic and halves the reloads
of every key block. :func:`choose_group` groups only when the union adds at most
:data:`MAX_EXTRA_WORK` to the computed blocks: measured on the H200 (benchmarks/RESULTS.md,
issue 14), Triton's 128-row tiles need 8 warps and gain 5-13% in the forward of layouts whose
neighbouring rows hold exactly the same blocks (fixed patterns' local groups, dense), but lose
in windows, where the union adds 11% of blocks and twice as many tiles need the element mask.
A layout may still ask for a group (``BlockLayout.tile_group``).

The grouped CSR arrays and their :class:`~genosparse.kernels.plan.WorkPlan` are built with
vectorised tensor ops on the layout's device and cached per index tensor, like the plans.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.weak import WeakIdKeyDictionary

from .plan import WorkPlan, work_plan

__all__ = ["MAX_EXTRA_WORK", "MAX_TILE_ROWS", "Tiles", "choose_group", "tiles"]

MAX_TILE_ROWS = 128
"""Largest tile, in tokens (``group * block_size``)."""
MAX_EXTRA_WORK = 0.0
"""Blocks are grouped only when the union of their rows adds at most this fraction of computed blocks."""

_TILES: WeakIdKeyDictionary = WeakIdKeyDictionary()


@dataclass(frozen=True)
class Tiles:
    """The programs of one launch over a CSR layout.

    Attributes:
        group: blocks per tile (1: one block, the layout itself).
        indptr: ``(H, ceil(n / group) + 1)`` int32 row pointers of the grouped rows.
        indices: ``(H, W)`` int32 streamed block ids, sorted within each grouped row.
        member: ``(H, W)`` int32, bit ``i`` set when block ``group * row + i`` of the tile holds the
            entry; for ``group == 1`` the ``indices`` themselves (never read).
        plan: the :class:`WorkPlan` of ``indptr`` (rows cut into chunks).
    """

    group: int
    indptr: torch.Tensor
    indices: torch.Tensor
    member: torch.Tensor
    plan: WorkPlan


def _grouped(indptr: torch.Tensor, indices: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(indptr, indices, member)`` of the layout with every ``group`` consecutive rows merged."""
    heads, n = indptr.shape[0], indptr.shape[1] - 1
    device = indptr.device
    ptr = indptr.long()
    degree = (ptr[:, 1:] - ptr[:, :-1]).flatten()
    stored = torch.arange(indices.shape[1], device=device)[None, :] < ptr[:, -1:]
    cols = indices[stored].long()  # entries of every head in order
    rows = torch.repeat_interleave(torch.arange(n, device=device).repeat(heads), degree, output_size=cols.numel())
    head = torch.repeat_interleave(torch.arange(heads, device=device), ptr[:, -1], output_size=cols.numel())
    n_grouped = -(-n // group)
    code, inverse = torch.unique((head * n_grouped + rows // group) * n + cols, return_inverse=True)
    member = torch.zeros(code.numel(), dtype=torch.int64, device=device)
    member.scatter_add_(0, inverse, torch.bitwise_left_shift(torch.ones_like(rows), rows % group))  # one entry per (row, col): the sum is the OR
    owner = code // n  # head * n_grouped + grouped row
    counts = torch.bincount(owner, minlength=heads * n_grouped).view(heads, n_grouped)
    g_indptr = torch.zeros(heads, n_grouped + 1, dtype=torch.int64, device=device)
    g_indptr[:, 1:] = counts.cumsum(-1)
    g_head = owner // n_grouped
    pos = torch.arange(code.numel(), device=device) - g_indptr[:, -1].cumsum(0).sub(g_indptr[:, -1])[g_head]
    width = max(int(g_indptr[:, -1].max()), 1)
    g_indices = torch.zeros(heads, width, dtype=torch.int32, device=device)
    g_member = torch.zeros(heads, width, dtype=torch.int32, device=device)
    g_indices[g_head, pos] = (code % n).to(torch.int32)
    g_member[g_head, pos] = member.to(torch.int32)
    return g_indptr.to(torch.int32), g_indices, g_member


def choose_group(indptr: torch.Tensor, indices: torch.Tensor, block_size: int) -> int:
    """The largest power of two ``g`` (``g * block_size <= MAX_TILE_ROWS``) whose grouped tiles compute at
    most ``1 + MAX_EXTRA_WORK`` times the layout's blocks (one host synchronisation per candidate)."""
    nnz = int(indptr[:, -1].long().sum())
    best, group = 1, 2
    while group * block_size <= MAX_TILE_ROWS and nnz:
        grouped_nnz = int(_grouped(indptr, indices, group)[0][:, -1].long().sum())
        if group * grouped_nnz > (1 + MAX_EXTRA_WORK) * nnz:
            break
        best, group = group, group * 2
    return best


def tiles(indptr: torch.Tensor, indices: torch.Tensor, block_size: int, group: int | None = None) -> Tiles:
    """The (cached) tiles of a CSR layout.

    Args:
        indptr, indices: ``(H, n + 1)`` and ``(H, nnz)`` int32: ``kv_indptr, kv_indices`` for the
            forward and dQ, ``q_indptr, q_indices`` for dK/dV.
        block_size: tokens per block.
        group: blocks per tile, or None to :func:`choose_group`; 1 is the layout as it is.
    Returns:
        the :class:`Tiles`, cached (weakly) on ``indices``' identity and ``group``.
    """
    cache = _TILES.setdefault(indices, {})
    if group not in cache:
        chosen = choose_group(indptr, indices, block_size) if group is None else group
        if chosen == 1:
            cache[group] = Tiles(1, indptr, indices, indices, work_plan(indptr))
        else:
            g_indptr, g_indices, g_member = _grouped(indptr, indices, chosen)
            cache[group] = Tiles(chosen, g_indptr, g_indices, g_member, work_plan(g_indptr))
    return cache[group]
