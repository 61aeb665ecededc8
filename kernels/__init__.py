"""Triton block-sparse attention kernels (``@triton.jit`` functions and their launchers).

Installed as ``genosparse.kernels``. The launchers take raw tensors (no ``BlockLayout``, no
autograd); ``genosparse.attention.triton_backend`` wraps them into a differentiable op.

* :func:`work_plan` (``plan.py``): splits the rows of a CSR layout into chunks so that
  global rows (and, on the transposed layout, global columns) run on many programs.
* :func:`tiles` (``tiles.py``): groups neighbouring rows that share key blocks into one
  program's tile (128-row tiles for sliding windows) and plans the tiles.
* ``common.py``: the tile masks and launch arguments both directions share.
* :func:`attention_forward` (``attention_fwd.py``): output and log-sum-exp
  (FlashAttention-2 forward over the layout, split rows merged flash-decoding style).
* :func:`attention_backward` (``attention_bwd.py``): delta, dQ over the layout rows, dK/dV
  over the transposed layout, deterministic reduction of split rows and columns.
* ``tuning.py``: autotuning keyed on length bucket, head dimension and block size, with
  configurations pruned by shared memory.
* ``warmup.py``: :func:`~genosparse.kernels.warmup.precompile` compiles kernel variants in
  parallel processes into Triton's on-disk cache (used by the GPU check and benchmark).
"""

from .attention_bwd import attention_backward
from .attention_fwd import attention_forward
from .plan import WorkPlan, work_plan
from .tiles import Tiles, tiles

__all__ = ["Tiles", "WorkPlan", "attention_backward", "attention_forward", "tiles", "work_plan"]
