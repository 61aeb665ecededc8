"""Helpers every GPU benchmark shares: the benchmark layouts, their FlexAttention ``BlockMask``, timing.

Imported as ``benchutil`` by the scripts of this folder (run as ``python benchmarks/NAME.py``, which
puts the folder on ``sys.path``).

* :data:`PATTERNS` / :func:`make_layout`: the static benchmark settings of the pattern registry
  (``Pattern.benchmarks``: the rows of the issue-14 table; 64-token blocks), built on CUDA.
* :func:`flex_block_mask`: FlexAttention's ``BlockMask`` of a layout, built exactly as the
  issue tables describe: ``create_block_mask(..., BLOCK_SIZE=128, _compile=True)`` of the
  pattern's own ``mask_mod`` where it writes one (the sliding window: ``|q - kv| <= 256``); else
  from the layout's own blocks, with the layout as ``mask_mod``
  (:func:`~genosparse.attention.patterns.layout_mask_mod`).
* :func:`measure`: forward and forward+backward medians of ``triton.testing.do_bench``, TF/s and
  peak memory.
"""

from __future__ import annotations

import statistics
import time

import torch
import triton
from torch.nn.attention.flex_attention import BlockMask, create_block_mask

from genosparse.attention.patterns import BENCHMARKS, benchmark_config, build_layout, layout_mask_mod

HEADS, BATCH, BLOCK = 16, 1, 64
GB = 1024 ** 3

PATTERNS = tuple(name for name, (pattern, _) in BENCHMARKS.items() if not pattern.dynamic)
"""The static benchmark settings of the registry: the patterns of the issue-14 table."""


def make_layout(name: str, length: int, heads: int = HEADS):
    """The layout of benchmark setting ``name`` (one of :data:`PATTERNS`) on CUDA."""
    return build_layout(benchmark_config(name, block_size=BLOCK)[1], length, heads, 0, "cuda")


def flex_block_mask(name: str | None, layout, length: int):
    """FlexAttention ``BlockMask`` (128-token blocks, B = 1) equivalent to ``layout``.

    ``name``: the benchmark setting that built the layout, or None for a layout built from an input
    (learned routing, LSH). A pattern that writes its own ``mask_mod`` (the sliding window) gets
    ``create_block_mask`` of it (compiled; FlexAttention's own construction). The others' ``mask_mod``
    reads the layout's blocks, which ``create_block_mask`` evaluates by materialising the ``H x L x L``
    mask (256 GiB at 131,072 tokens), so the ``BlockMask`` is built from the layout instead: a
    128-block is full when its four 64-blocks are in the layout, partial (``mask_mod`` applied) when
    some are.
    """
    pattern, cfg = benchmark_config(name) if name is not None else (None, None)
    if pattern is not None and pattern.mask_mod is not None:
        return create_block_mask(pattern.mask_mod(cfg, layout), None, layout.num_heads, length, length,
                                 device=layout.device, _compile=True)
    heads, n = layout.num_heads, layout.num_blocks
    quads = layout.to_block_mask().view(heads, n // 2, 2, n // 2, 2).sum((2, 4))  # 64-blocks per 128-block
    full, partial = quads == 4, (quads > 0) & (quads < 4)
    if layout.causal:  # diagonal blocks are cut by the causal mask
        diagonal = torch.eye(n // 2, dtype=torch.bool, device=layout.device)
        full, partial = full & ~diagonal, partial | (diagonal & (quads > 0))

    def csr(blocks):  # (H, n/2, n/2) bool -> FlexAttention's (1, H, n/2) counts, (1, H, n/2, n/2) indices
        order = torch.argsort(blocks.to(torch.int8), dim=-1, descending=True, stable=True)
        return blocks.sum(-1, dtype=torch.int32)[None], order.to(torch.int32)[None]

    return BlockMask.from_kv_blocks(*csr(partial), *csr(full), BLOCK_SIZE=2 * BLOCK, mask_mod=layout_mask_mod(layout),
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
