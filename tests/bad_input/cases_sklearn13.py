"""Bad input of the scikit-learn and SavedModel area (issue 13).

Pickled and joblib-dumped estimators are refused without being unpickled, with
skops / ONNX advice that does not talk about torch; estimators and Pipeline steps
that wrt does not convert are named; an unfitted estimator says to fit it; .npz
activations that are known functions get no "did you mean" to another; a
SavedModel without TensorFlow gets the install line.
"""

from __future__ import annotations

import pickle
import sys
import warnings
from pathlib import Path

import numpy as np

import wrt
from bad_input.harness import Api, Cli, points_file
from wrt.errors import (
    ModelError,
    ModelFormatError,
    UnsupportedEstimatorError,
    UnsupportedFormatError,
)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    return x, np.tanh(x[:, 0]) - x[:, 1]


def _pipeline():
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a short fit on purpose
        return make_pipeline(
            StandardScaler(),
            MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0),
        ).fit(x, y)


def _pickled(folder: Path, name: str = "model.pkl") -> Path:
    path = folder / name
    path.write_bytes(pickle.dumps(_pipeline()))
    return path


def _joblib(folder: Path) -> Path:
    import joblib

    path = folder / "model.joblib"
    joblib.dump(_pipeline(), path, compress=3)
    return path


def _partials(folder: Path, model: Path) -> list[str]:
    return ["partials", str(model), str(points_file(folder)), "-d", "dy/dx1"]


def _linear(folder: Path):
    from sklearn.linear_model import Ridge

    return wrt.wrap(Ridge().fit(*_data()))


def _unfitted(folder: Path):
    from sklearn.neural_network import MLPClassifier

    return wrt.wrap(MLPClassifier())


def _bad_step(folder: Path):
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import QuantileTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = Pipeline(
            [
                ("q", QuantileTransformer(n_quantiles=10)),
                ("mlp", MLPRegressor(hidden_layer_sizes=(3,), max_iter=5)),
            ]
        ).fit(*_data())
    return wrt.wrap(pipe)


def _npz(folder: Path, activation: str) -> Path:
    path = folder / "w.npz"
    np.savez(path, W1=np.ones((2, 1)), activations=np.array([activation]))
    return path


def _savedmodel_without_tf(folder: Path):
    (folder / "sm").mkdir()
    (folder / "sm" / "saved_model.pb").write_bytes(b"\x08\x01")
    saved = sys.modules.get("tensorflow", False)
    sys.modules["tensorflow"] = None  # type: ignore[assignment]
    try:
        return wrt.load(folder / "sm")
    finally:
        if saved is False:
            del sys.modules["tensorflow"]
        else:
            sys.modules["tensorflow"] = saved


CASES = [
    Cli(
        "sklearn-pickle-cli",
        lambda f: _partials(f, _pickled(f)),
        2,
        r"never unpickles.*skops\.io\.dump\(estimator, 'model\.skops'\)",
    ),
    Cli(
        "sklearn-joblib-cli",
        lambda f: _partials(f, _joblib(f)),
        2,
        r"pickled scikit-learn object.*skl2onnx",
    ),
    Api(
        "sklearn-pickle-api-named-pt",
        lambda f: wrt.load(_pickled(f, "model.pt")),
        UnsupportedFormatError,
        r"scikit-learn.*wrt\.wrap\(estimator\)",
        new_files=True,  # the call writes the model file it then loads
    ),
    Api(
        "sklearn-wrap-linear-model",
        _linear,
        UnsupportedEstimatorError,
        r"cannot convert Ridge: it converts a fitted MLPRegressor.*skl2onnx",
    ),
    Api(
        "sklearn-wrap-unfitted",
        _unfitted,
        ModelError,
        r"MLPClassifier .*not fitted.*fit\(X, y\)",
    ),
    Api(
        "sklearn-wrap-unsupported-step",
        _bad_step,
        UnsupportedEstimatorError,
        r"step 'q' \(QuantileTransformer\)",
    ),
    Api(
        "npz-selu-no-did-you-mean",
        lambda f: wrt.load(_npz(f, "selu")),
        ModelFormatError,
        r"'selu' is not supported in \.npz(?!.*Did you mean)",
        new_files=True,  # the call writes the model file it then loads
    ),
    Api(
        "npz-softmx-typo",
        lambda f: wrt.load(_npz(f, "softmx")),
        ModelFormatError,
        r"Did you mean 'softmax'",
        new_files=True,  # the call writes the model file it then loads
    ),
    Api(
        "savedmodel-without-tensorflow",
        _savedmodel_without_tf,
        UnsupportedFormatError,
        r"SavedModel directory.*pip install 'wrt\[tensorflow\]'",
        new_files=True,  # the call writes the model file it then loads
    ),
]
