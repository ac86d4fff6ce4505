"""``wrt demo``: the seed problem end to end: tables, checks, a report per model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from wrt.cli.command import Quiet, Verbose
from wrt.cli.errors import reports_errors
from wrt.errors import OutputPathError
from wrt.outputs import output_folder

if TYPE_CHECKING:  # imported when the demo runs: --help stays without torch
    import pandas as pd

    from wrt.demo import DemoResult, DifferenceChecks

#: The files ``wrt demo`` writes into its ``--out`` folder.
DEMO_FILES = ["partials_on_line.csv", "report-collinear.html", "report-grid.html"]


@reports_errors
def demo_command(
    context: typer.Context,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for the reports (HTML, figures embedded) and the per-point "
            "partials (CSV).",
        ),
    ] = Path("wrt-demo"),
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny sizes (about a second; poor fits).")
    ] = False,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, max=2**63 - 1, help="Initialisation seed."),
    ] = 0,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Train the seed network on collinear and on grid data; compare its partials."""
    from wrt.data import write_table
    from wrt.demo import DemoConfig, difference_checks, explanation, run_demo

    output_folder(out, option="--out", files=DEMO_FILES)
    keep_users_files(out)
    console = Console()
    config = DemoConfig.quick(seed) if quick else DemoConfig(seed=seed)
    console.print(
        "Training the seed network (2 inputs; Dense 64, 64, 32, 32, 16, 16, 8, tanh; "
        "1 output) on y = sin(x1) + cos(x2), twice ..."
    )
    start = time.perf_counter()
    collinear, grid = run_demo(config)
    console.print(_table([collinear, grid]))
    for result in (collinear, grid):
        _print_check(console, result)
    console.print(_difference_table(difference_checks(collinear.model)))
    if quick:
        console.print(
            "[yellow]--quick trains far too little for these numbers to mean much; "
            "run without it for the real comparison.[/yellow]"
        )
    else:
        console.print(explanation(collinear, grid))
    out.mkdir(parents=True, exist_ok=True)
    path = out / "partials_on_line.csv"
    write_table(_per_point([collinear, grid], config.n_eval), path)
    for result in (collinear, grid):
        _write_report(result, out / f"report-{result.name}.html")
    console.print(
        f"Reports written to {out}/report-collinear.html and report-grid.html; "
        f"per-point partials to {path}"
    )
    console.print(f"[dim]Done in {time.perf_counter() - start:.1f} s.[/dim]")


def keep_users_files(out: Path) -> None:
    """Refuse, before any training, to overwrite files that wrt demo did not write.

    The demo writes :data:`DEMO_FILES` into ``out``. A file of one of those names
    that an earlier ``wrt demo`` wrote (recognised by its content: the CSV's header,
    the report's title) is replaced; any other is the user's and is kept.

    Raises:
        OutputPathError: ``out`` holds such a file of the user's.
    """
    if not out.is_dir():
        return  # created when the results are written (other checks: wrt.outputs)
    theirs = [name for name in DEMO_FILES if (out / name).exists()]
    theirs = [name for name in theirs if not _written_by_demo(out / name)]
    if theirs:
        raise OutputPathError(
            f"--out {out} already holds {', '.join(theirs)}, which wrt demo did not "
            "write and would overwrite; give another --out folder (it is created if "
            "missing) or move those files."
        )


def _written_by_demo(path: Path) -> bool:
    """Whether ``path`` is one of the demo's own outputs (read, never executed)."""
    if not path.is_file():
        return False
    with path.open("rb") as file:
        head = file.read(4096).decode("utf-8", errors="replace")
    if path.suffix == ".csv":
        return head.splitlines()[:1] == [",".join(_PER_POINT_COLUMNS)]
    name = path.stem.removeprefix("report-")
    return f"<title>wrt demo: the {name} model</title>" in head


#: The header of partials_on_line.csv.
_PER_POINT_COLUMNS = ["x1", "x2", "cos(x1)", "-sin(x2)"] + [
    f"{name} dy/dx{i}" for name in ("collinear", "grid") for i in (1, 2)
]


def _print_check(console: Console, result: DemoResult) -> None:
    """What wrt.check says about one model, in a few lines."""
    findings = [f for f in result.check if f.severity != "info"]
    if not findings:
        console.print(
            f"[green]wrt check ({result.name} model, its own training data)[/green]: "
            "no findings; the data determines every first partial."
        )
        return
    console.print(
        f"[bold]wrt check ({result.name} model, its own training data)[/bold]:"
    )
    for f in findings:
        console.print(
            f"  [red]{f.severity}[/red] {f.code} {escape(_specs(f.specs))}: "
            f"{escape(f.message)}",
            highlight=False,
        )


def _specs(specs: list[str]) -> str:
    return f"[{', '.join(specs)}]" if specs else ""


def _difference_table(d: DifferenceChecks) -> Table:
    table = Table(title="Checking dy/dx1 of the collinear model by differences")
    table.add_column("difference quotient")
    table.add_column("compared with")
    table.add_column("RMS difference", justify="right")
    table.add_row(
        "np.diff(y) / 0.01 (the seed's check)", "dy/dx1", f"{d.user_quotient:.3f}"
    )
    table.add_row(
        "np.diff(y) / |step along the line|",
        "derivative along the line",
        f"{d.line_quotient:.2e}",
    )
    table.add_row("wrt finite_diff along x1", "dy/dx1", f"{d.fd_x1:.1e}")
    table.caption = (
        f"The points are {d.spacing:.5f} apart in x1, not 0.01, and consecutive "
        "points differ along the line, not along x1."
    )
    return table


def _write_report(result: DemoResult, path: Path) -> None:
    from wrt.report import build_report  # matplotlib, only when writing

    notes = [
        f"The seed network trained on {result.n_train} {result.name} points "
        "(y = sin(x1) + cos(x2)); checked at its training points."
    ]
    build_report(
        result.model,
        result.train_inputs,
        title=f"wrt demo: the {result.name} model",
        notes=notes,
    ).write(path)


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
    import pandas as pd

    from wrt.demo import heldout_line, target_partials
    from wrt.derivatives import partials

    X = heldout_line(n)
    truth = target_partials(X)
    columns = {"x1": X[:, 0], "x2": X[:, 1], "cos(x1)": truth[:, 0]}
    columns["-sin(x2)"] = truth[:, 1]
    for r in results:
        P = partials(r.model, X, ["dy/dx1", "dy/dx2"])
        columns[f"{r.name} dy/dx1"] = P["dy/dx1"]
        columns[f"{r.name} dy/dx2"] = P["dy/dx2"]
    return pd.DataFrame({k: v.numpy() for k, v in columns.items()})
