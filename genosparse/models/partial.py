"""``embed_at``: the last hidden states at a few positions, computing only what they depend on.

Scorers read a model at a few positions of a long window: the masked base of a masked-marginal
pass, the ~130 bases of a variant's focus. With a static sparse pattern the rows a layer's output
at those positions depends on are known from the layouts alone: the layer's own rows (the
residual) and the key blocks they attend. Going from the last layer down, layer ``l`` needs its
outputs at a set of blocks ``O_l`` and its inputs at ``O_l`` plus the blocks ``O_l`` attends; once
that set is every block, every layer below runs whole. For BigBird (global blocks attend
everything) that means: the last two layers run only a few rows, the others whole. Each layer
then computes exactly what the full forward computes at those rows (same weights, same keys, the
same attention over the layer's layout restricted to the rows,
:meth:`~genosparse.attention.layouts.BlockLayout.select_rows`), so the result equals
``model.embed(tokens)[:, positions]`` to rounding.

Models with an input-dependent pattern (learned routing, LSH) run the full forward. Inputs must
not hold ``[PAD]`` (the full forward would mask those keys; the scorers' windows never hold any).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from genosparse.attention.layouts import BlockLayout
from genosparse.attention.module import LayoutAttention
from genosparse.models.backbone import GenomicModel


@dataclass(frozen=True)
class _Step:
    """One layer run on a few rows: its input positions, the outputs wanted among them, its layout."""

    inputs: torch.Tensor  # (I,) sorted token positions whose inputs are needed
    rows: torch.Tensor  # (R,) indices into ``inputs`` of the outputs wanted
    layout: BlockLayout  # the layer's layout restricted to the outputs' blocks


_PLANS: "weakref.WeakKeyDictionary[GenomicModel, dict]" = weakref.WeakKeyDictionary()


def _positions(blocks: torch.Tensor, block_size: int, length: int) -> torch.Tensor:
    """Token positions of ``blocks`` (sorted), cut at ``length``."""
    pos = (blocks[:, None] * block_size + torch.arange(block_size, device=blocks.device)).flatten()
    return pos[pos < length]


def _plan(model: GenomicModel, length: int, targets: tuple[int, ...], device: torch.device) -> list[_Step | None]:
    """Per layer (first to last) ``None`` (run whole) or a :class:`_Step`; cached per length and target blocks."""
    key = (length, str(device), targets)
    plans = _PLANS.setdefault(model, {})
    if key in plans:
        return plans[key]
    layers = model.backbone.blocks
    bs = layers[0].attn.core.config.block_size
    n = -(-length // bs)
    needed = torch.tensor(targets, device=device)  # blocks whose outputs the layer must give
    steps: list[_Step | None] = []
    for block in reversed(layers):
        if len(needed) == n:
            steps.append(None)
            continue
        layout = block.attn.core.layout(length, device).select_rows(needed)
        stored = torch.arange(layout.kv_indices.shape[1], device=device)[None, :] < layout.nnz()[:, None]
        inputs = torch.unique(torch.cat([needed, layout.kv_indices[stored].long()]))
        positions = _positions(inputs, bs, length)
        rows = torch.searchsorted(positions, _positions(needed, bs, length))
        steps.append(_Step(positions, rows, layout))
        needed = inputs
    plans[key] = steps[::-1]
    return plans[key]


def prunable(model: GenomicModel) -> bool:
    """True when every layer's pattern is static (its layout depends on the length only)."""
    return all(isinstance(block.attn.core, LayoutAttention) for block in model.backbone.blocks)


def embed_at(model: GenomicModel, tokens: torch.Tensor, positions: Sequence[int],
             index: torch.Tensor | None = None) -> torch.Tensor:
    """Last hidden states ``(B, P, C)`` at token ``positions`` (``P`` host integers, any order) of ``tokens``
    ``(B, L)``, which must not hold ``[PAD]`` (windows fetched from a genome never do).

    Equals ``model.embed(tokens)[:, positions]`` to rounding (see the module docstring); runs the
    full forward for dynamic patterns. ``index``: the same positions already on the device, if at
    hand. No host synchronisation once the plan of a length and a set of blocks is built.
    """
    length = tokens.shape[1]
    if index is None:
        index = torch.as_tensor(np.asarray(positions, dtype=np.int64)).to(tokens.device)
    if not prunable(model):
        return model.embed(tokens)[:, index]
    backbone = model.backbone
    bs = backbone.blocks[0].attn.core.config.block_size
    targets = tuple(np.unique(np.asarray(positions, dtype=np.int64) // bs).tolist())
    x = backbone.embed(tokens)
    for block, step in zip(backbone.blocks, _plan(model, length, targets, tokens.device)):
        if step is None:
            x = block(x, None)
            continue
        inputs = x[:, step.inputs]
        out = inputs[:, step.rows] + block.attn.forward_rows(block.norm1(inputs), step.inputs, length, step.layout,
                                                             step.rows)
        out = out + block.mlp(block.norm2(out))
        x = out.new_zeros(x.shape[0], length, out.shape[-1]).index_copy(1, step.inputs[step.rows], out)
    return backbone.norm(x[:, index])
