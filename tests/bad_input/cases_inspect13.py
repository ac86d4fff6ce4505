"""Bad input to ``wrt inspect`` / ``wrt.describe`` (issue 13: describing models)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np

import wrt
from bad_input.harness import Api, Cli, model_file
from models import mlp
from wrt.errors import NotAModelError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _copy(folder: Path, name: str) -> Path:
    return Path(shutil.copyfile(FIXTURES / name, folder / name))


def _truncated(folder: Path, name: str, keep: int) -> Path:
    path = folder / name
    path.write_bytes((FIXTURES / name).read_bytes()[:keep])
    return path


def _weights_only_h5(folder: Path) -> Path:
    path = folder / "weights.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("dense/kernel", data=np.ones((2, 3)))
    return path


CASES = [
    Cli(
        "inspect-keras-lambda-layer",
        lambda f: ["inspect", str(_copy(f, "lambda_layer.keras")), "--json"],
        2,
        r"Lambda layer 'lambda'.*never runs code",
    ),
    Cli(
        "inspect-keras-weights-only-h5",
        lambda f: ["inspect", str(_weights_only_h5(f))],
        2,
        r"without a model config.*model\.save",
    ),
    Cli(
        "inspect-keras-truncated",
        lambda f: ["inspect", str(_truncated(f, "tanh_mlp.keras", 500))],
        2,
        r"damaged or truncated",
    ),
    Cli(
        "inspect-onnx-truncated",
        lambda f: ["inspect", str(_truncated(f, "onnx_tanh_mlp.onnx", 300))],
        2,
        r"not a valid ONNX model.*export it again",
    ),
    Cli(
        "inspect-onnx-too-few-names",
        lambda f: ["inspect", str(_copy(f, "onnx_tanh_mlp.onnx")), "--inputs", "a,b"],
        2,
        r"2 input name\(s\) given.*3 input",
    ),
    Api(
        "api-describe-a-path",
        lambda f: wrt.describe(str(model_file(f))),  # type: ignore[arg-type]
        NotAModelError,
        r"not the path.*wrt\.describe\(wrt\.load\(",
        new_files=True,  # the case writes the model file it then passes by path
    ),
    Api(
        "api-describe-a-bare-module",
        lambda f: wrt.describe(mlp(2, 1)),  # type: ignore[arg-type]
        NotAModelError,
        r"bare Sequential.*wrt\.wrap\(module",
    ),
    Api(
        "api-describe-an-array",
        lambda f: wrt.describe(np.zeros((3, 2))),  # type: ignore[arg-type]
        NotAModelError,
        r"from wrt\.load or wrt\.wrap, not a ndarray",
    ),
]
