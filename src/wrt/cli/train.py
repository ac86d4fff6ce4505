"""``wrt train CONFIG.toml``: train a model on derivative terms from a config file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from wrt.cli.errors import reports_errors
from wrt.outputs import output_folder
from wrt.training.config import TrainConfig, run
from wrt.training.distributed import init_from_environment, launch


@reports_errors
def train_command(
    context: typer.Context,
    config: Annotated[
        Path, typer.Argument(help="The TOML config (see docs/guide.md).")
    ],
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the folder's checkpoint.")
    ] = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            help="Data-parallel processes (gloo); the points are shared out.",
            min=1,
        ),
    ] = 1,
) -> None:
    """Train the model of CONFIG: model.pt2, state_dict.pt, history.csv, loss.png."""
    parsed = TrainConfig.read(config)
    output_folder(parsed.folder, option="[output] folder", inputs=[config])
    if nproc > 1:
        launch(config, nproc, resume)
        typer.echo(f"trained in {nproc} processes; outputs in {parsed.folder}")
        return
    init_from_environment()  # under torchrun: join its process group
    console = Console(stderr=True)
    total = int(parsed.train.get("steps", 1000))
    if parsed.train.get("optimizer") == "adam+lbfgs":
        total += int(parsed.train.get("lbfgs_steps", total // 2))
    bar = Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=console,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task("", total=total)

        def on_step(step: int, loss: float, losses: list[float]) -> None:
            terms = " ".join(f"{v:.2e}" for v in losses)
            bar.update(
                task, completed=step + 1, description=f"loss {loss:.3e} [{terms}]"
            )

        model, history = run(parsed, resume=resume, on_step=on_step)
    final = history.final
    typer.echo(
        f"trained {len(history.frame)} steps ({history.optimizer}, "
        f"{history.seconds:.1f} s); "
        f"final loss {final['loss']:.3e}; outputs in {parsed.folder}"
    )
