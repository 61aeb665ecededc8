"""``sparse_attention``: one entry point for every attention backend.

Backends:

* ``"dense"``: masked O(L^2) reference (:mod:`genosparse.attention.reference`), tests only;
* ``"torch"``: block gather in PyTorch (:mod:`genosparse.attention.blockgather`), any device;
  without autograd (scoring) a short layout that covers much of the ``L x L`` square instead runs
  as one masked ``scaled_dot_product_attention`` over a bias cached on the layout
  (:func:`~genosparse.attention.blockgather.dense_bias`): the same attention, without the gathers;
* ``"triton"``: the block-sparse Triton kernels of :mod:`genosparse.kernels` (CUDA, or CPU
  tensors in Triton's interpreter, ``TRITON_INTERPRET=1``);
* ``"auto"``: ``"triton"`` for CUDA tensors when it is available, else ``"torch"``.
"""

from __future__ import annotations

import math
import os
from typing import Callable

import torch
import torch.nn.functional as F

from genosparse.attention.blockgather import blockgather_attention, dense_bias
from genosparse.attention.layouts import BlockLayout
from genosparse.attention.reference import dense_attention
from genosparse.errors import LayoutError

BACKENDS = ("auto", "dense", "torch", "triton")


def _triton_backend() -> Callable | None:
    """The Triton backend's function, or None when Triton kernels are not installed."""
    try:
        from genosparse.attention.triton_backend import triton_attention
    except ImportError:
        return None
    return triton_attention


def resolve_backend(backend: str, device: torch.device) -> str:
    """Name of the backend ``"auto"`` picks on ``device`` (other names are checked and returned).

    Raises:
        LayoutError: for an unknown backend, or ``"triton"`` off CUDA / without Triton.
    """
    if backend not in BACKENDS:
        raise LayoutError(f"unknown attention backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "triton" if device.type == "cuda" and _triton_backend() is not None else "torch"
    interpreted = os.environ.get("TRITON_INTERPRET") == "1"
    if backend == "triton" and ((device.type != "cuda" and not interpreted) or _triton_backend() is None):
        raise LayoutError("attention backend 'triton' needs a CUDA device and the Triton kernels "
                          "(pip install 'genosparse[gpu]'); use backend='torch' on this machine")
    return backend


def _check_inputs(q, k, v, layout: BlockLayout, key_padding_mask) -> None:
    if not isinstance(layout, BlockLayout):
        raise LayoutError(f"layout must be a BlockLayout (see genosparse.attention.layouts), got {type(layout).__name__}")
    if not all(isinstance(t, torch.Tensor) for t in (q, k, v)):
        raise LayoutError("q, k, v must be torch tensors of shape (B, H, L, D)")
    if not q.is_floating_point() or q.dtype != k.dtype or q.dtype != v.dtype:
        raise LayoutError(f"q, k, v must share one floating-point dtype (fp16, bf16, fp32), got {q.dtype}, "
                          f"{k.dtype}, {v.dtype}")
    if q.dim() != 4 or q.shape != k.shape or q.shape != v.shape:
        raise LayoutError(f"q, k, v must all be (B, H, L, D) of one shape, got {tuple(q.shape)}, "
                          f"{tuple(k.shape)}, {tuple(v.shape)}")
    batch, heads, length, _ = q.shape
    if layout.seq_len != length or layout.num_heads != heads:
        raise LayoutError(f"layout was built for seq_len={layout.seq_len}, heads={layout.num_heads} but the input "
                          f"has L={length}, H={heads}; build the layout for the input's length and heads")
    if q.shape[-1] == 0:
        raise LayoutError("q, k, v have head dimension D=0")
    check_key_padding_mask(key_padding_mask, batch, length)


def check_key_padding_mask(key_padding_mask: torch.Tensor | None, batch: int, length: int) -> None:
    """Check that a key padding mask is None or a bool ``(batch, length)`` tensor.

    Raises:
        LayoutError: naming the expected and the given dtype and shape.
    """
    if key_padding_mask is None:
        return
    if (not isinstance(key_padding_mask, torch.Tensor) or key_padding_mask.shape != (batch, length)
            or key_padding_mask.dtype != torch.bool):
        given = (f"{key_padding_mask.dtype} {tuple(key_padding_mask.shape)}" if isinstance(key_padding_mask, torch.Tensor)
                 else type(key_padding_mask).__name__)
        raise LayoutError(f"key_padding_mask must be a bool tensor of shape (B, L) = ({batch}, {length}), "
                          f"got {given}")


def sparse_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: BlockLayout, *,
                     backend: str = "auto", scale: float | None = None,
                     key_padding_mask: torch.Tensor | None = None,
                     return_lse: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention restricted to the blocks of ``layout``.

    Args:
        q, k, v: ``(B, H, L, D)`` float tensors (fp16, bf16 or fp32), as
            ``torch.nn.functional.scaled_dot_product_attention``. ``L`` need not be a
            multiple of ``layout.block_size``: inputs are padded inside and the tail keys masked.
        layout: a :class:`BlockLayout` built for ``seq_len=L`` and ``H`` heads.
        backend: ``"auto"``, ``"torch"``, ``"triton"`` or ``"dense"`` (see module doc).
        scale: score scale, default ``1 / sqrt(D)``.
        key_padding_mask: optional ``(B, L)`` bool, True for padding keys that no query may
            attend (the convention of ``torch.nn.MultiheadAttention``).
        return_lse: also return the log-sum-exp of each row.
    Returns:
        ``out`` ``(B, H, L, D)`` in ``q.dtype``; with ``return_lse`` also ``lse`` ``(B, H, L)``
        fp32. A query that attends no key (all its keys padded) gets zeros and ``lse=-inf``.
    Raises:
        LayoutError: on non-float or mismatched inputs, a layout for another length or head
            count, an inconsistent layout, or an unavailable backend.
    """
    _check_inputs(q, k, v, layout, key_padding_mask)
    name = resolve_backend(backend, q.device)
    layout.validate()
    batch, _, length, dim = q.shape
    scale = 1.0 / math.sqrt(dim) if scale is None else scale
    key_valid = torch.ones(batch, length, dtype=torch.bool, device=q.device)
    if key_padding_mask is not None:
        key_valid = ~key_padding_mask
    if layout.device != q.device:
        layout = layout.to(q.device)
    if name == "dense":
        out, lse = dense_attention(q, k, v, layout, scale, key_valid)
    elif name == "triton":
        out, lse = _triton_backend()(q, k, v, layout, scale, key_padding_mask)
    elif (not torch.is_grad_enabled() and key_padding_mask is None and not return_lse
          and (dense := dense_bias(layout)) is not None):
        bias, rows = dense
        if rows is None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=scale)
        else:  # only the rows that attend anything
            part = F.scaled_dot_product_attention(q[:, :, rows], k, v, attn_mask=bias.to(q.dtype), scale=scale)
            out = q.new_zeros(q.shape).index_copy(2, rows, part)
        lse = None
    else:
        pad = layout.num_blocks * layout.block_size - length
        qp, kp, vp = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        out, lse = blockgather_attention(qp, kp, vp, layout, scale, F.pad(key_valid, (0, pad), value=False),
                                        need_lse=return_lse)
        out, lse = out[:, :, :length], (lse[:, :, :length] if return_lse else None)
    return (out, lse) if return_lse else out
