"""``describe``: a model as its source framework sees it, and as wrt runs it.

The file is read again by its format (:mod:`keras_file`, :mod:`onnx_file`,
:mod:`torch_file`) for what only the source framework knows: Keras' layer
classes and parameter counts, ONNX's operators and opsets, TorchScript's original
module names, a ``.pt2`` program's ATen operations, the shapes of the inputs and
outputs. What wrt runs comes from the loaded model: the activations and
non-smooth operations of its traced graph (:mod:`operations`, the same answer
``wrt check`` gives), which engines can run it, and whether the source framework
runs inside it (``model.runtime``).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

from torch import nn

from wrt.errors import NotAModelError
from wrt.inspection.keras_file import keras_outputs, keras_view
from wrt.inspection.layout import engines, layout
from wrt.inspection.onnx_file import onnx_view
from wrt.inspection.operations import (
    activations,
    input_spans,
    non_smooth_operations,
)
from wrt.inspection.torch_file import export_view, torchscript_view
from wrt.inspection.torch_layers import torch_layers
from wrt.model import Model

#: What runs a model whose ``runtime`` is not plain torch, for people.
_RUNTIMES = {"keras": "Keras"}


def describe(model: Model) -> dict[str, Any]:
    """A JSON-ready description of the model.

    Args:
        model: a loaded or wrapped model.

    Returns:
        ``format``, ``source``, ``inputs``, ``outputs`` (wrt's column names),
        ``dtype``; ``parameters`` (scalar weights, counted as the source framework
        counts them: Keras' ``count_params``, an ONNX file's floating
        initializers, a torch module's parameters);
        ``layers`` (the source's layers: ``name``, ``type``, ``detail``,
        ``activation``, ``parameters``; an ONNX file's nodes);
        ``activations`` (distinct names, in order of appearance) and
        ``non_smooth`` (piecewise-linear operations), both from the traced graph;
        ``runtime`` (``"torch"``, or the framework that runs inside: ``"keras"``)
        and ``runs_through`` (``"Keras"`` or None); ``layout`` (``inputs`` and
        ``outputs``: the source tensors, their per-sample shapes and the wrt
        columns each holds); ``engines`` (name -> ``available`` and ``reason``);
        ``notes`` (what could not be read); and the source's own view under
        ``keras``, ``onnx``, ``torchscript`` or ``torch_export``.

    Raises:
        NotAModelError: ``model`` is a path or a torch module, not a model.

    Examples:
        >>> import torch, wrt
        >>> info = describe(wrt.wrap(torch.nn.Linear(3, 1)))
        >>> info["inputs"], info["parameters"], info["layout"]["inputs"][0]["shape"]
        (['x1', 'x2', 'x3'], 4, [3])
    """
    _require_model(model)
    view, notes = _source_view(model)
    layers = view["layers"] if "layers" in view else torch_layers(model.module)
    info: dict[str, Any] = {
        "format": model.format,
        "source": model.source,
        "inputs": list(model.inputs),
        "outputs": list(model.outputs),
        "dtype": str(model.dtype).removeprefix("torch.") if model.dtype else None,
        "parameters": view.get(
            "parameters", sum(p.numel() for p in model.module.parameters())
        ),
        "layers": layers,
    }
    named = [str(layer["activation"]) for layer in layers if layer["activation"]]
    info["activations"] = activations(model, named)
    info["non_smooth"] = non_smooth_operations(model, named)
    info["runtime"] = model.runtime
    info["runs_through"] = _RUNTIMES.get(model.runtime)
    info["layout"] = {
        "inputs": layout(model.inputs, view.get("inputs"), "x"),
        "outputs": layout(model.outputs, view.get("outputs"), "y"),
    }
    info["engines"] = engines(model)
    if model.runtime == "keras":
        notes.append(
            "Layers without a torch conversion run through Keras itself, which "
            "computes in float32 even when float64 is asked: expect float32 "
            "round-off in its partials."
        )
    info["notes"] = notes
    if "own" in view:
        info[view["key"]] = view["own"]
    return info


def _require_model(model: Any) -> None:
    if isinstance(model, Model):
        return
    if isinstance(model, (str, PathLike)):
        raise NotAModelError(
            f"describe() takes a loaded model, not the path {str(model)!r}: "
            f"wrt.describe(wrt.load({str(model)!r}))."
        )
    if isinstance(model, nn.Module):
        raise NotAModelError(
            f"describe() takes a wrt model, not a bare {type(model).__name__}: give "
            "it input names first, wrt.describe(wrt.wrap(module, inputs=[...]))."
        )
    raise NotAModelError(
        f"describe() takes a model from wrt.load or wrt.wrap, not a "
        f"{type(model).__name__}."
    )


def _source_view(model: Model) -> tuple[dict[str, Any], list[str]]:
    """The format's own view: layers, parameters, inputs, outputs, and the rest."""
    path = Path(model.source)
    reader = _READERS.get(model.format)
    if reader is None:
        return {}, []
    if not path.exists():
        return {}, [
            f"{path} no longer exists; layers and parameters are those of the "
            "loaded torch module."
        ]
    try:
        view = reader(model, path)
        return view, list(view.get("notes", []))
    except Exception as exc:  # describing must not fail on what it cannot read
        text = " ".join(str(exc).split())[:200]
        return {}, [
            f"Could not read {path} again as {model.format} ({type(exc).__name__}: "
            f"{text}); layers and parameters are those of the loaded torch module."
        ]


def _keras(model: Model, path: Path) -> dict[str, Any]:
    view = keras_view(path)
    notes = []
    try:  # output shapes need Keras itself; the rest was read from the file
        outputs = keras_outputs(path, model.module)
    except Exception as exc:  # Keras raises many kinds for a file it cannot build
        outputs = [{"name": name, "shape": None} for name in view["outputs"]]
        notes.append(
            f"Keras could not rebuild {path} to find its output shapes "
            f"({type(exc).__name__}); the output layout is not split by tensor."
        )
    return {
        "layers": view["layers"],
        "parameters": view["parameters"],
        "inputs": view["inputs"],
        "outputs": outputs,
        "notes": notes,
        "key": "keras",
        "own": {"class_name": view["class_name"]},
    }


def _onnx(model: Model, path: Path) -> dict[str, Any]:
    view = onnx_view(path)
    return {
        "layers": [
            {
                "name": node["name"],
                "type": node["op"],
                "detail": node["detail"],
                "activation": node["activation"],
                "parameters": node["parameters"],
            }
            for node in view["nodes"]
        ],
        "parameters": view["parameters"],
        "inputs": _per_sample(view["inputs"]),
        "outputs": _per_sample(view["outputs"]),
        "key": "onnx",
        "own": {k: v for k, v in view.items() if k != "nodes"},
    }


def _torchscript(model: Model, path: Path) -> dict[str, Any]:
    view = torchscript_view(path)
    arguments = view["forward"]
    inputs = [{"name": name, "shape": None} for name in arguments]
    widths = _argument_widths(model, len(arguments)) if len(arguments) > 1 else None
    if len(arguments) == 1:  # wrt feeds it the points (N, n_in)
        inputs = [{"name": arguments[0], "shape": [model.n_inputs]}]
    elif widths is not None:
        inputs = [
            {"name": name, "shape": None, "width": width}
            for name, width in zip(arguments, widths, strict=True)
        ]
    return {
        "layers": view["layers"],
        "parameters": view["parameters"],
        "inputs": inputs,
        "key": "torchscript",
        "own": {"class_name": view["class_name"], "forward": arguments},
    }


def _argument_widths(model: Model, count: int) -> list[int] | None:
    """Columns of each of ``count`` ``forward`` arguments, or None if unknown.

    One each when there are as many columns; else the column slices of the
    traced graph, when they tile the points in order.
    """
    if count == model.n_inputs:
        return [1] * count
    spans = input_spans(model)
    if spans is None or len(spans) != count:
        return None
    edges = [0] + [stop for _, stop in spans]
    if [start for start, _ in spans] != edges[:-1] or edges[-1] != model.n_inputs:
        return None
    return [stop - start for start, stop in spans]


def _export(model: Model, path: Path) -> dict[str, Any]:
    view = export_view(path)
    return {
        "layers": view["layers"],
        "parameters": view["parameters"],
        "inputs": _per_sample(view["inputs"]),
        "outputs": _per_sample(view["outputs"]),
        "key": "torch_export",
        "own": {k: v for k, v in view.items() if k != "layers"},
    }


def _per_sample(tensors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Shapes without their batch axis (None when the rank is unknown)."""
    return [
        {**t, "shape": None if t.get("shape") is None else list(t["shape"])[1:]}
        for t in tensors
    ]


_READERS = {
    "keras": _keras,
    "keras-h5": _keras,
    "onnx": _onnx,
    "torchscript": _torchscript,
    "torch-export": _export,
}
