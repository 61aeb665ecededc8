"""Shared fixtures: the real data folder, ``<repo>/../shared/data`` or else ``<repo>/data/test``."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub is imported: tests never reach the network

import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.models import GenomicModel, ModelConfig, save_model

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / ".." / "shared" / "data"
BUILT_DATA = REPO / "data" / "test"
"""The same files assembled from Debian's packages and ``tests/data`` by ``make test-data`` (run by
``make test``) when the shared folder is not beside the checkout (``tests/data/README.md``)."""


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the read-only real data: the shared folder, else the one ``make test-data`` built.
    A test that needs it fails (never skips) when neither is there."""
    for folder in (SHARED_DATA, BUILT_DATA):
        if folder.is_dir() and (folder != BUILT_DATA or (folder / ".complete").is_file()):
            return folder.resolve()
    pytest.fail(f"real test data is missing: neither {SHARED_DATA.resolve()} nor {BUILT_DATA} (run `make test-data`, "
                "which `make test` runs)")


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


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained MLM checkpoint folder with a 256-base context (mechanics only)."""
    torch.manual_seed(0)
    model = GenomicModel(ModelConfig(head="mlm", d_model=32, num_layers=1, num_heads=2, context_length=256,
                                     dropout=0.0, attention=AttentionConfig(block_size=32, backend="torch")))
    return save_model(model, tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: on the 2 shared cores OpenMP spinning makes 2 threads ~30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
