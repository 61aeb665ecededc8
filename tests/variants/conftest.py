"""Fixtures of the variant tests: the tiny checkpoint (root conftest) loaded, one torch thread."""

import pytest

from genosparse.models import load_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """Every variant test runs on one intra-op thread (see the root conftest)."""


@pytest.fixture(scope="session")
def model(checkpoint):
    return load_model(checkpoint)
