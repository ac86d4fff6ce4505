"""Cross-check of the ONNX converter against onnxruntime on sample points.

onnxruntime is optional: without it, :func:`verify_with_onnxruntime` does nothing.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from wrt.errors import ModelFormatError, VerificationSkippedWarning

if TYPE_CHECKING:
    from wrt.importers.onnx import OnnxModule, Port

# Largest difference from onnxruntime allowed, relative to max(1, max |output|), by
# the least precise floating dtype in the graph (inputs, initializers, constants,
# Cast targets: a float64 file with a Cast to float32 rounds there in onnxruntime
# but not in wrt, which keeps float64 throughout). A conversion bug (wrong attribute,
# axis or transposition) changes outputs by O(1); kernel round-off differs by a few
# ulps per op times the depth (GEMM summation order, vectorised tanh/exp):
# float32 (eps 1.2e-7) gets ~1000 ulps, float16/bfloat16 (eps 9.8e-4 / 7.8e-3) about
# ten. float64 is held to 1e-6, not ~1e-12: onnxruntime's float64 ops defined by
# function bodies use float32 constants (Gelu's tanh form differs by 4e-9 relative).
VERIFY_TOLERANCE = {
    torch.float64: 1e-6,
    torch.float32: 1e-4,
    torch.float16: 1e-2,
    torch.bfloat16: 1e-1,
}
VERIFY_POINTS = 8


def sample_points(ports: Sequence[Port], n: int, seed: int = 0) -> torch.Tensor:
    """``n`` points drawn uniformly in [0.1, 0.9]^n_in, from a fixed seed.

    They lie inside the usual normalised domain of a PINN and are positive, so that
    Log and Sqrt of the inputs are defined.

    Returns:
        Points, shape (n, n_in), in the dtype of the first input.
    """
    rng = np.random.default_rng(seed)
    columns = sum(p.size for p in ports)
    kind = ports[0].numpy_dtype if ports else np.float32
    return torch.from_numpy(rng.uniform(0.1, 0.9, (n, columns)).astype(kind))


def verify_with_onnxruntime(
    module: OnnxModule,
    proto: onnx.ModelProto,
    path: Path,
    *,
    rewritten: onnx.ModelProto | None = None,
) -> None:
    """Check the converted module against onnxruntime on the original file.

    Does nothing when onnxruntime is not installed (it is an optional dependency).
    Uses the file's batch size when it is fixed, else :data:`VERIFY_POINTS` points.
    onnxruntime has no float64 kernels for some ops (Elu, Softplus, Erf, Gelu, ...):
    a float64 file it cannot run is checked through a float32 copy of the graph,
    against a float32 copy of the module.

    Args:
        module: the converted graph.
        proto: the model as read from ``path``.
        path: the file.
        rewritten: the model actually converted when it differs from the file (a
            classifier without its label output): onnxruntime runs this one.

    Raises:
        ModelFormatError: an output differs by more than the tolerance of the
            graph's least precise floating dtype (:data:`VERIFY_TOLERANCE`).

    Warns:
        VerificationSkippedWarning: onnxruntime cannot run the file at all.
    """
    try:
        import onnxruntime
    except ImportError:
        return
    kinds = {p.numpy_dtype for p in module.ports}
    if len(kinds) != 1:
        return  # no inputs, or inputs of several dtypes that one tensor cannot feed
    n = next((p.batch for p in module.ports if p.batch), VERIFY_POINTS)
    x = sample_points(module.ports, n)
    tolerance = VERIFY_TOLERANCE[module.precision]
    original: str | bytes = str(path)
    if rewritten is not None:
        proto, original = rewritten, rewritten.SerializeToString()
    try:
        expected = _run_onnxruntime(onnxruntime, original, module.ports, x)
    except Exception as exc:  # onnxruntime raises its own Fail/NotImplemented types
        problem = " ".join(str(exc).split())[:300]
        if kinds != {np.float64}:
            warnings.warn(_skipped(path, problem), VerificationSkippedWarning, 2)
            return
        try:  # a float32 copy runs where float64 kernels are missing
            single = _float32_copy(proto).SerializeToString()
            with torch.no_grad():
                module = copy.deepcopy(module).to(torch.float32)
            x, tolerance = x.float(), VERIFY_TOLERANCE[torch.float32]
            expected = _run_onnxruntime(onnxruntime, single, module.ports, x)
        except Exception:  # the float32 copy fails too: report the original problem
            warnings.warn(_skipped(path, problem), VerificationSkippedWarning, 2)
            return
    with torch.no_grad():
        got = [y.double().numpy() for y in module.run(x)]
    for name, want, have in zip(module.output_names, expected, got, strict=True):
        want = np.asarray(want, dtype=np.float64)
        scale = max(1.0, float(np.nanmax(np.abs(want), initial=0.0)))
        error = np.abs(have - want) if have.shape == want.shape else np.array(np.inf)
        error = np.where(np.isnan(have) & np.isnan(want), 0.0, error)
        worst = float(np.nan_to_num(error, nan=np.inf).max(initial=0.0))
        if worst > tolerance * scale:
            raise ModelFormatError(
                f"{path}: wrt's conversion of output '{name}' differs from "
                f"onnxruntime by {worst:.3g} on {n} sample points (allowed "
                f"{tolerance * scale:.3g}; shapes {have.shape} vs {want.shape}). This "
                "is a bug in wrt's ONNX converter, please report it; pass "
                "verify=False to load the model anyway."
            )


def _run_onnxruntime(
    onnxruntime, model: str | bytes, ports: Sequence[Port], x: torch.Tensor
) -> list[np.ndarray]:
    """Run a model file (path) or serialized model on points (N, n_in)."""
    feeds, column = {}, 0
    for port in ports:
        block = x[:, column : column + port.size].reshape(x.shape[0], *port.dims)
        feeds[port.name] = block.numpy()
        column += port.size
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: no notes on stderr
    session = onnxruntime.InferenceSession(
        model, options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)


def _skipped(path: Path, problem: str) -> str:
    return (
        f"{path}: onnxruntime cannot run this file ({problem}), so wrt's conversion "
        "was not cross-checked. Pass verify=False to silence this warning."
    )


def _float32_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model with every float64 tensor, type and Cast target made float32."""
    result = onnx.ModelProto()
    result.CopyFrom(proto)
    double, single = onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT
    graph = result.graph
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.type.tensor_type.elem_type == double:
            value.type.tensor_type.elem_type = single
    tensors = list(graph.initializer)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name == "value" and attribute.HasField("t"):
                tensors.append(attribute.t)
            if (
                node.op_type == "Cast"
                and attribute.name == "to"
                and attribute.i == double
            ):
                attribute.i = single
    for tensor in tensors:
        if tensor.data_type == double:
            array = numpy_helper.to_array(tensor).astype(np.float32)
            tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    return result
