"""Harness of the ONNX op tests: a tiny graph per op, checked two ways.

1. Values: wrt's float32 conversion against onnxruntime running the same file.
2. Derivatives: the float64 copy's gradient and Hessian-vector products by torch
   double backward against float64 central differences of the converted model
   itself (of its values for the gradient, of its gradient for the Hessian). A
   ``detach``, an integer cast or an in-place update on a differentiable path
   makes them disagree; onnxruntime pins the function down.

Every case maps ``x`` of shape (N, k) to ``y`` (N, ...); ``init`` holds the
initializers (floating ones are stored as float32).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from onnx import TensorProto, helper, numpy_helper

from wrt.importers.onnx import convert, opsets

F = TensorProto.FLOAT
IR_VERSION = 10
N = 5
_COUNT = itertools.count()


def node(op: str, inputs: Sequence[str], outputs: Sequence[str] = ("y",), **attrs):
    """A node named after its op, uniquely (onnxruntime refuses repeated names)."""
    name = f"n_{op}_{next(_COUNT)}"
    return helper.make_node(op, list(inputs), list(outputs), name=name, **attrs)


@dataclass
class OpCase:
    """x (N, k) -> y through ``nodes``; points uniform in ``domain``."""

    id: str
    nodes: list
    k: int = 3
    init: dict[str, np.ndarray] = field(default_factory=dict)
    opset: int = 20
    domain: tuple[float, float] = (-1.0, 1.0)
    smooth: bool = True  # False: piecewise linear, no Hessian check

    def __post_init__(self) -> None:
        self.init = {k: np.asarray(v) for k, v in self.init.items()}


def save_case(case: OpCase, path: Path) -> Path:
    """The case as a float32 ONNX file."""
    tensors = []
    for name, value in case.init.items():
        array = value.astype(np.float32) if value.dtype.kind == "f" else value
        tensors.append(numpy_helper.from_array(array, name))
    graph = helper.make_graph(
        case.nodes,
        "g",
        [helper.make_tensor_value_info("x", F, ["N", case.k])],
        [helper.make_tensor_value_info("y", F, None)],
        tensors,
    )
    opsets = [helper.make_opsetid("", case.opset)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=IR_VERSION)
    model = onnx.shape_inference.infer_shapes(model)  # the checker wants y's shape
    output = model.graph.output[0]
    if not output.type.tensor_type.HasField("shape"):  # rank unknown to inference
        rank = len(_run_ort(model, case)[0].shape)
        dims = ["N", *(f"d{i}" for i in range(1, rank))]
        output.CopyFrom(helper.make_tensor_value_info("y", F, dims))
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _module(path: Path) -> torch.nn.Module:
    """The converted graph alone: op graphs need not pass wrt.load's model checks
    (some read fixed batch sizes or the number of points, or ignore columns)."""
    proto = onnx.load(str(path))
    return convert(proto.graph, str(path), opsets(proto))


def _run_ort(model: onnx.ModelProto, case: OpCase) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"x": points(case).astype(np.float32)})


def points(case: OpCase, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(*case.domain, (N, case.k))


def check_values(case: OpCase, tmp_path: Path) -> None:
    """wrt (float32) against onnxruntime on the same file."""
    path = save_case(case, tmp_path / "op.onnx")
    x = points(case).astype(np.float32)
    session = onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"]
    )
    expected = session.run(None, {"x": x})[0].reshape(N, -1)
    with torch.no_grad():
        got = _module(path)(torch.from_numpy(x)).numpy()
    scale = max(1.0, float(np.abs(expected).max()))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * scale)


def check_derivatives(case: OpCase, tmp_path: Path) -> None:
    """float64 double backward against central differences of the same model."""
    path = save_case(case, tmp_path / "op.onnx")
    module = _module(path).double()
    x0 = torch.from_numpy(points(case))
    with torch.no_grad():
        n_out = module(x0).shape[1]
    rng = np.random.default_rng(7)
    weights = torch.from_numpy(rng.normal(size=n_out))
    direction = torch.from_numpy(rng.normal(size=case.k))

    def value(x: torch.Tensor) -> torch.Tensor:
        return module(x) @ weights  # (N,)

    def gradient(x: torch.Tensor, create: bool = False) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(value(x).sum(), x, create_graph=create)
        return g  # (N, k)

    h = 1e-5
    step = h * direction
    with torch.no_grad():
        fd = (value(x0 + step) - value(x0 - step)) / (2 * h)
    g = gradient(x0)
    _close(g @ direction, fd, 1e-7, f"{case.id}: gradient")
    if not case.smooth:
        return
    x = x0.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(value(x).sum(), x, create_graph=True)
    assert g.requires_grad, f"{case.id}: the gradient does not depend on x"
    (hv,) = torch.autograd.grad((g @ direction).sum(), x)
    fd2 = (gradient(x0 + step) - gradient(x0 - step)) / (2 * h)
    _close(hv, fd2, 1e-6, f"{case.id}: Hessian-vector product")


def _close(got: torch.Tensor, expected: torch.Tensor, tol: float, what: str) -> None:
    scale = max(1.0, float(expected.abs().max()))
    error = float((got - expected).abs().max())
    assert error <= tol * scale, f"{what}: error {error:.3e} > {tol * scale:.3e}"
