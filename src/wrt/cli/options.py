"""Options shared by several commands, declared once.

Nothing here imports torch: the CLI's modules are imported for ``wrt --help``, so
each command imports the heavy parts of wrt inside its function.
"""

from __future__ import annotations

from typing import Annotated

import typer

#: The values of --engine, as :data:`wrt.engines.choose.ENGINE_NAMES` has them
#: (written out so that --help does not import the engines; a test keeps the two
#: the same).
ENGINE_NAMES = ("auto", "autograd", "taylor", "finite_diff")

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
