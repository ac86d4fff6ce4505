"""``wrt sens``: how strongly the output depends on each input, over a data set."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
    OldOutputName,
    OutputName,
    Outputs,
    Ranges,
    Renames,
    Variances,
    compile_note,
    distribution,
    load_options,
    renames,
)
from wrt.cli.options import output_name as pick_output
from wrt.errors import NonFiniteWarning, SpecError
from wrt.outputs import output_folder

if TYPE_CHECKING:
    from wrt.sensitivity import Sensitivity

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
    output_name: OutputName = None,
    order: Annotated[
        int,
        typer.Option("--order", help="2 adds second-order interactions.", min=1, max=2),
    ] = 1,
    ranges: Ranges = None,
    variances: Variances = None,
    kind: Distribution = None,
    plots_dir: Annotated[
        Path | None, typer.Option("--plots", help="Write the figures (PNG) here.")
    ] = None,
    rename: Renames = None,
    inputs: Inputs = None,
    outputs: Outputs = None,
    module: ModuleClass = None,
    engine: Engine = "auto",
    compile: Compile = CompileChoice.auto,
    dtype: DType = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    old_output: OldOutputName = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Mean, std, rms and DGSM of each partial over the data (NeuralSens' measures).

    With --range, --variance or --distribution, an upper bound on each input's
    total Sobol' index (DGSM times the Poincare constant over the variance:
    Sobol' and Kucherenko); --order 2 adds the mean |second partial| of each pair.
    """
    from wrt import plots
    from wrt.data import json_text, read_table
    from wrt.importers import load
    from wrt.nonfinite import find_gap
    from wrt.sensitivity import sensitivity

    output = pick_output(output_name, old_output)
    if plots_dir is not None:
        output_folder(plots_dir, option="--plots", inputs=[model, data], files=FIGURES)
    loaded = load(
        model, inputs=inputs, outputs=outputs, dtype=dtype, **load_options(module)
    )
    if output is not None and output not in loaded.outputs:
        from wrt.names import did_you_mean

        raise SpecError(
            f"--output-name {output}: the model has no output {output!r}; its "
            f"outputs are {', '.join(loaded.outputs)}."
            f"{did_you_mean(output, loaded.outputs)}",
            hint=f"Give --output-name with one of the model's outputs, e.g. "
            f"--output-name {loaded.outputs[0]} (see them with wrt inspect MODEL; "
            "--outputs renames them).",
        )
    if output is None and len(loaded.outputs) > 1:
        raise SpecError(
            f"The model has {len(loaded.outputs)} outputs "
            f"({', '.join(loaded.outputs)}); say which one with --output-name NAME.",
            hint=f"e.g. --output-name {loaded.outputs[0]}",
        )
    with compile_note(loaded, context):
        table = read_table(data, renames(rename))
        low_high, spread = distribution(table, loaded.inputs, ranges, variances, kind)
        result = sensitivity(
            loaded,
            table,
            order=order,
            output=output,
            ranges=low_high,
            variances=spread,
            engine=engine,
            compile=compile.value,
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
    show(result)


def show(result: Sensitivity) -> None:
    """The measures as terminal tables: one row per input, then the interactions.

    A Sobol' bound above 1 is marked and explained (a total index is at most 1).
    """
    console = Console()
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
            escape(str(name)),
            *(f"{row[c]:.4g}" for c in ("mean", "std", "rms", "dgsm")),
            "" if math.isnan(bound) else f"{bound:.3g}" + (" *" if bound > 1 else ""),
        )
    console.print(table)
    above = [str(n) for n, b in zip(result.table.index, bounds, strict=True) if b > 1]
    if above:
        console.print(
            f"* {escape(', '.join(above))}: a bound above 1 says nothing (a total "
            "Sobol' index is at most 1); the DGSM bound is loose there, e.g. a "
            "distribution wider than the data or an output far from linear in that "
            "input.",
            highlight=False,
        )
    if result.interactions is not None:
        console.print(
            f"interactions of {escape(result.output)}: the mean |second partial| "
            "of each pair of inputs",
            highlight=False,
        )
        pairs = Table("input", *(escape(str(c)) for c in result.interactions.columns))
        for name, row in result.interactions.iterrows():
            pairs.add_row(escape(str(name)), *(f"{v:.4g}" for v in row))
        console.print(pairs)
