"""The ``wrt`` Typer application: global options and the list of commands."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from wrt import __version__
from wrt.cli.bench import bench_command
from wrt.cli.check import check_command
from wrt.cli.command import WrtCommand, WrtGroup
from wrt.cli.demo import demo_command
from wrt.cli.errors import EXIT_BROKEN_PIPE, stdout_closed
from wrt.cli.inspect import inspect_command
from wrt.cli.partials import EXAMPLES, partials_command
from wrt.cli.report import report_command
from wrt.cli.sens import sens_command
from wrt.cli.train import train_command

app = typer.Typer(
    name="wrt",
    cls=WrtGroup,
    help="Exact partial derivatives of neural networks with respect to named inputs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(
    "partials",
    cls=WrtCommand,
    epilog=EXAMPLES,
    help="Compute partial derivatives at every row of POINTS.",
)(partials_command)
app.command(
    "inspect",
    cls=WrtCommand,
    help="Show a model file's format, names, layers and parameters.",
)(inspect_command)
app.command(
    "check",
    cls=WrtCommand,
    help="Say when a partial is meaningless (data, activations) or wrong.",
)(check_command)
app.command(
    "sens", cls=WrtCommand, help="Sensitivity of the output to each input over data."
)(sens_command)
app.command(
    "report", cls=WrtCommand, help="One HTML or Markdown report: checks, sensitivities."
)(report_command)
app.command(
    "train",
    cls=WrtCommand,
    help="Train a model on derivative terms from a TOML config.",
)(train_command)
app.command("demo", cls=WrtCommand, help="Run the seed problem end to end.")(
    demo_command
)
app.command("bench", cls=WrtCommand, help="Benchmark the engines against their peers.")(
    bench_command
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wrt {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    context: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of errors.")
    ] = False,
) -> None:
    """Exact partial derivatives of neural networks with respect to named inputs."""
    context.obj = {"debug": debug}


def main() -> None:
    """Console-script entry point.

    Output still buffered when the command ends is flushed here, so that a closed
    stdout (``wrt partials ... | head -1``) ends quietly with exit code 141 too.
    """
    try:
        app(prog_name="wrt")
        code: object = 0
    except SystemExit as exit:
        code = exit.code
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_closed()
        code = EXIT_BROKEN_PIPE
    sys.exit(code)
