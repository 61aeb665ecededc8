"""Block-sparse attention layouts in compressed-sparse-row (CSR) form.

A layout says, for every head and every query block of ``block_size`` tokens, which
key blocks it attends to. Layouts are built on the target device with vectorised
tensor ops; memory is O(nnz), never O(num_q_blocks x num_k_blocks) (the block mask
of FlexAttention is dense in blocks, which is what fails at 1M tokens).

Shape legend: ``H`` heads, ``nQ = nK = ceil(seq_len / block_size)`` blocks,
``nnz`` the largest number of (query block, key block) pairs of any head.

Patterns:

* BigBird ITC (Zaheer et al. 2020, "Big Bird: Transformers for Longer Sequences",
  internal-transformer-construction variant): sliding window blocks, global blocks
  (full rows and full columns) and random blocks drawn per head from a seeded
  generator, so a layer attends identically in training and evaluation.
* Sliding window of +-``window`` tokens (Beltagy et al. 2020, Longformer): the
  blocks covering the band, refined to the exact band by ``token_window``.
* Fixed and strided factorised patterns (Child et al. 2019, "Generating Long Sequences with
  Sparse Transformers"), in units of blocks: local blocks plus "summary" columns every
  ``stride`` blocks, causal or not.
* Dilated sliding window (Longformer), dilated in units of blocks so that every
  attended block is dense for the kernels: head ``h`` with dilation ``d_h`` attends
  blocks ``i + d_h * j`` for ``|j| <= num_window_blocks // 2``; optional global
  blocks. Token-level dilation (Longformer's) would leave every block mostly empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from genosparse.errors import LayoutError

__all__ = [
    "BlockLayout",
    "bigbird_layout",
    "chunked_layout",
    "dense_layout",
    "dilated_window_layout",
    "fixed_layout",
    "sliding_window_layout",
    "num_blocks",
    "selected_blocks_layout",
]


@dataclass(frozen=True)
class BlockLayout:
    """Per-head block-sparse layout in CSR form (and its transpose for the backward).

    Attributes:
        kv_indptr: ``(H, nQ + 1)`` int32. Row ``i`` of head ``h`` attends the key blocks
            ``kv_indices[h, kv_indptr[h, i]:kv_indptr[h, i + 1]]``.
        kv_indices: ``(H, nnz)`` int32 key-block ids, sorted within each row, no
            duplicates. Entries past ``kv_indptr[h, -1]`` are padding (value 0).
        q_indptr: ``(H, nK + 1)`` int32, the transposed layout: key block ``j`` is
            attended by the query blocks ``q_indices[h, q_indptr[h, j]:q_indptr[h, j+1]]``.
        q_indices: ``(H, nnz)`` int32 query-block ids, sorted within each column.
        seq_len: sequence length in tokens the layout was built for.
        block_size: tokens per block (query and key blocks have the same size).
        token_window: if set, additionally mask token pairs with
            ``|q_pos - k_pos| > token_window`` (exact sliding windows).
        causal: additionally mask keys after the query (``k_pos > q_pos``), for autoregressive
            models; the builders then store no block above the diagonal.
        tile_group: neighbouring blocks one Triton program owns (:mod:`genosparse.kernels.tiles`);
            None lets the kernels choose from the layout once (static layouts, cached per
            layer), 1 for layouts built from each input (learned routing, LSH, row selections),
            where the choice would cost a device synchronisation per forward.
    """

    kv_indptr: torch.Tensor
    kv_indices: torch.Tensor
    q_indptr: torch.Tensor
    q_indices: torch.Tensor
    seq_len: int
    block_size: int
    token_window: int | None = None
    causal: bool = False
    tile_group: int | None = None

    def validate(self) -> None:
        """Check that the index tensors describe a valid layout (once per layout object).

        Checks dtypes and shapes, that row pointers start at 0 and never decrease, and that
        every stored block id is in ``[0, num_blocks)``; the result is remembered, so a
        cached layout costs one check (and one device sync) in its lifetime.

        Raises:
            LayoutError: naming the first inconsistency.
        """
        if self.__dict__.get("_valid"):
            return
        n = self.num_blocks
        tensors = (self.kv_indptr, self.kv_indices, self.q_indptr, self.q_indices)
        if any(t.dtype != torch.int32 or t.dim() != 2 for t in tensors):
            raise LayoutError("BlockLayout index tensors must be 2-D int32 (kv_indptr, kv_indices, q_indptr, q_indices)")
        if self.q_indptr.shape != self.kv_indptr.shape or n != num_blocks(self.seq_len, self.block_size):
            raise LayoutError(f"BlockLayout: kv_indptr has {n} rows but seq_len={self.seq_len} and "
                              f"block_size={self.block_size} give {num_blocks(self.seq_len, self.block_size)} blocks")
        checks = []
        for indptr, indices in ((self.kv_indptr, self.kv_indices), (self.q_indptr, self.q_indices)):
            nnz = indptr[:, -1:].long()
            stored = torch.arange(indices.shape[1], device=indices.device)[None, :] < nnz
            checks += [(indptr[:, 0] == 0).all(), (indptr[:, 1:] >= indptr[:, :-1]).all(),
                       (nnz <= indices.shape[1]).all(), ((indices >= 0) & (indices < n) | ~stored).all()]
        if not bool(torch.stack(checks).all()):
            raise LayoutError("BlockLayout is inconsistent: row pointers must start at 0 and not decrease, and "
                              f"block ids must lie in [0, {n}); build layouts with the genosparse builders")
        object.__setattr__(self, "_valid", True)

    @property
    def num_heads(self) -> int:
        return self.kv_indptr.shape[0]

    @property
    def num_blocks(self) -> int:
        return self.kv_indptr.shape[1] - 1

    @property
    def device(self) -> torch.device:
        return self.kv_indptr.device

    def row_degrees(self) -> torch.Tensor:
        """Number of key blocks of each query block: ``(H, nQ)`` int64."""
        return (self.kv_indptr[:, 1:] - self.kv_indptr[:, :-1]).long()

    def nnz(self) -> torch.Tensor:
        """Number of stored blocks per head: ``(H,)`` int64."""
        return self.kv_indptr[:, -1].long()

    def nbytes(self) -> int:
        """Bytes held by the index tensors."""
        return sum(t.numel() * t.element_size() for t in (self.kv_indptr, self.kv_indices, self.q_indptr, self.q_indices))

    def to(self, device: torch.device | str) -> "BlockLayout":
        """The same layout with its index tensors on ``device``."""
        move = lambda t: t.to(device)  # noqa: E731
        return BlockLayout(move(self.kv_indptr), move(self.kv_indices), move(self.q_indptr), move(self.q_indices),
                           self.seq_len, self.block_size, self.token_window, self.causal, self.tile_group)

    def select_heads(self, heads: slice) -> "BlockLayout":
        """The layout of the heads ``heads`` only (e.g. one batch element of a per-input layout)."""
        return BlockLayout(self.kv_indptr[heads], self.kv_indices[heads], self.q_indptr[heads], self.q_indices[heads],
                           self.seq_len, self.block_size, self.token_window, self.causal, self.tile_group)

    def select_rows(self, rows: torch.Tensor) -> "BlockLayout":
        """The same layout with only the query blocks ``rows`` attending (every other row attends nothing).

        For computing a few rows' outputs (:mod:`genosparse.models.partial`); rows attending
        nothing get output 0 from every backend.

        Args:
            rows: ``(R,)`` integer query-block ids.
        """
        n, heads = self.num_blocks, self.num_heads
        degree = self.row_degrees()
        chosen = torch.zeros(n, dtype=torch.bool, device=self.device)
        chosen[rows.to(self.device).long()] = True
        full = chosen & (degree == n).all(0)
        sparse = chosen & ~full
        width = max(int(degree[:, sparse].max()) if bool(sparse.any()) else 0, 1)
        slot = torch.arange(width, device=self.device)

        def candidates(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            pos = self.kv_indptr[part, :-1, None].long() + slot
            cols = torch.gather(self.kv_indices[part].long(), 1,
                                pos.clamp_max(self.kv_indices.shape[1] - 1).flatten(1)).view(pos.shape)
            return cols, (slot < degree[part, :, None]) & sparse[None, :, None]

        return _build(candidates, heads, torch.nonzero(full).flatten(), self.seq_len, self.block_size,
                      self.token_window, self.causal, tile_group=1)

    def token_band(self) -> tuple[int, int] | None:
        """The range ``(lo, hi)`` of ``q_pos - k_pos`` attended inside stored blocks, or None for all of them."""
        return token_band(self.token_window, self.causal, self.seq_len)

    def pair_mask(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor | None:
        """Whether token pairs ``(q_pos, k_pos)`` (broadcast together) lie in :meth:`token_band`;
        None when the layout has no band (every pair of a stored block is attended)."""
        band = self.token_band()
        if band is None:
            return None
        dist = q_pos - k_pos
        return (dist >= band[0]) & (dist <= band[1])

    def to_block_mask(self) -> torch.Tensor:
        """Dense ``(H, nQ, nK)`` bool block mask. O(nQ x nK): for tests and small inputs only."""
        heads, n = self.num_heads, self.num_blocks
        rows = torch.repeat_interleave(torch.arange(n, device=self.device).repeat(heads), self.row_degrees().flatten())
        head_ids = torch.repeat_interleave(torch.arange(heads, device=self.device), self.nnz())
        cols = torch.cat([self.kv_indices[h, : int(self.nnz()[h])] for h in range(heads)]).long()
        mask = torch.zeros(heads, n, n, dtype=torch.bool, device=self.device)
        mask[head_ids, rows, cols] = True
        return mask

    def to_token_mask(self) -> torch.Tensor:
        """Dense ``(H, L, L)`` bool token mask, tail of a partial last block cut off.

        O(L^2): for the dense reference backend and tests only.
        """
        bs, length = self.block_size, self.seq_len
        mask = self.to_block_mask().repeat_interleave(bs, 1).repeat_interleave(bs, 2)[:, :length, :length]
        pos = torch.arange(length, device=self.device)
        band = self.pair_mask(pos[:, None], pos[None, :])
        return mask if band is None else mask & band


def token_band(token_window: int | None, causal: bool, seq_len: int) -> tuple[int, int] | None:
    """Range ``(lo, hi)`` of ``q_pos - k_pos`` a layout attends inside its stored blocks, in tokens.

    ``(-w, w)`` for an exact window of ``w`` tokens, ``(0, seq_len)`` for causal attention,
    ``(0, w)`` for both; None when neither applies.
    """
    if token_window is None and not causal:
        return None
    reach = seq_len if token_window is None else token_window
    return (0 if causal else -reach, reach)


def num_blocks(seq_len: int, block_size: int) -> int:
    """Number of blocks of ``block_size`` tokens covering ``seq_len`` tokens (last may be partial)."""
    if not isinstance(seq_len, int) or not isinstance(block_size, int):
        raise LayoutError(f"seq_len and block_size must be integers, got {seq_len!r} and {block_size!r}")
    if seq_len <= 0:
        raise LayoutError(f"seq_len must be positive, got {seq_len}")
    if block_size <= 0:
        raise LayoutError(f"block_size must be positive, got {block_size}")
    return math.ceil(seq_len / block_size)


def _check_sizes(seq_len: int, num_heads: int, block_size: int) -> int:
    """Blocks of a layout, after checking its sizes."""
    if not isinstance(num_heads, int) or num_heads < 1:
        raise LayoutError(f"num_heads must be a positive integer, got {num_heads!r}")
    return num_blocks(seq_len, block_size)


HEADS_PER_CHUNK = 4
"""Heads whose CSR arrays are built together: bounds the build's transient memory."""


Candidates = Callable[[slice], tuple[torch.Tensor, torch.Tensor]]


def _build(candidates: Candidates, num_heads: int, full_rows: torch.Tensor, seq_len: int, block_size: int,
           token_window: int | None = None, causal: bool = False, tile_group: int | None = None) -> BlockLayout:
    """CSR layout (and its transpose) from per-row candidate key blocks.

    Heads are built :data:`HEADS_PER_CHUNK` at a time and concatenated, so the transient
    memory is a small multiple of the nnz of a few heads; candidates are int32 and each
    chunk sorts its entries once.

    Args:
        candidates: ``heads (slice) -> (cols, valid)``, both ``(h, nQ, C)`` for those heads:
            integer candidate key-block ids (may repeat within a row) and a bool that is False
            for candidates to drop (out of range, padding). Called once per chunk, in order.
        full_rows: ``(F,)`` int64 query blocks that attend every key block (global rows);
            stored without materialising an ``(H, nQ, nK)`` tensor.
        tile_group: see :class:`BlockLayout`.
    """
    chunks = [slice(h, min(h + HEADS_PER_CHUNK, num_heads)) for h in range(0, num_heads, HEADS_PER_CHUNK)]
    parts = [_build_heads(*candidates(heads), full_rows) for heads in chunks]
    width = max(part[1].shape[1] for part in parts)

    def stack(i: int) -> torch.Tensor:  # index arrays are padded to the widest chunk
        return torch.cat([torch.nn.functional.pad(part[i], (0, width - part[i].shape[1])) for part in parts])

    indptr = lambda i: torch.cat([part[i] for part in parts])  # noqa: E731
    return BlockLayout(indptr(0), stack(1), indptr(2), stack(3), seq_len, block_size, token_window, causal,
                       tile_group)


def _build_heads(cols: torch.Tensor, valid: torch.Tensor, full_rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``kv_indptr, kv_indices, q_indptr, q_indices`` of the heads in ``cols`` (see :func:`_build`)."""
    heads, n, width_c = cols.shape
    device = cols.device
    is_full = torch.zeros(n, dtype=torch.bool, device=device)
    is_full[full_rows] = True
    cols = _sorted_unique(cols.to(torch.int32), valid, n)  # kept ids first in each row, then n
    keep = (cols < n) & ~is_full[None, :, None]
    degree = torch.where(is_full[None, :], n, keep.sum(-1, dtype=torch.int32))
    kv_indptr = _indptr(degree)
    width = int(kv_indptr[:, -1].max())

    # rows: a sparse row's kept ids are its first `degree` slots; full rows hold 0..n-1.
    # Positions are flat offsets into an (H, width) array (int32: H * width < 2**31 in practice).
    head_base = torch.arange(heads, device=device, dtype=torch.int32)[:, None, None] * width
    sparse_pos = (head_base + kv_indptr[:, :-1, None]
                  + torch.arange(width_c, device=device, dtype=torch.int32))[keep].long()
    full_pos = (head_base + kv_indptr[:, full_rows, None]
                + torch.arange(n, device=device, dtype=torch.int32)).flatten().long()  # (H * F * n,)
    ids = torch.arange(n, device=device, dtype=torch.int32)
    kv_indices = torch.zeros(heads * width, dtype=torch.int32, device=device)
    kv_indices[sparse_pos] = cols[keep]
    kv_indices[full_pos] = ids.repeat(heads * len(full_rows))

    # transpose: the same entries keyed col * n + row (int32), sorted within each head
    key = torch.full((heads * width,), torch.iinfo(torch.int32).max, dtype=torch.int32, device=device)
    key[sparse_pos] = cols[keep] * n + ids[None, :, None].expand_as(cols)[keep]
    key[full_pos] = (ids[:, None] * n + full_rows.to(torch.int32)[None, :]).t().flatten().repeat(heads)
    del sparse_pos, full_pos
    key = key.view(heads, width).sort(dim=-1).values
    bounds = (torch.arange(n + 1, device=device, dtype=torch.int32) * n).expand(heads, -1).contiguous()
    q_indptr = torch.searchsorted(key, bounds).to(torch.int32)
    q_indices = torch.where(key < n * n, key % n, 0)
    return kv_indptr, kv_indices.view(heads, width), q_indptr, q_indices


def _sorted_unique(cols: torch.Tensor, valid: torch.Tensor, n: int) -> torch.Tensor:
    """Sort each row of ``cols`` and replace dropped (``~valid``) and repeated ids by ``n``, sorted last."""
    cols = torch.where(valid, cols, n).sort(dim=-1).values
    repeated = torch.zeros_like(valid)
    repeated[..., 1:] = cols[..., 1:] == cols[..., :-1]
    return torch.where(repeated, n, cols).sort(dim=-1).values


def _indptr(counts: torch.Tensor) -> torch.Tensor:
    """``(H, n)`` counts -> ``(H, n + 1)`` int32 row pointers."""
    indptr = torch.zeros(counts.shape[0], counts.shape[1] + 1, dtype=torch.int64, device=counts.device)
    indptr[:, 1:] = counts.cumsum(-1)
    return indptr.to(torch.int32)


def _global_ids(num_global_blocks: int, n: int, device) -> torch.Tensor:
    """Global blocks: the first ``ceil(g/2)`` and the last ``floor(g/2)`` blocks, as in BigBird ITC."""
    if num_global_blocks < 0:
        raise LayoutError(f"num_global_blocks must be >= 0, got {num_global_blocks}")
    g = min(num_global_blocks, n)
    ids = torch.cat([torch.arange((g + 1) // 2, device=device), torch.arange(n - g // 2, n, device=device)])
    return ids.unique()


def _band(n: int, offsets: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidates ``i + offsets[h]`` for every row ``i``: int32 cols and valid, ``(h, nQ, W)``."""
    rows = torch.arange(n, device=device, dtype=torch.int32)[None, :, None]
    cols = rows + offsets.to(device=device, dtype=torch.int32)[:, None, :]
    return cols, (cols >= 0) & (cols < n)


def _with_globals(cols: torch.Tensor, valid: torch.Tensor, global_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Append the global key blocks to every row's candidates."""
    g_cols = global_ids.to(cols.dtype)[None, None, :].expand(cols.shape[0], cols.shape[1], -1)
    return torch.cat([cols, g_cols], -1), torch.cat([valid, torch.ones_like(g_cols, dtype=torch.bool)], -1)


def _check_odd_window(num_window_blocks: int) -> int:
    if num_window_blocks < 1 or num_window_blocks % 2 == 0:
        raise LayoutError(f"num_window_blocks must be odd and >= 1 (the query block plus equal neighbours on "
                          f"each side), got {num_window_blocks}")
    return num_window_blocks // 2


def _sample_random_blocks(excluded: torch.Tensor, n: int, num_random_blocks: int,
                          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``r`` distinct key blocks per row, uniformly among the blocks not in ``excluded``.

    Vectorised sampling without replacement for small ``r`` (Floyd's method): draw rank
    ``x_j`` uniformly in ``[0, M - j)`` and shift it past the ranks already taken, then map
    ranks of the complement to block ids by shifting past the sorted excluded ids.
    Memory is O(H x nQ x (r + |excluded|)).

    Args:
        excluded: ``(H, nQ, E)`` int64 sorted block ids to avoid, padded with ``n``.
    Returns:
        ``cols, valid`` of shape ``(H, nQ, r)``; rows with fewer than ``r`` free blocks
        get only the free ones (``valid`` False for the rest).
    """
    heads, nq, _ = excluded.shape
    device = excluded.device
    free = n - (excluded < n).sum(-1)  # (H, nQ)
    u = torch.rand(heads, nq, num_random_blocks, generator=generator, device=device)
    ranks: list[torch.Tensor] = []
    for j in range(num_random_blocks):
        x = (u[..., j] * (free - j).clamp_min(1)).long()
        for taken in (torch.stack(ranks, -1).sort(-1).values.unbind(-1) if ranks else ()):
            x = x + (x >= taken).long()
        ranks.append(x)
    cols = torch.stack(ranks, -1) if ranks else excluded.new_zeros(heads, nq, 0)
    for k in range(excluded.shape[-1]):
        cols = cols + (cols >= excluded[..., k : k + 1]).long()
    valid = torch.arange(num_random_blocks, device=device)[None, None, :] < free[..., None]
    return cols, valid


def bigbird_layout(seq_len: int, num_heads: int, *, block_size: int = 64, num_window_blocks: int = 3,
                   num_global_blocks: int = 2, num_random_blocks: int = 3, seed: int = 0,
                   device: torch.device | str = "cpu") -> BlockLayout:
    """BigBird ITC layout: window + global + random blocks (Zaheer et al. 2020).

    Every query block attends its ``num_window_blocks`` neighbouring blocks (itself in the
    middle), the ``num_global_blocks`` global blocks (the first ``ceil(g/2)`` and last
    ``floor(g/2)`` blocks, as the ITC construction of the reference implementation
    google-research/bigbird) and ``num_random_blocks`` distinct random blocks drawn among
    the others. Global query blocks attend every key block.

    Args:
        seq_len: sequence length in tokens (need not be a multiple of ``block_size``).
        num_heads: heads; each head draws its own random blocks.
        seed: seeds a ``torch.Generator`` on ``device``; the same seed gives the same layout.
    Raises:
        LayoutError: on non-positive sizes, an even ``num_window_blocks`` or negative counts.
    """
    n = _check_sizes(seq_len, num_heads, block_size)
    if num_random_blocks < 0:
        raise LayoutError(f"num_random_blocks must be >= 0, got {num_random_blocks}")
    half = _check_odd_window(num_window_blocks)
    offsets = torch.arange(-half, half + 1).expand(num_heads, -1)
    global_ids = _global_ids(num_global_blocks, n, device)
    generator = torch.Generator(device=device).manual_seed(seed)

    def candidates(heads: slice) -> tuple[torch.Tensor, torch.Tensor]:
        cols, valid = _with_globals(*_band(n, offsets[heads], device), global_ids)
        r_cols, r_valid = _sample_random_blocks(_sorted_unique(cols, valid, n), n, num_random_blocks, generator)
        return torch.cat([cols, r_cols.to(cols.dtype)], -1), torch.cat([valid, r_valid], -1)

    return _build(candidates, num_heads, global_ids, seq_len, block_size)


def sliding_window_layout(seq_len: int, num_heads: int, *, window: int = 256, block_size: int = 64,
                          device: torch.device | str = "cpu") -> BlockLayout:
    """Sliding window: token ``i`` attends tokens ``j`` with ``|i - j| <= window`` (Longformer).

    Stored as the blocks covering the band, with ``token_window=window`` so backends mask
    the part of the edge blocks outside the band.

    Args:
        window: one-sided window in tokens.
    Raises:
        LayoutError: on a negative window or non-positive sizes.
    """
    n = _check_sizes(seq_len, num_heads, block_size)
    if window < 0:
        raise LayoutError(f"window must be >= 0 tokens, got {window}")
    reach = math.ceil(window / block_size)
    offsets = torch.arange(-reach, reach + 1).expand(num_heads, -1)
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    return _build(lambda heads: _band(n, offsets[heads], device), num_heads, empty, seq_len, block_size,
                  token_window=window)


def dilated_window_layout(seq_len: int, num_heads: int, *, dilations: Sequence[int], num_window_blocks: int = 3,
                          num_global_blocks: int = 0, block_size: int = 64,
                          device: torch.device | str = "cpu") -> BlockLayout:
    """Dilated sliding window with one dilation per head (Longformer), in units of blocks.

    Head ``h`` attends key blocks ``i + dilations[h] * j`` for ``|j| <= num_window_blocks // 2``,
    plus optional global blocks (full rows and columns as in :func:`bigbird_layout`).
    Dilation 1 is a plain block window.

    Args:
        dilations: ``num_heads`` positive integers, or one integer (or a one-element list)
            repeated over heads.
    Raises:
        LayoutError: if the number of dilations does not match ``num_heads`` or one is < 1.
    """
    n = _check_sizes(seq_len, num_heads, block_size)
    dil = [dilations] if isinstance(dilations, int) else list(dilations)
    if not all(isinstance(d, int) for d in dil):
        raise LayoutError(f"dilations must be integers (blocks), got {dilations}")
    if len(dil) == 1:
        dil = dil * num_heads
    if len(dil) != num_heads or min(dil) < 1:
        raise LayoutError(f"dilated_window_layout needs one dilation >= 1 per head ({num_heads} heads), got {dilations}")
    half = _check_odd_window(num_window_blocks)
    offsets = torch.tensor(dil)[:, None] * torch.arange(-half, half + 1)[None, :]
    global_ids = _global_ids(num_global_blocks, n, device)
    return _build(lambda heads: _with_globals(*_band(n, offsets[heads], device), global_ids), num_heads, global_ids,
                  seq_len, block_size)


FIXED_VARIANTS = ("fixed", "strided")


def fixed_layout(seq_len: int, num_heads: int, *, stride: int = 16, num_summary_blocks: int = 1,
                 variant: str = "fixed", causal: bool = False, block_size: int = 64,
                 device: torch.device | str = "cpu") -> BlockLayout:
    """Sparse Transformer patterns (Child et al. 2019) on blocks: local attention plus summary columns.

    With ``variant="fixed"`` the blocks are grouped ``stride`` at a time: query block ``i``
    attends every block of its own group and the last ``num_summary_blocks`` blocks of every
    group (the "summary" cells that carry information between groups). With
    ``variant="strided"`` query block ``i`` attends the ``stride`` nearest blocks on each side
    (``|i - j| < stride``) and every block ``j`` with ``(i - j) % stride == 0``. With ``causal``
    only key blocks ``j <= i`` are kept and the diagonal block is masked token by token
    (``k_pos <= q_pos``), as in the paper's autoregressive models; without it the patterns are
    their bidirectional counterparts (DeepSpeed's ``FixedSparsityConfig`` "bidirectional").
    The reference implementation is openai/sparse_attention (``attention.py``, "fixed" and
    "strided" modes); every head gets the union of the two factorised parts.

    Args:
        stride: blocks per local group (``fixed``) or between summary columns (``strided``); Child
            et al. use ``stride ~ sqrt(L)``; a row attends about ``stride + num_blocks / stride`` blocks.
        num_summary_blocks: summary blocks at the end of each group (``fixed`` only), ``<= stride``.
    Raises:
        LayoutError: on a stride < 1, a number of summary blocks outside ``[1, stride]``, an
            unknown variant or non-positive sizes.
    """
    n = _check_sizes(seq_len, num_heads, block_size)
    if variant not in FIXED_VARIANTS:
        raise LayoutError(f"variant must be one of {FIXED_VARIANTS}, got {variant!r}")
    if not isinstance(causal, bool):
        raise LayoutError(f"causal must be True or False, got {causal!r}")
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
        raise LayoutError(f"stride must be a positive number of blocks, got {stride!r}")
    if variant == "fixed" and (not isinstance(num_summary_blocks, int) or not 1 <= num_summary_blocks <= stride):
        raise LayoutError(f"num_summary_blocks must be in [1, stride={stride}], got {num_summary_blocks}")
    rows = torch.arange(n, device=device, dtype=torch.int32)[:, None]
    if variant == "fixed":
        local = rows // stride * stride + torch.arange(stride, device=device, dtype=torch.int32)
        groups = torch.arange(0, n, stride, device=device, dtype=torch.int32)[:, None]
        summary = (groups + torch.arange(stride - num_summary_blocks, stride, device=device, dtype=torch.int32))
        cols = torch.cat([local, summary.flatten().expand(n, -1)], -1)
    else:
        local = rows + torch.arange(1 - stride, stride, device=device, dtype=torch.int32)
        cols = torch.cat([local, rows + stride * torch.arange(-(n // stride), n // stride + 1, device=device,
                                                              dtype=torch.int32)], -1)
    valid = (cols >= 0) & (cols < n)
    if causal:
        valid &= cols <= rows
    empty = torch.zeros(0, dtype=torch.int64, device=device)

    def candidates(heads: slice) -> tuple[torch.Tensor, torch.Tensor]:
        count = heads.stop - heads.start
        return cols.expand(count, -1, -1), valid.expand(count, -1, -1)

    return _build(candidates, num_heads, empty, seq_len, block_size, causal=causal)


def selected_blocks_layout(seq_len: int, selected: torch.Tensor, *, num_window_blocks: int = 1,
                           block_size: int = 64) -> BlockLayout:
    """Layout from per-row selected key blocks plus a block window, built on ``selected``'s device.

    This is the layout of learned routing (:mod:`genosparse.attention.routing`), built on every
    forward: no host round trip besides the one that sizes the CSR arrays.

    Args:
        selected: ``(H, nQ, k)`` integer key-block ids per query block (any order, repeats and
            ids that are also in the window allowed); ``H`` is any number of "heads" (e.g. batch x heads).
        num_window_blocks: odd number of window blocks around each query block (1: the block itself).
    Raises:
        LayoutError: on a shape that does not match ``seq_len``, ids out of range or an even window.
    """
    n = num_blocks(seq_len, block_size)
    if not isinstance(selected, torch.Tensor) or selected.dtype not in (torch.int32, torch.int64):
        raise LayoutError(f"selected must be an int32 or int64 tensor of key-block ids, got "
                          f"{getattr(selected, 'dtype', type(selected).__name__)}")
    if selected.dim() != 3 or selected.shape[1] != n:
        raise LayoutError(f"selected must be (H, {n}, k) key-block ids for seq_len={seq_len}, block_size={block_size}; "
                          f"got {tuple(selected.shape)}")
    if selected.numel() and (int(selected.min()) < 0 or int(selected.max()) >= n):
        raise LayoutError(f"selected key-block ids must lie in [0, {n})")
    half = _check_odd_window(num_window_blocks)
    offsets = torch.arange(-half, half + 1).expand(selected.shape[0], -1)
    device = selected.device

    def candidates(heads: slice) -> tuple[torch.Tensor, torch.Tensor]:
        cols, valid = _band(n, offsets[heads], device)
        chosen = selected[heads].to(torch.int32)
        return torch.cat([cols, chosen], -1), torch.cat([valid, torch.ones_like(chosen, dtype=torch.bool)], -1)

    return _build(candidates, selected.shape[0], torch.zeros(0, dtype=torch.int64, device=device), seq_len, block_size,
                  tile_group=1)


def chunked_layout(seq_len: int, num_heads: int, *, num_previous: int = 1, block_size: int = 64,
                   device: torch.device | str = "cpu") -> BlockLayout:
    """Each block (chunk) attends itself and the ``num_previous`` blocks before it, whole.

    The layout of LSH attention after sorting by bucket (Kitaev et al. 2020, Reformer: "attend
    within the chunk and one chunk back"); the first chunk has no previous one.
    """
    n = _check_sizes(seq_len, num_heads, block_size)
    if num_previous < 0:
        raise LayoutError(f"num_previous must be >= 0 blocks, got {num_previous}")
    offsets = torch.arange(-num_previous, 1).expand(num_heads, -1)
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    return _build(lambda heads: _band(n, offsets[heads], device), num_heads, empty, seq_len, block_size,
                  tile_group=1)


def dense_layout(seq_len: int, num_heads: int, *, block_size: int = 64,
                 device: torch.device | str = "cpu") -> BlockLayout:
    """Every query block attends every key block: full attention expressed as a layout."""
    n = _check_sizes(seq_len, num_heads, block_size)
    def candidates(heads: slice) -> tuple[torch.Tensor, torch.Tensor]:
        cols = torch.zeros(heads.stop - heads.start, n, 0, dtype=torch.int32, device=device)
        return cols, torch.zeros_like(cols, dtype=torch.bool)

    return _build(candidates, num_heads, torch.arange(n, device=device), seq_len, block_size)
