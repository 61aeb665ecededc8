"""Shared fixtures: the real data folder ``<repo>/../shared/data``."""

import os
from pathlib import Path

import pytest
import torch

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


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: on the 2 shared cores OpenMP spinning makes 2 threads ~30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
