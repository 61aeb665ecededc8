"""``SparseSelfAttention``: multi-head self-attention on a block-sparse layout."""

from __future__ import annotations

import torch
from torch import nn

from genosparse.attention.functional import sparse_attention
from genosparse.attention.layouts import BlockLayout
from genosparse.attention.patterns import AttentionConfig, build_layout, get_pattern
from genosparse.attention.rotary import RotaryEmbedding


class LayoutAttention(nn.Module):
    """Attention over a static pattern: the layout of each input length is built once on the
    input's device and cached; random blocks are seeded by ``config.seed + layer_index`` so the
    layer attends identically in training and evaluation.

    Shapes: ``q, k, v`` ``(B, H, L, D)`` -> ``(B, H, L, D)``; ``key_padding_mask`` ``(B, L)`` bool.
    """

    def __init__(self, config: AttentionConfig, num_heads: int, head_dim: int, layer_index: int = 0) -> None:
        super().__init__()
        self.config = config
        self.num_heads = num_heads
        self.layer_index = layer_index
        self._layouts: dict[tuple[int, str], BlockLayout] = {}

    def layout(self, seq_len: int, device: torch.device) -> BlockLayout:
        """The (cached) layout this layer uses for ``seq_len`` tokens on ``device``."""
        key = (seq_len, str(device))
        if key not in self._layouts:
            self._layouts[key] = build_layout(self.config, seq_len, self.num_heads, self.layer_index, device)
        return self._layouts[key]

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return sparse_attention(q, k, v, self.layout(q.shape[2], q.device), backend=self.config.backend,
                                key_padding_mask=key_padding_mask)


class SparseSelfAttention(nn.Module):
    """Multi-head self-attention whose pattern comes from an :class:`AttentionConfig`.

    Projections q, k, v (one fused linear), rotary position embedding on q and k, attention by
    the pattern's core, output projection. Static patterns use :class:`LayoutAttention`; dynamic
    ones their registered ``core`` (``"learned"``: :class:`~genosparse.attention.routing.RoutedAttention`,
    ``"lsh"``: :class:`~genosparse.attention.lsh.LSHAttention`), which builds its layout from each input.

    Args:
        d_model: model width (channels); must be divisible by ``num_heads``.
        num_heads: attention heads.
        config: the attention pattern and backend.
        layer_index: index of the layer in the model (seeds its random blocks and hashes).
        dropout: dropout on the output projection.
    Shapes:
        ``x`` ``(B, L, C)`` -> ``(B, L, C)``; ``key_padding_mask`` ``(B, L)`` bool, True on padding.
    """

    def __init__(self, d_model: int, num_heads: int, config: AttentionConfig, layer_index: int = 0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.config = config
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.rotary = RotaryEmbedding(self.head_dim)
        self.dropout = nn.Dropout(dropout)
        core = get_pattern(config.pattern).core or LayoutAttention
        self.core = core(config, num_heads, self.head_dim, layer_index)

    def _project(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """q, k, v ``(B, H, L, D)`` of ``x`` ``(B, L, C)``, q and k rotated (by ``positions`` if given)."""
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return self.rotary(q, positions), self.rotary(k, positions), v

    def _output(self, out: torch.Tensor) -> torch.Tensor:
        """``(B, H, R, D)`` attention outputs -> ``(B, R, C)`` through the output projection."""
        return self.dropout(self.out(out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)))

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.shape[0] == 0:  # an empty batch: the layouts and reshapes below cannot size 0-element tensors
            return torch.zeros_like(x)
        return self._output(self.core(*self._project(x), key_padding_mask))

    def forward_rows(self, x: torch.Tensor, positions: torch.Tensor, length: int, layout: BlockLayout,
                     rows: torch.Tensor) -> torch.Tensor:
        """This layer's output at a few rows of a sequence, from the rows they attend.

        Args:
            x: ``(B, I, C)`` the layer's (normalised) input at token ``positions`` ``(I,)`` (sorted) of a
                sequence of ``length`` tokens; must hold every key the rows attend.
            layout: this layer's layout for ``length`` restricted to the rows' blocks
                (:meth:`~genosparse.attention.layouts.BlockLayout.select_rows`).
            rows: ``(R,)`` indices into ``positions`` of the rows wanted.
        Returns:
            ``(B, R, C)``: equal (to rounding) to ``forward`` of the whole sequence at ``positions[rows]``.
        """
        q, k, v = self._project(x, positions)
        full = [t.new_zeros(*t.shape[:2], length, t.shape[-1]).index_copy(2, positions, t) for t in (q, k, v)]
        out = sparse_attention(*full, layout, backend=self.config.backend)
        return self._output(out[:, :, positions[rows]])
