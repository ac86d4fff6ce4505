"""wrt: exact partial derivatives of neural networks with respect to named inputs."""

from wrt.checks import CheckReport, Finding, check
from wrt.derivatives import grad, hessian, jacobian, laplacian, partials
from wrt.describe import describe
from wrt.engines.autograd import AutogradEngine
from wrt.engines.finite_diff import FiniteDiffEngine
from wrt.engines.taylor.engine import HutchinsonEstimate, TaylorEngine
from wrt.errors import (
    DataError,
    EngineError,
    FallbackWarning,
    IdentifiabilityWarning,
    InvalidNameError,
    ModelError,
    ModelFormatError,
    PrecisionWarning,
    SpecError,
    UnsupportedFormatError,
    UnsupportedOpError,
    VerificationSkippedWarning,
    WrtError,
    WrtWarning,
)
from wrt.importers import load
from wrt.model import Model, wrap
from wrt.randomized import laplacian_estimate
from wrt.result import Partials
from wrt.sensitivity import Sensitivity, sensitivity
from wrt.spec import Partial, format_spec, parse_spec

__version__ = "0.1.0"

__all__ = [
    "AutogradEngine",
    "CheckReport",
    "FiniteDiffEngine",
    "Finding",
    "HutchinsonEstimate",
    "TaylorEngine",
    "DataError",
    "EngineError",
    "FallbackWarning",
    "IdentifiabilityWarning",
    "InvalidNameError",
    "Model",
    "ModelError",
    "ModelFormatError",
    "Partial",
    "Partials",
    "PrecisionWarning",
    "Sensitivity",
    "SpecError",
    "UnsupportedFormatError",
    "UnsupportedOpError",
    "VerificationSkippedWarning",
    "WrtError",
    "WrtWarning",
    "__version__",
    "check",
    "describe",
    "format_spec",
    "grad",
    "hessian",
    "jacobian",
    "laplacian",
    "laplacian_estimate",
    "load",
    "parse_spec",
    "partials",
    "sensitivity",
    "wrap",
]
