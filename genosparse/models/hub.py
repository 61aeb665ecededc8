"""Hugging Face Hub methods of :class:`~genosparse.models.GenomicModel` (``huggingface_hub.ModelHubMixin``).

``save_pretrained`` and ``from_pretrained`` read and write through :func:`~genosparse.models.save_model`
and :func:`~genosparse.models.load_model`, the one checkpoint code path; the mixin adds the Hub (a repo
id downloads the folder, ``push_to_hub`` uploads one). Local folders, Lightning ``.ckpt`` files and the
shipped names (``chr20-mlm``, ``chr20-promoter``) never touch the network.
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import ModelCard, ModelHubMixin, snapshot_download
from huggingface_hub.errors import HFValidationError

from genosparse.errors import ConfigError
from genosparse.models.card import model_card
from genosparse.pretrained import PRETRAINED, resolve_checkpoint


class CheckpointHubMixin(ModelHubMixin):
    """``from_pretrained`` / ``save_pretrained`` / ``push_to_hub`` for genosparse checkpoint folders."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *, device="cpu", **hub_kwargs):
        """Load a model from a checkpoint folder or ``.ckpt`` file, a shipped name given as a string (a
        name always means the shipped model; a local folder of that name is ``./chr20-mlm``), or else a
        Hugging Face Hub repo id (``hub_kwargs``: ``revision``, ``cache_dir``, ``local_files_only``,
        ``token``, ...; ``HF_HUB_OFFLINE=1`` reads only the local cache).

        Returns:
            The model in eval mode on ``device``, in float32 (see :func:`~genosparse.models.load_model`).
        Raises:
            ConfigError: the checkpoint is invalid (a ``config.json`` of another ``model_type``, say), or
                the argument is neither a local checkpoint nor a Hub model that can be fetched.
        """
        from genosparse.models.checkpoint import load_model

        path = resolve_checkpoint(pretrained_model_name_or_path)
        if isinstance(pretrained_model_name_or_path, os.PathLike) or path.exists():
            return load_model(path, device)
        try:
            return super().from_pretrained(str(pretrained_model_name_or_path), device=device, **hub_kwargs)
        except (OSError, HFValidationError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConfigError(f"{pretrained_model_name_or_path}: no such checkpoint folder or file here, and it "
                              f"cannot be fetched from the Hugging Face Hub ({reason}); pass a checkpoint folder, "
                              f"a shipped name ({', '.join(PRETRAINED)}) or a Hub repo id") from err

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision=None, cache_dir=None, force_download=False,
                         local_files_only=False, token=None, device="cpu", **_):
        """The Hub side of :meth:`from_pretrained`: fetch the folder of repo ``model_id``, then load it."""
        from genosparse.models.checkpoint import CONFIG, README, WEIGHTS, load_model

        folder = snapshot_download(model_id, revision=revision, cache_dir=cache_dir, force_download=force_download,
                                   local_files_only=local_files_only, token=token,
                                   allow_patterns=[CONFIG, WEIGHTS, README])
        return load_model(Path(folder), device)

    def _save_pretrained(self, save_directory: Path) -> None:
        """Write the checkpoint folder with :func:`~genosparse.models.save_model` (float32 weights)."""
        from genosparse.models.checkpoint import save_model

        save_model(self, save_directory)

    def generate_model_card(self, *args, **kwargs) -> ModelCard:
        """The ``README.md`` that :meth:`save_pretrained` writes (:func:`~genosparse.models.card.model_card`)."""
        return ModelCard(model_card(self))
