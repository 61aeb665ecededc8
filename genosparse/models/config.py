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
        activation_checkpointing: in training, keep only each block's input and recompute the
            block in the backward (``torch.utils.checkpoint``): activation memory of one block
            instead of all, for about one more forward of compute. No effect on results.
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
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.attention, dict):
            try:
                self.attention = AttentionConfig(**self.attention)
            except TypeError as err:
                raise ConfigError(f"invalid attention config: {err}") from err
        if not isinstance(self.attention, AttentionConfig):
            raise ConfigError(f"attention must be a mapping of AttentionConfig fields, got {self.attention!r}")
        for name in ("d_model", "num_layers", "num_heads", "mlp_ratio", "context_length", "num_outputs", "vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"model.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.activation_checkpointing, bool):
            raise ConfigError(f"model.activation_checkpointing must be true or false, got {self.activation_checkpointing!r}")
        if self.head not in HEADS:
            raise ConfigError(f"unknown model head {self.head!r}; choose one of {', '.join(HEADS)}")
        if len(self.attention.layers) > self.num_layers:
            raise ConfigError(f"attention.layers has {len(self.attention.layers)} entries but the model has "
                              f"{self.num_layers} layers: the entries past the last layer would be ignored; give at "
                              f"most model.num_layers entries")
        if self.d_model % self.num_heads:
            raise ConfigError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")

    @property
    def num_mlm_classes(self) -> int:
        """Classes of the masked-LM head: the four bases."""
        return NUM_BASES

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (inverse: ``ModelConfig(**d)``)."""
        return asdict(self)
