"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

import wrt
from models import mlp, save_torchscript


@pytest.fixture
def model2() -> wrt.Model:
    return wrt.wrap(mlp(2, 1))


@pytest.fixture
def torchscript_file(tmp_path: Path) -> Path:
    return save_torchscript(mlp(2, 1), tmp_path / "model.pt")
