"""How the CLI reports failures: exit 2 with one line of what and one of how to fix.

Exit codes: 0 success; 1 a check found an error-level problem; 2 bad usage or bad
input. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from wrt.errors import (
    DataError,
    EngineError,
    InvalidNameError,
    ModelError,
    ModelFormatError,
    OutputPathError,
    ResumeError,
    SpecError,
    WrtError,
)

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2

_HINTS: list[tuple[type[WrtError], str]] = [
    (
        OutputPathError,
        "Results go to a new file in a writable folder, never over an input "
        "(see the option's --help).",
    ),
    (
        ResumeError,
        "--resume continues the same command into the same -o file; --overwrite "
        "starts afresh.",
    ),
    (
        SpecError,
        "Specs look like dy/dx1, d2y/dx1^2 or d2y/dx1dx2; names are the "
        "model's (see wrt partials --help).",
    ),
    (
        DataError,
        "Points need one column per model input, named as the inputs "
        "(or name the inputs after the columns with --inputs).",
    ),
    (InvalidNameError, "Pass one identifier per input with --inputs a,b,c."),
    (
        ModelFormatError,
        "wrt reads .keras/.h5, ONNX, .pt2, TorchScript, state_dict (--module) and "
        ".npz files; see wrt inspect.",
    ),
    (ModelError, "Check that the model maps (N, n_in) points to (N, n_out)."),
    (EngineError, "Use --engine auto (the default), autograd, taylor or finite_diff."),
]

P = ParamSpec("P")
R = TypeVar("R")


def _debugging(context: object) -> bool:
    """Whether ``wrt --debug`` was given: the app's callback keeps it on the context."""
    find_root = getattr(context, "find_root", None)  # a typer / click context
    if find_root is None:
        return False
    root = find_root()
    return bool(isinstance(root.obj, dict) and root.obj.get("debug"))


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn wrt's errors raised by a command into two stderr lines and exit 2.

    The command takes a ``context: typer.Context`` argument, through which
    ``wrt --debug`` asks for the traceback instead.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except WrtError as exc:
            if _debugging(kwargs.get("context")):
                traceback.print_exc()
            message = " ".join(str(exc).split())
            print(f"wrt: error: {message}", file=sys.stderr)
            print(f"wrt: hint: {_hint(exc)}", file=sys.stderr)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return run


def _hint(exc: WrtError) -> str:
    for kind, hint in _HINTS:
        if isinstance(exc, kind):
            return hint
    return "Run again with --debug to see the traceback."
