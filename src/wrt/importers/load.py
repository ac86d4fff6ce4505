"""``wrt.load``: one entry point for every model file format."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from wrt.errors import ModelFormatError, UnsupportedFormatError
from wrt.importers.sniff import sniff
from wrt.importers.torch_files import load_torchscript
from wrt.model import DTypeLike, Model

_NOT_YET = {
    "torch-export": "export the module with torch.jit.script(module) and "
    "torch.jit.save, or wrap the module in Python with wrt.wrap",
    "torch-pickle": "build the module in Python, load its state_dict with "
    "torch.load(path, weights_only=True) and use wrt.wrap(module)",
    "keras": "export it to ONNX or rebuild it in torch and use wrt.wrap",
    "keras-h5": "export it to ONNX or rebuild it in torch and use wrt.wrap",
    "onnx": "convert it to torch (e.g. onnx2torch) and use wrt.wrap",
    "npz": "build the network in torch from the arrays and use wrt.wrap",
    "tf-savedmodel": "re-save it from Keras as .keras (model.save('m.keras'))",
}


def load(
    path: str | Path,
    inputs: Sequence[str] | str | None = None,
    outputs: Sequence[str] | str | None = None,
    *,
    dtype: DTypeLike = None,
) -> Model:
    """Load a model file; its format is read from the content, not the extension.

    Args:
        path: the model file.
        inputs: names of the input columns (default ``x1 .. xn``).
        outputs: names of the outputs (default ``y`` or ``y1 .. ym``).
        dtype: ``"float64"`` for a float64 copy.

    Returns:
        The model.

    Raises:
        ModelFormatError: missing, empty, damaged or unrecognised file.
        UnsupportedFormatError: a model format wrt does not load yet.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFormatError(f"No such model file: {path}. Check the path.")
    detected = sniff(path)
    if detected.kind == "torchscript":
        return load_torchscript(path, inputs, outputs).to(dtype)
    if detected.kind in _NOT_YET:
        raise UnsupportedFormatError(
            f"{path} is {detected.description}; this format is not supported yet "
            f"(wrt loads TorchScript archives). Meanwhile, {_NOT_YET[detected.kind]}."
        )
    raise ModelFormatError(
        f"{path} is not a model file wrt can read: it is {detected.description}. "
        "Pass a TorchScript archive saved with torch.jit.save."
    )
