"""How every ``wrt`` command reads on the terminal: help text and verbosity.

:class:`WrtCommand` is the Typer command class of every command (and
:class:`WrtGroup` the app's, for ``wrt --help``): its help shows flags without a
``<bool>`` type, arguments as ``MODEL POINTS`` (upper case, in the
usage line too). :data:`Quiet` and :data:`Verbose` are the ``-q`` / ``-v`` options
every command takes; :func:`verbosity` reads them back.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

#: Where the verbosity of the running command is kept (``typer.Context.meta``).
_KEY = "wrt.verbosity"


class WrtCommand(TyperCommand):
    """A Typer command whose help speaks like a Unix tool's (see the module).

    Help texts are plain text: brackets in them (``pip install 'wrt[ray]'``) are
    shown as written, never read as Rich markup.
    """

    def __init__(self, name: str | None, **kwargs: Any) -> None:
        for key in ("help", "epilog", "short_help"):
            if kwargs.get(key):
                kwargs[key] = escape(kwargs[key])
        for param in kwargs.get("params") or []:
            if getattr(param, "help", None):
                param.help = escape(param.help)
        super().__init__(name, **kwargs)

    def get_params(self, ctx: typer.Context) -> list[Any]:
        """The parameters, flags without a value type, arguments upper case."""
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""  # a flag takes no value: no <bool>
            elif param.param_type_name == "argument" and param.metavar is None:
                param.metavar = (param.name or "").upper()
        return params

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        """``[OPTIONS] MODEL POINTS``: the usage line's words."""
        pieces = [self.options_metavar or "[OPTIONS]"]
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":  # typer's: no click.Argument
                name = param.metavar or (param.name or "").upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class WrtGroup(TyperGroup):
    """The ``wrt`` app's group: its help shows flags without ``<bool>`` too."""

    def get_params(self, ctx: typer.Context) -> list[Any]:
        """The global options, flags without a value type."""
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""  # a flag takes no value: no <bool>
        return params


def _remember(level: int):
    def callback(ctx: typer.Context, param: typer.CallbackParam, value: bool) -> bool:
        if value:
            if ctx.meta.get(_KEY, level) != level:
                raise typer.BadParameter("give --quiet or --verbose, not both.")
            ctx.meta[_KEY] = level
        return value

    return callback


Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress lines and no notes (warnings and errors still show).",
        callback=_remember(-1),
    ),
]
Verbose = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="More detail: the engines' and Ray's own messages.",
        callback=_remember(1),
    ),
]


def verbosity(context: typer.Context | None) -> int:
    """-1 for ``--quiet``, 1 for ``--verbose``, 0 otherwise (or no context)."""
    return 0 if context is None else int(context.meta.get(_KEY, 0))


def note(context: typer.Context | None, text: str) -> None:
    """One line ``wrt: note: TEXT`` on stderr, unless ``--quiet``."""
    if verbosity(context) >= 0:
        print(f"wrt: note: {' '.join(text.split())}", file=sys.stderr)
