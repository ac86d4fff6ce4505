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

import math
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from wrt.errors import (
    FallbackWarning,
    IgnoredInputWarning,
    InvalidNameError,
    ModelFormatError,
    PrecisionWarning,
    UnsupportedFormatError,
    VerificationSkippedWarning,
    WrtError,
)
from wrt.importers.keras_config import read_config, refuse_code, with_input_size
from wrt.importers.keras_graph import convert, integer_inputs
from wrt.importers.keras_layers import KerasGraph, UnsupportedLayer
from wrt.importers.keras_structure import (
    Signature,
    UnsupportedStructure,
    input_names,
    layer_weights,
    output_names,
    signature,
)
from wrt.model import DTypeLike, Model, wrap
from wrt.names import default_inputs, default_outputs


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
        UnsupportedFormatError: inputs or outputs that are not a tensor, a list or
            a dict of tensors of fixed shapes; an Embedding of a computed tensor.
        InvalidNameError: dict keys that cannot name the columns (and no names
            were given).
    """
    config = read_config(path)
    refuse_code(path, config)
    keras = import_keras()
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as scratch:
            # Keras comments on how old files were built ("do not pass input_shape"):
            # nothing the person loading the file can act on.
            warnings.filterwarnings("ignore", category=UserWarning, module="keras")
            readable = with_input_size(path, config, Path(scratch))
            kmodel: Any = keras.saving.load_model(
                str(readable), compile=False, safe_mode=True
            )
    except Exception as exc:  # Keras raises ValueError/TypeError/OSError variously
        raise ModelFormatError(
            f"Keras could not load {path}: {' '.join(str(exc).split())[:300]}"
        ) from exc
    model_config = kmodel.get_config()
    try:
        sig = signature(kmodel, model_config)
        integers = integer_inputs(model_config, sig)
    except UnsupportedStructure as why:
        raise UnsupportedFormatError(f"{path}: {why}.") from why
    try:
        module: nn.Module = convert(kmodel, model_config, sig)
        _verify(module, KerasModule(kmodel, sig), path, integers)
    except UnsupportedLayer as why:
        warnings.warn(
            f"{path}: {why} has no torch conversion; running the Keras model itself "
            "(correct, but slower, the Taylor engine cannot trace it, and float64 "
            "is computed in float32).",
            FallbackWarning,
            stacklevel=3,
        )
        module = KerasModule(kmodel, sig)
    contiguous_parameters(module)
    # Not wrap's probes: the module is wrt's conversion, checked against Keras
    # above (or Keras itself); probes at arbitrary points would call a max
    # pooling's switch a cut gradient and an index column (0.5) invalid.
    bare = Model(
        module,
        default_inputs(sig.n_in),
        default_outputs(sum(sig.out_sizes)),
        source=str(path),
        runtime="keras" if isinstance(module, KerasModule) else "torch",
        integer_inputs={column: why for column, (why, _) in integers.items()},
    )
    try:
        names_in = inputs if inputs is not None else input_names(sig)
        names_out = outputs if outputs is not None else output_names(sig)
    except UnsupportedStructure as why:
        raise InvalidNameError(f"{path}: {why}.") from why
    model = wrap(bare, names_in, names_out)
    if isinstance(module, KerasGraph):
        _warn_unused(module, model, path)
    return model


def _warn_unused(graph: KerasGraph, model: Model, path: Path) -> None:
    """Warn of Keras inputs that no layer reads (their partials are all 0)."""
    read = {ref for call in graph.calls for ref in call.needs} | set(graph.outputs)
    unused, start = [], 0
    for ref, shape in graph.inputs:
        width = math.prod(shape)
        if ref not in read:
            unused += model.inputs[start : start + width]
        start += width
    if unused:
        warnings.warn(
            f"Input(s) {', '.join(unused)} of {path} feed no layer of the model: "
            "their partials will be 0.",
            IgnoredInputWarning,
            stacklevel=4,
        )


def contiguous_parameters(module: nn.Module) -> None:
    """Make every parameter and buffer of a converted module contiguous, in place.

    Keras stores a kernel as (in, out); its torch conversion is the transpose, a
    view with strides that ``parameters_to_vector`` and optimisers' flat buffers
    reject. The module is wrt's own conversion, never the user's object.
    """
    for sub in module.modules():
        if isinstance(sub, KerasModule):
            continue  # Keras' own variables: not wrt's to change
        for name, param in list(sub.named_parameters(recurse=False)):
            if not param.is_contiguous():
                fresh = nn.Parameter(
                    param.detach().contiguous(), requires_grad=param.requires_grad
                )
                setattr(sub, name, fresh)
        for name, buffer in list(sub.named_buffers(recurse=False)):
            if buffer is not None and not buffer.is_contiguous():
                sub.register_buffer(name, buffer.contiguous())


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


class KerasModule(nn.Module):
    """The Keras model itself as a torch module mapping (N, n_in) to (N, n_out).

    Keras layers keep a dtype policy of their own, so a float64 copy is rebuilt from
    the config (:meth:`converted_to`) rather than cast. Even then Keras computes in
    float32 on the torch backend: its type promotion maps float64 to float32 on every
    backend but TensorFlow (``BIT64_TO_BIT32_DTYPE`` in Keras 3.15), so matmuls lose
    precision. The torch conversion has no such limit, which is one more reason it is
    the path of choice.
    """

    def __init__(self, kmodel, layout: Signature | Sequence[tuple[int, ...]]) -> None:
        """Wrap ``kmodel``.

        Args:
            kmodel: the Keras model.
            layout: its :class:`Signature`, or the per-sample shapes of its inputs
                in its own order (for a model without dict inputs or outputs).
        """
        super().__init__()
        self.kmodel = kmodel
        self.layout = layout
        self.in_shapes: list[tuple[int, ...]]
        self.in_keys: list[str] | None = None
        self.out_keys: list[str] | None = None
        if isinstance(layout, Signature):
            self.in_shapes = list(layout.in_shapes)
            self.in_keys, self.out_keys = layout.in_keys, layout.out_keys
        else:
            self.in_shapes = list(layout)

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
        return KerasModule(float64_copy(self.kmodel), self.layout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Split the points (N, n_in) into the Keras inputs and run the model."""
        parts, start = [], 0
        for shape in self.in_shapes:
            width = math.prod(shape)
            parts.append(x[:, start : start + width].reshape(x.shape[0], *shape))
            start += width
        if self.in_keys is not None:  # a model built with a dict of inputs
            feed: Any = dict(zip(self.in_keys, parts, strict=True))
        else:
            feed = parts if len(parts) > 1 else parts[0]
        out = self.kmodel(feed, training=False)
        if isinstance(out, dict):
            keys = self.out_keys if self.out_keys is not None else list(out)
            outs = [out[key] for key in keys]
        else:
            outs = out if isinstance(out, (list, tuple)) else [out]
        flat = [o.reshape(x.shape[0], -1) for o in outs]
        return flat[0] if len(flat) == 1 else torch.cat(flat, dim=1)


def _verify(
    module: nn.Module,
    keras_module: KerasModule,
    path: Path,
    integers: dict[int, tuple[str, int]],
) -> None:
    """Compare the converted module with Keras on 16 sample points.

    Integer-valued columns (Embedding indices) get valid indices. The tolerance
    covers float32 evaluation order differences between Keras' ops and torch's (a
    few ulps per layer, amplified by depth).
    """
    n_in = sum(math.prod(s) for s in keras_module.in_shapes)
    generator = torch.Generator().manual_seed(0)
    dtype = next(iter(module.parameters()), torch.empty(0)).dtype
    x = torch.randn(16, n_in, generator=generator, dtype=dtype)
    for column, (_, rows) in integers.items():
        x[:, column] = torch.randint(0, max(rows, 1), (16,), generator=generator)
    with torch.no_grad(), warnings.catch_warnings():
        # Keras' comments on its own layers (``rms_scaling`` is deprecated) are
        # nothing the person loading the file can act on
        warnings.filterwarnings("ignore", category=UserWarning, module="keras")
        mine = module(x).to(torch.float64)
        try:
            theirs = keras_module(x).detach().cpu().to(torch.float64)
        except Exception as exc:  # Keras on torch cannot run every TF-made file
            warnings.warn(
                f"Keras on the torch backend cannot run {path} "
                f"({' '.join(str(exc).split())[:200]}), so its torch conversion "
                "was not checked against Keras.",
                VerificationSkippedWarning,
                stacklevel=4,
            )
            return
    scale = max(1.0, float(theirs.abs().max()))
    error = float((mine - theirs).abs().max())
    if not error <= 1e-4 * scale:
        raise ModelFormatError(
            f"The torch conversion of {path} differs from Keras by {error:.3g} on "
            "sample points; please report this. Meanwhile rebuild the model in torch.",
            hint="This is a bug in wrt's Keras converter: please report it to wrt's "
            "maintainers with the model file.",
        )


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
