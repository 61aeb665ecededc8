"""Fixtures of the variant tests: a tiny untrained MLM checkpoint, one torch thread."""

from pathlib import Path

import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.models import GenomicModel, ModelConfig, load_model, save_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """Every variant test runs on one intra-op thread (see the root conftest)."""


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained MLM checkpoint with a 256-base context (mechanics only)."""
    torch.manual_seed(0)
    model = GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=1, num_heads=2, context_length=256,
                                     dropout=0.0, attention=AttentionConfig(block_size=32, backend="torch")))
    return save_model(model, tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def model(checkpoint):
    return load_model(checkpoint)
