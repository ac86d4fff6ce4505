"""``wrt inspect``: what a model file holds, as wrt sees it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from wrt.cli.errors import reports_errors
from wrt.cli.options import Inputs, ModelPath, ModuleClass, Outputs, load_options
from wrt.data import json_text
from wrt.describe import describe
from wrt.importers import load


@reports_errors
def inspect_command(
    context: typer.Context,
    model: ModelPath,
    inputs: Inputs = None,
    outputs: Outputs = None,
    module: ModuleClass = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the detected format, inputs, outputs, layers, parameters and dtype."""
    info = describe(load(model, inputs=inputs, outputs=outputs, **load_options(module)))
    if as_json:
        typer.echo(json_text(info, indent=2))
        return
    console = Console()
    console.print(f"[bold]{info['source']}[/bold]: {info['format']}, {info['dtype']}")
    console.print(f"inputs:  {', '.join(info['inputs'])}")
    console.print(f"outputs: {', '.join(info['outputs'])}")
    console.print(f"parameters: {info['parameters']:,}")
    console.print(f"activations: {', '.join(info['activations']) or 'none'}")
    table = Table("layer", "type", "detail")
    for layer in info["layers"]:
        table.add_row(layer["name"], layer["type"], layer["detail"])
    console.print(table)
