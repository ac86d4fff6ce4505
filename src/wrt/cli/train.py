"""``wrt train CONFIG.toml``: train a model on derivative terms from a config file."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from wrt.cli.command import Quiet, Verbose
from wrt.cli.errors import EXIT_BAD_INPUT, reports_errors
from wrt.cli.progress import progress
from wrt.errors import ConfigError, NonFiniteLossError, TrainingInterrupted
from wrt.outputs import output_folder

#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
_CONFIG_HINT = (
    "Every key and value of the config is checked; the format is in docs/guide.md "
    "(wrt train CONFIG.toml) and src/wrt/training/config.py."
)


@reports_errors
def train_command(
    context: typer.Context,
    config: Annotated[
        Path, typer.Argument(help="The TOML config (see docs/guide.md).")
    ],
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the folder's checkpoint.")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace an earlier run in the output folder."
        ),
    ] = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            help="Data-parallel processes (gloo); the points are shared out.",
            min=1,
        ),
    ] = 1,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Train the model of CONFIG: model.pt2, state_dict.pt, history.csv, loss.png.

    A folder holding an earlier run is refused unless --overwrite or --resume is
    given. Ctrl-C keeps the last finite parameters in the checkpoint, says the
    --resume command and exits 130.
    """
    try:
        _train(context, config, resume, overwrite, nproc)
    except ConfigError as exc:
        first, *rest = str(exc).split("\n")
        print(f"wrt: error: {' '.join(first.split())}", file=sys.stderr)
        for line in rest:  # an expression's text and the caret under the bad token
            print(f"  {line}", file=sys.stderr)
        hint = getattr(exc, "hint", None) or _CONFIG_HINT
        print(f"wrt: hint: {hint}", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except NonFiniteLossError as exc:
        print(f"wrt: error: {' '.join(str(exc).split())}", file=sys.stderr)
        print(
            "wrt: hint: A loss turned NaN or Inf: a smaller [train] lr, inputs and "
            "outputs of order 1, or a term without log/sqrt of negatives.",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except TrainingInterrupted as exc:
        command = f"wrt train {shlex.quote(str(config))} --resume"
        print(f"wrt: interrupted: {exc}", file=sys.stderr)
        print(f"wrt: continue with: {command}", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:
        said = (
            "wrt: interrupted before training started; nothing was written."
            if nproc == 1
            else "wrt: interrupted; the output folder keeps the checkpoints written "
            f"so far: wrt train {shlex.quote(str(config))} --resume continues."
        )
        print(said, file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _train(
    context: typer.Context, config: Path, resume: bool, overwrite: bool, nproc: int
) -> None:
    from wrt.training.config import TrainConfig
    from wrt.training.distributed import init_from_environment, launch
    from wrt.training.runner import prepare, run

    parsed = TrainConfig.read(config)
    output_folder(parsed.folder, option="[output] folder", inputs=[config])
    if nproc > 1:
        prepare(
            parsed, resume=resume, overwrite=overwrite
        )  # refuse here, not in a worker
        launch(config, nproc, resume, overwrite)
        typer.echo(f"trained in {nproc} processes; outputs in {parsed.folder}")
        return
    init_from_environment()  # under torchrun: join its process group
    total = parsed.train.get("steps", 1000)
    if parsed.train.get("optimizer", "adam").strip().lower() == "adam+lbfgs":
        total += parsed.train.get("lbfgs_steps", total // 2)
    with progress(context, "train", total, "steps") as tracker:

        def on_step(step: int, loss: float, losses: list[float]) -> None:
            terms = " ".join(f"{v:.2e}" for v in losses)
            tracker.update(step + 1, f"loss {loss:.3e} [{terms}]")

        _, history = run(parsed, resume=resume, overwrite=overwrite, on_step=on_step)
    final = history.final
    compiled = (
        f", of which compiling the step {history.compile_seconds:.1f} s"
        if history.compiled
        else ""
    )
    typer.echo(
        f"trained {history.steps} steps ({history.optimizer}, "
        f"{history.seconds:.1f} s{compiled}); "
        f"final loss {final['loss']:.3e}; outputs in {parsed.folder}"
    )
