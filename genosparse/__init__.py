"""genosparse: genomics long-sequence modeling on block-sparse attention."""

__version__ = "0.1.0"
