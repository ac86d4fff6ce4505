"""Options shared by several commands, declared once."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer

from wrt.engines.choose import ENGINE_NAMES
from wrt.engines.compiling import cache_dir
from wrt.model import Model

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


class CompileChoice(StrEnum):
    """The values of ``--compile``."""

    auto = "auto"
    on = "on"
    off = "off"


Compile = Annotated[
    CompileChoice,
    typer.Option(
        "--compile",
        help="Compile the Taylor engine's work with torch.compile: auto (once "
        "repeated work repays the compile time), on, off. Compiled code is cached "
        "on disk ($WRT_CACHE_DIR) for later runs.",
        case_sensitive=False,
        show_default=True,
    ),
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


@contextmanager
def compile_note(model: Model) -> Iterator[None]:
    """Say on stderr how long compiling took during the block, if anything was.

    One line, e.g. ``wrt: compiled the Taylor programs in 3.1 s (cached for next
    runs in ~/.cache/wrt)``: compile time is reported, never hidden.
    """
    before = model.cache.compile_seconds
    try:
        yield
    finally:
        spent = model.cache.compile_seconds - before
        if spent > 0:
            print(
                f"wrt: compiled the Taylor programs in {spent:.1f} s (cached for "
                f"next runs in {cache_dir()})",
                file=sys.stderr,
            )
