"""The output folder of ``wrt train``: checked before training, written after.

A run writes :data:`RUN_FILES` into its folder. Before anything is computed,
:func:`check_folder` makes sure the folder can be made and written, and refuses a
folder that holds an earlier run unless the user asked to replace it
(``--overwrite``) or to continue it (``--resume``); nothing is written on refusal.
Checkpoints are written atomically (a temporary file renamed over the old one), so
an interrupt never leaves a torn checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from wrt.errors import ConfigError
from wrt.model import Model
from wrt.training.history import History

_HINT = (
    "A run writes its folder whole: --overwrite replaces an earlier run, --resume "
    "continues it from checkpoint.pt; [output] folder picks another folder."
)

RUN_FILES = ("model.pt2", "state_dict.pt", "history.csv", "loss.png", "checkpoint.pt")
CHECKPOINT = "checkpoint.pt"


def check_folder(folder: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse an output folder that cannot be written or holds an earlier run.

    Raises:
        ConfigError: the folder is a file or lies under one, cannot be written, holds
            an earlier run (without ``overwrite`` or ``resume``), or has no
            checkpoint to resume from.
    """
    if resume and overwrite:
        raise _error(
            "--resume continues the run in the output folder and --overwrite "
            "replaces it: give one of them."
        )
    if folder.exists() and not folder.is_dir():
        raise _error(
            f"output.folder: {folder} is a file, not a folder; set [output] folder "
            "to a folder (it is made if needed)."
        )
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise _error(
            f"output.folder: {folder} lies under {ancestor}, which is a file; set "
            "[output] folder to a path inside a folder."
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise _error(
            f"output.folder: {ancestor} cannot be written (permission denied); set "
            "[output] folder to a folder you can write."
        )
    earlier = [name for name in RUN_FILES if (folder / name).exists()]
    if resume:
        if not (folder / CHECKPOINT).is_file():
            raise _error(
                f"--resume: no checkpoint in {folder}; train without --resume first."
            )
    elif earlier and not overwrite:
        raise _error(
            f"output.folder: {folder} holds an earlier run ({', '.join(earlier)}); "
            "nothing was written. Pass --overwrite to replace it, --resume to "
            "continue it, or set [output] folder to a new folder."
        )


def clear_folder(folder: Path) -> None:
    """Remove an earlier run's files (asked for with ``--overwrite``)."""
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)


def save_checkpoint(
    folder: Path,
    model: Model,
    rows: list,
    columns: list,
    done: int,
    optimizer: dict[str, dict] | None = None,
) -> None:
    """Write the checkpoint atomically.

    It holds the parameters, the history rows, the steps done and the optimisers'
    state (empty: the optimisers start afresh on resume).
    """
    state = {
        "model": model.module.state_dict(),
        "history": [[float(v) for v in row] for row in rows],
        "columns": list(columns),
        "done": done,
        "optimizer": optimizer or {},
    }
    path = folder / CHECKPOINT
    partial = folder / (CHECKPOINT + ".tmp")
    try:
        torch.save(state, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load_checkpoint(folder: Path, model: Model, columns: list[str]) -> dict[str, Any]:
    """The checkpoint of ``folder``, its parameters loaded into ``model``.

    Raises:
        ConfigError: the checkpoint is unreadable or was written for other terms or
            another model.
    """
    path = folder / CHECKPOINT
    try:
        state = torch.load(path, weights_only=True)
        saved = list(state["columns"])
        done = int(state["done"])
        history = state["history"]
        optimizer = dict(state.get("optimizer", {}))
    except Exception as exc:  # a damaged or foreign file: say so, never crash
        raise _error(
            f"--resume: {path} is not a readable wrt checkpoint ({exc}); train "
            "with --overwrite to start afresh."
        ) from None
    if saved != list(columns):
        raise _error(
            f"--resume: {path} was written for the terms {saved[2:]}, not "
            f"{list(columns)[2:]}; resume with the config that wrote it, or train "
            "with --overwrite to start afresh."
        )
    try:
        model.module.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise _error(
            f"--resume: {path} was written for another model ({first}); resume "
            "with the [model] that wrote it, or train with --overwrite."
        ) from None
    return {"done": done, "history": history, "optimizer": optimizer}


def write_outputs(model: Model, history: History, folder: Path) -> None:
    """model.pt2, state_dict.pt, history.csv and loss.png in ``folder``."""
    from matplotlib.figure import Figure

    torch.save(model.module.state_dict(), folder / "state_dict.pt")
    example = torch.zeros(4, model.n_inputs, dtype=model.dtype or torch.float64)
    batch = torch.export.Dim("batch")
    program = torch.export.export(
        model.module, (example,), dynamic_shapes=({0: batch},)
    )
    names = {"inputs": list(model.inputs), "outputs": list(model.outputs)}
    torch.export.save(
        program, folder / "model.pt2", extra_files={"wrt.json": json.dumps(names)}
    )
    history.to_csv(folder / "history.csv")
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    frame = history.frame
    for column in frame.columns[1:]:
        ax.semilogy(
            frame["step"],
            frame[column].clip(lower=1e-300),
            label=column,
            lw=1.5 if column == "loss" else 1.0,
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    ax.set_title(f"training ({history.optimizer})")
    fig.savefig(folder / "loss.png", dpi=120)


def _error(message: str) -> ConfigError:
    """A ConfigError about the output folder, with the hint the CLI prints."""
    error = ConfigError(message)
    error.hint = _HINT  # type: ignore[attr-defined]
    return error
