"""``wrt sens``: how strongly the output depends on each input, over a data set."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

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
from wrt.errors import DataError, NonFiniteWarning, SpecError
from wrt.outputs import output_folder

FIGURES = [
    f"{name}.png"
    for name in ("importance", "mean_sd", "partials_vs_inputs", "interactions")
]


@reports_errors
def sens_command(
    context: typer.Context,
    model: ModelPath,
    data: Annotated[
        Path,
        typer.Option("--data", help="Points sampling the inputs: CSV, Parquet, JSON."),
    ],
    output: Annotated[
        str | None, typer.Option("--output", help="Which output (multi-output models).")
    ] = None,
    order: Annotated[
        int,
        typer.Option("--order", help="2 adds second-order interactions.", min=1, max=2),
    ] = 1,
    ranges: Annotated[
        list[str] | None,
        typer.Option(
            "--range",
            metavar="NAME=LOW:HIGH",
            help="An input uniform on [LOW, HIGH] (gives the Sobol' bound); repeat.",
        ),
    ] = None,
    plots_dir: Annotated[
        Path | None, typer.Option("--plots", help="Write the figures (PNG) here.")
    ] = None,
    inputs: Inputs = None,
    outputs: Outputs = None,
    module: ModuleClass = None,
    engine: Engine = "auto",
    dtype: DType = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Mean, std, rms and DGSM of each partial over the data (NeuralSens' measures)."""
    from wrt import plots
    from wrt.data import json_text, read_table
    from wrt.importers import load
    from wrt.nonfinite import find_gap
    from wrt.sensitivity import sensitivity

    if plots_dir is not None:
        output_folder(plots_dir, option="--plots", inputs=[model, data], files=FIGURES)
    loaded = load(
        model, inputs=inputs, outputs=outputs, dtype=dtype, **load_options(module)
    )
    if output is None and len(loaded.outputs) > 1:
        raise SpecError(
            f"The model has {len(loaded.outputs)} outputs "
            f"({', '.join(loaded.outputs)}); say which one with --output NAME.",
            hint=f"e.g. --output {loaded.outputs[0]}",
        )
    result = sensitivity(
        loaded,
        read_table(data),
        order=order,
        output=output,
        ranges=_ranges(ranges or []),
        engine=engine,
    )
    gap = find_gap(
        f"d{result.output}/dx", result.gradients, result.points, result.inputs
    )
    if gap is not None:
        warnings.warn(
            f"{gap}; the measures that include those points are not finite. See "
            "where and why with: wrt check MODEL --data DATA.",
            NonFiniteWarning,
            stacklevel=1,
        )
    if plots_dir is not None:
        plots_dir.mkdir(parents=True, exist_ok=True)
        figures = {
            "importance": plots.importance_bars(result),
            "mean_sd": plots.mean_sd_scatter(result),
            "partials_vs_inputs": plots.derivative_vs_input(result),
        }
        if result.interactions is not None:
            figures["interactions"] = plots.interaction_heatmap(result)
        for name, fig in figures.items():
            fig.savefig(plots_dir / f"{name}.png", dpi=130)
    if as_json:
        typer.echo(json_text(result.to_dict(), indent=2))
        return
    table = Table(
        "input",
        "mean",
        "std",
        "rms",
        "DGSM",
        "Sobol total <=",
        title=f"sensitivity of {result.output} ({result.points.shape[0]} points)",
    )
    bounds = result.table["sobol_total_bound"].to_numpy(dtype=float)
    for (name, row), bound in zip(result.table.iterrows(), bounds, strict=True):
        table.add_row(
            str(name),
            *(f"{row[c]:.4g}" for c in ("mean", "std", "rms", "dgsm")),
            "" if math.isnan(bound) else f"{bound:.3g}",
        )
    Console().print(table)


def _ranges(items: list[str]) -> dict[str, tuple[float, float]]:
    out = {}
    for item in items:
        name, _, bounds = item.partition("=")
        low, _, high = bounds.partition(":")
        try:
            out[name.strip()] = (float(low), float(high))
        except ValueError:
            raise DataError(
                f"--range {item!r}: write NAME=LOW:HIGH, e.g. x1=0:1."
            ) from None
    return out
