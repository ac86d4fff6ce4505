"""``wrt report``: model summary, checks, sensitivities and figures in one file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wrt.cli.check import CheckPoints, CheckSpecs, TrainData
from wrt.cli.command import Quiet, Verbose
from wrt.cli.errors import reports_errors
from wrt.cli.options import (
    Compile,
    CompileChoice,
    Distribution,
    DType,
    Engine,
    Inputs,
    ModelPath,
    ModuleClass,
    Outputs,
    Ranges,
    Renames,
    Variances,
    checked_table,
    compile_note,
    distribution,
    load_options,
    renames,
)
from wrt.errors import DataError
from wrt.outputs import output_file


@reports_errors
def report_command(
    context: typer.Context,
    model: ModelPath,
    data: TrainData = None,
    points: CheckPoints = None,
    spec: CheckSpecs = None,
    ranges: Ranges = None,
    variances: Variances = None,
    kind: Distribution = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The report file (default: report.html).",
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="html (one file) or md (plus PNGs); default: from the -o suffix.",
        ),
    ] = None,
    rename: Renames = None,
    inputs: Inputs = None,
    outputs: Outputs = None,
    module: ModuleClass = None,
    engine: Engine = "auto",
    dtype: DType = None,
    compile: Compile = CompileChoice.auto,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace an existing -o file that is not a report."
        ),
    ] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Write a report: model, check findings, sensitivity tables and figures.

    Takes what check and sens take: --data, --points and -d say where and what to
    check; --range, --variance and --distribution give the Sobol' bounds.

    An earlier wrt report at -o is replaced (a build replaces its products); any
    other existing file is kept unless --overwrite is given, and the suffix must
    fit --format (.html or .htm; .md or .markdown).
    """
    from wrt.data import read_table
    from wrt.importers import load
    from wrt.report import build_report

    # without --format every suffix is open, so a refusal lists them all
    given, format = format, _format(format, output)
    suffixes = _SUFFIXES[format] if given else _ALL_SUFFIXES
    if data is None:
        raise typer.BadParameter(
            "give --data TRAIN: the inputs the model was trained on."
        )
    target = output or Path(f"report.{format}")
    replace = overwrite or _earlier_report(target)
    path = output_file(
        target,
        option="-o",
        inputs=[model, data],
        suffixes=suffixes,
        overwrite=replace,
    )
    if format == "md" and not replace:
        _no_figures_there(path)
    loaded = load(
        model, inputs=inputs, outputs=outputs, dtype=dtype, **load_options(module)
    )
    with compile_note(loaded, context):
        table = read_table(data, renames(rename))
        checked_table(table, data, "--data", loaded.inputs, "The training data")
        low_high, spread = distribution(table, loaded.inputs, ranges, variances, kind)
        report = build_report(
            loaded,
            table,
            points=read_table(points, renames(rename)) if points is not None else None,
            specs=spec,
            engine=engine,
            ranges=low_high,
            variances=spread,
            compile=compile.value,
        )
    report.write(path, format)
    typer.echo(f"wrote {path}")


#: The suffixes each --format may write.
_SUFFIXES = {"html": (".html", ".htm"), "md": (".md", ".markdown")}
_ALL_SUFFIXES = tuple(s for pair in _SUFFIXES.values() for s in pair)


def _format(given: str | None, output: Path | None) -> str:
    """The report's format: --format, else the one of the -o suffix, else html.

    Raises:
        DataError: an unknown format, or one the -o suffix does not fit.
    """
    by_suffix = next(
        (f for f, s in _SUFFIXES.items() if output and output.suffix.lower() in s),
        None,
    )
    if given is None:
        return by_suffix or "html"
    from wrt.report import FORMATS

    format = given.strip().lower()
    if format not in FORMATS:
        raise DataError(
            f"Unknown report format {given!r}; use html or md.",
            hint="--format html writes one file; --format md a page and its PNGs.",
        )
    if output is not None and by_suffix != format:
        raise DataError(
            f"--format {format} does not fit -o {output}: a {format} report is "
            f"written to a {' or '.join(_SUFFIXES[format])} file.",
            hint=f"Give -o with one of {', '.join(_SUFFIXES[format])}, or drop "
            "--format (it follows the -o suffix).",
        )
    return format


def _no_figures_there(page: Path) -> None:
    """Refuse when files named like the Markdown page's PNGs exist already.

    The md format writes ``STEM-figureN.png`` beside the page; existing ones (not
    from an earlier report at -o) are kept unless --overwrite is given, like -o.

    Raises:
        OutputPathError: such files exist; the message names them.
    """
    import glob
    import re

    from wrt.errors import OutputPathError

    name = re.compile(re.escape(page.stem) + r"-figure\d+\.png")
    folder = page.parent
    found = folder.glob(f"{glob.escape(page.stem)}-figure*.png")
    there = sorted(p.name for p in found if name.fullmatch(p.name))
    if there:
        raise OutputPathError(
            f"-o {page} would write its figures over existing files "
            f"{', '.join(there)} (in {folder}); they are not replaced unless you "
            "pass --overwrite. Or give another file name.",
            hint="A Markdown report writes STEM-figureN.png beside -o STEM.md; "
            "pass --overwrite, or give -o a name whose figures are free.",
        )


def _earlier_report(path: Path) -> bool:
    """Whether ``path`` is a report wrt wrote (its stamp near the top; read only)."""
    if not path.is_file():
        return False
    with path.open("rb") as file:
        head = file.read(16384).decode("utf-8", errors="replace")
    return "Written by wrt " in head
