"""``ModelConfig``: the architecture of a genosparse model, as stored in checkpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from genosparse.attention.patterns import AttentionConfig
from genosparse.errors import ConfigError
from genosparse.sequence.vocab import NUM_BASES, VOCAB_SIZE

HEADS = ("mlm", "classification")


@dataclass
class ModelConfig:
    """Backbone size, head and attention pattern.

    Attributes:
        head: ``"mlm"`` (per-token logits over A, C, G, T) or ``"classification"``
            (pooled sequence logits, ``num_outputs`` of them).
        d_model: channels of the residual stream.
        num_layers: transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: hidden width of the MLP as a multiple of ``d_model``.
        dropout: dropout probability on attention and MLP outputs.
        context_length: window length in tokens (bases) the model is trained and scores on.
        num_outputs: outputs of the classification head.
        vocab_size: token vocabulary size (:mod:`genosparse.sequence.vocab`).
        attention: the sparse-attention pattern and backend of every layer.
    """

    head: str = "mlm"
    d_model: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_ratio: int = 4
    dropout: float = 0.1
    context_length: int = 4096
    num_outputs: int = 1
    vocab_size: int = VOCAB_SIZE
    attention: AttentionConfig = field(default_factory=AttentionConfig)

    def __post_init__(self) -> None:
        if isinstance(self.attention, dict):
            self.attention = AttentionConfig(**self.attention)
        if self.head not in HEADS:
            raise ConfigError(f"unknown model head {self.head!r}; choose one of {', '.join(HEADS)}")
        if self.d_model % self.num_heads:
            raise ConfigError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
        if self.context_length < 1:
            raise ConfigError(f"context_length must be positive, got {self.context_length}")

    @property
    def num_mlm_classes(self) -> int:
        """Classes of the masked-LM head: the four bases."""
        return NUM_BASES

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (inverse: ``ModelConfig(**d)``)."""
        return asdict(self)
