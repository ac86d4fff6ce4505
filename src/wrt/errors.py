"""Every user-facing failure and degradation of wrt, in one tree.

Each error subclasses :class:`WrtError` and the builtin exception that fits, so
``except ValueError`` keeps working for callers who do not know wrt. Messages say
what went wrong, the bad value, what is valid and how to fix it. Degradations are
warnings of our own categories, never log lines.
"""

from __future__ import annotations

import re
import sys


class WrtError(Exception):
    """Base class of every error raised by wrt on purpose.

    Args:
        *args: the message (one string), as for any exception.
        hint: what to do about it, in one sentence, for the command line, which
            prints it on the ``wrt: hint:`` line (it may name CLI options). None
            leaves the hint to the error's class.

    Attributes:
        hint: the hint given where the error was raised, or None.
    """

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        self.hint = hint


class SpecError(WrtError, ValueError):
    """A derivative spec such as ``d2y/dx1dx2`` is malformed or names unknown things."""


class InvalidNameError(WrtError, ValueError):
    """Input or output names are invalid (not identifiers, repeated, wrong count)."""


class DataError(WrtError, ValueError):
    """Points are malformed: wrong shape, missing columns, NaN or Inf values."""


class OutputPathError(WrtError, ValueError):
    """Results cannot go where asked: a folder, under a file, unwritable, an input."""


class RowIdError(DataError):
    """The row-id column of a Ray run cannot have the name asked (empty, or taken)."""


class ResumeError(DataError):
    """A run cannot be resumed: its parts were written by a different request."""


class ModelError(WrtError, ValueError):
    """A module cannot be used as a model (wrong output shape, failed probe call)."""


class IntegerInputError(ModelError):
    """A derivative along an input that only takes integer values (an index)."""


class UnsupportedEstimatorError(ModelError, TypeError):
    """A scikit-learn estimator (or Pipeline step) that wrt does not convert."""


class ModelFormatError(WrtError, ValueError):
    """A file is not a model wrt can read, or is damaged."""


class UnsupportedFormatError(ModelFormatError):
    """A file is a model of a format that wrt does not load (yet)."""


class EngineError(WrtError, ValueError):
    """An engine was asked for something it cannot compute, or an unknown engine."""


class UnsupportedOpError(EngineError, NotImplementedError):
    """An engine met an operation it has no rule for; ``auto`` falls back."""


class UnsupportedModelOpError(ModelFormatError, UnsupportedOpError):
    """A model file holds an operation that wrt cannot convert (e.g. an ONNX op).

    Unlike an engine's :class:`UnsupportedOpError`, no other engine helps: the
    message names the node and says how to re-export the model.
    """


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

    def __init__(
        self,
        message: str,
        term: str,
        step: int,
        point,
        history,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.term = term
        self.step = step
        self.point = point
        self.history = history


class Interrupted(WrtError):
    """A run was stopped (Ctrl-C); the message says what was kept and how to go on.

    Raise it from ``except KeyboardInterrupt`` with a message such as ``"Stopped
    after 3 of 10 chunks; out.parquet keeps them. Continue with: wrt partials ...
    --resume"``; the command line prints it and exits with 130.
    """


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The cause of ``exc`` in one line: ``Type: message``, without tracebacks.

    Exceptions from TorchScript carry a multi-line text with a traceback of their
    own, whose last line names what failed (``builtins.RuntimeError: ...``); that
    line is kept. Other multi-line messages keep their first line.

    Args:
        exc: any exception.
        limit: the most characters kept (longer lines end with ``...``).
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    named = _NAMED.match(lines[-1]) if len(lines) > 1 else None
    if named:  # TorchScript: 'builtins.RuntimeError: ...' names the cause itself
        text = f"{named.group(1)}: {named.group(2)}"
    else:
        name = type(exc).__name__
        text = f"{name}: {text}" if text else name
    return text if len(text) <= limit else text[: limit - 3] + "..."


_NAMED = re.compile(r"^(?:builtins\.)?([A-Za-z_]\w*(?:Error|Exception)): (.*)$")


class ConfigError(DataError):
    """A ``wrt train`` config is malformed, or its output folder cannot be used.

    An unknown key, a value of the wrong type or range, a missing file, a folder
    holding an earlier run.
    """


class NotATermError(WrtError, TypeError):
    """Something that is not a training term was given where terms go (``wrt.fit``)."""


class NotAModelError(WrtError, TypeError):
    """A path or a bare module was given where a loaded :class:`~wrt.Model` goes."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); the model keeps its last finite parameters.

    A :class:`KeyboardInterrupt`, not a :class:`WrtError`, so that ``except
    Exception`` does not swallow a Ctrl-C.

    Attributes:
        step: the steps completed whose parameters the model keeps.
        history: the history of those steps.
    """

    def __init__(self, message: str, step: int, history) -> None:
        super().__init__(message)
        self.step = step
        self.history = history


class WrtWarning(UserWarning):
    """Base class of wrt's warnings."""


class FallbackWarning(WrtWarning):
    """A cheaper engine could not handle the model and a slower one was used."""


class CompileWarning(WrtWarning):
    """Compiling failed (the cause is named); the work ran eagerly, same results."""


class PrecisionWarning(WrtWarning):
    """A result may be dominated by round-off (float32, high order)."""


class IdentifiabilityWarning(WrtWarning):
    """The data does not determine the asked derivative."""


class NonFiniteWarning(WrtWarning):
    """The model's output or a partial is NaN or Inf at some points (left missing)."""


class VerificationSkippedWarning(WrtWarning):
    """A converted model could not be cross-checked against its source framework."""


class DeprecatedOptionWarning(WrtWarning):
    """An option was given by an old name that still works; its new name is said."""


class CheckOptionError(WrtError, ValueError):
    """An option of :func:`wrt.check` is out of range (neighbours, rel_spread, ...)."""


class FixedBatchWarning(WrtWarning):
    """A model file takes a fixed number of rows per call: wrt runs it in blocks."""


class IgnoredInputWarning(WrtWarning):
    """An input column changes no output of the model: its partials are all 0."""


class InputNamesWarning(WrtWarning):
    """The file does not tell which column is which input: neutral names are used."""


def caller_level() -> int:
    """The stack level of the first frame outside wrt, for warnings."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("wrt."):
        frame = frame.f_back
        level += 1
    return level
