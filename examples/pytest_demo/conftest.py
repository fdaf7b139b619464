"""Fixtures for the demo: the ONNX models are built once per session into a temporary folder."""

import pytest

from build_models import build


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """name -> path of each demo model (see build_models.py)."""
    return build(tmp_path_factory.mktemp("models"))
