"""MkDocs hook: the command-line reference, generated from wrt's Typer app.

A page holding the line ``<!-- wrt-cli-reference -->`` gets, in its place, one
section per command of ``wrt.cli.app.app``: its help, usage, arguments and options
(names, type, default, help) and its epilog, read from the Click command that Typer
builds. The page therefore always matches ``wrt --help`` and ``wrt COMMAND --help``.
"""

from __future__ import annotations

import html
from typing import Any

MARKER = "<!-- wrt-cli-reference -->"


def _cell(text: str) -> str:
    """Text for one Markdown table cell: escaped, one line, pipes kept literal."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "&#124;")


def _parameters(command: Any, context: Any) -> list[str]:
    """The table of a command's arguments and options, as ``--help`` words them.

    Each row is the parameter's own help record (names with metavar, help with
    default and range), so the page cannot disagree with the terminal.
    """
    rows = []
    for param in command.get_params(context):
        if "--help" in (getattr(param, "opts", None) or ()):
            continue
        if getattr(param, "hidden", False):
            continue
        record = param.get_help_record(context)
        if record is None:
            continue
        names, help_text = record
        rows.append(f"| `{names}` | {_cell(help_text or '')} |")
    if not rows:
        return []
    return ["| argument or option | what |", "|---|---|", *rows, ""]


def _section(command: Any, context: Any, level: int, path: str) -> list[str]:
    """Markdown for one command (and its subcommands, one level deeper)."""
    lines = [f"{'#' * level} `{path}`", ""]
    if command.help:
        lines += [command.help.strip(), ""]
    usage = " ".join(command.collect_usage_pieces(context))
    lines += ["```text", f"{path} {usage}".rstrip(), "```", ""]
    lines += _parameters(command, context)
    if command.epilog:
        lines += ["```text", command.epilog.strip("\n"), "```", ""]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is None or sub.hidden:
                continue
            sub_context = type(context)(sub, info_name=name, parent=context)
            lines += _section(sub, sub_context, level + 1, f"{path} {name}")
    return lines


def cli_reference() -> str:
    """The whole reference as Markdown, from the installed (or ``src/``) wrt."""
    import typer.main

    from wrt.cli.app import app

    command = typer.main.get_command(app)
    context = command.context_class(command, info_name="wrt")
    return "\n".join(_section(command, context, 2, "wrt"))


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the marker line of the CLI reference page by the generated text."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())
