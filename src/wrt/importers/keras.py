"""Keras 3 files (``.keras`` and legacy ``.h5``), through Keras on the torch backend.

Loading goes in four steps:

1. The file's model config is read (without Keras) and refused if it holds code: a
   ``Lambda`` layer would run arbitrary Python. Keras' own ``safe_mode`` stays on too.
2. Keras loads the model uncompiled (a legacy ``.h5`` saved with
   ``metrics=['mae']`` cannot be compiled under Keras 3, and training state is not
   needed to differentiate).
3. Every layer is converted to a plain torch module (:mod:`keras_layers`) and the
   result is checked against Keras' own outputs on sample points.
4. If a layer has no converter, the Keras model itself runs inside a torch module
   (Keras 3 models on the torch backend are torch modules), with a
   :class:`~wrt.errors.FallbackWarning` naming the layer.

Preprocessing layers such as ``Normalization`` stay in the graph, so partials are
with respect to the raw inputs. Inputs are named after the Keras inputs when each is
a scalar (``x``, ``t``); a single input of per-sample shape (2,) or (2, 1) becomes
the scalars ``x1, x2`` in row-major order.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from wrt.errors import FallbackWarning, ModelFormatError, PrecisionWarning, WrtError
from wrt.importers.keras_layers import KerasGraph, UnsupportedLayer, convert_layer
from wrt.model import DTypeLike, Model, wrap
from wrt.names import default_inputs, default_outputs

_CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda"}


class KerasBackendError(WrtError, RuntimeError):
    """Keras was imported with another backend before wrt needed it."""


def load_keras(
    path: Path,
    inputs: Sequence[str] | str | None,
    outputs: Sequence[str] | str | None,
    *,
    dtype: DTypeLike = None,
) -> Model:
    """Load a ``.keras`` or legacy ``.h5`` Keras model as a :class:`Model`.

    ``dtype`` is applied by :func:`wrt.load` through :meth:`Model.converted`.

    Raises:
        ModelFormatError: the file holds code (a Lambda layer), is damaged, or
            Keras cannot read it.
        KerasBackendError: Keras is already imported on another backend.
    """
    config = read_config(path)
    _refuse_code(path, config)
    keras = import_keras()
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as scratch:
            # Keras comments on how old files were built ("do not pass input_shape"):
            # nothing the person loading the file can act on.
            warnings.filterwarnings("ignore", category=UserWarning, module="keras")
            readable = _with_input_size(path, config, Path(scratch))
            kmodel = keras.saving.load_model(
                str(readable), compile=False, safe_mode=True
            )
    except Exception as exc:  # Keras raises ValueError/TypeError/OSError variously
        raise ModelFormatError(
            f"Keras could not load {path}: {' '.join(str(exc).split())[:300]}"
        ) from exc
    config = kmodel.get_config()
    in_shapes = [tuple(int(d) for d in t.shape[1:]) for t in kmodel.inputs]
    names_in = _input_names(kmodel, in_shapes)
    try:
        module: nn.Module = _convert(kmodel, config, in_shapes)
        _verify(module, kmodel, in_shapes, path)
    except UnsupportedLayer as why:
        warnings.warn(
            f"{path}: {why} has no torch conversion; running the Keras model itself "
            "(correct, but slower, and the Taylor engine cannot trace it).",
            FallbackWarning,
            stacklevel=3,
        )
        module = KerasModule(kmodel, in_shapes)
    n_out = sum(math.prod(t.shape[1:]) for t in kmodel.outputs)
    out_names = _output_names(kmodel, n_out)
    return wrap(
        module,
        inputs if inputs is not None else names_in,
        outputs if outputs is not None else out_names,
        source=str(path),
    )


def import_keras():
    """Import Keras on the torch backend, or say why it cannot be.

    Raises:
        KerasBackendError: Keras was already imported with another backend, or
            ``KERAS_BACKEND`` asks for another one.
    """
    if "keras" in sys.modules:
        keras = sys.modules["keras"]
        backend = keras.backend.backend()
        if backend != "torch":
            raise KerasBackendError(
                f"Keras is already imported with the {backend!r} backend; wrt needs "
                "Keras on the torch backend. Load the model in a fresh process, or "
                "set KERAS_BACKEND=torch before anything imports keras."
            )
        return keras
    wanted = os.environ.setdefault("KERAS_BACKEND", "torch")
    if wanted != "torch":
        raise KerasBackendError(
            f"KERAS_BACKEND is {wanted!r}; wrt needs Keras on the torch backend to "
            "read Keras files. Set KERAS_BACKEND=torch (or unset it) for this process."
        )
    import keras

    return keras


def read_config(path: Path) -> dict[str, Any]:
    """The model config stored in a ``.keras`` archive or legacy ``.h5`` file.

    Raises:
        ModelFormatError: the file has no readable model config.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return json.loads(archive.read("config.json"))
        import h5py

        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
            if raw is None:
                raise ModelFormatError(
                    f"{path} is an HDF5 file without a model config (a weights-only "
                    "file?). Save the whole model: model.save('model.keras')."
                )
            return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ModelFormatError:
        raise
    except Exception as exc:
        raise ModelFormatError(
            f"Cannot read the model config of {path}: {exc}. The file may be damaged "
            "or truncated."
        ) from exc


def _with_input_size(path: Path, config: dict[str, Any], scratch: Path) -> Path:
    """The file itself, or a copy whose unknown input size is filled in.

    A Keras 2 ``Sequential`` built without ``Input`` (``Normalization`` first, as in
    the first seed question) records its input shape as ``[None, None]``; Keras 3
    cannot rebuild it. The size is read from the first layer's weights (the
    normalisation's mean, or a kernel's rows) and written into a copy's config.
    """
    layers = config.get("config", {}).get("layers", [])
    shapes = [
        layer["config"].get("batch_input_shape")
        for layer in layers
        if isinstance(layer, dict) and "batch_input_shape" in layer.get("config", {})
    ]
    if zipfile.is_zipfile(path) or not shapes or None not in shapes[0][1:]:
        return path
    import h5py

    with h5py.File(path, "r") as handle:
        size = _first_weight_rows(handle.get("model_weights"))
    if size is None:
        return path
    for layer in layers:
        shape = layer["config"].get("batch_input_shape")
        if shape is not None and len(shape) == 2 and shape[1] is None:
            layer["config"]["batch_input_shape"] = [None, size]
    copy = scratch / path.name
    shutil.copyfile(path, copy)
    with h5py.File(copy, "r+") as handle:
        handle.attrs["model_config"] = json.dumps(config)
    return copy


def _first_weight_rows(weights) -> int | None:
    """Input size from the first stored weight: a mean's length or a kernel's rows."""
    if weights is None:
        return None
    for layer_name in weights.attrs.get("layer_names", []):
        group = weights[
            layer_name.decode() if isinstance(layer_name, bytes) else layer_name
        ]
        names = [
            n.decode() if isinstance(n, bytes) else n
            for n in group.attrs.get("weight_names", [])
        ]
        for name in names:
            if name.split("/")[-1].startswith(("mean", "kernel")):
                return int(group[name].shape[0])
        if names:
            return None
    return None


def _refuse_code(path: Path, config: Any) -> None:
    """Refuse a config holding code layers, before Keras sees it."""
    for layer in _walk_layers(config):
        if layer.get("class_name") in _CODE_LAYERS:
            name = layer.get("config", {}).get("name", "?")
            raise ModelFormatError(
                f"{path} contains a {layer['class_name']} layer {name!r}, which holds "
                "Python code; wrt never runs code from a model file. Replace it with "
                "a built-in layer, or rebuild the model in torch and use wrt.wrap."
            )


def _walk_layers(config: Any):
    if isinstance(config, dict):
        if "class_name" in config:
            yield config
        for value in config.values():
            yield from _walk_layers(value)
    elif isinstance(config, list):
        for value in config:
            yield from _walk_layers(value)


def _convert(kmodel, config: dict[str, Any], in_shapes) -> nn.Module:
    """A :class:`KerasGraph` of converted layers (Sequential or Functional model)."""
    layers_config = config["layers"]
    converted: dict[str, nn.Module] = {}
    for entry in layers_config:
        name = entry["config"]["name"]
        if entry["class_name"] == "InputLayer":
            continue
        layer = kmodel.get_layer(name)
        weights = layer_weights(layer)
        converted[name] = convert_layer(entry["class_name"], entry["config"], weights)
    if "input_layers" not in config:  # Sequential: a chain
        names = list(converted)
        calls = []
        previous = ("__input__", 0, 0)
        for name in names:
            calls.append((name, 0, [previous], False))
            previous = (name, 0, 0)
        return KerasGraph(
            converted, calls, [(("__input__", 0, 0), in_shapes[0])], [previous]
        )
    calls = _functional_calls(layers_config)
    inputs = [
        ((ref[0], ref[1], ref[2]), shape)
        for ref, shape in zip(_refs(config["input_layers"]), in_shapes, strict=True)
    ]
    return KerasGraph(converted, calls, inputs, _refs(config["output_layers"]))


def _refs(layers: list) -> list[tuple[str, int, int]]:
    """``[["x", 0, 0], ...]`` or a single ``["u", 0, 0]`` as a list of refs."""
    if layers and isinstance(layers[0], str):
        layers = [layers]
    return [(str(a), int(b), int(c)) for a, b, c in layers]


def _functional_calls(layers_config: list[dict[str, Any]]):
    """Every layer call of a Functional config, ordered so arguments come first."""
    pending = []
    for entry in layers_config:
        if entry["class_name"] == "InputLayer":
            continue
        for index, node in enumerate(entry.get("inbound_nodes", [])):
            if node.get("kwargs"):
                raise UnsupportedLayer(
                    f"call of {entry['name']} with keyword arguments"
                )
            args = node["args"]
            as_list = len(args) == 1 and isinstance(args[0], list)
            tensors = args[0] if as_list else args
            refs = [tuple(t["config"]["keras_history"]) for t in tensors]
            pending.append((entry["config"]["name"], index, refs, as_list))
    ready = {
        (entry["config"]["name"], 0, 0)
        for entry in layers_config
        if entry["class_name"] == "InputLayer"
    }
    ordered = []
    while pending:
        runnable = [c for c in pending if all(tuple(r) in ready for r in c[2])]
        if not runnable:
            raise UnsupportedLayer("a graph whose calls cannot be ordered")
        for call in runnable:
            ordered.append(call)
            ready.add((call[0], call[1], 0))
            pending.remove(call)
    return ordered


class KerasModule(nn.Module):
    """The Keras model itself as a torch module mapping (N, n_in) to (N, n_out).

    Keras layers keep a dtype policy of their own, so a float64 copy is rebuilt from
    the config (:meth:`converted_to`) rather than cast. Even then Keras computes in
    float32 on the torch backend: its type promotion maps float64 to float32 on every
    backend but TensorFlow (``BIT64_TO_BIT32_DTYPE`` in Keras 3.15), so matmuls lose
    precision. The torch conversion has no such limit, which is one more reason it is
    the path of choice.
    """

    def __init__(self, kmodel, in_shapes: Sequence[tuple[int, ...]]) -> None:
        super().__init__()
        self.kmodel = kmodel
        self.in_shapes = list(in_shapes)

    def converted_to(self, dtype: torch.dtype) -> KerasModule:
        """A copy computing in ``dtype`` (float64 rebuilds the model from config)."""
        if dtype != torch.float64:
            raise ModelFormatError(
                f"A Keras model that runs through Keras cannot be cast to {dtype}; "
                "load it with its own dtype or float64.",
                hint="Leave --dtype out, or use --dtype float64.",
            )
        warnings.warn(
            "This Keras model runs through Keras itself (a layer has no torch "
            "conversion), and Keras on the torch backend computes float64 matmuls in "
            "float32: expect float32 round-off in its partials.",
            PrecisionWarning,
            stacklevel=2,
        )
        return KerasModule(float64_copy(self.kmodel), self.in_shapes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Split the points (N, n_in) into the Keras inputs and run the model."""
        parts, start = [], 0
        for shape in self.in_shapes:
            width = math.prod(shape)
            parts.append(x[:, start : start + width].reshape(x.shape[0], *shape))
            start += width
        out = self.kmodel(parts if len(parts) > 1 else parts[0], training=False)
        outs = out if isinstance(out, (list, tuple)) else [out]
        flat = [o.reshape(x.shape[0], -1) for o in outs]
        return flat[0] if len(flat) == 1 else torch.cat(flat, dim=1)


def _verify(module: nn.Module, kmodel, in_shapes, path: Path) -> None:
    """Compare the converted module with Keras on 16 sample points.

    The tolerance covers float32 evaluation order differences between Keras' ops
    and torch's (a few ulps per layer, amplified by depth).
    """
    n_in = sum(math.prod(s) for s in in_shapes)
    generator = torch.Generator().manual_seed(0)
    dtype = next(iter(module.parameters()), torch.empty(0)).dtype
    x = torch.randn(16, n_in, generator=generator, dtype=dtype)
    with torch.no_grad():
        mine = module(x).to(torch.float64)
        theirs = KerasModule(kmodel, in_shapes)(x).detach().cpu().to(torch.float64)
    scale = max(1.0, float(theirs.abs().max()))
    error = float((mine - theirs).abs().max())
    if not error <= 1e-4 * scale:
        raise ModelFormatError(
            f"The torch conversion of {path} differs from Keras by {error:.3g} on "
            "sample points; please report this. Meanwhile rebuild the model in torch.",
            hint="This is a bug in wrt's Keras converter: please report it to wrt's "
            "maintainers with the model file.",
        )


def _input_names(kmodel, in_shapes) -> tuple[str, ...]:
    """The Keras inputs' names when there are several, else ``x1 .. xn``."""
    names = [str(t.name).split(":")[0] for t in kmodel.inputs]
    sizes = [math.prod(s) for s in in_shapes]
    return _column_names(names, sizes) or default_inputs(sum(sizes))


# Names Keras makes up (``dense_7``, ``input_layer``): they say nothing to a user.
_GENERATED = re.compile(
    r"(input_layer|input|dense|activation|add|subtract|multiply|average|concatenate"
    r"|flatten|reshape|dropout|normalization|batch_normalization|leaky_re_lu|re_lu"
    r"|rescaling|sequential|functional|model)(_\d+)?\Z"
)


def _output_names(kmodel, n_out: int) -> tuple[str, ...]:
    """The Keras outputs' names when there are several, else ``y`` / ``y1 .. ym``.

    A single output is named after its last layer (``dense_7``), which says nothing,
    so it gets the default name.
    """
    names = [str(n) for n in (getattr(kmodel, "output_names", None) or [])]
    sizes = [math.prod(t.shape[1:]) for t in kmodel.outputs]
    if len(names) != len(sizes):
        return default_outputs(n_out)
    return _column_names(names, sizes) or default_outputs(n_out)


def _column_names(names: list[str], sizes: list[int]) -> tuple[str, ...] | None:
    """One name per column: ``u`` for a scalar tensor ``u``, ``v1, v2`` for a pair.

    None (use the defaults) when a name is not an identifier, when one tensor of
    several columns carries it (``x1, x2`` reads better), or when the names are
    ones Keras made up.
    """
    if not all(name.isidentifier() for name in names):
        return None
    if len(names) == 1 and (sizes[0] > 1 or _GENERATED.match(names[0])):
        return None
    if all(_GENERATED.match(name) for name in names):
        return None
    columns = []
    for name, size in zip(names, sizes, strict=True):
        columns += [name] if size == 1 else [f"{name}{i}" for i in range(1, size + 1)]
    return tuple(columns) if len(set(columns)) == len(columns) else None


def layer_weights(layer) -> list[np.ndarray]:
    """A Keras layer's weights as numpy arrays, in Keras' order.

    Read from the torch tensors behind the variables: ``get_weights`` goes through
    numpy's deprecated ``__array__`` protocol on this Keras.
    """
    return [v.value.detach().cpu().numpy().copy() for v in layer.weights]


def float64_copy(kmodel):
    """The Keras model rebuilt from its config in float64, with its weights copied."""

    def to64(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy":
                return {**node, "config": {**node["config"], "name": "float64"}}
            return {k: to64(v) for k, v in node.items()}
        if isinstance(node, list):
            return [to64(v) for v in node]
        return "float64" if node == "float32" else node

    rebuilt = kmodel.__class__.from_config(to64(kmodel.get_config()))
    rebuilt.set_weights([w.astype(np.float64) for w in layer_weights(kmodel)])
    return rebuilt
