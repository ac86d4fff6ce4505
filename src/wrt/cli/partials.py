"""``wrt partials``: partial derivatives of a model file at the points of a table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from wrt.cli.command import Quiet, Verbose, note, verbosity
from wrt.cli.errors import reports_errors
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
    compile_note,
    load_options,
    renames,
)
from wrt.cli.progress import progress
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
    compile: Compile = CompileChoice.auto,
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
    rename: Renames = None,
    keep: Annotated[
        str | None,
        typer.Option(
            "--keep",
            metavar="COL,...|all",
            help="Copy these columns of POINTS (ids, labels) into the output after "
            "the inputs, row for row; 'all': every column that is not an input.",
        ),
    ] = None,
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
    row_id: Annotated[
        str | None,
        typer.Option(
            "--row-id",
            help="With --ray and -o FOLDER: the name of the row-id column (each "
            "row's index in POINTS, int64) that keeps the order [default: row].",
            show_default=False,
        ),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
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
    from wrt.distributed_read import check_row_id
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
    if row_id is not None and not to_folder:
        raise DataError(
            "--row-id names the row-id column of a --ray run into a folder; this "
            "run writes no row-id column.",
            hint="Drop --row-id, or add --ray with -o FOLDER.",
        )
    row_id = "row" if row_id is None else row_id
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
        if rename:
            raise DataError(
                "--rename is not available with --ray yet.",
                hint="Drop --rename (rename the columns in the file), or drop --ray.",
            )
        if keep:
            raise DataError(
                "--keep is not available with --ray yet: the workers write the "
                "inputs and the partials only.",
                hint="Drop --keep (join the columns afterwards on the row order), "
                "or drop --ray.",
            )
        if resume:
            raise ResumeError(
                "--resume continues a local streamed run; a --ray run starts afresh. "
                "Drop --resume (with --overwrite to replace -o), or drop --ray."
            )
        if output is not None and (to_folder or _streamable(points, output)):
            columns = source_columns(points, loaded.inputs)  # before Ray starts
            if to_folder:
                check_row_id(row_id, [*columns, *specs], of="the points and specs",
                             option="--row-id")  # fmt: skip
        _on_ray(
            model,
            points,
            specs,
            output,
            ray_address,
            {
                "batch_size": chunk_size,
                "engine": engine,
                "dtype": dtype,
                "load_options": {
                    "inputs": inputs,
                    "outputs": outputs,
                    **load_options(module),
                },
            },
            row_id,
            verbose=verbosity(context) > 0,
        )
        return
    if output is not None and _streamable(points, output):
        columns = source_columns(points, loaded.inputs, renames(rename))
        kept = _kept(context, columns, loaded.inputs, keep, specs)
        total = count_rows(points)
        try:
            with (
                progress(
                    context,
                    "partials",
                    total,
                    "points",
                    worth_a_bar=total is None or total > chunk_size,
                ) as tracker,
                compile_note(loaded, context),
            ):
                partials_stream(
                    loaded,
                    points,
                    specs,
                    output,
                    chunk_size=chunk_size,
                    engine=engine,
                    resume=resume,
                    overwrite=overwrite,
                    on_chunk=tracker.advance,
                    names=CLI_NAMES,
                    keep=kept,
                    rename=renames(rename),
                    compile=compile.value,
                )
            _say_left_out(context, columns, loaded.inputs, keep)
        except KeyboardInterrupt:
            interrupted(context, output)
        return
    if resume:
        raise ResumeError(
            "--resume needs -o with a .parquet or .csv file, from one (JSON is "
            "written whole, not streamed)."
        )
    table = read_table(points, renames(rename))
    x = as_points(table, loaded.inputs, dtype=loaded.dtype)
    kept = _kept(context, list(table.columns), loaded.inputs, keep, specs)
    try:
        with progress(
            context, "partials", x.shape[0], "points",
            worth_a_bar=x.shape[0] > chunk_size,
        ) as tracker, compile_note(loaded, context):  # fmt: skip
            result = partials(
                loaded,
                x,
                specs,
                engine=engine,
                chunk_size=chunk_size,
                on_chunk=tracker.advance,
                compile=compile.value,
            )
    except KeyboardInterrupt:
        interrupted(context, None)
    frame = pd.concat(
        [
            table[list(loaded.inputs)].reset_index(drop=True),
            table[kept].reset_index(drop=True),
            result.to_frame(),
        ],
        axis=1,
    )
    if output is not None:
        atomic_write(output, lambda temporary: write_table(frame, temporary))
    elif as_json:
        sys.stdout.write(frame_to_json(frame) + "\n")
    else:
        with_missing(frame).to_csv(sys.stdout, index=False)
    _say_left_out(context, list(table.columns), loaded.inputs, keep)


def _kept(
    context: typer.Context,
    columns: list[str],
    inputs: tuple[str, ...],
    keep: str | None,
    specs: list[str],
) -> list[str]:
    """The --keep columns (none without --keep)."""
    from wrt.data import kept_columns

    kept = kept_columns(columns, inputs, keep, option="--keep")
    clash = [name for name in kept if name in specs]
    if clash:
        raise DataError(
            f"--keep copies the column {clash[0]!r}, and -d computes a column of "
            "that name; the output cannot hold both.",
            hint="Rename the column in the points, or leave it out of --keep.",
        )
    return kept


def _say_left_out(
    context: typer.Context,
    columns: list[str],
    inputs: tuple[str, ...],
    keep: str | None,
) -> None:
    """Without --keep, a note names the columns of the points not copied."""
    left = [str(c) for c in columns if str(c) not in inputs]
    if keep is not None or not left:
        return
    one = len(left) == 1
    example = ",".join(left) if len(left) < 4 else "all"
    note(
        context,
        f"{'the column' if one else 'the columns'} "
        f"{', '.join(repr(c) for c in left)} of the points {'is' if one else 'are'} "
        f"not copied into the output; --keep {example} copies them.",
    )


def _on_ray(model, points, specs, output, address, options, row_id, verbose=False):
    """The same job on Ray Data: a file equal to a local run's, or a folder."""
    from wrt import distributed  # Ray is optional: imported only here

    folder = output is not None and _is_folder(output)
    if output is None or not (folder or _streamable(points, output)):
        raise DataError(
            "--ray reads and writes files: give POINTS as .parquet/.csv and -o as "
            ".parquet/.csv, or -o as a folder (the workers write Parquet files "
            "into it)."
        )
    distributed.write_partials(
        model, points, specs, output, address=address,
        row_id=row_id if folder else None, verbose=verbose, **options,
    )  # fmt: skip


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
