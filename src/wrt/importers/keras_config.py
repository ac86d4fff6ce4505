"""A Keras file's model config, read and checked without Keras.

``.keras`` archives keep it in ``config.json``; legacy ``.h5`` files in the
``model_config`` attribute. The config is refused when it holds code (a ``Lambda``
layer would run arbitrary Python), and a legacy Keras 2 ``Sequential`` whose input
size was never recorded gets it filled in from its first weights, so that Keras 3
can rebuild it.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from wrt.errors import ModelFormatError

CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda"}


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


def with_input_size(path: Path, config: dict[str, Any], scratch: Path) -> Path:
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


def refuse_code(path: Path, config: Any) -> None:
    """Refuse a config holding code layers, before Keras sees it."""
    for layer in _walk_layers(config):
        if layer.get("class_name") in CODE_LAYERS:
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
