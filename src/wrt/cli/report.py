"""``wrt report``: model summary, checks, sensitivities and figures in one file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wrt.cli.check import TrainData
from wrt.cli.errors import reports_errors
from wrt.cli.options import (
    Engine,
    Inputs,
    ModelPath,
    ModuleClass,
    Outputs,
    load_options,
)
from wrt.errors import DataError
from wrt.outputs import output_file


@reports_errors
def report_command(
    context: typer.Context,
    model: ModelPath,
    data: TrainData = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The report file.")
    ] = None,
    format: Annotated[
        str, typer.Option("--format", help="html (one file) or md (plus PNGs).")
    ] = "html",
    inputs: Inputs = None,
    outputs: Outputs = None,
    module: ModuleClass = None,
    engine: Engine = "auto",
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace an existing -o file that is not a report."
        ),
    ] = False,
) -> None:
    """Write a report: model, check findings, sensitivity tables and figures.

    An earlier wrt report at -o is replaced (a build replaces its products); any
    other existing file is kept unless --overwrite is given, and the suffix must
    fit --format (.html or .htm; .md or .markdown).
    """
    from wrt.data import read_table
    from wrt.importers import load
    from wrt.report import FORMATS, build_report

    if format not in FORMATS:
        raise DataError(
            f"Unknown report format {format!r}; use html or md.",
            hint="--format html writes one file; --format md a page and its PNGs.",
        )
    if data is None:
        raise typer.BadParameter(
            "give --data TRAIN: the inputs the model was trained on."
        )
    target = output or Path(f"report.{format}")
    path = output_file(
        target,
        option="-o",
        inputs=[model, data],
        suffixes=_SUFFIXES[format],
        overwrite=overwrite or _earlier_report(target),
    )
    loaded = load(model, inputs=inputs, outputs=outputs, **load_options(module))
    report = build_report(loaded, read_table(data), engine=engine)
    report.write(path, format)
    typer.echo(f"wrote {path}")


#: The suffixes each --format may write.
_SUFFIXES = {"html": (".html", ".htm"), "md": (".md", ".markdown")}


def _earlier_report(path: Path) -> bool:
    """Whether ``path`` is a report wrt wrote (its stamp near the top; read only)."""
    if not path.is_file():
        return False
    with path.open("rb") as file:
        head = file.read(16384).decode("utf-8", errors="replace")
    return "Written by wrt " in head
