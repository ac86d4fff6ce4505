"""scikit-learn's scalers as torch modules: Pipeline steps and target transformers.

``StandardScaler``, ``RobustScaler`` and ``MaxAbsScaler`` compute ``(x - center) /
scale`` (:class:`Standardize`), ``MinMaxScaler`` ``x * scale_ + min_``, clipped when
``clip=True`` (:class:`Rescale`). A ``TransformedTargetRegressor``'s fitted
transformer is inverted after the network (:func:`target_inverse`). Only fitted
attributes are read; scikit-learn is not imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from wrt.errors import ModelError, UnsupportedEstimatorError


class Standardize(nn.Module):
    """``(x - center) / scale``: StandardScaler, RobustScaler, MaxAbsScaler."""

    center: torch.Tensor
    scale: torch.Tensor

    def __init__(self, center: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("center", center)
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, n) -> (N, n)."""
        return (x - self.center) / self.scale


class Rescale(nn.Module):
    """``x * factor + offset``, clipped to ``[low, high]`` if given: MinMaxScaler."""

    factor: torch.Tensor
    offset: torch.Tensor

    def __init__(
        self,
        factor: torch.Tensor,
        offset: torch.Tensor,
        clip: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("factor", factor)
        self.register_buffer("offset", offset)
        self.clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, n) -> (N, n)."""
        y = x * self.factor + self.offset
        return y if self.clip is None else torch.clamp(y, *self.clip)


def label(step: Any, name: str | None) -> str:
    """``step 'scale' (StandardScaler)``, or the class name alone, for messages."""
    kind = type(step).__name__
    return f"step '{name}' ({kind})" if name else kind


def _tensor(values: Any, n: int) -> torch.Tensor:
    array = np.broadcast_to(np.asarray(values, np.float64), (n,))
    return torch.from_numpy(array.copy())


def scaler(step: Any, name: str | None, source: str) -> nn.Module:
    """The torch module of one fitted scaler step.

    Args:
        step: a fitted StandardScaler, MinMaxScaler, MaxAbsScaler or RobustScaler.
        name: its step name in the Pipeline, for messages (None: not in one).
        source: where the estimator came from, for messages.

    Raises:
        ModelError: the scaler is not fitted.
    """
    kind = type(step).__name__
    n = getattr(step, "n_features_in_", None)
    if n is None:
        raise ModelError(
            f"{label(step, name)} in {source} is not fitted. Fit the Pipeline "
            "first, then wrap it."
        )
    ones, zeros = np.ones(n), np.zeros(n)
    if kind == "MinMaxScaler":
        clip = tuple(float(v) for v in step.feature_range) if step.clip else None
        return Rescale(_tensor(step.scale_, n), _tensor(step.min_, n), clip)  # type: ignore[arg-type]
    if kind == "StandardScaler":
        center = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None
    elif kind == "RobustScaler":
        center, scale = step.center_, step.scale_
    else:  # MaxAbsScaler
        center, scale = None, step.scale_
    return Standardize(
        _tensor(zeros if center is None else center, n),
        _tensor(ones if scale is None else scale, n),
    )


def target_inverse(estimator: Any, source: str) -> nn.Module:
    """TransformedTargetRegressor: the inverse of its fitted target transformer.

    Args:
        estimator: a fitted TransformedTargetRegressor.
        source: where it came from, for messages.

    Returns:
        A module mapping the network's outputs (N, n_targets) to ``predict``'s.

    Raises:
        ModelError: not fitted.
        UnsupportedEstimatorError: a transformer other than the four scalers or
            none (e.g. ``func=np.log``).
    """
    transformer = getattr(estimator, "transformer_", None)
    kind = type(transformer).__name__
    if transformer is None:
        raise ModelError(
            f"The TransformedTargetRegressor in {source} is not fitted. Call "
            "fit(X, y) first, then wrap it."
        )
    n = int(getattr(transformer, "n_features_in_", 1) or 1)
    ones, zeros = np.ones(n), np.zeros(n)
    if kind == "FunctionTransformer":
        if transformer.func is None and transformer.inverse_func is None:
            return nn.Identity()
    elif kind == "StandardScaler":
        scale = transformer.scale_ if transformer.with_std else None
        center = transformer.mean_ if transformer.with_mean else None
        return Rescale(
            _tensor(ones if scale is None else scale, n),
            _tensor(zeros if center is None else center, n),
        )
    elif kind == "MinMaxScaler":
        scale = np.asarray(transformer.scale_, np.float64)
        return Rescale(_tensor(1 / scale, n), _tensor(-transformer.min_ / scale, n))
    elif kind == "MaxAbsScaler":
        return Rescale(_tensor(transformer.scale_, n), _tensor(zeros, n))
    elif kind == "RobustScaler":
        scale, center = transformer.scale_, transformer.center_
        return Rescale(
            _tensor(ones if scale is None else scale, n),
            _tensor(zeros if center is None else center, n),
        )
    raise UnsupportedEstimatorError(
        f"wrt cannot convert the target transformer of the "
        f"TransformedTargetRegressor in {source} ({kind}"
        f"{' with func=' if kind == 'FunctionTransformer' else ''}"
        f"{getattr(transformer, 'func', '') or ''}): it converts StandardScaler, "
        "MinMaxScaler, MaxAbsScaler, RobustScaler and no transformer."
    )
