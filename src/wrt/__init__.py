"""wrt: exact partial derivatives of neural networks with respect to named inputs.

``import wrt`` is light: torch, pandas, matplotlib, Keras and Ray are imported when
a name that needs them is first used (``wrt.partials``, ``wrt.plots``,
``wrt.distributed``), so ``wrt --help`` and ``wrt --version`` answer at once
(PEP 562, :mod:`wrt.lazy`). Every public name is still ``wrt.NAME``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wrt.errors import (
    CompileWarning,
    ConfigError,
    DataError,
    EngineError,
    ExpressionError,
    FallbackWarning,
    FixedBatchWarning,
    IdentifiabilityWarning,
    IgnoredInputWarning,
    InputNamesWarning,
    IntegerInputError,
    Interrupted,
    InvalidNameError,
    ModelError,
    ModelFormatError,
    NonFiniteLossError,
    NonFiniteWarning,
    NotATermError,
    PrecisionWarning,
    SpecError,
    TrainingInterrupted,
    UnboundedLossError,
    UnsupportedEstimatorError,
    UnsupportedFormatError,
    UnsupportedModelOpError,
    UnsupportedOpError,
    VerificationSkippedWarning,
    WrtError,
    WrtWarning,
)
from wrt.lazy import install as _install_lazy

if TYPE_CHECKING:  # what type checkers and editors see: the same names, eagerly
    from wrt import checks as checks
    from wrt import demo as demo
    from wrt import distributed as distributed
    from wrt import engines as engines
    from wrt import importers as importers
    from wrt import plots as plots
    from wrt import training as training
    from wrt.checks import CheckReport, Finding, check
    from wrt.derivatives import grad, hessian, jacobian, partials
    from wrt.describe import describe
    from wrt.engines.autograd import AutogradEngine
    from wrt.engines.finite_diff import FiniteDiffEngine
    from wrt.engines.taylor.engine import HutchinsonEstimate, TaylorEngine
    from wrt.importers import load
    from wrt.model import Model, wrap
    from wrt.operators import directional_derivative, laplacian
    from wrt.randomized import laplacian_estimate
    from wrt.result import Partials
    from wrt.sensitivity import Sensitivity, sensitivity
    from wrt.spec import Partial, format_spec, parse_spec
    from wrt.streaming import partials_stream
    from wrt.training import History, fit, match, mlp, objective, residual, rows

__version__ = "0.1.0"

#: Public name -> the module that defines it, imported on first use.
_EXPORTS: dict[str, str] = {
    "CheckReport": "wrt.checks",
    "Finding": "wrt.checks",
    "check": "wrt.checks",
    "grad": "wrt.derivatives",
    "hessian": "wrt.derivatives",
    "jacobian": "wrt.derivatives",
    "partials": "wrt.derivatives",
    "describe": "wrt.describe",
    "AutogradEngine": "wrt.engines.autograd",
    "FiniteDiffEngine": "wrt.engines.finite_diff",
    "HutchinsonEstimate": "wrt.engines.taylor.engine",
    "TaylorEngine": "wrt.engines.taylor.engine",
    "load": "wrt.importers",
    "Model": "wrt.model",
    "wrap": "wrt.model",
    "directional_derivative": "wrt.operators",
    "laplacian": "wrt.operators",
    "laplacian_estimate": "wrt.randomized",
    "Partials": "wrt.result",
    "Sensitivity": "wrt.sensitivity",
    "sensitivity": "wrt.sensitivity",
    "Partial": "wrt.spec",
    "format_spec": "wrt.spec",
    "parse_spec": "wrt.spec",
    "partials_stream": "wrt.streaming",
    "History": "wrt.training",
    "fit": "wrt.training",
    "match": "wrt.training",
    "mlp": "wrt.training",
    "objective": "wrt.training",
    "residual": "wrt.training",
    "rows": "wrt.training",
}

#: Submodules reachable as attributes after ``import wrt``, imported on first use.
_SUBMODULES = (
    "checks",
    "demo",
    "distributed",
    "engines",
    "importers",
    "plots",
    "training",
)


__all__ = [
    "AutogradEngine",
    "CheckReport",
    "CompileWarning",
    "FiniteDiffEngine",
    "Finding",
    "HutchinsonEstimate",
    "TaylorEngine",
    "ConfigError",
    "DataError",
    "EngineError",
    "ExpressionError",
    "History",
    "FallbackWarning",
    "FixedBatchWarning",
    "IdentifiabilityWarning",
    "IgnoredInputWarning",
    "InputNamesWarning",
    "IntegerInputError",
    "InvalidNameError",
    "Model",
    "ModelError",
    "ModelFormatError",
    "NonFiniteLossError",
    "NonFiniteWarning",
    "Interrupted",
    "NotATermError",
    "Partial",
    "Partials",
    "PrecisionWarning",
    "Sensitivity",
    "SpecError",
    "TrainingInterrupted",
    "UnboundedLossError",
    "UnsupportedEstimatorError",
    "UnsupportedFormatError",
    "UnsupportedModelOpError",
    "UnsupportedOpError",
    "VerificationSkippedWarning",
    "WrtError",
    "WrtWarning",
    "__version__",
    "check",
    "describe",
    "fit",
    "format_spec",
    "grad",
    "hessian",
    "jacobian",
    "directional_derivative",
    "laplacian",
    "laplacian_estimate",
    "load",
    "match",
    "mlp",
    "objective",
    "parse_spec",
    "partials",
    "partials_stream",
    "residual",
    "rows",
    "sensitivity",
    "wrap",
]

__getattr__, __dir__ = _install_lazy(__name__, _EXPORTS, _SUBMODULES)
