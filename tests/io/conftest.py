"""Fixtures of the io tests."""

import pytest

from genosparse.models import save_model


@pytest.fixture(scope="session")
def checkpoint_mlm(tiny_mlm, tmp_path_factory):
    """The root conftest's tiny MLM saved as a checkpoint folder."""
    return save_model(tiny_mlm, tmp_path_factory.mktemp("ckpt") / "tiny")
