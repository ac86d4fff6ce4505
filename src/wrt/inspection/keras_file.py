"""A Keras file as Keras describes it: layers, classes, parameter counts, inputs.

Read from the file itself, without Keras: the model config (``config.json`` of a
``.keras`` archive, the ``model_config`` attribute of a legacy ``.h5``) gives the
layers, their classes and activations; the stored weights give the parameter
counts, as Keras' ``count_params`` counts them: every weight, trainable or not
(a ``Normalization`` counts its mean, variance and sample count; a
``BatchNormalization`` its moving mean and variance), but not the state of the
random seed generators (``Dropout``), which Keras keeps apart from the weights.

Weights of a ``.keras`` archive live in ``model.weights.h5`` under
``layers/<key>/vars``, where ``<key>`` is the layer's class in snake case made
unique by a counter, in the order of the model's layers (Keras'
``saving_lib``); those of a legacy ``.h5`` under ``model_weights/<layer name>``
with the list in its ``weight_names`` attribute.
"""

from __future__ import annotations

import io
import math
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

from wrt.importers.keras_config import read_config

#: Config keys worth showing in a layer's detail, in this order.
_DETAIL_KEYS = (
    "units", "filters", "kernel_size", "strides", "pool_size", "padding", "rate",
    "axis", "invert", "num_heads", "key_dim", "input_dim", "output_dim",
    "return_sequences", "recurrent_activation", "target_shape", "data_format",
    "epsilon", "negative_slope", "alpha",
)  # fmt: skip
#: Layers that are an activation by themselves -> its name.
_ACTIVATION_LAYERS = {
    "ReLU": "relu",
    "LeakyReLU": "leaky_relu",
    "PReLU": "prelu",
    "ELU": "elu",
    "Softmax": "softmax",
}
_MODEL_CLASSES = {"Sequential", "Functional", "Model"}


def keras_view(path: Path) -> dict[str, Any]:
    """The layers of a Keras file and their parameter counts, as Keras counts them.

    Args:
        path: a ``.keras`` archive or legacy ``.h5`` file.

    Returns:
        ``class_name`` (``Sequential``, ``Functional``), ``layers`` (dicts with
        ``name``, ``type`` (the Keras class), ``detail``, ``activation``,
        ``parameters``), ``parameters`` (the total, as ``model.count_params()``)
        ``inputs`` (dicts with the Keras input ``name`` and per-sample
        ``shape``, in the model's input order; None for an unknown size) and
        ``outputs`` (the output names: dict keys or layer names, in order).

    Raises:
        ModelFormatError: the file has no readable model config.
    """
    config = read_config(path)
    model_config = config.get("config", {})
    layers = [c for c in model_config.get("layers", []) if isinstance(c, dict)]
    sequential = config.get("class_name") == "Sequential"
    if zipfile.is_zipfile(path):
        counts, total = _archive_counts(path, layers, sequential)
    else:
        counts, total = _h5_counts(path, layers)
    shown = [
        _layer(layer, counts.get(_name(layer), 0))
        for layer in layers
        if not (sequential and layer.get("class_name") == "InputLayer")
    ]
    return {
        "class_name": config.get("class_name"),
        "layers": shown,
        "parameters": total,
        "inputs": _inputs(model_config, layers, sequential),
        "outputs": _output_names(model_config, layers, sequential),
    }


def _name(layer: dict[str, Any]) -> str:
    return str(layer.get("config", {}).get("name") or layer.get("name") or "?")


def _layer(layer: dict[str, Any], parameters: int) -> dict[str, Any]:
    kind = str(layer.get("class_name", "?"))
    config = layer.get("config", {})
    activation = _activation(config.get("activation"))
    if kind in _ACTIVATION_LAYERS:
        activation = _ACTIVATION_LAYERS[kind]
    details = [f"{key}={_short(config[key])}" for key in _DETAIL_KEYS if key in config]
    if activation is not None and kind != "Activation":
        details.insert(0, f"activation={activation}")
    if kind in _MODEL_CLASSES:
        inner = [c for c in config.get("layers", []) if isinstance(c, dict)]
        details.insert(0, f"{len(inner)} layers")
    return {
        "name": _name(layer),
        "type": kind,
        "detail": ", ".join(details),
        "activation": activation,
        "parameters": parameters,
    }


def _activation(value: Any) -> str | None:
    """A config's activation: ``"tanh"``, or a serialized function's name."""
    if isinstance(value, dict):  # {"class_name": "function", "config": "tanh"}
        inner = value.get("config")
        if isinstance(inner, str):
            value = inner
        else:  # a layer object as activation: {"class_name": "LeakyReLU", ...}
            kind = str(value.get("class_name", ""))
            value = _ACTIVATION_LAYERS.get(kind, snake_case(kind))
    if not isinstance(value, str) or value in ("linear", ""):
        return None
    return value


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return _activation(value) or str(value.get("class_name", "?"))
    if isinstance(value, list):
        return str(tuple(value))
    return str(value)


def snake_case(name: str) -> str:
    """A class name in Keras' snake case, as Keras names its saved layers.

    ``BatchNormalization`` -> ``batch_normalization``, ``LSTM`` -> ``lstm``,
    ``Conv2D`` -> ``conv2d``.
    """
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _archive_counts(
    path: Path, layers: list[dict[str, Any]], sequential: bool
) -> tuple[dict[str, int], int]:
    import h5py

    with zipfile.ZipFile(path) as archive:
        if "model.weights.h5" not in archive.namelist():
            return {}, 0
        data = archive.read("model.weights.h5")
    with h5py.File(io.BytesIO(data), "r") as handle:
        stored: Any = handle.get("layers")
        keys: dict[str, int] = {}
        counts = {}
        for layer in layers:
            kind = str(layer.get("class_name", ""))
            if sequential and kind == "InputLayer":
                continue  # Sequential.layers leaves its input out
            key = snake_case(kind)
            if key in keys:
                keys[key] += 1
                key = f"{key}_{keys[key]}"
            else:
                keys[key] = 0
            group = stored.get(key) if stored is not None else None
            counts[_name(layer)] = _size(group)
        total = _size(stored) + _size(handle.get("vars"))
    return counts, total


def _size(group: Any) -> int:
    """Scalars stored under an HDF5 group, seed generator states left out."""
    if group is None:
        return 0
    if not hasattr(group, "keys"):  # a dataset
        return math.prod(group.shape)
    return sum(
        _size(group[key]) for key in group.keys() if not key.startswith("seed_gen")
    )


def _h5_counts(path: Path, layers: list[dict[str, Any]]) -> tuple[dict[str, int], int]:
    import h5py

    counts = {}
    with h5py.File(path, "r") as handle:
        weights: Any = handle.get("model_weights")
        if weights is None:
            return {}, 0
        for layer in layers:
            name = _name(layer)
            group: Any = weights.get(name)
            if group is None:
                continue
            names = [
                n.decode() if isinstance(n, bytes) else str(n)
                for n in group.attrs.get("weight_names", [])
            ]
            counts[name] = sum(
                math.prod(group[n].shape) for n in names if "seed_gen" not in n
            )
    return counts, sum(counts.values())


def _inputs(
    model_config: dict[str, Any], layers: list[dict[str, Any]], sequential: bool
) -> list[dict[str, Any]]:
    """The Keras inputs, in the model's order, with their per-sample shapes."""
    by_name = {_name(layer): layer for layer in layers}
    refs = model_config.get("input_layers")
    if sequential or refs is None:
        first = layers[0] if layers else {}
        return [{"name": _name(first), "shape": _input_shape(first)}]
    if isinstance(refs, dict):  # a dict of inputs, keyed
        pairs = [(key, ref) for key, ref in refs.items()]
    else:
        if refs and isinstance(refs[0], str):  # one input: [name, 0, 0]
            refs = [refs]
        pairs = [(None, ref) for ref in refs]
    found = []
    for key, ref in pairs:
        layer = by_name.get(str(ref[0]), {})
        found.append({"name": key or str(ref[0]), "shape": _input_shape(layer)})
    return found


def _output_names(
    model_config: dict[str, Any], layers: list[dict[str, Any]], sequential: bool
) -> list[str]:
    refs = model_config.get("output_layers")
    if sequential or refs is None:
        return [_name(layers[-1])] if layers else []
    if isinstance(refs, dict):
        return [str(key) for key in refs]
    if refs and isinstance(refs[0], str):
        refs = [refs]
    return [str(ref[0]) for ref in refs]


def _input_shape(layer: dict[str, Any]) -> list[int | None] | None:
    config = layer.get("config", {})
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None:
        shape = (layer.get("build_config") or {}).get("input_shape")
    if not isinstance(shape, list) or not shape:
        return None
    return [None if d is None else int(d) for d in shape[1:]]


def keras_outputs(path: Path, module: Any) -> list[dict[str, Any]]:
    """The Keras outputs, in the model's output order, with their per-sample shapes.

    Output shapes are not stored in the file: they come from the Keras model, the
    one running inside ``module`` when the model runs through Keras, else one
    loaded again from ``path`` (safe mode, uncompiled).

    Args:
        path: the ``.keras`` or ``.h5`` file.
        module: the loaded model's module (a ``KerasModule`` holds ``kmodel``).

    Returns:
        Dicts with ``name`` (the dict key or the output layer's name) and
        ``shape`` (ints, None for an unknown axis).
    """
    kmodel = getattr(module, "kmodel", None)
    if kmodel is None:
        kmodel = _reload(path)
    shapes = [
        [None if d is None else int(d) for d in tuple(t.shape)[1:]]
        for t in kmodel.outputs
    ]
    refs = kmodel.get_config().get("output_layers")
    if isinstance(refs, dict):  # Keras flattens a dict of outputs by sorted key
        by_key = dict(zip(sorted(refs), shapes, strict=True))
        return [{"name": key, "shape": by_key[key]} for key in refs]
    if refs is None:  # Sequential: the last layer's output
        return [{"name": kmodel.layers[-1].name, "shape": shapes[0]}]
    if refs and isinstance(refs[0], str):
        refs = [refs]
    return [
        {"name": str(ref[0]), "shape": shape}
        for ref, shape in zip(refs, shapes, strict=True)
    ]


def _reload(path: Path) -> Any:
    from wrt.importers.keras import import_keras
    from wrt.importers.keras_config import with_input_size

    keras = import_keras()
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as scratch:
        # Keras' remarks on how old files were built: nothing to act on here
        warnings.filterwarnings("ignore", category=UserWarning, module="keras")
        readable = with_input_size(path, read_config(path), Path(scratch))
        return keras.saving.load_model(str(readable), compile=False, safe_mode=True)
