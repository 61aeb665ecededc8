"""Compile the attention kernels ahead of time, many variants in parallel processes.

A kernel variant is fixed by the input dtype, the head dimension, the block size, the tile group
(:mod:`~genosparse.kernels.tiles`) and whether masking is needed (a key padding mask, a token band (window, causal) or a length that is not a multiple of
the block size); the integer arguments that vary with the input are not specialised on
(``do_not_specialize``), so a run on a tiny input compiles exactly the binaries that a run on a
long one uses. Each worker process runs the forward and backward once on a tiny dense layout
whose rows are all split (so the combine and reduction kernels compile too) and leaves the
binaries in Triton's on-disk cache, where later processes find them. Compiling one variant
takes seconds per kernel on one CPU core; a machine with many cores compiles a test matrix's
variants side by side. With autotuning on, every candidate configuration is compiled.
"""

from __future__ import annotations

import multiprocessing
from typing import Iterable, NamedTuple

__all__ = ["Variant", "precompile"]


class Variant(NamedTuple):
    """One compiled specialisation of the kernels: dtype name (``"float16"``, ``"bfloat16"``,
    ``"float32"``), head dimension, block size, whether masking is needed and blocks per tile
    (a group above 1 always masks)."""

    dtype: str
    head_dim: int
    block_size: int
    need_mask: bool
    group: int = 1


def _compile_variant(variant: Variant, device: str = "cuda") -> str:
    import torch

    from . import plan as plan_module
    from .attention_bwd import attention_backward
    from .attention_fwd import attention_forward
    from .tiles import tiles

    dtype = getattr(torch, variant.dtype)
    bs = variant.block_size
    n = 4 * variant.group
    length = n * bs - (1 if variant.need_mask else 0)
    heads = 2
    q, k, v, grad_out = (torch.randn(1, heads, length, variant.head_dim, device=device, dtype=dtype)
                         for _ in range(4))
    indptr = (torch.arange(n + 1, device=device, dtype=torch.int32) * n).repeat(heads, 1)
    indices = torch.arange(n, device=device, dtype=torch.int32).repeat(heads, n)
    saved = plan_module.MIN_SPLIT, plan_module.SPLIT_OVER_MEDIAN
    plan_module.MIN_SPLIT, plan_module.SPLIT_OVER_MEDIAN = 1, 0  # split every row: combine kernels too
    try:
        grouped = tiles(indptr, indices, bs, variant.group)  # the dense layout is its own transpose
        out, lse = attention_forward(q, k, v, grouped, None, bs, None, 1.0)
        grads = attention_backward(grad_out, None, q, k, v, out, lse, grouped, grouped, None, bs, None, 1.0)
        torch.stack([grads[0].float().sum(), out.float().sum()]).tolist()  # wait for the kernels
    finally:
        plan_module.MIN_SPLIT, plan_module.SPLIT_OVER_MEDIAN = saved
    return f"{variant.dtype} D={variant.head_dim} block={bs} mask={variant.need_mask} group={variant.group}"


def precompile(variants: Iterable[Variant], processes: int | None = None) -> list[str]:
    """Compile ``variants`` in parallel worker processes (CUDA; one process per variant, at
    most ``processes`` at a time, default: CPU count). Returns one line per compiled variant.
    The workers inherit the environment (``GENOSPARSE_TRITON_AUTOTUNE``, ``TRITON_CACHE_DIR``)."""
    variants = list(dict.fromkeys(variants))
    if not variants:
        return []
    workers = min(len(variants), processes or multiprocessing.cpu_count())
    with multiprocessing.get_context("spawn").Pool(workers, maxtasksperchild=1) as pool:
        return pool.map(_compile_variant, variants, chunksize=1)
