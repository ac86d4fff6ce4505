"""``wrt partials``: partial derivatives of a model file at the points of a table."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from wrt.cli.errors import reports_errors
from wrt.cli.options import (
    DType,
    Engine,
    Inputs,
    ModelPath,
    ModuleClass,
    Outputs,
    load_options,
)
from wrt.errors import DataError, OutputPathError, ResumeError, SpecError
from wrt.outputs import atomic_write, output_file, output_folder
from wrt.spec import format_spec, partials_up_to

EXAMPLES = """
Examples:

  wrt partials model.pt points.csv -d dy/dx1 -d d2y/dx1dx2 -o partials.csv

  wrt partials model.pt points.parquet --order 2 --inputs x,t -o out.parquet

  wrt partials model.pt points.csv -d d4u/dx^4 --dtype float64 --json
"""


@reports_errors
def partials_command(
    context: typer.Context,
    model: ModelPath,
    points: Annotated[
        Path, typer.Argument(help="Points: CSV, Parquet or JSON, a column per input.")
    ],
    spec: Annotated[
        list[str] | None,
        typer.Option(
            "--spec",
            "-d",
            metavar="SPEC",
            help="A partial, e.g. dy/dx1, d2y/dx1^2, d2y/dx1dx2; repeat for more.",
        ),
    ] = None,
    order: Annotated[
        int | None,
        typer.Option("--order", help="Every partial of every output up to this order."),
    ] = None,
    inputs: Inputs = None,
    outputs: Outputs = None,
    module: ModuleClass = None,
    engine: Engine = "auto",
    dtype: DType = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write .csv, .parquet or .json (default: CSV on stdout).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print JSON on stdout: a list of values per column."
        ),
    ] = False,
    chunk_size: Annotated[
        int,
        typer.Option("--chunk-size", help="Points per batch; bounds memory.", min=1),
    ] = 65536,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted run into the same -o file (Parquet/CSV); "
            "refused unless model, points, specs and options are the same.",
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing -o file (and an interrupted run's parts).",
        ),
    ] = False,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run on Ray Data (an actor pool; pip install 'wrt[ray]'): a local "
            "Ray instance, or the cluster of --ray-address.",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="The Ray cluster's head, e.g. HEAD:6379."),
    ] = None,
) -> None:
    """Compute partial derivatives at every row of POINTS.

    The output has the input columns, then one column per spec headed by the spec
    exactly as written. From a Parquet or CSV file to a Parquet or CSV file the
    rows are streamed in chunks of --chunk-size (memory stays bounded whatever the
    file's size) and an interrupted run can be continued with --resume.
    """
    import pandas as pd

    from wrt.cli.interrupt import interrupted
    from wrt.data import (
        TABLE_SUFFIXES,
        as_points,
        frame_to_json,
        read_table,
        with_missing,
        write_table,
    )
    from wrt.derivatives import partials
    from wrt.importers import load
    from wrt.sources import source_columns
    from wrt.streaming import CLI_NAMES, count_rows, partials_stream

    if resume and overwrite:
        raise ResumeError(
            "--resume continues a run and --overwrite starts afresh: give one of them."
        )
    if resume and output is None:
        raise ResumeError("--resume needs -o with a .parquet or .csv file, from one.")
    if as_json and output is not None:
        raise DataError(
            "--json prints the results and -o writes them to a file; give one of "
            "the two (for a JSON file: -o results.json).",
            hint="Drop --json, or drop -o.",
        )
    to_folder = bool(ray or ray_address) and output is not None and _is_folder(output)
    if output is not None and to_folder:
        _empty_folder(output, points, model)
    elif output is not None:
        output_file(
            output,
            option="-o",
            inputs=[points, model],
            suffixes=TABLE_SUFFIXES,
            overwrite=overwrite or resume,
            how_to_replace="--overwrite (or --resume to continue an interrupted run)",
        )
    loaded = load(
        model, inputs=inputs, outputs=outputs, dtype=dtype, **load_options(module)
    )
    specs: list[str] = list(spec or [])
    if order is not None:
        specs += [
            format_spec(p) for p in partials_up_to(order, loaded.inputs, loaded.outputs)
        ]
    if not specs:
        raise SpecError(
            "No derivative asked for. Give -d SPEC (e.g. -d dy/dx1) or --order K."
        )
    specs = list(dict.fromkeys(specs))
    if ray or ray_address:
        if resume:
            raise ResumeError(
                "--resume continues a local streamed run; a --ray run starts afresh. "
                "Drop --resume (with --overwrite to replace -o), or drop --ray."
            )
        if output is not None and (to_folder or _streamable(points, output)):
            source_columns(points, loaded.inputs)  # before Ray starts
        _on_ray(
            model,
            points,
            specs,
            output,
            ray_address,
            chunk_size,
            engine,
            dtype,
            {"inputs": inputs, "outputs": outputs, **load_options(module)},
        )
        return
    if output is not None and _streamable(points, output):
        total = count_rows(points)
        try:
            with _progress(total, chunk_size) as advance:
                partials_stream(
                    loaded,
                    points,
                    specs,
                    output,
                    chunk_size=chunk_size,
                    engine=engine,
                    resume=resume,
                    overwrite=overwrite,
                    on_chunk=advance,
                    names=CLI_NAMES,
                )
        except KeyboardInterrupt:
            interrupted(context, output)
        return
    if resume:
        raise ResumeError(
            "--resume needs -o with a .parquet or .csv file, from one (JSON is "
            "written whole, not streamed)."
        )
    table = read_table(points)
    x = as_points(table, loaded.inputs, dtype=loaded.dtype)
    try:
        with _progress(x.shape[0], chunk_size) as advance:
            result = partials(
                loaded, x, specs, engine=engine, chunk_size=chunk_size, on_chunk=advance
            )
    except KeyboardInterrupt:
        interrupted(context, None)
    frame = pd.concat(
        [table[list(loaded.inputs)].reset_index(drop=True), result.to_frame()], axis=1
    )
    if output is not None:
        atomic_write(output, lambda temporary: write_table(frame, temporary))
    elif as_json:
        sys.stdout.write(frame_to_json(frame) + "\n")
    else:
        with_missing(frame).to_csv(sys.stdout, index=False)


def _on_ray(model, points, specs, output, address, chunk_size, engine, dtype, load):
    """The same job on Ray Data; the output file is the same as a local run's."""
    from wrt import distributed  # Ray is optional: imported only here

    folder = output is not None and _is_folder(output)
    if output is None or not (folder or _streamable(points, output)):
        raise DataError(
            "--ray reads and writes files: give POINTS as .parquet/.csv and -o as "
            ".parquet/.csv, or -o as a folder (the workers write Parquet files "
            "into it)."
        )
    with distributed.session(address):
        dataset = distributed.partials(
            distributed.read(points),
            model,
            specs,
            batch_size=chunk_size,
            engine=engine,
            dtype=dtype,
            load_options=load,
        )
        if folder:
            distributed.write_folder(dataset, output)
        else:
            distributed.write(dataset, output, batch_size=chunk_size)


def _is_folder(output: Path) -> bool:
    """``-o`` names a folder: an existing one, or a name without a suffix."""
    return output.is_dir() or output.suffix == ""


def _empty_folder(output: Path, points: Path, model: Path | str) -> None:
    """A ``--ray`` output folder must be new or empty and not hold an input."""
    output_folder(output, option="-o", inputs=[points, model])
    if output.is_dir() and any(output.iterdir()):
        raise OutputPathError(
            f"-o {output} is a folder with files in it; the workers write Parquet "
            "files into a new or empty folder, and wrt never mixes them with yours. "
            "Give another folder name."
        )


def _streamable(points: Path, output: Path) -> bool:
    from wrt.streaming import STREAM_SUFFIXES

    suffixes = (points.suffix.lower(), output.suffix.lower())
    return all(s in STREAM_SUFFIXES for s in suffixes)


class _Speed(ProgressColumn):
    """Points per second so far."""

    def render(self, task) -> Text:
        speed = task.speed
        return Text(f"{speed:,.0f} points/s" if speed else "")


@contextmanager
def _progress(total: int | None, chunk_size: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr for runs of several chunks, if it is a terminal.

    Yields:
        ``advance(n)``, to call with the number of points done.
    """
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("partials"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        _Speed(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=(total is not None and total <= chunk_size) or not console.is_terminal,
    )
    task = bar.add_task("partials", total=total)
    with bar:
        yield lambda n: bar.advance(task, n)
