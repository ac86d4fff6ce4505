"""``wrt check``: is each partial meaningful, and is it right?"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from wrt.cli.command import Quiet, Verbose
from wrt.cli.errors import EXIT_CHECK_FAILED, cli_words, reports_errors
from wrt.cli.options import (
    Compile,
    CompileChoice,
    DType,
    Engine,
    Inputs,
    ModelPath,
    ModuleClass,
    Outputs,
    Renames,
    checked_table,
    compile_note,
    load_options,
    renames,
)

STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}

TrainData = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="The training inputs (CSV, Parquet or JSON, a column per input): "
        "enables the not-identifiable and far-from-data checks.",
    ),
]

CheckPoints = Annotated[
    Path | None,
    typer.Option("--points", help="Where to check (default: the --data rows)."),
]
CheckSpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--spec",
        "-d",
        metavar="SPEC",
        help="A partial to check; repeat for more (default: every first partial).",
    ),
]


@reports_errors
def check_command(
    context: typer.Context,
    model: ModelPath,
    data: TrainData = None,
    points: CheckPoints = None,
    spec: CheckSpecs = None,
    rename: Renames = None,
    inputs: Inputs = None,
    outputs: Outputs = None,
    module: ModuleClass = None,
    engine: Engine = "auto",
    compile: Compile = CompileChoice.auto,
    dtype: DType = None,
    neighbours: Annotated[
        int | None,
        typer.Option(
            "--neighbours",
            help="Training rows per neighbourhood, one size for every check "
            "(default: several sizes for not-identifiable, max(2n+2, 16) for "
            "far-from-data).",
        ),
    ] = None,
    rel_spread: Annotated[
        float,
        typer.Option(
            "--rel-spread",
            help="A spread across the data below this fraction of the spread "
            "along it counts as none (0 < value < 1).",
        ),
    ] = 0.05,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip the finite-difference check.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help='Print {"findings": [...]} as JSON on stdout.'),
    ] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Say when a partial is meaningless (data, activations, round-off) or wrong.

    Exit code 1 when any finding is an error (not-identifiable, fd-disagreement,
    nonfinite), else 0.
    """
    from wrt.checks import check
    from wrt.data import read_table
    from wrt.importers import load

    loaded = load(
        model, inputs=inputs, outputs=outputs, dtype=dtype, **load_options(module)
    )
    train = read_table(data, renames(rename)) if data is not None else None
    if train is not None:
        checked_table(train, data, "--data", loaded.inputs, "The training data")
    if points is not None:
        where = read_table(points, renames(rename))
        checked_table(where, points, "--points", loaded.inputs, "The points")
    elif train is not None:
        where = train
    else:
        raise typer.BadParameter("give --data TRAIN (and optionally --points PTS).")
    with compile_note(loaded, context):
        report = check(
            loaded,
            where,
            data=train,
            specs=spec,
            engine=engine,
            verify=not no_verify,
            neighbours=neighbours,
            rel_spread=rel_spread,
            compile=compile.value,
        )
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        console = Console()
        if not report.findings:
            console.print(
                "[green]No findings[/green]: nothing suggests these "
                "partials are meaningless."
            )
        for finding in report:
            where_specs = f" [{', '.join(finding.specs)}]" if finding.specs else ""
            console.print(
                f"[{STYLE[finding.severity]}]{finding.severity}[/] "
                f"[bold]{finding.code}[/bold]{escape(where_specs)}: "
                f"{escape(cli_words(finding.message))}",
                highlight=False,
            )
            hint = escape(cli_words(finding.hint))
            console.print(f"  [dim]hint:[/dim] {hint}", highlight=False)
    if report.has_errors:
        raise typer.Exit(EXIT_CHECK_FAILED)
