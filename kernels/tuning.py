"""Launch configurations of the attention kernels: autotuning, shared-memory pruning, defaults.

The tile sizes are not tuned: a program owns ``GROUP`` query or key blocks of the layout's
``block_size`` (:mod:`genosparse.kernels.tiles`). What is tuned is ``num_warps`` and ``num_stages`` (software-pipelining
depth of the key/value or query loads), keyed on a length bucket, the head dimension, the
block size, the group and the input dtypes (Triton adds the dtypes of tensor arguments to the key),
as in the Triton fused-attention tutorial. Configurations whose pipelined tiles would not fit
in shared memory are pruned before compiling (Hopper, sm_90: 227 KiB per block).

Environment:
    ``GENOSPARSE_TRITON_AUTOTUNE=0`` launches every kernel with the default configuration of
    :func:`default_config` instead of timing the candidates (faster start, e.g. for tests).
    Under ``TRITON_INTERPRET=1`` the defaults are always used.
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import torch
import triton

__all__ = ["TunedKernel", "default_config", "length_bucket"]


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _autotune_enabled() -> bool:
    return not _interpreting() and os.environ.get("GENOSPARSE_TRITON_AUTOTUNE", "1") != "0"


def length_bucket(length: int) -> int:
    """Autotuning bucket of a sequence length: the power of 4 at or above it, at least 4,096."""
    bucket = 4096
    while bucket < length:
        bucket *= 4
    return bucket


def default_config(rows: int, block_d: int) -> tuple[int, int]:
    """``(num_warps, num_stages)`` used without autotuning, for tiles of ``rows`` tokens."""
    return (8 if rows * block_d >= 128 * 128 else 4), 2


@functools.lru_cache(maxsize=None)
def _max_shared_memory(device_index: int) -> int:
    return triton.runtime.driver.active.utils.get_device_properties(device_index)["max_shared_mem"]


def _candidates() -> list[triton.Config]:
    return [triton.Config({}, num_warps=w, num_stages=s) for w in (4, 8) for s in (2, 3)]


class TunedKernel:
    """A ``@triton.jit`` kernel launched with autotuned or default ``num_warps``/``num_stages``.

    Args:
        kernel: the jitted kernel; it must take the ``int`` argument ``L_BUCKET`` and the
            constexprs ``HEAD_DIM``, ``BLOCK``, ``GROUP`` and ``BLOCK_D``.
        smem_bytes: estimate of the shared memory a configuration needs, from
            ``(num_stages, GROUP * BLOCK, BLOCK, BLOCK_D, element_size)``; configurations over the
            device's limit are pruned.
    """

    def __init__(self, kernel, smem_bytes: Callable[[int, int, int, int, int], int]) -> None:
        self.kernel = kernel
        self.smem_bytes = smem_bytes
        self._bucket_arg = kernel.arg_names.index("L_BUCKET")
        self._best: dict[tuple, tuple[int, int]] = {}
        self.tuned = triton.autotune(
            configs=_candidates(), key=["L_BUCKET", "HEAD_DIM", "BLOCK", "GROUP"],
            prune_configs_by={"early_config_prune": self._prune},
            do_bench=functools.partial(triton.testing.do_bench, warmup=5, rep=20),
        )(kernel)

    def _prune(self, configs, named_args, **kwargs):
        tensor = next(a for a in named_args.values() if isinstance(a, torch.Tensor))
        limit = _max_shared_memory(tensor.device.index or 0)
        fits = [c for c in configs
                if self.smem_bytes(c.num_stages, kwargs["GROUP"] * kwargs["BLOCK"], kwargs["BLOCK"], kwargs["BLOCK_D"],
                                   tensor.element_size()) <= limit]
        return fits or [min(configs, key=lambda c: c.num_stages)]

    def __call__(self, grid, *args, **meta) -> None:
        """Launch on ``grid``. With autotuning, the first launch of each key (length bucket, head dimension,
        block, group, masking, dtype, device) times the candidates; later launches of that key go
        straight to the kernel with the winner (Triton's autotuner costs about 0.1 ms of host time per
        launch, which dominates short sequences)."""
        if _autotune_enabled():
            key = (args[self._bucket_arg], meta["HEAD_DIM"], meta["BLOCK"], meta["GROUP"], meta["NEED_MASK"],
                   args[0].dtype, args[0].device)
            best = self._best.get(key)
            if best is None:
                self.tuned[grid](*args, **meta)
                config = self.tuned.best_config
                self._best[key] = (config.num_warps, config.num_stages)
            else:
                self.kernel[grid](*args, num_warps=best[0], num_stages=best[1], **meta)
        else:
            warps, stages = default_config(meta["GROUP"] * meta["BLOCK"], meta["BLOCK_D"])
            self.kernel[grid](*args, num_warps=warps, num_stages=stages, **meta)
