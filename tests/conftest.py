"""Shared fixtures: the real data folder ``<repo>/../shared/data``."""

import os
from pathlib import Path

import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.models import GenomicModel, ModelConfig

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the read-only real data; fails on CI (``CI=true``) when missing, else skips."""
    if not SHARED_DATA.is_dir():
        message = f"real test data folder {SHARED_DATA.resolve()} is missing"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA.resolve()


@pytest.fixture(scope="session")
def chr20(shared_data) -> Path:
    """Human chr20 GRCh37, BGZF with ``.fai`` and a gzipped ``.gzi`` (as Debian ships it)."""
    return shared_data / "reference" / "20.fa.gz"


@pytest.fixture(autouse=True)
def _index_cache(tmp_path_factory, monkeypatch):
    """Index files built for read-only FASTAs go to a per-session temporary cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tiny_mlm() -> GenomicModel:
    """An untrained 1-layer MLM with a 64-base context, for mechanics (not values) of scoring."""
    torch.manual_seed(0)
    att = AttentionConfig(block_size=16, num_global_blocks=1, num_random_blocks=1, backend="torch")
    return GenomicModel(ModelConfig(head="mlm", d_model=16, num_layers=1, num_heads=2, dropout=0.0,
                                    context_length=64, attention=att)).eval()
