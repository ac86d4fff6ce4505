"""scikit-learn estimators saved with skops (``.skops``), loaded without pickle.

skops stores an estimator as a JSON schema plus ``.npy`` arrays and rebuilds only
the types it is told to trust. wrt reads the schema first (plain JSON) and allows
exactly the classes that the estimators it converts are made of (:data:`ALLOWED`),
plus numpy arrays, numpy scalars and Python containers: a file that names any other
class or any function is refused before anything is built, even one that skops
trusts by default. The estimator is then converted like ``wrt.wrap(estimator)``
(:mod:`wrt.importers.sklearn`).

skops is optional: ``pip install 'wrt[sklearn]'`` installs it with scikit-learn.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wrt.errors import ModelFormatError, UnsupportedFormatError
from wrt.importers.sklearn import wrap_estimator
from wrt.model import DTypeLike, Model

#: The classes a .skops file may hold: the estimators wrt converts and what they
#: hold once fitted (MLPClassifier's LabelBinarizer, the MLPs' optimizer state).
ALLOWED = frozenset(
    {
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn.preprocessing._data.MaxAbsScaler",
        "sklearn.preprocessing._data.RobustScaler",
        "sklearn.preprocessing._label.LabelBinarizer",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.compose._target.TransformedTargetRegressor",
        "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
        "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    }
)
#: Beyond skops' own defaults, these must be passed to skops.io.load as trusted.
TRUSTED = (
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
)
# skops node kinds that rebuild functions or call them: never for numpy / builtins
_CALLING = frozenset({"FunctionNode", "MethodNode", "PartialNode", "OperatorFuncNode"})
_PLAIN = ("builtins", "numpy")

INSTALL = "pip install 'wrt[sklearn]'"


def load_skops(
    path: Path,
    inputs: Sequence[str] | str | None,
    outputs: Sequence[str] | str | None,
    *,
    dtype: DTypeLike = None,
) -> Model:
    """Load a ``.skops`` file and convert the estimator in it.

    Args:
        path: a file written by ``skops.io.dump(estimator, path)``.
        inputs: input names (default: ``feature_names_in_`` or ``x1 .. xn``).
        outputs: output names (default: class names for a classifier, else ``y``
            / ``y1 .. ym``).
        dtype: ``"float64"`` for a float64 copy.

    Returns:
        The converted model (see :func:`wrt.importers.sklearn.wrap_estimator`).

    Raises:
        UnsupportedFormatError: skops is not installed, or the file names types
            that wrt does not trust.
        ModelFormatError: a damaged file.
        UnsupportedEstimatorError: an estimator wrt does not convert.
    """
    try:
        import skops.io as sio  # pyright: ignore[reportMissingImports]
    except ImportError:
        raise UnsupportedFormatError(
            f"{path} is a scikit-learn estimator saved with skops, and reading it "
            f"needs skops and scikit-learn: {INSTALL}.",
            hint=f"Install the scikit-learn extra: {INSTALL}.",
        ) from None
    try:
        found = _classes(path)
        untrusted = [str(t) for t in sio.get_untrusted_types(file=path)]
    except Exception as exc:  # BadZipFile, JSON errors, KeyError: a damaged file
        raise ModelFormatError(
            f"{path} is not a readable .skops file (damaged or truncated?): "
            f"{type(exc).__name__}: {exc}. Save it again with skops.io.dump."
        ) from exc
    refused = sorted(
        {name for name, kind in found if not _allowed(name, kind)}
        | (set(untrusted) - set(TRUSTED))
    )
    if refused:
        raise UnsupportedFormatError(
            f"{path} holds type(s) that wrt does not trust: {', '.join(refused)}. "
            "wrt loads only the types of the estimators it converts (MLPRegressor, "
            "MLPClassifier and Pipelines of StandardScaler, MinMaxScaler, "
            "MaxAbsScaler or RobustScaler with them): other types could run code. "
            "Save one of those estimators, or export the model to ONNX.",
            hint="wrt reads MLPRegressor / MLPClassifier (with scalers) from "
            ".skops files; other estimators are not converted.",
        )
    try:
        estimator = sio.load(path, trusted=[t for t in untrusted if t in TRUSTED])
    except Exception as exc:  # skops' own errors for a file it cannot rebuild
        raise ModelFormatError(
            f"{path} could not be read by skops ({type(exc).__name__}: {exc}). "
            "Save it again with skops.io.dump, with the scikit-learn version "
            "installed here."
        ) from exc
    return wrap_estimator(estimator, inputs, outputs, dtype=dtype, source=str(path))


def _classes(path: Path) -> set[tuple[str, str]]:
    """``(module.Class, node kind)`` of every object in the file's schema."""
    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[tuple[str, str]] = set()
    stack: list[Any] = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__class__" in item and "__module__" in item:
                name = f"{item['__module__']}.{item['__class__']}"
                found.add((name, str(item.get("__loader__", ""))))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _allowed(name: str, kind: str) -> bool:
    if name in ALLOWED:
        return True
    return name.split(".")[0] in _PLAIN and kind not in _CALLING
