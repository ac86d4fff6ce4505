"""Running a ``wrt train`` config: checked first, then trained, then written.

Checkpoints, ``--resume``, ``--overwrite``, Ctrl-C and divergence are handled here.

:func:`prepare` builds the model and its terms and checks the output folder (and
the checkpoint when resuming) without writing anything; :func:`run` trains and
writes the outputs (:mod:`wrt.training.outputs`). See
:mod:`wrt.training.config` for the file format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pandas as pd

from wrt.errors import NonFiniteLossError, TrainingInterrupted
from wrt.model import Model
from wrt.training.config import TrainConfig
from wrt.training.fitting import History, fit, world
from wrt.training.history import OptimizerState
from wrt.training.outputs import (
    check_folder,
    clear_folder,
    load_checkpoint,
    save_checkpoint,
    write_outputs,
)
from wrt.training.problem import name_terms
from wrt.training.terms import Term


def run(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    on_step: Callable[[int, float, list[float]], None] | None = None,
) -> tuple[Model, History]:
    """Train as the config says; write the outputs; return the model and history.

    Everything is checked before anything is written: the output folder (an
    earlier run there is refused unless ``overwrite`` or ``resume``), the model,
    every term against it, and the checkpoint when resuming.

    Raises:
        ConfigError: the folder, a term or the checkpoint does not fit.
        NonFiniteLossError: a loss became NaN or Inf.
        TrainingInterrupted: Ctrl-C; the last finite parameters are in the
            checkpoint, ``err.step`` is the step they reached.
    """
    folder = config.folder
    model, terms, columns, previous, done, saved = prepare(
        config, resume=resume, overwrite=overwrite
    )
    state = OptimizerState(saved=saved)
    writer = world()[0] == 0  # with several processes, rank 0 writes
    settings = dict(config.train)
    every = settings.pop("checkpoint_every", 0)
    steps = settings.pop("steps", 1000)
    optimizer = settings.pop("optimizer", "adam").strip().lower()
    lbfgs = settings.pop("lbfgs_steps", None)
    adam_steps, lbfgs_steps = _remaining(optimizer, steps, lbfgs, done)
    if writer:
        if overwrite:
            clear_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
    rows_so_far: list[list[float]] = list(previous)
    last = {"at": done}

    def callback(step: int, total: float, losses: list[float]) -> None:
        reached = done + step + 1
        rows_so_far.append([reached - 1, total, *losses])
        if on_step is not None:
            on_step(reached - 1, total, losses)
        if writer and every and reached // every > last["at"] // every:
            save_checkpoint(
                folder, model, rows_so_far, columns, reached, state.snapshot()
            )
            last["at"] = reached

    try:
        history = fit(
            model,
            terms,
            optimizer=optimizer if lbfgs_steps or adam_steps else "adam",
            steps=adam_steps if optimizer != "lbfgs" else lbfgs_steps,
            lbfgs_steps=lbfgs_steps,
            callback=callback,
            state=state,
            **settings,
        )
    except TrainingInterrupted as exc:
        frame = _joined(previous, exc.history.frame, done, columns)
        reached = _reached(frame, done)
        if writer:
            rows_kept = frame.values.tolist()
            save_checkpoint(folder, model, rows_kept, columns, reached, state.kept)
        raise TrainingInterrupted(
            f"Training interrupted at step {reached}: the model keeps the "
            f"parameters of step {reached} (the last completed step with a finite "
            f"loss), saved with the history in {folder / 'checkpoint.pt'}.",
            reached,
            dataclasses.replace(exc.history, frame=frame),
        ) from None
    except NonFiniteLossError as exc:
        frame = _joined(previous, exc.history.frame, done, columns)
        if writer:
            save_checkpoint(
                folder, model, frame.values.tolist(), columns, _reached(frame, done)
            )
        raise NonFiniteLossError(
            f"{exc} In the config: lower [train] lr, or check the term. The last "
            f"finite parameters and the history are in {folder / 'checkpoint.pt'}: "
            "continue from them with --resume, or start afresh with --overwrite.",
            exc.term,
            exc.step + done,
            exc.point,
            dataclasses.replace(exc.history, frame=frame),
        ) from None
    frame = _joined(previous, history.frame, done, columns)
    full = dataclasses.replace(history, frame=frame)
    if writer:
        reached = _reached(frame, done)
        try:
            rows_all = frame.values.tolist()
            save_checkpoint(folder, model, rows_all, columns, reached, state.snapshot())
            write_outputs(model, full, folder)
        except KeyboardInterrupt:
            raise TrainingInterrupted(
                f"Interrupted while writing the outputs after step {reached}; "
                f"{folder / 'checkpoint.pt'} holds the last checkpoint written: "
                "--resume continues from it and writes the outputs.",
                reached,
                full,
            ) from None
    return model, full


def prepare(
    config: TrainConfig, *, resume: bool = False, overwrite: bool = False
) -> tuple[Model, list[Term], list[str], list[list[float]], int, dict]:
    """Check everything a run needs, writing nothing.

    Returns:
        The model (with the checkpoint's parameters when resuming), its bound
        terms, the history's columns, the earlier rows, the steps done and the
        optimisers' saved state.

    Raises:
        ConfigError: the output folder, a term or the checkpoint does not fit.
    """
    model = config.build_model()
    terms = config.build_terms(model)
    columns = ["step", "loss", *name_terms(terms)]
    check_folder(config.folder, resume=resume, overwrite=overwrite)
    if not resume:
        return model, terms, columns, [], 0, {}
    state = load_checkpoint(config.folder, model, columns)
    previous = [list(row) for row in state["history"]]
    return model, terms, columns, previous, state["done"], state["optimizer"]


def _joined(
    previous: list[list[float]], frame: pd.DataFrame, done: int, columns: list[str]
) -> pd.DataFrame:
    """The rows of earlier runs and of this one (its steps shifted by ``done``)."""
    now = frame.copy()
    now.columns = columns
    now["step"] = now["step"] + done
    joined = (
        pd.concat([pd.DataFrame(previous, columns=columns), now]) if previous else now
    )
    joined = joined.reset_index(drop=True)
    joined["step"] = joined["step"].astype(int)
    return joined


def _reached(frame: pd.DataFrame, done: int) -> int:
    return int(frame["step"].iloc[-1]) + 1 if len(frame) else done


def _remaining(
    optimizer: str, steps: int, lbfgs: int | None, done: int
) -> tuple[int, int]:
    """Adam and L-BFGS steps left after ``done`` (Adam runs first)."""
    if optimizer == "adam+lbfgs":
        polish = lbfgs if lbfgs is not None else steps // 2
        adam_left = max(0, steps - done)
        lbfgs_left = polish - max(0, done - steps)
        return adam_left, max(0, lbfgs_left)
    if optimizer == "lbfgs":
        return 0, max(0, steps - done)
    return max(0, steps - done), 0
