"""Ctrl-C during a streamed run: say what was kept and how to continue; exit 130."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import NoReturn

import typer

from wrt.streaming import kept, parts_folder

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def interrupted(context: typer.Context, output: Path | None) -> NoReturn:
    """Report an interrupted run and exit 130.

    For a streamed run into ``output``, prints on stderr the finished parts and
    rows kept on disk and the exact command that continues the run (the same
    command with ``--resume``); for an in-memory run (``output`` None or not
    streamed), that nothing was written.

    Raises:
        typer.Exit: always, with code 130.
    """
    if output is not None and parts_folder(output).exists():
        folder = parts_folder(output)
        parts, rows = kept(output)
        print(
            f"wrt: interrupted: {rows} rows in {parts} finished parts kept in "
            f"{folder}.",
            file=sys.stderr,
        )
        print(f"wrt: continue with: {resume_command(context)}", file=sys.stderr)
    else:
        print(
            "wrt: interrupted: nothing was written (results are written whole, at "
            "the end). Run the command again.",
            file=sys.stderr,
        )
    raise typer.Exit(EXIT_INTERRUPTED)


def resume_command(context: typer.Context) -> str:
    """The command line of ``context`` with ``--resume`` (and without --overwrite).

    Rebuilt from the parsed parameters, so it is the same request whatever the
    order or spelling of the options on the original line.
    """
    words = ["wrt", context.info_name or "partials"]
    for param in context.command.params:
        value = context.params.get(param.name or "")
        if param.param_type_name == "argument":  # typer's are not click.Argument
            words.append(str(value))
            continue
        option = max(param.opts, key=len)  # the long spelling
        if param.name in ("resume", "overwrite") or value is None:
            continue
        if getattr(param, "is_flag", False):
            if value and value != param.default:
                words.append(option)
        elif getattr(param, "multiple", False):
            for item in value:
                words += [option, str(item)]
        elif value != param.default:
            words += [option, str(value)]
    words.append("--resume")
    return shlex.join(words)
