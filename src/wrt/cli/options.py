"""Options shared by several commands, declared once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from wrt.engines.choose import ENGINE_NAMES
from wrt.errors import DataError

ModelPath = Annotated[
    str,
    typer.Argument(
        help="Model file: .keras/.h5, ONNX, .pt2, TorchScript, state_dict, .npz "
        "(the format is read from the content)."
    ),
]
Engine = Annotated[
    str,
    typer.Option(
        "--engine", "-e", help=f"Engine: {', '.join(ENGINE_NAMES)}.", show_default=True
    ),
]
DType = Annotated[
    str | None,
    typer.Option("--dtype", help="Compute in float32 or float64 (a converted copy)."),
]
Inputs = Annotated[
    str | None,
    typer.Option(
        "--inputs", help="Names of the model's input columns, comma-separated: x,t."
    ),
]
Outputs = Annotated[
    str | None,
    typer.Option("--outputs", help="Names of the model's outputs, comma-separated."),
]
ModuleClass = Annotated[
    str | None,
    typer.Option(
        "--module",
        help="For state_dict files: the module to load the weights into, as "
        "package.module:Class (importable, built without arguments).",
    ),
]


def load_options(module: str | None) -> dict[str, str]:
    """Format options for :func:`wrt.load` from the shared CLI options."""
    return {"module": module} if module else {}


def output_file(path: Path, option: str) -> Path:
    """Refuse, before any work, an output file that cannot be written.

    A missing folder on the way is fine (it is created); a folder in the file's
    place, a file in a folder's place or a folder without write permission is not.

    Args:
        path: where the command will write.
        option: the option that gave it, e.g. ``-o``, for the message.

    Raises:
        DataError: naming the path and what is in the way.
    """
    if path.is_dir():
        raise DataError(
            f"{option} {path} is a folder; give a file name in it, e.g. "
            f"{path / ('out' + (path.suffix or '.html'))}.",
            hint=f"Pass a file path to {option}, not a folder.",
        )
    _writable_folder(path.parent, f"{option} {path}")
    return path


def output_folder(path: Path, option: str) -> Path:
    """Refuse, before any work, an output folder that cannot be made or written."""
    if path.exists() and not path.is_dir():
        raise DataError(
            f"{option} {path} is a file, not a folder.",
            hint=f"Pass a folder to {option} (it is created if missing).",
        )
    _writable_folder(path, f"{option} {path}")
    return path


def _writable_folder(folder: Path, what: str) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise DataError(
            f"{what}: {existing} is a file, so nothing can be written under it.",
            hint="Choose a path whose folders are folders.",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(
            f"{what}: the folder {existing} cannot be written (permission denied).",
            hint="Choose a folder you can write to.",
        )
