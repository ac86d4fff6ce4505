"""TensorFlow SavedModel directories, converted through tf2onnx and wrt's ONNX importer.

A SavedModel holds TensorFlow graphs (signatures), not Keras layers. wrt converts
its serving signature to ONNX with tf2onnx, in this process, into a temporary
file, then loads that file with :func:`wrt.importers.onnx.load_onnx` (checked
against onnxruntime there) and finally compares the converted model with
TensorFlow's own outputs on sample points.

TensorFlow and tf2onnx are optional: ``pip install 'wrt[tensorflow]'``. Without
them the directory is refused with that line.

Names: the signature's inputs, sorted by name (TensorFlow's order for a
signature's keyword arguments), follow the ONNX importer's rules (one input of
k values gives ``x1 .. xk``); so do the outputs.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wrt.errors import ModelFormatError, UnsupportedFormatError, WrtError
from wrt.model import DTypeLike, Model

INSTALL = "pip install 'wrt[tensorflow]'"
_SIGNATURE = "serving_default"
# Largest difference from TensorFlow allowed, relative to max(1, max |output|): the
# converted float32 graph runs the same operations in another order (see
# onnx_verify.VERIFY_TOLERANCE); float64 graphs are held tighter.
_TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-6}
_CHECK_POINTS = 8


def load_savedmodel(
    path: Path,
    inputs: Sequence[str] | str | None,
    outputs: Sequence[str] | str | None,
    *,
    dtype: DTypeLike = None,
    signature: str | None = None,
) -> Model:
    """Convert a SavedModel directory's signature to a torch model.

    Args:
        path: the directory (it holds ``saved_model.pb``).
        inputs: names of the input columns (default: from the signature's
            inputs, as for an ONNX file).
        outputs: names of the output columns.
        dtype: ``"float64"`` for a float64 copy.
        signature: the signature to convert (default ``serving_default``, or the
            only one).

    Returns:
        The model (plain torch: float64 exact, Taylor where rules exist).

    Raises:
        UnsupportedFormatError: TensorFlow or tf2onnx is not installed.
        ModelFormatError: the directory cannot be loaded, has no such signature,
            tf2onnx fails, or the conversion disagrees with TensorFlow.
        UnsupportedOpError: the ONNX graph tf2onnx made has an op wrt cannot
            convert.
    """
    try:
        import tensorflow as tf  # pyright: ignore[reportMissingImports, reportMissingModuleSource]
        import tf2onnx  # pyright: ignore[reportMissingImports]
    except ImportError:
        raise UnsupportedFormatError(
            f"{path} is a TensorFlow SavedModel directory. wrt converts it through "
            f"tf2onnx, which needs TensorFlow and tf2onnx: {INSTALL}. Or re-save "
            "the model from Keras, model.save('model.keras'), which wrt reads "
            "without TensorFlow.",
            hint=f"Install the TensorFlow extra: {INSTALL}.",
        ) from None
    # ``loaded`` owns the variables the signature reads: keep it alive until done
    loaded, function, names = _signature(tf, path, signature)
    specs = [function.structured_input_signature[1][name] for name in names]
    for name, spec in zip(names, specs, strict=True):
        if not spec.dtype.is_floating:
            raise ModelFormatError(
                f"{path}: signature input '{name}' is {spec.dtype.name}; wrt "
                "differentiates with respect to floating-point inputs only."
            )
    with tempfile.TemporaryDirectory(prefix="wrt-savedmodel-") as folder:
        onnx_path = Path(folder) / "model.onnx"
        _convert(tf, tf2onnx, function, names, specs, onnx_path, path)
        from wrt.importers.onnx import load_onnx

        try:
            model = load_onnx(onnx_path, inputs, outputs)
        except WrtError as exc:  # name the directory, not the temporary file
            text = str(exc).replace(str(onnx_path), f"{path} (converted by tf2onnx)")
            raise type(exc)(text, hint=exc.hint) from exc
    model.source = str(path)
    _check(tf, model, function, names, specs, path)
    del loaded
    return model.converted(dtype)


def _signature(tf: Any, path: Path, wanted: str | None) -> tuple[Any, Any, list[str]]:
    """The loaded object, the signature's function and its input names, sorted."""
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # TF's own errors for damaged or foreign directories
        raise ModelFormatError(
            f"{path} could not be loaded by TensorFlow ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''})."
            " The directory may be damaged or incomplete."
        ) from exc
    signatures = dict(loaded.signatures)
    if not signatures:
        raise ModelFormatError(
            f"{path} has no signatures, so there is no function to convert. Export "
            "the model with model.export(path) (Keras) or tf.saved_model.save(obj, "
            "path, signatures=...)."
        )
    if wanted is None:
        wanted = _SIGNATURE if _SIGNATURE in signatures else None
        if wanted is None and len(signatures) == 1:
            wanted = next(iter(signatures))
    if wanted not in signatures:
        raise ModelFormatError(
            f"{path} has signatures {', '.join(sorted(signatures))}. Pass "
            "signature='<name>' to wrt.load to choose one."
        )
    function = signatures[wanted]
    return loaded, function, sorted(function.structured_input_signature[1])


def _convert(
    tf: Any,
    tf2onnx: Any,
    function: Any,
    names: list[str],
    specs: list[Any],
    onnx_path: Path,
    path: Path,
) -> None:
    """Run tf2onnx on the signature; the ONNX model goes to ``onnx_path``."""
    signature = [
        tf.TensorSpec(s.shape, s.dtype, name=n)
        for n, s in zip(names, specs, strict=True)
    ]

    def call(*args):
        return function(**dict(zip(names, args, strict=True)))

    traced = tf.function(call, input_signature=signature)
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)  # tf2onnx logs every step at INFO
    try:
        tf2onnx.convert.from_function(
            traced, input_signature=signature, output_path=str(onnx_path)
        )
    except Exception as exc:  # tf2onnx's own failures: unsupported TF ops, ...
        raise ModelFormatError(
            f"{path}: tf2onnx could not convert the SavedModel to ONNX "
            f"({type(exc).__name__}: {str(exc)[:300]}). Re-save the model from "
            "Keras as .keras, or export it to ONNX yourself."
        ) from exc
    finally:
        logger.setLevel(level)


def _check(
    tf: Any,
    model: Model,
    function: Any,
    names: list[str],
    specs: list[Any],
    path: Path,
) -> None:
    """Compare the converted model with TensorFlow on sample points."""
    rng = np.random.default_rng(0)
    kind = np.dtype(specs[0].dtype.as_numpy_dtype)
    x = rng.uniform(0.1, 0.9, (_CHECK_POINTS, model.n_inputs)).astype(kind)
    feeds, column = {}, 0
    for name, spec in zip(names, specs, strict=True):
        dims = [int(d) for d in spec.shape[1:]]
        size = int(np.prod(dims))
        block = x[:, column : column + size].reshape(_CHECK_POINTS, *dims)
        feeds[name] = tf.constant(block, dtype=spec.dtype)
        column += size
    result = function(**feeds)
    flat = tf.nest.flatten(result)
    want = np.concatenate(
        [np.asarray(t).reshape(_CHECK_POINTS, -1) for t in flat], axis=1
    ).astype(np.float64)
    with torch.no_grad():
        got = model(torch.as_tensor(x)).double().numpy()
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    worst = float(np.abs(got - want).max()) if got.shape == want.shape else np.inf
    allowed = _TOLERANCE.get(kind, 1e-4) * scale
    if not worst <= allowed:
        raise ModelFormatError(
            f"{path}: the model converted through tf2onnx differs from TensorFlow "
            f"by {worst:.3g} on {_CHECK_POINTS} sample points (allowed "
            f"{allowed:.3g}; shapes {got.shape} vs {want.shape}). Re-save the "
            "model from Keras as .keras, or report this."
        )
