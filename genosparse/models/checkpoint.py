"""Checkpoint folders: ``model.safetensors`` + ``config.json``.

``config.json`` holds the format version, the genosparse version, the model config
(architecture, head and attention layout) and the vocabulary, so a folder is
self-describing. Lightning ``.ckpt`` files written by the training tasks load too.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

import genosparse
from genosparse.errors import ConfigError
from genosparse.models.backbone import GenomicModel
from genosparse.models.config import ModelConfig
from genosparse.sequence.vocab import TOKENS

FORMAT = "genosparse-checkpoint"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save_model(model: GenomicModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to the folder ``path`` (created; replaced atomically if it exists).

    Returns:
        The folder's path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, tmp / WEIGHTS)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "genosparse_version": genosparse.__version__,
            "model": model.config.to_dict(), "vocabulary": list(TOKENS)}
    (tmp / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    return path


def _read_config(folder: Path) -> ModelConfig:
    try:
        meta = json.loads((folder / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read {folder / CONFIG}: {err}; is {folder} a genosparse checkpoint folder?") from err
    if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
        raise ConfigError(f"{folder / CONFIG} is not a genosparse checkpoint of format version <= {FORMAT_VERSION}")
    if tuple(meta.get("vocabulary", ())) != TOKENS:
        raise ConfigError(f"{folder / CONFIG} was written with another vocabulary {meta.get('vocabulary')}; "
                          f"this genosparse uses {list(TOKENS)}")
    return ModelConfig(**meta["model"])


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> GenomicModel:
    """Restore a model from a checkpoint folder (or a Lightning ``.ckpt`` of a genosparse task).

    The model is returned in eval mode on ``device``; weights and config are restored exactly.

    Raises:
        ConfigError: if the path is missing, not a genosparse checkpoint, or its weights do
            not match its config.
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".ckpt":
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        try:
            config = ModelConfig(**ckpt["hyper_parameters"]["model"])
        except (KeyError, TypeError) as err:
            raise ConfigError(f"{path} is not a Lightning checkpoint of a genosparse task: {err}") from err
        prefix = "model."
        state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    elif path.is_dir():
        config = _read_config(path)
        if not (path / WEIGHTS).is_file():
            raise ConfigError(f"{path} has no {WEIGHTS}; pass a folder written by `genosparse train`")
        state = load_file(path / WEIGHTS)
    else:
        raise ConfigError(f"checkpoint {path} does not exist; pass a checkpoint folder or a .ckpt file")
    model = GenomicModel(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ConfigError(f"weights in {path} do not match its config: {err}") from err
    return model.eval().to(device)
