"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

import wrt
from models import mlp, save_torchscript


@pytest.fixture(autouse=True, scope="session")
def _wrt_cache_folder(tmp_path_factory):
    """Compiled code goes to a temporary wrt cache folder, never the home folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WRT_CACHE_DIR", str(tmp_path_factory.mktemp("wrt-cache")))
        yield


@pytest.fixture
def model2() -> wrt.Model:
    return wrt.wrap(mlp(2, 1))


@pytest.fixture
def torchscript_file(tmp_path: Path) -> Path:
    return save_torchscript(mlp(2, 1), tmp_path / "model.pt")
