"""``wrt.load``: one entry point for every model file format.

The format is read from the file's content (:mod:`wrt.importers.sniff`), then the
matching importer builds a :class:`~wrt.model.Model`. Every importer is a function
``load_<format>(path, inputs, outputs, *, dtype, **options) -> Model`` in its own
module, imported only when a file of its format is loaded (Keras and ONNX are heavy
imports that a TorchScript user should not pay for).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wrt.errors import ModelFormatError, UnsupportedFormatError
from wrt.importers.sniff import FileFormat, sniff
from wrt.model import DTypeLike, Model

# detected kind -> (module, function) of its importer
_IMPORTERS = {
    "torchscript": ("wrt.importers.torch_files", "load_torchscript"),
    "torch-export": ("wrt.importers.torch_export", "load_export"),
    "torch-pickle": ("wrt.importers.torch_files", "load_state_dict"),
    "keras": ("wrt.importers.keras", "load_keras"),
    "keras-h5": ("wrt.importers.keras", "load_keras"),
    "onnx": ("wrt.importers.onnx", "load_onnx"),
    "npz": ("wrt.importers.arrays", "load_npz"),
    "skops": ("wrt.importers.skops_files", "load_skops"),
    "tf-savedmodel": ("wrt.importers.savedmodel", "load_savedmodel"),
}

_REFUSED = {
    "sklearn-pickle": "wrt never unpickles files: loading a pickle runs code that "
    "the file chooses. Save the fitted estimator with skops instead, "
    "skops.io.dump(estimator, 'model.skops'), and load that file (pip install "
    "'wrt[sklearn]'); or export it to ONNX with skl2onnx, "
    "skl2onnx.to_onnx(estimator, X[:1].astype('float32')); or, in Python, pass "
    "the fitted estimator itself to wrt.wrap(estimator)",
}

_REFUSED_HINTS = {
    "sklearn-pickle": "Save the estimator with skops.io.dump(estimator, "
    "'model.skops') (pip install 'wrt[sklearn]') and pass the .skops file.",
}


def load(
    path: str | Path,
    inputs: Sequence[str] | str | None = None,
    outputs: Sequence[str] | str | None = None,
    *,
    dtype: DTypeLike = None,
    **options: Any,
) -> Model:
    """Load a model file; its format is read from the content, not the extension.

    Args:
        path: the model file, or a TensorFlow SavedModel directory (converted
            through tf2onnx: ``pip install 'wrt[tensorflow]'``).
        inputs: names of the input columns (default: the file's own names, else
            ``x1 .. xn``).
        outputs: names of the outputs (default: the file's own, else ``y`` or
            ``y1 .. ym``).
        dtype: ``"float64"`` for a float64 copy.
        **options: format options: ``module=`` for a ``state_dict`` file,
            ``activations=`` / ``layout=`` for ``.npz`` weight arrays,
            ``signature=`` for a SavedModel.

    Returns:
        The model; ``model.format`` names the detected format.

    Raises:
        ModelFormatError: missing, empty, damaged or unrecognised file.
        UnsupportedFormatError: a model format wrt does not load.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFormatError(f"No such model file: {path}. Check the path.")
    detected = sniff(path)
    if detected.kind in _REFUSED:
        raise UnsupportedFormatError(
            f"{path} is {detected.description}. {_REFUSED[detected.kind]}.",
            hint=_REFUSED_HINTS.get(detected.kind),
        )
    if detected.kind not in _IMPORTERS:
        raise ModelFormatError(
            f"{path} is not a model file wrt can read: it is {detected.description}. "
            "wrt reads Keras (.keras, .h5), ONNX, torch.export (.pt2), TorchScript, "
            "state_dict files, .npz weight arrays, scikit-learn .skops files and "
            "TensorFlow SavedModel directories."
        )
    importer = _importer(detected)
    parameters = inspect.signature(importer).parameters
    accepted = set(parameters) - {"path", "inputs", "outputs"}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    unknown = [] if takes_any else sorted(set(options) - accepted)
    if unknown:
        valid = ", ".join(sorted(accepted - {"dtype"})) or "none"
        raise ModelFormatError(
            f"Option(s) {', '.join(unknown)} do not apply to {path}, which is "
            f"{detected.description}. Its options: {valid}."
        )
    model = importer(path, inputs, outputs, dtype=dtype, **options)
    model.format = detected.kind
    return model.converted(dtype)


def _importer(detected: FileFormat):
    module_name, function = _IMPORTERS[detected.kind]
    return getattr(importlib.import_module(module_name), function)
