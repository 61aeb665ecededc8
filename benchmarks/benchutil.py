"""Helpers every GPU benchmark shares: the benchmark layouts, their FlexAttention ``BlockMask``, timing.

Imported as ``benchutil`` by the scripts of this folder (run as ``python benchmarks/NAME.py``, which
puts the folder on ``sys.path``).

* :func:`make_layout`: the layouts of the issue-3 and issue-14 tables (bf16, 64-token blocks).
* :func:`flex_block_mask`: FlexAttention's ``BlockMask`` of a layout, built exactly as the
  issue tables describe (``create_block_mask(..., BLOCK_SIZE=128, _compile=True)`` for the sliding
  window; from the layout's own ``(H, nQ, nK)`` block mask for the others).
* :func:`measure`: forward and forward+backward medians of ``triton.testing.do_bench``, TF/s and
  peak memory.
"""

from __future__ import annotations

import statistics
import time

import torch
import triton
from torch.nn.attention.flex_attention import BlockMask, create_block_mask

from genosparse.attention import bigbird_layout, dilated_window_layout, fixed_layout, sliding_window_layout

HEADS, BATCH, BLOCK = 16, 1, 64
GB = 1024 ** 3
WIDE_ROW = 16  # rows wider than this use a dense block table in the Flex mask_mod (compiling one
TABLE_MAX_ENTRIES = 2 ** 28  # comparison per key block of the row is slow), when the table fits


PATTERNS = ("window", "bigbird", "dilated", "fixed", "strided", "fixed causal")
"""The patterns of the issue-14 table."""


def make_layout(pattern: str, length: int, heads: int = HEADS):
    """The benchmark layout of ``pattern`` (one of :data:`PATTERNS`) on CUDA."""
    if pattern == "fixed":
        return fixed_layout(length, heads, stride=16, block_size=BLOCK, device="cuda")
    if pattern == "fixed causal":
        return fixed_layout(length, heads, stride=16, causal=True, block_size=BLOCK, device="cuda")
    if pattern == "strided":
        return fixed_layout(length, heads, stride=32, variant="strided", block_size=BLOCK, device="cuda")
    if pattern == "bigbird":
        return bigbird_layout(length, heads, block_size=BLOCK, num_window_blocks=3, num_global_blocks=2,
                              num_random_blocks=3, seed=0, device="cuda")
    if pattern == "window":
        return sliding_window_layout(length, heads, window=256, block_size=BLOCK, device="cuda")
    return dilated_window_layout(length, heads, dilations=[1, 2, 4, 8] * (heads // 4), num_window_blocks=3,
                                 block_size=BLOCK, device="cuda")


def flex_mask_mod(pattern: str, layout):
    """The layout as a FlexAttention ``mask_mod`` (exact at token level for L a multiple of 64)."""
    if pattern == "window":
        window = layout.token_window
        return lambda b, h, q_idx, kv_idx: (q_idx - kv_idx).abs() <= window
    degree = layout.row_degrees()  # (H, nQ)
    n = layout.num_blocks
    full = degree == n  # global rows
    width = int(torch.where(full, 0, degree).max())
    if width > WIDE_ROW and layout.num_heads * n * n <= TABLE_MAX_ENTRIES:  # wide rows: a block table lookup
        table = layout.to_block_mask()

        def table_mod(b, h, q_idx, kv_idx):
            hit = table[h, q_idx // BLOCK, kv_idx // BLOCK]
            return hit & (kv_idx <= q_idx) if layout.causal else hit

        return table_mod
    slot = torch.arange(width, device=layout.device)
    pos = (layout.kv_indptr[:, :-1, None].long() + slot).clamp_max(layout.kv_indices.shape[1] - 1)
    ell = torch.gather(layout.kv_indices, 1, pos.flatten(1)).view(layout.num_heads, n, width)
    ell = torch.where((slot < degree[..., None]) & ~full[..., None], ell, -1)

    def mask_mod(b, h, q_idx, kv_idx):
        qb, kb = q_idx // BLOCK, kv_idx // BLOCK
        hit = full[h, qb]
        for j in range(width):
            hit = hit | (ell[h, qb, j] == kb)
        return hit & (kv_idx <= q_idx) if layout.causal else hit

    return mask_mod


def flex_block_mask(pattern: str, layout, length: int):
    """FlexAttention ``BlockMask`` (128-token blocks, B = 1) equivalent to ``layout``.

    Sliding window: ``create_block_mask`` of ``|q - kv| <= 256`` (compiled; FlexAttention's own
    construction). The other patterns: their ``mask_mod`` reads a per-row key-block list, which
    ``create_block_mask`` evaluates by materialising the ``H x L x L`` mask (256 GiB at 131,072
    tokens), so the ``BlockMask`` is built from the layout instead: a 128-block is full when its
    four 64-blocks are in the layout, partial (``mask_mod`` applied) when some are.
    """
    mask_mod = flex_mask_mod(pattern, layout)
    if pattern == "window":
        return create_block_mask(mask_mod, None, layout.num_heads, length, length, device=layout.device,
                                 _compile=True)
    heads, n = layout.num_heads, layout.num_blocks
    quads = layout.to_block_mask().view(heads, n // 2, 2, n // 2, 2).sum((2, 4))  # 64-blocks per 128-block
    full, partial = quads == 4, (quads > 0) & (quads < 4)
    if layout.causal:  # diagonal blocks are cut by the causal mask
        diagonal = torch.eye(n // 2, dtype=torch.bool, device=layout.device)
        full, partial = full & ~diagonal, partial | (diagonal & (quads > 0))

    def csr(blocks):  # (H, n/2, n/2) bool -> FlexAttention's (1, H, n/2) counts, (1, H, n/2, n/2) indices
        order = torch.argsort(blocks.to(torch.int8), dim=-1, descending=True, stable=True)
        return blocks.sum(-1, dtype=torch.int32)[None], order.to(torch.int32)[None]

    return BlockMask.from_kv_blocks(*csr(partial), *csr(full), BLOCK_SIZE=2 * BLOCK, mask_mod=mask_mod,
                                    seq_lengths=(length, length))


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall time (ms, CUDA-synchronised) and peak extra memory (MB) of ``fn``."""
    fn()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), (torch.cuda.max_memory_allocated() - base) / 2 ** 20


def bench(fn, grad_to_none=None) -> float:
    return triton.testing.do_bench(fn, warmup=10, rep=60, grad_to_none=grad_to_none, return_mode="median")


def peak_gb(fn) -> float:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / GB


def measure(attn, q, k, v, grad_out, flops_fwd: float, do_backward: bool = True) -> dict:
    """Forward and forward+backward medians (ms), TFLOP/s and peak memory of ``attn(q, k, v)``."""
    def forward():  # the training forward (inputs require grad), one compiled graph for Flex
        attn(q, k, v)

    def forward_backward():
        attn(q, k, v).backward(grad_out)

    fwd = bench(forward)
    row = {"fwd_ms": fwd, "fwd_tflops": flops_fwd / fwd / 1e9}
    if do_backward:
        forward_backward()
        both = bench(forward_backward, grad_to_none=[q, k, v])
        row.update(fwdbwd_ms=both, fwdbwd_tflops=3.5 * flops_fwd / both / 1e9, peak_gb=peak_gb(forward_backward))
    return row


def fmt(x, spec=".2f") -> str:
    return "-" if x is None else format(x, spec)
