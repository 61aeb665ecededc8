"""Work plans: how the rows (or columns) of a CSR block layout are split among Triton programs.

A query block of a global row attends every key block of the sequence (16,384 of them at
1,048,576 tokens with 64-token blocks) while the other rows attend a handful. One program
per row would leave the GPU waiting for the few programs that loop over a whole row, so
every row is cut into *chunks* of at most ``split`` key blocks, one program per chunk
(flash-decoding, Dao et al. 2023, "Flash-Decoding for long-context inference"). A row that
fits in one chunk writes its result directly; the chunks of a longer row write partial
results to numbered scratch *slots* that a second kernel combines in a fixed order
(deterministic, no atomics). The same plan over the transposed layout splits the long
columns of the dK/dV backward.

Plans are built with vectorised tensor ops on the layout's device (a few host
synchronisations, for the table sizes) and cached per index tensor, so a layer pays for
its plan once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.weak import WeakIdKeyDictionary

__all__ = ["WorkPlan", "work_plan"]

# Chunk length bounds: at least this many blocks per chunk (a launch's scheduling cost
# must stay small against the chunk's work) ...
MIN_SPLIT = 16
# ... and no row is cut into more than this many chunks (the combine kernel reads them all).
MAX_CHUNKS_PER_ROW = 64
# A row is cut when it is longer than this many times the median row.
SPLIT_OVER_MEDIAN = 4

_PLANS: WeakIdKeyDictionary = WeakIdKeyDictionary()


@dataclass(frozen=True)
class WorkPlan:
    """Chunks of the rows of one CSR layout, per head.

    Attributes:
        chunks: ``(H, C, 4)`` int32, one entry per program: ``[row, start, end, slot]``. The
            program reduces the key blocks ``indices[h, start:end]`` of ``row``; ``slot`` is
            -1 when the chunk is the whole row (the program writes the final result), else the
            scratch slot of this partial result. Entries are ordered longest chunk first
            (longest-processing-time scheduling), then by row; heads with fewer chunks are
            padded with ``row = -1``.
        heavy: ``(H, R, 3)`` int32, one entry per row cut into several chunks:
            ``[row, first_slot, num_slots]``, its partial results are the slots
            ``first_slot .. first_slot + num_slots - 1``; padded with ``num_slots = 0``.
            ``R`` is 0 when no row is split.
        num_slots: scratch slots per head (the largest count of any head).
        split: the chunk length in blocks.
    """

    chunks: torch.Tensor
    heavy: torch.Tensor
    num_slots: int
    split: int

    @property
    def num_chunks(self) -> int:
        return self.chunks.shape[1]

    @property
    def num_heavy(self) -> int:
        return self.heavy.shape[1]


def _choose_split(degree: torch.Tensor) -> int:
    """Chunk length in blocks from the row degrees ``(H, n)``: one host synchronisation."""
    median, longest = (int(x) for x in torch.stack([degree.median(), degree.max()]).tolist())
    return max(MIN_SPLIT, SPLIT_OVER_MEDIAN * median, -(-longest // MAX_CHUNKS_PER_ROW))


def _build(indptr: torch.Tensor) -> WorkPlan:
    heads, n = indptr.shape[0], indptr.shape[1] - 1
    device = indptr.device
    ptr = indptr.long()
    degree = ptr[:, 1:] - ptr[:, :-1]  # (H, n)
    split = _choose_split(degree)
    num_chunks = ((degree + split - 1) // split).clamp_min(1)  # (H, n)
    heavy = num_chunks > 1
    slots = torch.where(heavy, num_chunks, 0)
    slot_start = slots.cumsum(-1) - slots  # (H, n) first slot of each heavy row
    per_head = torch.stack([num_chunks.sum(-1), heavy.sum(-1), slots.sum(-1)], -1)  # (H, 3)
    counts = per_head.tolist()
    width, num_heavy, num_slots = (max(c[i] for c in counts) for i in range(3))
    total = sum(c[0] for c in counts)

    # one entry per chunk, then ordered by (head, longest first, row, chunk)
    flat = torch.arange(heads * n, device=device)
    owner = torch.repeat_interleave(flat, num_chunks.flatten(), output_size=total)  # (total,) flat (head, row)
    first_of_owner = torch.cumsum(num_chunks.flatten(), 0) - num_chunks.flatten()
    j = torch.arange(owner.numel(), device=device) - first_of_owner[owner]
    head, row = owner // n, owner % n
    start = ptr[head, row] + j * split
    end = torch.minimum(start + split, ptr[head, row + 1])
    slot = torch.where(heavy[head, row], slot_start[head, row] + j, -1)
    order = torch.argsort(head * (split + 1) + (split - (end - start)), stable=True)
    head = head[order]
    head_first = torch.cumsum(per_head[:, 0], 0) - per_head[:, 0]
    pos = torch.arange(order.numel(), device=device) - head_first[head]
    chunks = torch.full((heads, width, 4), -1, dtype=torch.int32, device=device)
    chunks[head, pos] = torch.stack([row[order], start[order], end[order], slot[order]], -1).to(torch.int32)

    h_idx, r_idx = torch.nonzero(heavy, as_tuple=True)  # row-major: heads in order
    heavy_first = torch.cumsum(per_head[:, 1], 0) - per_head[:, 1]
    h_pos = torch.arange(h_idx.numel(), device=device) - heavy_first[h_idx]
    heavy_table = torch.zeros(heads, num_heavy, 3, dtype=torch.int32, device=device)
    heavy_table[h_idx, h_pos] = torch.stack([r_idx, slot_start[h_idx, r_idx], slots[h_idx, r_idx]], -1).to(torch.int32)
    return WorkPlan(chunks, heavy_table, num_slots, split)


def work_plan(indptr: torch.Tensor) -> WorkPlan:
    """The (cached) work plan of a CSR layout.

    Args:
        indptr: ``(H, n + 1)`` int32 row pointers (``kv_indptr`` for the forward and dQ,
            ``q_indptr`` for dK/dV). The plan is cached on this tensor's identity (weakly),
            so layouts built once per layer are planned once.
    Returns:
        the :class:`WorkPlan` on ``indptr``'s device.
    """
    plan = _PLANS.get(indptr)
    if plan is None:
        plan = _build(indptr)
        _PLANS[indptr] = plan
    return plan
