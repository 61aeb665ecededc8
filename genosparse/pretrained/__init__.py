"""Checkpoints shipped with genosparse; ``MODEL_CARD.md`` beside them gives data, commands, metrics, limits.

- ``chr20-mlm``: masked-LM on human chr20 (GRCh37) windows of 131,072 bases, BigBird attention;
  the default of ``genosparse score``, ``vep``, ``embed``, ``track`` and ``ism``.
- ``chr20-promoter``: that backbone fine-tuned on the 70 bp core-promoter sequences; scores
  promoter probabilities (``genosparse score --checkpoint chr20-promoter``).

Both are ordinary checkpoint folders (bf16 weights, loaded as float32), so
``genosparse.load_model("chr20-mlm")`` and ``--checkpoint chr20-mlm`` work wherever a folder does
(a bare name always means the shipped model; a local folder of that name is ``./chr20-mlm``).
"""

from __future__ import annotations

import os
from pathlib import Path

from genosparse.errors import ConfigError

PRETRAINED = ("chr20-mlm", "chr20-promoter")
DEFAULT_MODEL = "chr20-mlm"
MODEL_CARD = Path(__file__).with_name("MODEL_CARD.md")


def pretrained_path(name: str = DEFAULT_MODEL) -> Path:
    """The folder of the shipped checkpoint ``name`` (one of :data:`PRETRAINED`).

    Raises:
        ConfigError: ``name`` is not a shipped checkpoint.
    """
    if name not in PRETRAINED:
        raise ConfigError(f"no shipped checkpoint {name!r}; shipped: {', '.join(PRETRAINED)}")
    return Path(__file__).with_name(name)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """The folder a checkpoint argument means: a shipped model for one of the names in
    :data:`PRETRAINED` given as a string, else ``path`` itself (``./chr20-mlm`` is local)."""
    return pretrained_path(path) if isinstance(path, str) and path in PRETRAINED else Path(path)
