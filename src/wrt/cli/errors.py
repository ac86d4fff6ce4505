"""How the CLI reports failures: exit codes that mean one thing, no tracebacks.

Exit codes:

- 0: success;
- 1: a check found an error-level problem (``wrt check``);
- 2: bad usage or bad input: one line of what went wrong (``wrt: error:``), one of
  how to fix it (``wrt: hint:``). Click's own usage errors (unknown option, bad
  option value) also exit 2, and so do the user's files and machine refusing
  (``OSError``: permission denied, disk full) and running out of memory (the
  hint names ``--chunk-size``);
- 3: an internal error: an exception wrt did not expect (a bug in wrt, or in the
  model's own code). One line of cause, and a request to report it with the
  command and wrt's version;
- 130: interrupted (Ctrl-C); :class:`~wrt.errors.Interrupted` says what was kept;
- 141: stdout was closed before the command finished writing to it
  (``wrt partials ... | head -1``): quietly, no error and no hint, as Unix tools
  do (128 + SIGPIPE); see :func:`stdout_closed`.

``wrt --debug`` prints the traceback as well, for every kind.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import click
import typer
from typer.exceptions import TyperException

from wrt.errors import (
    EngineError,
    ExpressionError,
    Interrupted,
    InvalidNameError,
    ModelFormatError,
    OutputPathError,
    ResumeError,
    SpecError,
    UnsupportedFormatError,
    UnsupportedOpError,
    WrtError,
    WrtWarning,
    one_line,
)

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: Fallback hints by class, for errors raised without ``hint=``; the first match
#: wins, so subclasses come before their bases. Each must hold for every error of
#: its class: anything more specific belongs at the raise site.
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
        "model's (see wrt inspect MODEL).",
    ),
    (ExpressionError, "Write the expression with the model's names, e.g. du/dt + u."),
    (
        InvalidNameError,
        "Names are identifiers, one per input or output, comma-separated: "
        "--inputs x,t --outputs u (see wrt inspect MODEL for how many).",
    ),
    (
        UnsupportedFormatError,
        "wrt reads .keras/.h5, ONNX, .pt2, TorchScript, state_dict (--module), "
        ".npz and .skops files and SavedModel folders; see wrt inspect.",
    ),
    (
        ModelFormatError,
        "The message above says what to change in the file or the options; wrt "
        "reads .keras/.h5, ONNX, .pt2, TorchScript, state_dict (--module), .npz, "
        ".skops, SavedModel folders.",
    ),
    (
        UnsupportedOpError,
        "Use --engine auto (it falls back to an engine that handles it) or "
        "--engine autograd.",
    ),
    (EngineError, "Use --engine auto (the default), autograd, taylor or finite_diff."),
]

#: Exceptions that end a command on purpose: an exit code, a usage error.
_PASS_THROUGH = (
    typer.Exit,
    typer.Abort,
    TyperException,
    click.exceptions.Exit,
    click.ClickException,
    click.Abort,
)

P = ParamSpec("P")
R = TypeVar("R")


def _debugging(context: object) -> bool:
    """Whether ``wrt --debug`` was given: the app's callback keeps it on the context."""
    find_root = getattr(context, "find_root", None)  # a typer / click context
    if find_root is None:
        return False
    root = find_root()
    return bool(isinstance(root.obj, dict) and root.obj.get("debug"))


def _command(context: object) -> str:
    """The command as typed, e.g. ``wrt partials``, for the report request."""
    path = getattr(context, "command_path", None)
    return str(path) if path else "wrt"


def say(kind: str, text: str) -> None:
    """One line ``wrt: KIND: TEXT`` on stderr, whitespace collapsed."""
    print(f"wrt: {kind}: {' '.join(text.split())}", file=sys.stderr)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn every failure of a command into its exit code and two stderr lines.

    The command takes a ``context: typer.Context`` argument, through which
    ``wrt --debug`` asks for the traceback as well. wrt's own warnings are shown
    as one line each, ``wrt: warning: ...`` on stderr, every time.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        context = kwargs.get("context")
        try:
            with warnings.catch_warnings():  # restored when the command ends
                warnings.simplefilter("always", WrtWarning)
                shown = warnings.showwarning
                warnings.showwarning = functools.partial(_show, shown)
                return command(*args, **kwargs)
        except _PASS_THROUGH:
            raise  # typer.Exit(code), usage errors: typer / click report them
        except Interrupted as exc:
            _traceback_if(context)
            say("interrupted", message(exc))
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except KeyboardInterrupt:
            _traceback_if(context)
            say("interrupted", "stopped by Ctrl-C before the command finished.")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except WrtError as exc:
            _traceback_if(context)
            say("error", message(exc))
            say("hint", hint(exc))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except OSError as exc:  # the user's files and disks, not wrt's logic
            if exc.errno == errno.EPIPE:  # a reader (head) closed stdout: done
                stdout_closed()
                raise typer.Exit(EXIT_BROKEN_PIPE) from None
            _traceback_if(context)
            say("error", _os_message(exc))
            say("hint", "Check the path, that its folder exists and can be written.")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except _memory_errors() as exc:
            _traceback_if(context)
            say("error", f"out of memory: {one_line(exc)}")
            say("hint", "Lower --chunk-size (points per batch), if the command has it.")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except Exception as exc:
            _traceback_if(context)
            from wrt import __version__

            say("internal error", one_line(exc))
            say(
                "hint",
                "wrt did not expect this. If the model's own code raised it, fix "
                "the model; otherwise please report it to wrt's maintainers with the "
                f"command ({_command(context)}) and the version (wrt {__version__}). "
                "Run again as 'wrt --debug ...' to see the traceback.",
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return run


def stdout_closed() -> None:
    """Point stdout at the null device: its reader is gone.

    Python's last flush at exit then does not fail again ("Exception ignored ...
    BrokenPipeError"), as the Python docs recommend for SIGPIPE.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor behind sys.stdout
        pass


def _memory_errors() -> tuple[type[BaseException], ...]:
    """Out-of-memory errors: Python's, and torch's once torch is imported.

    Evaluated when an exception reaches the ``except`` clause, so the CLI imports
    torch only in the commands that compute (a torch error needs torch imported).
    """
    torch = sys.modules.get("torch")
    error = getattr(torch, "OutOfMemoryError", None)
    return (MemoryError,) if error is None else (MemoryError, error)


def _show(shown, message, category, filename, lineno, file=None, line=None):
    """Show wrt's warnings as one line, any other warning as Python does."""
    if issubclass(category, WrtWarning):
        say("warning", str(message))
    else:
        shown(message, category, filename, lineno, file, line)


def _traceback_if(context: object) -> None:
    if _debugging(context):
        traceback.print_exc()


def _names(match: re.Match[str]) -> str:
    names = ",".join(n.strip(" '\"") for n in match[2].split(","))
    return f"--{match[1]}puts {names}"


#: Python arguments in messages, and the CLI options that say the same, applied in
#: order. Arguments with no CLI option (the .npz loader's) are marked as Python-only
#: advice instead.
_CLI_WORDS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(pattern), replacement)
    for pattern, replacement in [
        (r"\binputs=\[\.\.\.\]\s*/\s*--inputs", "--inputs NAMES"),
        (r"\binputs=\[\.\.\.\]\s*/\s*outputs=\[\.\.\.\],\s*--inputs\s*/\s*--outputs",
         "--inputs NAMES / --outputs NAMES"),
        (r"\binputs=\[\.\.\.\]", "--inputs NAMES"),
        (r"\boutputs=\[\.\.\.\]", "--outputs NAMES"),
        (r"\b(in|out)puts=\[([^\]]*)\]( / --(in|out)puts [\w,]+)?", _names),
        (r"\bengine='(\w+)'", r"--engine \1"),
        (r"\bdtype='(\w+)'(\s*\(--dtype \w+\))?", r"--dtype \1"),
        (r"\bchunk_size=(\d+)", r"--chunk-size \1"),
        (r"\bwrt\.load\(path, module=MyNet\(\)\) in Python, or ", ""),
        (r"\bwrt\.load\(path, module=MyNet\(\)\)", "--module package.module:MyNet"),
        (r"\bmodule= must be", "--module must be"),
        (r"\boutput=\.\.\.", "--output-name NAME"),
        (r"\branges\[('[^']*')\]", r"--range \1"),
        (r"\bvariances\[('[^']*')\]", r"--variance \1"),
        (r"\bin ranges=", "in --range"),
        (r"\bin variances=", "in --variance"),
        (r"\bpass activations=\[\.\.\.\] to wrt\.load",
         "in Python pass activations=[...] to wrt.load"),
        (r"e\.g\. activations=", "e.g. (in the file, or in Python) activations="),
        (r"Pass layout=", "In Python, pass layout="),
        (r"\b(After )?rename=", r"\1--rename"),
        (r"\bkeep=", "--keep"),
        (r"\bcompile=True\b", "--compile on"),
        (r"\bcompile=False\b", "--compile off"),
        (r"\bcompile must be\b", "--compile must be"),
        (r"\(attribute (\w+), per point\)",
         r"(the field \1 of the finding in wrt check --json, per point)"),
        (r"\bneighbours=(\S+) is", r"--neighbours \1 is"),
        (r"\bpass neighbours between", "pass --neighbours between"),
        (r", or None for the default", ", or leave the option out for the default"),
        (r"\brel_spread=", "--rel-spread "),
        (r"\(data=\.\.\.\)", "(--data)"),
        (r"\bchunk_size = the chunk size:", "--chunk-size:"),
        (r"\bchunk_size changed", "--chunk-size changed"),
        (r"\bsource_bytes, source_mtime_ns changed",
         "the points file changed (size / modification time)"),
        (r"\bsource_mtime_ns changed", "the points file changed (modification time)"),
        (r"\bsource_bytes changed", "the points file changed (size)"),
        (r"\bsource_(bytes|mtime_ns) = ", ""),
        (r"Use 'float32' or 'float64' \(or torch\.float32 / torch\.float64\)",
         "Use --dtype float32 or --dtype float64"),
    ]
]  # fmt: skip


def cli_words(text: str) -> str:
    """``text`` with the Python arguments it names said as CLI options.

    Messages are written once, for Python and the command line alike; on the
    command line ``inputs=['x', 't']`` reads ``--inputs x,t``, ``engine='taylor'``
    reads ``--engine taylor``, and so on (:data:`_CLI_WORDS`).
    """
    for pattern, replacement in _CLI_WORDS:
        text = pattern.sub(replacement, text)
    return text


def message(exc: WrtError) -> str:
    """The error's message in one line; a wrapped cause's own traceback cut out."""
    text = str(exc)
    cause = exc.__cause__
    if cause is not None and "\n" in str(cause) and str(cause) in text:
        kind, _, cut = one_line(cause).partition(": ")
        text = text.replace(f"{type(cause).__name__}: {cause}", f"{kind}: {cut}")
        text = text.replace(str(cause), cut)
    return cli_words(" ".join(text.split()))


def hint(exc: WrtError) -> str:
    """The hint given where ``exc`` was raised, else the one of its class."""
    given = getattr(exc, "hint", None)
    if given:
        return cli_words(given)
    for kind, text in _HINTS:
        if isinstance(exc, kind):
            return text
    return "The message above says what to change; see the command's --help."


def _os_message(exc: OSError) -> str:
    what = exc.strerror or one_line(exc)
    where = f": {exc.filename}" if exc.filename else ""
    return f"{what}{where}"
