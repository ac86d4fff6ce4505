"""``wrt inspect``: what a model file holds, as its framework and wrt see it."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from wrt.cli.command import Quiet, Verbose
from wrt.cli.errors import reports_errors
from wrt.cli.options import Inputs, ModelPath, ModuleClass, Outputs, load_options

#: How each format's parameter count is made, for people.
_COUNTED = {
    "keras": "as Keras counts them",
    "keras-h5": "as Keras counts them",
    "onnx": "floating-point initializers",
}


@reports_errors
def inspect_command(
    context: typer.Context,
    model: ModelPath,
    inputs: Inputs = None,
    outputs: Outputs = None,
    module: ModuleClass = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Print the format, layers, parameters, activations, layout and engines."""
    from wrt.data import json_text
    from wrt.importers import load
    from wrt.inspection import describe

    info = describe(load(model, inputs=inputs, outputs=outputs, **load_options(module)))
    if as_json:
        typer.echo(json_text(info, indent=2))
        return
    console = Console()
    for line in summary(info):
        console.print(line)
    for table in tables(info):
        console.print(table)
    for note in info["notes"]:
        console.print(f"note: {escape(note)}")


def summary(info: dict[str, Any]) -> list[str]:
    """The head lines of ``wrt inspect``: format, names, counts, activations."""
    through = info["runs_through"]
    runs = f", runs through {through} itself" if through else ""
    counted = _COUNTED.get(info["format"])
    count = f"{info['parameters']:,}" + (f" ({counted})" if counted else "")
    taylor = info["engines"]["taylor"]
    names = [name for name, engine in info["engines"].items() if engine["available"]]
    lines = [
        f"[bold]{escape(str(info['source']))}[/bold]: {info['format']}, "
        f"{info['dtype']}{runs}",
        f"inputs:  {escape(', '.join(info['inputs']))}",
        f"outputs: {escape(', '.join(info['outputs']))}",
        f"parameters: {count}",
        f"activations: {', '.join(info['activations']) or 'none'}",
    ]
    if info["non_smooth"]:
        lines.append(f"piecewise linear: {', '.join(info['non_smooth'])}")
    lines.append(f"engines: {', '.join(names)}")
    if not taylor["available"]:
        lines.append(f"  taylor: not available ({escape(str(taylor['reason']))})")
    own = info.get("onnx")
    if own:
        opsets = ", ".join(f"{d} {v}" for d, v in own["opset"].items())
        lines.append(f"onnx: opset {opsets}; producer {escape(own['producer'] or '?')}")
    return lines


def tables(info: dict[str, Any]) -> list[Table]:
    """The layout, the operations (ONNX, ``.pt2``) and the layers."""
    layout = Table("", "source tensor", "per-sample shape", "wrt columns")
    for side in ("inputs", "outputs"):
        for tensor in info["layout"][side]:
            shape = tensor["shape"]
            layout.add_row(
                side[:-1],
                escape(tensor["name"]),
                _shape_text(shape),
                escape(", ".join(tensor["columns"])),
            )
    found = [layout]
    own = info.get("onnx") or info.get("torch_export")
    if own:
        ops = Table("operation", "nodes")
        for op, count in own["ops"].items():
            ops.add_row(escape(op), str(count))
        found.append(ops)
    if info["layers"] and "onnx" not in info:  # ONNX nodes: the operations say it
        layers = Table("layer", "type", "parameters", "detail")
        for layer in info["layers"]:
            layers.add_row(
                escape(layer["name"]),
                escape(layer["type"]),
                f"{layer['parameters']:,}",
                escape(layer["detail"]),
            )
        found.append(layers)
    return found


def _shape_text(shape: list[int] | None) -> str:
    if shape is None:
        return "?"
    return str(tuple(shape))
