"""``wrt demo``: the seed problem end to end, as a table and an explanation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from wrt.cli.errors import reports_errors
from wrt.data import write_table
from wrt.demo import DemoResult, explanation, run_demo
from wrt.derivatives import partials
from wrt.seed_problem import DemoConfig, heldout_line, target_partials


@reports_errors
def demo_command(
    context: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also write the per-point partials as CSV here."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny sizes (about a second; poor fits).")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Initialisation seed.")] = 0,
) -> None:
    """Train the seed network on collinear and on grid data; compare its partials."""
    console = Console()
    config = DemoConfig.quick(seed) if quick else DemoConfig(seed=seed)
    console.print(
        "Training the seed network (2 inputs; Dense 64, 64, 32, 32, 16, 16, 8, tanh; "
        "1 output) on y = sin(x1) + cos(x2), twice ..."
    )
    start = time.perf_counter()
    collinear, grid = run_demo(config)
    console.print(_table([collinear, grid]))
    if quick:
        console.print(
            "[yellow]--quick trains far too little for these numbers to mean much; "
            "run without it for the real comparison.[/yellow]"
        )
    else:
        console.print(explanation(collinear, grid))
    console.print(f"[dim]Done in {time.perf_counter() - start:.1f} s.[/dim]")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / "partials_on_line.csv"
        write_table(_per_point([collinear, grid], config.n_eval), path)
        console.print(f"Per-point partials written to {path}")


def _table(results: list[DemoResult]) -> Table:
    table = Table(title="Errors (RMSE) at held-out points on the line x2 = 1.5 x1")
    for column in ("data", "points", "train s", "fit y", "dy/dx1", "dy/dx2", "along"):
        table.add_column(column, justify="right")
    for r in results:
        e = r.on_line
        table.add_row(
            r.name,
            str(r.n_train),
            f"{r.seconds:.1f}",
            f"{e.fit:.4f}",
            f"{e.d_x1:.4f}",
            f"{e.d_x2:.4f}",
            f"{e.along_line:.4f}",
        )
    table.caption = (
        "dy/dx1 vs cos(x1), dy/dx2 vs -sin(x2); 'along' is the derivative along "
        "(1, 1.5)/sqrt(3.25). The true partials have RMS about 0.71."
    )
    return table


def _per_point(results: list[DemoResult], n: int) -> pd.DataFrame:
    X = heldout_line(n)
    truth = target_partials(X)
    columns = {"x1": X[:, 0], "x2": X[:, 1], "cos(x1)": truth[:, 0]}
    columns["-sin(x2)"] = truth[:, 1]
    for r in results:
        P = partials(r.model, X, ["dy/dx1", "dy/dx2"])
        columns[f"{r.name} dy/dx1"] = P["dy/dx1"]
        columns[f"{r.name} dy/dx2"] = P["dy/dx2"]
    return pd.DataFrame({k: v.numpy() for k, v in columns.items()})
