"""Activation functions that converted models share, written to stay exact.

Converted models (Keras, ONNX, ``.npz`` arrays) rebuild their activations as torch
operations, which both engines then differentiate. The saturating ones are those
whose form matters: torch's ``F.softplus`` switches to ``x`` above ``x = 20``,
where ``log(1 + e^x)`` is still ``x + 2.1e-9`` (a relative error of 1e-10 in the
value, and a second derivative of 0 instead of 2.1e-9 through torch's backward);
``logaddexp(x, 0)`` has the right value but its backward rebuilds the derivative
from the rounded output. :func:`softplus` keeps the cut-off where it is exact.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

#: Past x = 37, e^-x is below half an ulp of x: log(1 + e^x) rounds to x itself.
_EXACT_THRESHOLD = 40.0


def softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(x))``, correctly rounded for every x; no overflow.

    Args:
        x: any shape, floating point.

    Returns:
        Same shape and dtype. Both engines differentiate it with relative accuracy
        at every order (the Taylor rules use the smooth function; autograd runs it
        under :class:`~wrt.engines.saturating.AccurateActivations`).
    """
    return F.softplus(x, 1.0, _EXACT_THRESHOLD)
