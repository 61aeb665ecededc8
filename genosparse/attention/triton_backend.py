"""The ``"triton"`` backend of :func:`genosparse.attention.sparse_attention`.

Wraps the kernels of :mod:`genosparse.kernels` into

* two ``torch.library`` custom ops, ``genosparse::block_sparse_attention`` (forward: output and
  log-sum-exp) and ``genosparse::block_sparse_attention_backward``, each with a fake (meta)
  implementation, so ``torch.compile`` treats them as opaque ops with known output shapes;
* :class:`BlockSparseAttention`, the ``autograd.Function`` that :func:`triton_attention`
  applies (eager calls launch the kernels directly, without the dispatcher); its
  ``setup_context``/``backward`` are also registered on the forward op (``register_autograd``),
  so graphs calling the op directly are differentiable as well.

Importing this module needs Triton (``ImportError`` otherwise, which the dispatcher reads as
"backend not available") but not a GPU; the kernels run on CUDA tensors, or on CPU tensors
under Triton's interpreter (``TRITON_INTERPRET=1``, used by the CI tests).
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

try:
    import triton  # noqa: F401  (the kernels below need it; fail here with a clear message)
except ImportError as exc:  # pragma: no cover - exercised on machines without Triton
    raise ImportError("the 'triton' attention backend needs Triton: pip install 'genosparse[gpu]'") from exc

from genosparse.attention.layouts import BlockLayout, token_band
from genosparse.errors import LayoutError
from genosparse.kernels import attention_backward, attention_forward, tiles

__all__ = ["BlockSparseAttention", "SUPPORTED_BLOCK_SIZES", "triton_attention"]

SUPPORTED_BLOCK_SIZES = (16, 32, 64, 128)
MAX_HEAD_DIM = 128
_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def _unit_stride(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself when its last dimension is contiguous (the kernels take the other strides), else a copy."""
    return t if t.stride(-1) == 1 else t.contiguous()


def _forward_impl(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kv_indptr: torch.Tensor,
                  kv_indices: torch.Tensor, key_padding_mask: torch.Tensor | None, block_size: int,
                  token_window: int | None, causal: bool, tile_group: int | None,
                  scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    q, k, v = (_unit_stride(t) for t in (q, k, v))
    return attention_forward(q, k, v, tiles(kv_indptr, kv_indices, block_size, tile_group), key_padding_mask,
                             block_size, token_band(token_window, causal, q.shape[2]), scale)


def _backward_impl(grad_out: torch.Tensor, grad_lse: torch.Tensor | None, q: torch.Tensor, k: torch.Tensor,
                   v: torch.Tensor, out: torch.Tensor, lse: torch.Tensor, kv_indptr: torch.Tensor,
                   kv_indices: torch.Tensor, q_indptr: torch.Tensor, q_indices: torch.Tensor,
                   key_padding_mask: torch.Tensor | None, block_size: int, token_window: int | None,
                   causal: bool, tile_group: int | None,
                   scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    grad_out, q, k, v, out = (_unit_stride(t) for t in (grad_out, q, k, v, out))
    grad_lse = grad_lse.contiguous() if grad_lse is not None else None
    return attention_backward(grad_out, grad_lse, q, k, v, out, lse,
                              tiles(kv_indptr, kv_indices, block_size, tile_group),
                              tiles(q_indptr, q_indices, block_size, tile_group), key_padding_mask, block_size,
                              token_band(token_window, causal, q.shape[2]), scale)


@torch.library.custom_op("genosparse::block_sparse_attention", mutates_args=())
def _forward_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kv_indptr: torch.Tensor,
                kv_indices: torch.Tensor, q_indptr: torch.Tensor, q_indices: torch.Tensor,
                key_padding_mask: torch.Tensor | None, block_size: int, token_window: int | None,
                causal: bool, tile_group: int | None, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward op: ``out (B, H, L, D)`` in ``q.dtype`` and ``lse (B, H, L)`` fp32.

    ``q_indptr``/``q_indices`` are unused here; they are inputs so the backward can read them.
    """
    return _forward_impl(q, k, v, kv_indptr, kv_indices, key_padding_mask, block_size, token_window, causal,
                         tile_group, scale)


@_forward_op.register_fake
def _forward_fake(q, k, v, kv_indptr, kv_indices, q_indptr, q_indices, key_padding_mask, block_size, token_window,
                  causal, tile_group, scale):
    return torch.empty_like(q, memory_format=torch.contiguous_format), q.new_empty(q.shape[:3], dtype=torch.float32)


@torch.library.custom_op("genosparse::block_sparse_attention_backward", mutates_args=())
def _backward_op(grad_out: torch.Tensor, grad_lse: torch.Tensor | None, q: torch.Tensor, k: torch.Tensor,
                 v: torch.Tensor, out: torch.Tensor, lse: torch.Tensor, kv_indptr: torch.Tensor,
                 kv_indices: torch.Tensor, q_indptr: torch.Tensor, q_indices: torch.Tensor,
                 key_padding_mask: torch.Tensor | None, block_size: int, token_window: int | None,
                 causal: bool, tile_group: int | None,
                 scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backward op: ``dq, dk, dv`` ``(B, H, L, D)`` in the dtypes of ``q, k, v``."""
    return _backward_impl(grad_out, grad_lse, q, k, v, out, lse, kv_indptr, kv_indices, q_indptr, q_indices,
                          key_padding_mask, block_size, token_window, causal, tile_group, scale)


@_backward_op.register_fake
def _backward_fake(grad_out, grad_lse, q, k, v, out, lse, kv_indptr, kv_indices, q_indptr, q_indices,
                   key_padding_mask, block_size, token_window, causal, tile_group, scale):
    return tuple(torch.empty_like(t, memory_format=torch.contiguous_format) for t in (q, k, v))


def _eager(t: torch.Tensor) -> bool:
    """Whether ``t`` is a plain tensor outside any compiler or tracing mode (then the kernels launch
    directly); fake, functional and traced tensors go through the custom ops."""
    return (type(t) is torch.Tensor and not torch.compiler.is_compiling()
            and _get_current_dispatch_mode() is None)


def _setup_context(ctx, inputs, output) -> None:
    (q, k, v, kv_indptr, kv_indices, q_indptr, q_indices, key_padding_mask, block_size, token_window, causal,
     tile_group, scale) = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse, kv_indptr, kv_indices, q_indptr, q_indices, key_padding_mask)
    ctx.meta = (block_size, token_window, causal, tile_group, scale)


def _backward(ctx, grad_out, grad_lse):
    saved = ctx.saved_tensors
    if grad_out is None:
        grad_out = torch.zeros_like(saved[3])
    backward = _backward_impl if _eager(grad_out) else torch.ops.genosparse.block_sparse_attention_backward
    dq, dk, dv = backward(grad_out, grad_lse, *saved, *ctx.meta)
    return dq, dk, dv, None, None, None, None, None, None, None, None, None, None


class BlockSparseAttention(torch.autograd.Function):
    """Differentiable block-sparse attention.

    ``apply(q, k, v, kv_indptr, kv_indices, q_indptr, q_indices, key_padding_mask, block_size,
    token_window, causal, tile_group, scale)`` (all positional) returns ``(out, lse)``; gradients flow to
    ``q``, ``k``, ``v`` from both outputs (the ``lse`` gradient enters through ``delta``). Eager calls
    launch the kernels directly; under ``torch.compile`` the two custom ops stand in (opaque to the
    compiler, with known output shapes). The forward takes ``ctx`` itself (no ``setup_context``), which
    spares every call ``autograd.Function``'s signature binding.
    """

    @staticmethod
    def forward(ctx, *inputs):
        ctx.set_materialize_grads(False)  # an unused lse gets no zero gradient (the backward skips its term)
        if _eager(inputs[0]):
            output = _forward_impl(*inputs[:5], *inputs[7:])
        else:
            output = torch.ops.genosparse.block_sparse_attention(*inputs)
        _setup_context(ctx, inputs, output)
        return output

    backward = staticmethod(_backward)


_forward_op.register_autograd(_backward, setup_context=_setup_context)


def _check_supported(q: torch.Tensor, layout: BlockLayout) -> None:
    if layout.block_size not in SUPPORTED_BLOCK_SIZES:
        raise LayoutError(f"the triton backend needs block_size in {SUPPORTED_BLOCK_SIZES}, the layout has "
                          f"{layout.block_size}; build the layout with one of them or use backend='torch'")
    if q.shape[-1] > MAX_HEAD_DIM:
        raise LayoutError(f"the triton backend supports head dimensions up to {MAX_HEAD_DIM} (32, 64 and 128 are "
                          f"tuned, smaller ones are padded), got {q.shape[-1]}; use backend='torch'")
    if q.dtype not in _DTYPES:
        raise LayoutError(f"the triton backend takes fp16, bf16 or fp32 inputs, got {q.dtype}; cast the inputs "
                          f"or use backend='torch'")


def triton_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: BlockLayout, scale: float,
                     key_padding_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-sparse softmax attention with the Triton kernels (differentiable).

    Args:
        q, k, v: ``(B, H, L, D)`` of one dtype (fp16, bf16, fp32; fp32 accumulation), ``D <= 128``,
            on the layout's device (CUDA, or CPU under ``TRITON_INTERPRET=1``).
        layout: :class:`BlockLayout` for ``seq_len=L``, ``H`` heads and a block size in
            :data:`SUPPORTED_BLOCK_SIZES`; ``L`` need not be a multiple of it (the tail is masked
            inside the kernels); ``token_window`` and ``causal`` are applied token by token.
        scale: score scale.
        key_padding_mask: ``(B, L)`` bool, True for padding keys, or None.
    Returns:
        ``out`` ``(B, H, L, D)`` in ``q.dtype`` and ``lse`` ``(B, H, L)`` fp32 (natural-log
        sum-exp of the scaled scores; rows attending nothing get ``out = 0``, ``lse = -inf``).
    Raises:
        LayoutError: for an unsupported block size, head dimension or dtype.
    """
    _check_supported(q, layout)
    return BlockSparseAttention.apply(q, k, v, layout.kv_indptr, layout.kv_indices, layout.q_indptr,
                                      layout.q_indices, key_padding_mask, layout.block_size, layout.token_window,
                                      layout.causal, layout.tile_group, float(scale))
