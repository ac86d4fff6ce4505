"""scikit-learn estimators saved with skops (``.skops``), loaded without pickle.

skops stores an estimator as a JSON schema plus ``.npy`` arrays and rebuilds only
the types it is told to trust. wrt trusts exactly the types that the estimators it
converts need (:data:`TRUSTED`): a file that names any other type the skops
defaults do not trust is refused before anything is built. The estimator is then
converted like ``wrt.wrap(estimator)`` (:mod:`wrt.importers.sklearn`).

skops is optional: ``pip install 'wrt[sklearn]'`` installs it with scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from wrt.errors import ModelFormatError, UnsupportedFormatError
from wrt.importers.sklearn import wrap_estimator
from wrt.model import DTypeLike, Model

#: Types beyond skops' defaults that the supported estimators hold once fitted:
#: the optimizer state MLPRegressor / MLPClassifier keep after ``fit``.
TRUSTED = (
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
)

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
        untrusted = [str(t) for t in sio.get_untrusted_types(file=path)]
    except Exception as exc:  # BadZipFile, JSON errors, KeyError: a damaged file
        raise ModelFormatError(
            f"{path} is not a readable .skops file (damaged or truncated?): "
            f"{type(exc).__name__}: {exc}. Save it again with skops.io.dump."
        ) from exc
    refused = sorted(set(untrusted) - set(TRUSTED))
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
        estimator = sio.load(path, trusted=untrusted)
    except Exception as exc:  # skops' own errors for a file it cannot rebuild
        raise ModelFormatError(
            f"{path} could not be read by skops ({type(exc).__name__}: {exc}). "
            "Save it again with skops.io.dump, with the scikit-learn version "
            "installed here."
        ) from exc
    return wrap_estimator(estimator, inputs, outputs, dtype=dtype, source=str(path))
