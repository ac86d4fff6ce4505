"""Every user-facing failure and degradation of wrt, in one tree.

Each error subclasses :class:`WrtError` and the builtin exception that fits, so
``except ValueError`` keeps working for callers who do not know wrt. Messages say
what went wrong, the bad value, what is valid and how to fix it. Degradations are
warnings of our own categories, never log lines.
"""

from __future__ import annotations


class WrtError(Exception):
    """Base class of every error raised by wrt on purpose."""


class SpecError(WrtError, ValueError):
    """A derivative spec such as ``d2y/dx1dx2`` is malformed or names unknown things."""


class InvalidNameError(WrtError, ValueError):
    """Input or output names are invalid (not identifiers, repeated, wrong count)."""


class DataError(WrtError, ValueError):
    """Points are malformed: wrong shape, missing columns, NaN or Inf values."""


class ModelError(WrtError, ValueError):
    """A module cannot be used as a model (wrong output shape, failed probe call)."""


class ModelFormatError(WrtError, ValueError):
    """A file is not a model wrt can read, or is damaged."""


class UnsupportedFormatError(ModelFormatError):
    """A file is a model of a format that wrt does not load (yet)."""


class EngineError(WrtError, ValueError):
    """An engine was asked for something it cannot compute, or an unknown engine."""


class UnsupportedOpError(EngineError, NotImplementedError):
    """An engine met an operation it has no rule for; ``auto`` falls back."""


class ExpressionError(WrtError, ValueError):
    """A residual or objective expression is malformed; the message points at it."""


class UnboundedLossError(WrtError, ValueError):
    """An objective is not provably bounded below: minimising it can diverge."""


class NonFiniteLossError(WrtError, ArithmeticError):
    """Training met a NaN or Inf loss; the model keeps its last finite parameters.

    Attributes:
        term: name of the term whose loss was not finite.
        step: the training step.
        point: index of the first offending point of that term (or None).
        history: the history up to the last finite step.
    """

    def __init__(self, message: str, term: str, step: int, point, history) -> None:
        super().__init__(message)
        self.term = term
        self.step = step
        self.point = point
        self.history = history


class WrtWarning(UserWarning):
    """Base class of wrt's warnings."""


class FallbackWarning(WrtWarning):
    """A cheaper engine could not handle the model and a slower one was used."""


class PrecisionWarning(WrtWarning):
    """A result may be dominated by round-off (float32, high order)."""


class IdentifiabilityWarning(WrtWarning):
    """The data does not determine the asked derivative."""


class VerificationSkippedWarning(WrtWarning):
    """A converted model could not be cross-checked against its source framework."""


class IgnoredInputWarning(WrtWarning):
    """An input column changes no output of the model: its partials are all 0."""
