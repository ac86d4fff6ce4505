"""``wrt bench``: the side-by-side benchmarks of ``bench/``, from a source checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from wrt.cli.command import Quiet, Verbose
from wrt.cli.errors import reports_errors
from wrt.errors import WrtError


@reports_errors
def bench_command(
    context: typer.Context,
    quick: Annotated[
        bool, typer.Option("--quick", help="Seed network only, few repeats (~1 min).")
    ] = False,
    write: Annotated[
        Path | None, typer.Option("--write", help="Write the markdown tables here.")
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Time the engines against their peers, side by side in one run; print ratios."""
    script = Path(__file__).resolve().parents[3] / "bench" / "bench_engines.py"
    if not script.exists():
        raise WrtError(
            "wrt bench runs the benchmarks of a source checkout (bench/), which this "
            "installation lacks. Clone the repository and run it there."
        )
    command = [sys.executable, str(script)]
    if quick:
        command.append("--quick")
    if write is not None:
        command += ["--write", str(write)]
    raise typer.Exit(subprocess.run(command, check=False).returncode)
