"""Checkpoint folders in the Hugging Face layout: ``config.json``, ``model.safetensors``, ``README.md``.

``config.json`` holds ``"model_type": "genosparse"``, the format version, the genosparse version, the
model config (architecture, head and attention layout) and the vocabulary, so a folder is
self-describing; ``README.md`` is a model card with YAML front-matter (:mod:`genosparse.models.card`).
Folders written before ``model_type`` and the card existed (the shipped ``chr20-mlm`` and
``chr20-promoter``) load the same. Lightning ``.ckpt`` files written by the training tasks load too.
``GenomicModel.from_pretrained`` / ``save_pretrained`` (:mod:`genosparse.models.hub`) call these functions.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save, save_file

import genosparse
from genosparse.errors import PATH, ConfigError, check_type
from genosparse.io import atomic_folder
from genosparse.models.backbone import GenomicModel
from genosparse.models.card import model_card
from genosparse.models.config import ModelConfig
from genosparse.pretrained import PRETRAINED, resolve_checkpoint
from genosparse.sequence.vocab import TOKENS

MODEL_TYPE = "genosparse"
FORMAT = "genosparse-checkpoint"
FORMAT_VERSION = 1  # model_type and README.md are additions that older readers ignore: still version 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
README = "README.md"


def save_model(model: GenomicModel, path: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
    """Write ``model`` to the folder ``path`` (created; replaced atomically if it exists): ``config.json``,
    ``model.safetensors`` and the ``README.md`` model card.

    Args:
        dtype: store the parameters in this floating-point dtype (e.g. ``torch.bfloat16`` halves
            the file; buffers keep theirs); default as they are. :func:`load_model` casts them
            back to the model's dtype (float32).
    Returns:
        The folder's path.
    Raises:
        ConfigError: ``dtype`` is not a floating-point ``torch.dtype`` (nothing is written).
    """
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ConfigError(f"save_model: dtype must be a floating-point torch.dtype such as torch.bfloat16, "
                          f"got {dtype!r}")
    path = Path(path)
    parameters = {name for name, _ in model.named_parameters()}  # buffers (LSH rotations) stay exact
    state = {k: v.detach().to(dtype if dtype and k in parameters else v.dtype).contiguous().cpu()
             for k, v in model.state_dict().items()}
    with atomic_folder(path) as tmp:
        save_file(state, tmp / WEIGHTS)
        meta = {"model_type": MODEL_TYPE, "format": FORMAT, "format_version": FORMAT_VERSION,
                "genosparse_version": genosparse.__version__, "model": model.config.to_dict(),
                "vocabulary": list(TOKENS)}
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
        (tmp / README).write_text(model_card(model))
    return path


def describe_checkpoint(model: GenomicModel | str | os.PathLike) -> str:
    """A checkpoint's name and a short hash of its weights, for provenance (a VCF header line).

    A checkpoint folder, shipped name or ``.ckpt``: ``"<as given> (model.safetensors sha256:<12 hex>)"``,
    the SHA-256 of the weights file. A model in memory: ``"in-memory model (weights sha256:<12 hex>)"``,
    the SHA-256 of its float32 state dict as safetensors would store it.
    """
    if isinstance(model, GenomicModel):
        state = {k: v.detach().float().contiguous().cpu() for k, v in sorted(model.state_dict().items())}
        return f"in-memory model (weights sha256:{hashlib.sha256(save(state)).hexdigest()[:12]})"
    path = resolve_checkpoint(model)
    weights = path / WEIGHTS if path.is_dir() else path
    digest = hashlib.sha256()
    with open(weights, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{model} ({weights.name} sha256:{digest.hexdigest()[:12]})"


def _read_config(folder: Path) -> ModelConfig:
    path = folder / CONFIG
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read {path}: {err}; is {folder} a genosparse checkpoint folder?") from err
    if isinstance(meta, dict) and meta.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise ConfigError(f"{path} has model_type {meta['model_type']!r}: {folder} is a checkpoint of another "
                          f"library, not genosparse (whose config.json has model_type {MODEL_TYPE!r}); load it "
                          "with the library that wrote it")
    if (not isinstance(meta, dict) or meta.get("format") != FORMAT
            or not isinstance(meta.get("format_version"), int) or meta["format_version"] > FORMAT_VERSION):
        raise ConfigError(f"{path} is not a genosparse checkpoint config of format version <= {FORMAT_VERSION}")
    if tuple(meta.get("vocabulary", ())) != TOKENS:
        raise ConfigError(f"{path} was written with another vocabulary {meta.get('vocabulary')}; "
                          f"this genosparse uses {list(TOKENS)}")
    return _model_config(meta.get("model"), path)


def _model_config(fields, source: Path) -> ModelConfig:
    """``ModelConfig(**fields)`` with every problem reported as a ConfigError naming ``source``."""
    if not isinstance(fields, dict):
        raise ConfigError(f"{source} has no model config (a 'model' mapping)")
    try:
        return ModelConfig(**fields)
    except (ConfigError, TypeError) as err:
        raise ConfigError(f"{source}: {err}") from err


def _check_weights(state: dict, source: Path) -> None:
    """Every tensor floating point and finite: a corrupt file must not score silently."""
    for name, tensor in state.items():
        if not tensor.is_floating_point() or not bool(torch.isfinite(tensor).all()):
            raise ConfigError(f"{source}: weight {name!r} is {'not finite' if tensor.is_floating_point() else tensor.dtype}"
                              "; the checkpoint is corrupt, re-export it")


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> GenomicModel:
    """Restore a model from a checkpoint folder, a Lightning ``.ckpt`` of a genosparse task, or
    the name of a shipped checkpoint given as a string (``"chr20-mlm"``, ``"chr20-promoter"``;
    see :mod:`genosparse.pretrained`). A name always means the shipped model: write a local
    folder of that name as ``"./chr20-mlm"``.

    The model is returned in eval mode on ``device`` in float32; weights and config are restored
    exactly (weights stored in bf16 are cast up).

    Raises:
        ConfigError: if the path is missing, not a genosparse checkpoint, or its weights do
            not match its config.
        ArgumentError: ``path`` neither a string nor a path.
    """
    check_type("path", path, PATH, "a checkpoint folder or .ckpt path, or a shipped model name such as 'chr20-mlm'")
    path = resolve_checkpoint(path)
    if path.is_file() and path.suffix == ".ckpt":
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            fields, state_dict = ckpt["hyper_parameters"]["model"], ckpt["state_dict"]
        except Exception as err:  # torch.load raises many types on foreign or corrupt files
            raise ConfigError(f"{path} is not a Lightning checkpoint of a genosparse task ({type(err).__name__}: "
                              f"{err}); export a checkpoint folder with `genosparse train` instead") from err
        config = _model_config(fields, path)
        prefix = "model."
        state = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    elif path.is_dir():
        config = _read_config(path)
        if not (path / WEIGHTS).is_file():
            raise ConfigError(f"{path} has no {WEIGHTS}; pass a folder written by `genosparse train`")
        try:
            state = load_file(path / WEIGHTS)
        except Exception as err:  # safetensors raises its own error type on corrupt headers
            raise ConfigError(f"cannot read {path / WEIGHTS}: {err}; the file is corrupt, re-export it") from err
    elif path.exists():
        raise ConfigError(f"checkpoint {path} is neither a checkpoint folder nor a Lightning .ckpt file")
    else:
        raise ConfigError(f"checkpoint {path} does not exist; pass a checkpoint folder, a .ckpt file or the "
                          f"name of a shipped model as a string ({', '.join(PRETRAINED)})")
    _check_weights(state, path)
    model = GenomicModel(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        missing = sorted(set(model.state_dict()) ^ set(state))[:5]
        raise ConfigError(f"weights in {path} do not match its config (names or shapes differ"
                          f"{', e.g. ' + ', '.join(missing) if missing else ''}); re-export the checkpoint") from err
    return model.eval().to(device)
