"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

from wrt.engines.choose import ENGINE_NAMES

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
        "--engine",
        "-e",
        metavar="ENGINE",
        help=f"Engine: {', '.join(ENGINE_NAMES)}.",
        show_default=True,
    ),
]
DType = Annotated[
    str | None,
    typer.Option(
        "--dtype",
        metavar="DTYPE",
        help="Compute in float32 or float64 (a converted copy).",
    ),
]
Inputs = Annotated[
    str | None,
    typer.Option(
        "--inputs",
        metavar="NAMES",
        help="Names of the model's input columns, comma-separated: x,t.",
    ),
]
Outputs = Annotated[
    str | None,
    typer.Option(
        "--outputs",
        metavar="NAMES",
        help="Names of the model's outputs, comma-separated.",
    ),
]
ModuleClass = Annotated[
    str | None,
    typer.Option(
        "--module",
        metavar="PKG.MODULE:CLASS",
        help="For state_dict files: the module to load the weights into, as "
        "package.module:Class (importable, built without arguments).",
    ),
]


def load_options(module: str | None) -> dict[str, str]:
    """Format options for :func:`wrt.load` from the shared CLI options."""
    return {"module": module} if module else {}
