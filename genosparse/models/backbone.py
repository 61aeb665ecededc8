"""The sparse-attention transformer: token embedding -> N pre-norm blocks -> heads."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from genosparse.attention.module import SparseSelfAttention
from genosparse.models.config import ModelConfig
from genosparse.models.hub import CheckpointHubMixin
from genosparse.sequence.vocab import PAD


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, cfg: ModelConfig, layer_index: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = SparseSelfAttention(cfg.d_model, cfg.num_heads, cfg.attention.for_layer(layer_index), layer_index,
                                        cfg.dropout)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        hidden = cfg.mlp_ratio * cfg.d_model
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, hidden), nn.GELU(), nn.Linear(hidden, cfg.d_model),
                                 nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), key_padding_mask)
        return x + self.mlp(self.norm2(x))


class Backbone(nn.Module):
    """Token ids ``(B, L)`` int64 -> hidden states ``(B, L, d_model)``.

    Positions come from the rotary embedding inside each attention layer, so the backbone
    takes any length; ``[PAD]`` tokens are masked as keys. With ``cfg.activation_checkpointing``
    each block is recomputed in the backward pass while training.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.checkpointing = cfg.activation_checkpointing
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        padding = tokens == PAD
        key_padding_mask = padding if bool(padding.any()) else None
        x = self.embed(tokens)
        for block in self.blocks:
            if self.checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, key_padding_mask, use_reentrant=False)
            else:
                x = block(x, key_padding_mask)
        return self.norm(x)


class GenomicModel(nn.Module, CheckpointHubMixin):
    """Backbone plus the head named by ``cfg.head``.

    ``forward(tokens (B, L) int64)`` returns for ``head="mlm"`` logits ``(B, L, 4)`` over
    A, C, G, T at every position, and for ``head="classification"`` logits
    ``(B, num_outputs)`` from the mean of the hidden states over non-``[PAD]`` tokens.
    ``embed(tokens)`` returns the hidden states ``(B, L, d_model)``.

    ``GenomicModel.from_pretrained(folder | "chr20-mlm" | hub_repo_id)`` and
    ``model.save_pretrained(folder)`` (``huggingface_hub``'s mixin, :mod:`genosparse.models.hub`) read
    and write checkpoint folders as :func:`~genosparse.models.load_model` and
    :func:`~genosparse.models.save_model` do.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.backbone = Backbone(cfg)
        out = cfg.num_mlm_classes if cfg.head == "mlm" else cfg.num_outputs
        self.head = nn.Linear(cfg.d_model, out)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.backbone(tokens)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(tokens)
        if self.config.head == "mlm":
            return self.head(hidden)
        real = (tokens != PAD).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * real).sum(1) / real.sum(1).clamp_min(1.0)
        return self.head(pooled)
