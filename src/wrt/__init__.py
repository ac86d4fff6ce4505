"""wrt: exact partial derivatives of neural networks with respect to named inputs."""

from wrt.checks import CheckReport, Finding, check
from wrt.derivatives import grad, hessian, jacobian, partials
from wrt.describe import describe
from wrt.engines.autograd import AutogradEngine
from wrt.engines.finite_diff import FiniteDiffEngine
from wrt.engines.taylor.engine import HutchinsonEstimate, TaylorEngine
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
