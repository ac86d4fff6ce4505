"""Fitted scikit-learn estimators, converted to plain torch modules.

``wrt.wrap(estimator)`` lands here for any object whose class comes from
scikit-learn; nothing imports scikit-learn itself: the estimator is read through
its fitted attributes (duck typing), so wrt does not need scikit-learn installed to
be imported. Supported:

* ``MLPRegressor``: ``coefs_``, ``intercepts_``, ``activation`` (identity,
  logistic, tanh, relu), ``exp`` at the output for ``loss="poisson"``; outputs as
  ``predict`` gives them (``y`` or ``y1 .. ym``).
* ``MLPClassifier``: probabilities as ``predict_proba`` gives them: softmax for
  several classes, ``[1 - p, p]`` for two (logistic output), one logistic column
  per label for multilabel targets. Outputs are named after ``classes_``: the
  class names when they are identifiers (``setosa``), else ``p_<class>``
  (``p_0``, ``p_1``).
* ``Pipeline`` of ``StandardScaler``, ``MinMaxScaler`` (also ``clip=True``),
  ``MaxAbsScaler`` or ``RobustScaler`` steps (any number, ``"passthrough"``
  allowed) ending in one of the two MLPs.
* ``TransformedTargetRegressor`` around one of those, with one of the four scalers
  (or none) as its target transformer: the inverse transform follows the MLP.
* A fitted ``GridSearchCV`` / ``RandomizedSearchCV`` (also the halving ones): its
  ``best_estimator_``.

Inputs are named after ``feature_names_in_`` when the estimator was fitted on a
DataFrame (characters that are not letters, digits or ``_`` become ``_``), else
``x1 .. xn``. The converted module is checked against ``predict`` /
``predict_proba`` on sample points at wrap time, in the dtype of the fitted
weights.
"""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from wrt.errors import ModelError, UnsupportedEstimatorError
from wrt.importers.sklearn_scalers import label, scaler, target_inverse
from wrt.model import DTypeLike, Model
from wrt.names import check_disjoint, check_names, default_inputs, default_outputs

_SCALERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")
_MLPS = ("MLPRegressor", "MLPClassifier")
# what skl2onnx exports with ops wrt's ONNX importer reads (onnx_ops_ml)
_VIA_ONNX = frozenset(
    {
        "LinearRegression",
        "Ridge",
        "Lasso",
        "ElasticNet",
        "LogisticRegression",
        "Normalizer",
        "SimpleImputer",
    }
)
_SEARCHES = (
    "GridSearchCV",
    "RandomizedSearchCV",
    "HalvingGridSearchCV",
    "HalvingRandomSearchCV",
)
_HIDDEN = {"identity": nn.Identity, "logistic": nn.Sigmoid, "tanh": nn.Tanh}
_HIDDEN["relu"] = nn.ReLU
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Largest difference from predict / predict_proba allowed, relative to
# max(1, max |output|), by the dtype of the fitted weights: the conversion computes
# the same operations in another order (torch's GEMM, its tanh), a few ulps per
# layer; a conversion bug changes the outputs by O(1).
_TOLERANCE = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}
_CHECK_POINTS = 16

SUPPORTED = (
    "a fitted MLPRegressor or MLPClassifier, alone or as the last step of a "
    "Pipeline whose other steps are StandardScaler, MinMaxScaler, MaxAbsScaler or "
    "RobustScaler"
)


class Softmax(nn.Module):
    """Softmax over the classes (dim 1): MLPClassifier with several classes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, k) -> (N, k)."""
        return torch.softmax(x, dim=1)


class Exp(nn.Module):
    """``exp(x)``: MLPRegressor's output with ``loss="poisson"``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, k) -> (N, k)."""
        return torch.exp(x)


class BinaryProba(nn.Module):
    """``p -> [1 - p, p]``: the two columns of ``predict_proba`` for two classes."""

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        """(N, 1) -> (N, 2)."""
        return torch.cat([1 - p, p], dim=1)


def wrap_estimator(
    estimator: Any,
    inputs: Sequence[str] | str | None = None,
    outputs: Sequence[str] | str | None = None,
    *,
    dtype: DTypeLike = None,
    source: str | None = None,
) -> Model:
    """Convert a fitted scikit-learn estimator (see the module docstring).

    Args:
        estimator: a fitted MLPRegressor, MLPClassifier or Pipeline of scalers
            ending in one.
        inputs: input names (default: ``feature_names_in_`` or ``x1 .. xn``).
        outputs: output names (default: the class names for a classifier, else
            ``y`` / ``y1 .. ym``).
        dtype: ``"float64"`` for a float64 copy; the default is the dtype of the
            fitted weights (float64 unless fitted on float32 data).
        source: where the estimator came from, for messages (default: its class).

    Returns:
        The model: an ``nn.Sequential`` of scaler (named after the Pipeline's
        steps), ``nn.Linear`` (``coefs_0``, ...) and activation modules;
        ``model.format`` is ``"sklearn"``.

    Raises:
        UnsupportedEstimatorError: an estimator or step wrt does not convert,
            naming it and what is supported.
        ModelError: the estimator is not fitted, or the conversion disagrees with
            ``predict`` / ``predict_proba`` (a bug in wrt).
        InvalidNameError: ``inputs`` / ``outputs`` of the wrong count or invalid.
    """
    source = source or type(estimator).__name__
    estimator = _best(estimator, source)
    target = None
    inner = estimator
    if type(estimator).__name__ == "TransformedTargetRegressor":
        target = target_inverse(estimator, source)
        inner = getattr(estimator, "regressor_", None)
        if inner is None:
            raise ModelError(
                f"The TransformedTargetRegressor in {source} is not fitted. Call "
                "fit(X, y) first, then wrap it."
            )
    steps = _steps(inner)
    *scalers, (mlp_name, mlp) = steps
    # named as scikit-learn names them: the Pipeline's step names, coefs_[i]
    layers: dict[str, nn.Module] = {}
    for name, step in scalers:
        layers[_identifier(name or type(step).__name__.lower())] = scaler(
            step, name, source
        )
    weights = list(getattr(mlp, "coefs_", None) or [])
    if not weights:
        raise ModelError(
            f"{label(mlp, mlp_name)} in {source} is not fitted (it has no coefs_). "
            "Call fit(X, y) first, then wrap it."
        )
    float_dtype = np.result_type(*weights, *mlp.intercepts_)
    if float_dtype not in _TOLERANCE:
        float_dtype = np.dtype(np.float64)
    torch_dtype = torch.float64 if float_dtype == np.float64 else torch.float32
    hidden = str(mlp.activation)
    if hidden not in _HIDDEN:
        raise UnsupportedEstimatorError(
            f"{label(mlp, mlp_name)} in {source} uses activation={hidden!r}; wrt "
            f"converts {', '.join(_HIDDEN)}."
        )
    for i, (w, b) in enumerate(zip(weights, mlp.intercepts_, strict=True)):
        linear = nn.Linear(*np.shape(w), dtype=torch_dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(np.asarray(w).T, dtype=torch_dtype))
            linear.bias.copy_(torch.as_tensor(np.asarray(b), dtype=torch_dtype))
        layers[f"coefs_{i}"] = linear
        if i < len(weights) - 1:
            layers[f"{hidden}_{i}"] = _HIDDEN[hidden]()
    for j, head in enumerate(_head(mlp, mlp_name, source)):
        layers[f"out_activation_{j}"] = head
    if target is not None:
        layers["transformer_inverse"] = target
    module = nn.Sequential(OrderedDict(layers)).to(torch_dtype)
    n_in, n_out = int(np.shape(weights[0])[0]), _n_outputs(mlp, weights)
    names_in = (
        check_names(inputs, kind="input", expected=n_in)
        if inputs is not None
        else _input_names(estimator, n_in)
    )
    names_out = (
        check_names(outputs, kind="output", expected=n_out)
        if outputs is not None
        else _output_names(mlp, n_out, set(names_in))
    )
    check_disjoint(names_in, names_out)
    # not wrap(): its probe points (0.5, ...) are not in the data's units; the
    # check against predict below uses points where the data lived instead
    model = Model(module.eval(), names_in, names_out, source=source, format="sklearn")
    _check(model, estimator, mlp, steps, float_dtype, source)
    return model.converted(dtype)


def _best(estimator: Any, source: str) -> Any:
    """A fitted search's ``best_estimator_`` (what its ``predict`` uses)."""
    if type(estimator).__name__ not in _SEARCHES:
        return estimator
    best = getattr(estimator, "best_estimator_", None)
    if best is None:
        raise ModelError(
            f"The {type(estimator).__name__} in {source} has no best_estimator_: "
            "it is not fitted, or was fitted with refit=False. Fit it with "
            "refit=True, or wrap the estimator you chose."
        )
    return _best(best, source)


def _steps(estimator: Any) -> list[tuple[str | None, Any]]:
    """The estimator's (name, step) list, checked: scalers, then one MLP."""
    raw = getattr(estimator, "steps", None)
    kind = type(estimator).__name__
    if raw is None:
        steps: list[tuple[str | None, Any]] = [(None, estimator)]
    elif kind == "Pipeline":
        steps = [(str(n), s) for n, s in raw if s is not None and s != "passthrough"]
    else:
        raise UnsupportedEstimatorError(_unsupported(kind, None))
    if not steps:
        raise UnsupportedEstimatorError(
            "The Pipeline has no steps other than 'passthrough'; wrt converts "
            f"{SUPPORTED}."
        )
    *front, (last_name, last) = steps
    if type(last).__name__ not in _MLPS:
        raise UnsupportedEstimatorError(_unsupported(type(last).__name__, last_name))
    for name, step in front:
        if type(step).__name__ not in _SCALERS:
            raise UnsupportedEstimatorError(_unsupported(type(step).__name__, name))
    return steps


def _unsupported(kind: str, name: str | None) -> str:
    what = f"step '{name}' ({kind})" if name else kind
    if kind in _VIA_ONNX:
        return (
            f"wrt.wrap cannot convert {what}: it converts {SUPPORTED}. wrt's ONNX "
            f"importer reads {kind} (ai.onnx.ml ops): export the whole estimator "
            "with skl2onnx, skl2onnx.to_onnx(estimator, X[:1].astype('float32')), "
            "save it and wrt.load the .onnx file."
        )
    return (
        f"wrt cannot convert {what}: it converts {SUPPORTED}. Other estimators "
        "(trees, nearest neighbours, SVMs, ...) are not converted; for a smooth "
        "model, rewrite it as a torch module and use wrt.wrap on that."
    )


def _head(mlp: Any, name: str | None, source: str) -> list[nn.Module]:
    """The output activation, as ``predict`` / ``predict_proba`` apply it."""
    out = str(getattr(mlp, "out_activation_", "identity"))
    if out == "identity":
        return []
    if out == "exp":  # MLPRegressor(loss="poisson")
        return [Exp()]
    if out == "softmax":
        return [Softmax()]
    if out == "logistic":
        binary = len(mlp.classes_) == 2 and np.shape(mlp.coefs_[-1])[1] == 1
        return [nn.Sigmoid(), BinaryProba()] if binary else [nn.Sigmoid()]
    raise UnsupportedEstimatorError(
        f"{label(mlp, name)} in {source} has output activation {out!r}; wrt "
        "converts identity, exp, logistic and softmax."
    )


def _identifier(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return clean if _NAME.match(clean) else f"_{clean}"


def _input_names(estimator: Any, n: int) -> tuple[str, ...]:
    found = getattr(estimator, "feature_names_in_", None)
    if found is None or len(found) != n:
        return default_inputs(n)
    names = tuple(_identifier(str(f)) for f in found)
    return names if len(set(names)) == n else default_inputs(n)


def _n_outputs(mlp: Any, weights: list[Any]) -> int:
    """Columns of predict / predict_proba: 2 for a binary classifier's 1 unit."""
    n_out = int(np.shape(weights[-1])[1])
    binary = getattr(mlp, "out_activation_", "") == "logistic" and n_out == 1
    return 2 if binary and type(mlp).__name__ == "MLPClassifier" else n_out


def _output_names(mlp: Any, n_out: int, taken: set[str]) -> tuple[str, ...]:
    if type(mlp).__name__ == "MLPRegressor":
        return default_outputs(n_out)
    classes = [str(c) for c in np.asarray(mlp.classes_).ravel()]
    if n_out != len(classes):
        return default_outputs(n_out)  # multilabel with other labels: no names
    return class_column_names(classes, taken)


def class_column_names(classes: Sequence[str], taken: set[str]) -> tuple[str, ...]:
    """Output names for a classifier's probability columns, one per class.

    The class names when all are identifiers that no input has; else
    ``p_<class>`` (other characters become ``_``); else ``y1 .. yk``.

    Args:
        classes: the class labels as strings, in column order.
        taken: the input names, which outputs must not repeat.

    Examples:
        >>> class_column_names(["setosa", "virginica"], set())
        ('setosa', 'virginica')
        >>> class_column_names(["0", "1", "2"], set())
        ('p_0', 'p_1', 'p_2')
    """
    classes = [str(c) for c in classes]
    if (
        all(_NAME.match(c) for c in classes)
        and not taken & set(classes)
        and len(set(classes)) == len(classes)
    ):
        return tuple(classes)
    names = tuple(f"p_{re.sub(r'[^A-Za-z0-9_]', '_', c)}" for c in classes)
    if len(set(names)) == len(names) and not taken & set(names):
        return names
    return default_outputs(len(classes))


def sample_points(steps: list[tuple[str | None, Any]], n_in: int) -> np.ndarray:
    """16 points where the data lived, from the first scaler's statistics.

    Returns:
        (16, n_in) float64; standard normal points when there is no scaler.
    """
    rng = np.random.default_rng(0)
    normal = rng.standard_normal((_CHECK_POINTS, n_in))
    if len(steps) == 1:
        return normal
    first = steps[0][1]
    kind = type(first).__name__
    if kind == "MinMaxScaler":
        unit = rng.uniform(0.0, 1.0, (_CHECK_POINTS, n_in))
        return first.data_min_ + unit * first.data_range_
    if kind == "MaxAbsScaler":
        return rng.uniform(-1.0, 1.0, (_CHECK_POINTS, n_in)) * first.max_abs_
    center = getattr(first, "mean_", getattr(first, "center_", None))
    scale = getattr(first, "scale_", None)
    center = np.zeros(n_in) if center is None else center
    return center + normal * (np.ones(n_in) if scale is None else scale)


def predictions(estimator: Any, mlp: Any, x: np.ndarray) -> np.ndarray:
    """``predict_proba`` (classifier) or ``predict`` (regressor) as (N, n_out).

    A DataFrame is passed when the estimator was fitted on one, so that
    scikit-learn sees the feature names it expects.
    """
    names = getattr(estimator, "feature_names_in_", None)
    data: Any = x
    if names is not None:
        import pandas

        data = pandas.DataFrame(x, columns=list(names))
    method = "predict_proba" if type(mlp).__name__ == "MLPClassifier" else "predict"
    result = np.asarray(getattr(estimator, method)(data), dtype=np.float64)
    return result.reshape(len(x), -1)


def _check(
    model: Model,
    estimator: Any,
    mlp: Any,
    steps: list[tuple[str | None, Any]],
    float_dtype: np.dtype,
    source: str,
) -> None:
    """Compare the converted module with scikit-learn on sample points."""
    x = sample_points(steps, model.n_inputs).astype(float_dtype)
    try:
        with warnings.catch_warnings():
            # scikit-learn's own notes (e.g. on feature names) are not the user's
            warnings.simplefilter("ignore")
            want = predictions(estimator, mlp, x)
    except Exception as exc:  # the estimator's own failure: report, do not guess
        raise ModelError(
            f"{source}: calling scikit-learn's prediction on {len(x)} sample points "
            f"failed ({type(exc).__name__}: {exc}); is the estimator fitted?"
        ) from exc
    with torch.no_grad():
        got = model.module(torch.as_tensor(x)).double().numpy().reshape(len(x), -1)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    worst = float(np.abs(got - want).max()) if got.shape == want.shape else np.inf
    allowed = _TOLERANCE[np.dtype(float_dtype)] * scale
    if not worst <= allowed:
        raise ModelError(
            f"wrt's conversion of {source} differs from scikit-learn by {worst:.3g} "
            f"on {len(x)} sample points (allowed {allowed:.3g}; shapes {got.shape} "
            f"vs {want.shape}). This is a bug in wrt, please report it."
        )
