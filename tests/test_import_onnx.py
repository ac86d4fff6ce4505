"""ONNX importer: wrt's converter against torch.autograd, closed forms, onnxruntime.

Op-level graphs are built with ``onnx.helper`` (always available); whole models are
exported from torch with the TorchScript-based ``torch.onnx.export(dynamo=False)``,
which needs no onnxscript.
"""

from __future__ import annotations

import itertools
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import wrt
from tolerances import AUTOGRAD, FINITE_DIFF, assert_partial_close
from wrt.errors import IgnoredInputWarning, VerificationSkippedWarning
from wrt.importers import onnx_ops, onnx_ops_shape, onnx_verify
from wrt.importers.onnx import OnnxModule, load_onnx

D, F = TensorProto.DOUBLE, TensorProto.FLOAT
BIG = 2**63 - 1  # what exporters write for "to the end" in Slice
IR_VERSION = 10  # onnx 1.16's; every onnxruntime >= 1.18 reads it
# (exponents of x1, x2): value, gradient, Hessian, a 3rd and a 4th order partial
ALPHAS = [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2), (3, 0), (0, 4), (2, 2)]

W = np.array([[0.7, -1.3], [0.4, 0.9], [-0.6, 0.5]])  # (3, 2), like Linear(2, 3)
B = np.array([0.1, -0.2, 0.3])
C2 = np.array([0.3, -0.7])


_COUNT = itertools.count()


def node(op: str, inputs: Sequence[str], outputs: Sequence[str] = ("y",), **attrs):
    """A node named after its op, uniquely (onnxruntime refuses repeated names)."""
    name = f"n_{op}_{next(_COUNT)}"
    return helper.make_node(op, list(inputs), list(outputs), name=name, **attrs)


def save(
    path: Path,
    nodes: list,
    *,
    inputs: Sequence[tuple[str, list]] = (("x", ["N", 2]),),
    outputs: Sequence[str] = ("y",),
    init: dict[str, np.ndarray] | None = None,
    opset: int = 20,
    elem: int = D,
    check: bool = True,
) -> Path:
    """Write a one-graph ONNX model; float initializers take the dtype ``elem``.

    Output shapes come from onnx's shape inference (the checker wants one); an
    unchecked graph declares (N, 2).
    """
    out_shape = None if check else ["N", 2]
    kind = np.float64 if elem == D else np.float32
    tensors = []
    for name, value in (init or {}).items():
        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(kind)
        tensors.append(numpy_helper.from_array(array, name))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, elem, shape) for n, shape in inputs],
        [helper.make_tensor_value_info(n, elem, out_shape) for n in outputs],
        tensors,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION
    )
    if check:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        for value in model.graph.output:  # rank unknown to the inference
            if not value.type.tensor_type.HasField("shape"):
                value.CopyFrom(
                    helper.make_tensor_value_info(value.name, elem, ["N", 2])
                )
        onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def reference(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, j: int, alpha
) -> np.ndarray:
    """d^alpha fn(x)[:, j] by plain nested torch.autograd.grad on the torch code."""
    x = x.detach().clone().requires_grad_(True)
    y = fn(x)
    g = (y if y.dim() == 1 else y.reshape(len(x), -1)[:, j]).to(torch.float64)
    for i, power in enumerate(alpha):
        for _ in range(power):
            if not g.requires_grad:  # piecewise linear: the rest is zero
                return np.zeros(len(x))
            (d,) = torch.autograd.grad(g.sum(), x, create_graph=True)
            g = d[:, i]
    return (g.detach() + 0).numpy()  # + 0: abs'' is a ZeroTensor, numpy() refuses


def check_partials(
    model: wrt.Model,
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    engine: str = "autograd",
    alphas: Sequence[tuple[int, int]] = ALPHAS,
) -> None:
    """Every output's partials in ``alphas`` against ``reference``."""
    specs = [
        wrt.Partial(out, dict(zip(model.inputs, alpha, strict=True)))
        for out in model.outputs
        for alpha in alphas
    ]
    got = wrt.partials(model, x, specs, engine=engine)
    # autograd: the same float64 arithmetic in a different arrangement (e.g. Gemm
    # as matmul + add, GELU by F.gelu vs its erf formula) differs by round-off
    # only: tolerances.AUTOGRAD (1e-10 relative) leaves two orders of margin.
    # finite_diff: the engine's promised accuracy, tolerances.FINITE_DIFF.
    tolerance = AUTOGRAD if engine == "autograd" else FINITE_DIFF
    for spec in specs:
        j = model.outputs.index(spec.output)
        expected = reference(fn, x, j, spec.multi_index(model.inputs))
        # + 0: the engine passes on autograd's ZeroTensor for abs'' (no numpy())
        assert_partial_close(got[spec] + 0, expected, **tolerance, what=str(spec))


def points(lo: float, hi: float, n: int = 6, seed: int = 1) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(lo, hi, (n, 2)))


@dataclass
class Case:
    """An ONNX graph x (N, 2) -> y and the same function in torch."""

    id: str
    nodes: list
    fn: Callable[[torch.Tensor], torch.Tensor]
    init: dict[str, np.ndarray] = field(default_factory=dict)
    domain: tuple[float, float] = (-1.0, 1.0)
    opset: int = 20
    ignores: str | None = None  # an input the graph does not read: a warning

    def load(self, path: Path, **options) -> wrt.Model:
        """load_onnx, expecting the IgnoredInputWarning of an unread input."""
        if self.ignores is None:
            return load_onnx(path, **options)
        with pytest.warns(IgnoredInputWarning, match=f"Input.s. {self.ignores} "):
            return load_onnx(path, **options)


def unary(op: str, fn, domain=(-1.0, 1.0), label: str | None = None, **attrs) -> Case:
    return Case(label or op, [node(op, ["x"], **attrs)], fn, domain=domain)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def gelu_erf(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


POS = (0.5, 1.5)
# ONNX float attributes are float32: alpha=0.2 is stored as 0.200000002980...
A02, A001, A07 = (float(np.float32(a)) for a in (0.2, 0.01, 0.7))
I64 = np.int64
CASES = [
    unary("Abs", torch.abs),
    unary("Neg", torch.neg),
    unary("Sqrt", torch.sqrt, POS),
    unary("Tanh", torch.tanh),
    unary("Sigmoid", lambda x: 1 / (1 + torch.exp(-x))),
    unary("Relu", lambda x: torch.where(x > 0, x, 0 * x)),
    unary("LeakyRelu", lambda x: torch.where(x > 0, x, A02 * x), alpha=0.2),
    unary("LeakyRelu", lambda x: torch.where(x > 0, x, A001 * x), label="LeakyRelu0"),
    unary("Elu", lambda x: torch.where(x > 0, x, A07 * (torch.exp(x) - 1)), alpha=0.7),
    unary("Softplus", lambda x: torch.log(1 + torch.exp(x)), (-3.0, 3.0)),
    unary("Sin", torch.sin),
    unary("Cos", torch.cos),
    unary("Exp", torch.exp),
    unary("Log", torch.log, POS),
    unary("Erf", torch.erf),
    unary("Reciprocal", lambda x: 1 / x, POS),
    unary("Gelu", gelu_erf, (-2.0, 2.0)),
    unary("Gelu", gelu_tanh, (-2.0, 2.0), label="GeluTanh", approximate="tanh"),
    unary("Identity", lambda x: x),
    unary("Dropout", lambda x: x),
    Case("Add", [node("Add", ["x", "c"])], lambda x: x + t(C2), {"c": C2}),
    Case("Sub", [node("Sub", ["c", "x"])], lambda x: t(C2) - x, {"c": C2}),
    Case("Mul", [node("Mul", ["x", "x"])], lambda x: x * x),
    Case("Div", [node("Div", ["c", "x"])], lambda x: t(C2) / x, {"c": C2}, POS),
    Case(
        "Pow",
        [node("Pow", ["x", "c"])],
        lambda x: x ** t([2.0, 3.5]),
        {"c": np.array([2.0, 3.5])},
        POS,
    ),
    Case("PowInt", [node("Pow", ["x", "k"])], lambda x: x**3, {"k": np.array(3, I64)}),
    Case(
        "Gemm",
        [node("Gemm", ["x", "w", "b"], ["z"], transB=1), node("Tanh", ["z"])],
        lambda x: torch.tanh(x @ t(W).T + t(B)),
        {"w": W, "b": B},
    ),
    Case(
        "GemmAlphaBeta",
        [node("Gemm", ["x", "w", "b"], ["z"], alpha=0.5, beta=2.0), node("Sin", ["z"])],
        lambda x: torch.sin(0.5 * x @ t(W).T + 2.0 * t(B)),
        {"w": W.T.copy(), "b": B[None, :]},
    ),
    Case(  # Gemm with A transposed, no C; also tests Transpose
        "GemmTransA",
        [
            node("Transpose", ["x"], ["xt"], perm=[1, 0]),
            node("Gemm", ["xt", "w"], ["z"], transA=1, transB=1),
            node("Tanh", ["z"]),
        ],
        lambda x: torch.tanh(x @ t(W).T),
        {"w": W},
    ),
    Case(
        "MatMul",
        [node("MatMul", ["x", "w"], ["z"]), node("Tanh", ["z"])],
        lambda x: torch.tanh(x @ t(W).T),
        {"w": W.T.copy()},
    ),
    Case(
        "Concat",
        [node("Sin", ["x"], ["s"]), node("Concat", ["s", "x"], axis=-1)],
        lambda x: torch.cat([torch.sin(x), x], 1),
    ),
    Case(  # x[:, 1:] as torch exports it
        "Slice",
        [node("Slice", ["x", "s", "e", "a", "k"], ["z"]), node("Sin", ["z"])],
        lambda x: torch.sin(x[:, 1:]),
        {k: np.array(v, I64) for k, v in dict(s=[1], e=[BIG], a=[1], k=[1]).items()},
        ignores="x1",
    ),
    Case(  # negative step: columns reversed
        "SliceReversed",
        [node("Slice", ["x", "s", "e", "a", "k"], ["z"]), node("Tanh", ["x"], ["z2"])]
        + [node("Mul", ["z", "z2"])],
        lambda x: x.flip(1) * torch.tanh(x),
        {k: np.array(v, I64) for k, v in dict(s=[-1], e=[-BIG], a=[1], k=[-1]).items()},
    ),
    Case(
        "SliceAttributes",  # opset 9: bounds are attributes
        [node("Slice", ["x"], ["z"], starts=[0], ends=[1], axes=[1])]
        + [node("Exp", ["z"])],
        lambda x: torch.exp(x[:, :1]),
        opset=9,
        ignores="x2",
    ),
    Case(  # (N, 2) -> (N, 2, 1), 0 copies N
        "Reshape",
        [node("Tanh", ["x"], ["z"]), node("Reshape", ["z", "shape"])],
        torch.tanh,
        {"shape": np.array([0, 2, 1], I64)},
    ),
    Case(  # shape computed in the graph: Shape, Concat of ints, Reshape
        "ShapeReshape",
        [
            node("Shape", ["x"], ["n"], end=1),
            node("Concat", ["n", "m1"], ["shape"], axis=0),
            node("Unsqueeze", ["x", "ax"], ["u"]),
            node("Sin", ["u"], ["s"]),
            node("Reshape", ["s", "shape"]),
        ],
        torch.sin,
        {"m1": np.array([-1], I64), "ax": np.array([2], I64)},
    ),
    Case(
        "Flatten",
        [node("Unsqueeze", ["x", "ax"], ["u"]), node("Sin", ["u"], ["s"])]
        + [node("Flatten", ["s"], axis=1)],
        torch.sin,
        {"ax": np.array([1], I64)},
    ),
    Case(
        "SqueezeUnsqueeze",
        [node("Unsqueeze", ["x", "ax"], ["u"]), node("Tanh", ["u"], ["v"])]
        + [node("Squeeze", ["v", "ax"])],
        torch.tanh,
        {"ax": np.array([-2], I64)},
    ),
    Case(
        "SqueezeUnsqueezeAttributes",  # opset 11: axes are attributes
        [node("Unsqueeze", ["x"], ["u"], axes=[1]), node("Cos", ["u"], ["v"])]
        + [node("Squeeze", ["v"], axes=[1])],
        torch.cos,
        opset=11,
    ),
    Case(  # wrt keeps the float64 of the points through a Cast to float32
        "Cast",
        [node("Cast", ["x"], ["f"], to=F), node("Sin", ["f"], ["s"])]
        + [node("Cast", ["s"], to=D)],
        torch.sin,
    ),
    Case(  # integer -> float: the number of columns times x
        "CastInt",
        [node("Shape", ["x"], ["n"], start=1), node("Cast", ["n"], ["k"], to=D)]
        + [node("Mul", ["x", "k"])],
        lambda x: 2 * x,
    ),
    Case(
        "Constant",
        [
            node("Constant", [], ["c"], value=numpy_helper.from_array(C2)),
            node("Constant", [], ["p"], value_float=2.0),
            node("Mul", ["x", "c"], ["z"]),
            node("Pow", ["z", "p"]),
        ],
        lambda x: (x * t(C2)) ** 2,
    ),
    Case(  # x[:, 1] as torch exports it: (N,) output
        "Gather",
        [node("Gather", ["x", "i"], ["g"], axis=1), node("Tanh", ["g"])],
        lambda x: torch.tanh(x[:, 1]),
        {"i": np.array(1, I64)},
        ignores="x1",
    ),
    Case(
        "GatherVector",
        [node("Gather", ["x", "i"], ["g"], axis=1), node("Sin", ["x"], ["s"])]
        + [node("Mul", ["g", "s"])],
        lambda x: x.flip(1) * torch.sin(x),
        {"i": np.array([-1, 0], I64)},
    ),
    Case(
        "Split",  # opset 18: num_outputs
        [node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2)]
        + [node("Sin", ["b"], ["s"]), node("Mul", ["a", "s"])],
        lambda x: x[:, :1] * torch.sin(x[:, 1:]),
    ),
    Case(
        "SplitSizes",
        [node("Split", ["x", "sizes"], ["a", "b"], axis=1)]
        + [node("Exp", ["b"], ["e"]), node("Div", ["a", "e"])],
        lambda x: x[:, :1] / torch.exp(x[:, 1:]),
        {"sizes": np.array([1, 1], I64)},
        opset=13,
    ),
    Case(
        "SplitEqual",  # opset 11: no sizes, equal parts
        [node("Split", ["x"], ["a", "b"], axis=1)]
        + [node("Tanh", ["b"], ["s"]), node("Sub", ["a", "s"])],
        lambda x: x[:, :1] - torch.tanh(x[:, 1:]),
        opset=11,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_partials_match_torch_autograd(tmp_path, case):
    path = save(tmp_path / "m.onnx", case.nodes, init=case.init, opset=case.opset)
    # verify=True: onnxruntime runs every graph (float64, or a float32 copy where
    # it has no float64 kernel); a VerificationSkippedWarning would fail the test.
    model = case.load(path, dtype="float64")
    # a graph without floating tensors has no dtype of its own (Model.dtype None)
    assert model.inputs == ("x1", "x2") and model.dtype in (torch.float64, None)
    check_partials(model, case.fn, points(*case.domain))


def float32_casts(original: onnx.NodeProto) -> onnx.NodeProto:
    """The node with Casts to float64 and float64 constants made float32."""
    result = onnx.NodeProto()
    result.CopyFrom(original)
    for attribute in result.attribute:
        if result.op_type == "Cast" and attribute.i == D:
            attribute.i = F
        if attribute.name == "value" and attribute.t.data_type == D:
            array = numpy_helper.to_array(attribute.t).astype(np.float32)
            attribute.t.CopyFrom(numpy_helper.from_array(array))
    return result


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_matches_onnxruntime_in_float32(tmp_path, monkeypatch, case):
    runs = []
    original = onnx_verify._run_onnxruntime
    monkeypatch.setattr(
        onnx_verify,
        "_run_onnxruntime",
        lambda *a: runs.append(a[1]) or original(*a),
    )
    nodes = [float32_casts(n) for n in case.nodes]
    path = save(tmp_path / "m.onnx", nodes, init=case.init, opset=case.opset, elem=F)
    model = case.load(path)
    assert model.dtype in (torch.float32, None) and runs == [str(path)]


def test_softplus_has_no_cutoff(tmp_path):
    """torch's F.softplus is linear above 20: its second derivative would be 0."""
    path = save(tmp_path / "m.onnx", [node("Softplus", ["x"])])
    x = torch.tensor([[25.0, 30.0]], dtype=torch.float64)
    got = wrt.partials(load_onnx(path), x, ["d2y1/dx1^2"])["d2y1/dx1^2"]
    expected = math.exp(-25.0) / (1 + math.exp(-25.0)) ** 2  # sigmoid'(25)
    assert got.item() == pytest.approx(expected, rel=1e-12)  # one exp, one division


def test_slice_bounds_follow_the_onnx_spec():
    r = onnx_ops_shape.slice_range
    assert list(r(-100, -BIG, -1, 5)) == [0]  # start clamps to 0, not to -1
    assert list(r(1, BIG, 2, 5)) == [1, 3]
    assert list(r(-1, -BIG, -2, 5)) == [4, 2, 0]
    assert list(r(3, 1, 1, 5)) == []


class Pinn(torch.nn.Module):
    """A PINN-style network: column selection, features, several activations."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(4, 8)
        self.b = torch.nn.Linear(8, 8)
        self.c = torch.nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, t = x[:, 0:1], x[:, 1]
        feats = torch.cat(
            [s, t.unsqueeze(1), torch.sin(s) ** 2, torch.sqrt(1 + s * s)], 1
        )
        h = torch.tanh(self.a(feats))
        h = torch.nn.functional.gelu(self.b(h)) + torch.nn.functional.softplus(h) / 2
        h = torch.sigmoid(h) - torch.nn.functional.elu(h, 0.5) * torch.exp(-h)
        return self.c(h).reshape(-1, 1)


def export(module: torch.nn.Module, path: Path, example: torch.Tensor, **kw) -> Path:
    """torch.onnx.export without onnxscript; its deprecation notes are torch's own."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), dynamo=False, **kw)
    return path


@pytest.fixture(scope="module")
def pinn_file(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    net = Pinn().double().eval()
    path = tmp_path_factory.mktemp("onnx") / "pinn.onnx"
    dynamic = {"x": {0: "N"}, "u": {0: "N"}}
    export(
        net,
        path,
        torch.zeros(3, 2, dtype=torch.float64),
        input_names=["x"],
        output_names=["u"],
        dynamic_axes=dynamic,
        opset_version=17,  # before opset 20's Gelu op: exact GELU exports as Erf
    )
    return net, path


def test_exported_pinn_has_the_ops_it_should(pinn_file):
    ops = {n.op_type for n in onnx.load(str(pinn_file[1])).graph.node}
    assert {"Gemm", "Slice", "Gather", "Unsqueeze", "Concat", "Erf"} <= ops


@pytest.mark.parametrize("engine", ["autograd", "finite_diff"])
def test_exported_pinn_partials_up_to_order_four(pinn_file, engine):
    net, path = pinn_file
    model = wrt.load(path, inputs=["s", "t"], outputs=["u"])
    assert model.format == "onnx" and isinstance(model.module, OnnxModule)
    assert model.dtype == torch.float64  # the file's dtype: exported from float64
    x = points(0.0, 1.0, n=5)
    check_partials(model, net, x, engine=engine)


def test_float32_file_and_its_float64_copy(tmp_path):
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)
    )
    path = export(net, tmp_path / "m.onnx", torch.zeros(1, 2))  # fixed batch of 1
    model = wrt.load(path)
    assert model.dtype == torch.float32 and model.outputs == ("y1", "y2")
    params = dict(model.module.named_parameters())
    assert len(params) == 4 and all(p.requires_grad for p in params.values())
    wide = wrt.load(path, dtype="float64")
    assert wide.dtype == torch.float64 and model.dtype == torch.float32
    # the float64 copy of float32 weights is the float64 net with those weights
    check_partials(wide, net.double(), points(-1.0, 1.0, n=7))


def test_scalar_inputs_and_outputs_keep_their_names(tmp_path):
    nodes = [
        node("Unsqueeze", ["t", "ax"], ["t1"]),
        node("Mul", ["x", "t1"], ["xt"]),
        node("Sin", ["xt"], ["u"]),
        node("Add", ["x", "t1"], ["v"]),
    ]
    ins = [("x", ["N", 1]), ("t", ["N"])]  # (N, 1) and (N,) are both scalars
    init = {"ax": np.array([1], I64)}
    path = save(tmp_path / "m.onnx", nodes, inputs=ins, outputs=["u", "v"], init=init)
    model = wrt.load(path)
    assert model.inputs == ("x", "t") and model.outputs == ("u", "v")
    x = points(-1.0, 1.0)
    got = wrt.partials(model, x, ["d2u/dxdt", "dv/dt", "u"])
    a, b = x[:, 0], x[:, 1]
    expected = torch.cos(a * b) - a * b * torch.sin(a * b)
    torch.testing.assert_close(got["d2u/dxdt"], expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got["dv/dt"], torch.ones(6, dtype=torch.float64))
    torch.testing.assert_close(got["u"], torch.sin(a * b), rtol=0, atol=0)


def test_a_multi_dimensional_input_is_flattened_row_major(tmp_path):
    nodes = [node("Reshape", ["x", "shape"], ["f"]), node("MatMul", ["f", "w"])]
    init = {"shape": np.array([0, 4], I64), "w": np.array([[1.0], [10], [100], [1e3]])}
    path = save(tmp_path / "m.onnx", nodes, inputs=[("x", ["N", 2, 2])], init=init)
    model = wrt.load(path)
    assert model.inputs == ("x1", "x2", "x3", "x4") and model.outputs == ("y",)
    g = wrt.grad(model, torch.zeros(3, 4, dtype=torch.float64))
    torch.testing.assert_close(g[0], torch.tensor([1.0, 10, 100, 1000]).double())


@pytest.mark.parametrize(
    ("names", "outputs", "expected_in", "expected_out", "renamed"),
    [
        (["input.1", "2"], ["out/u"], ("input_1", "_2"), ("y",), False),
        (["a.b", "a_b"], ["u", "v"], ("x1", "x2"), ("u", "v"), True),  # would repeat
        (["a.b", "c"], ["a_b", "d"], ("a_b", "c"), ("y1", "y2"), True),  # clash
        (["y", "z"], ["out"], ("x1", "x2"), ("y",), True),  # clash with default y
    ],
)
def test_names_are_sanitised_or_fall_back_to_defaults(
    tmp_path, names, outputs, expected_in, expected_out, renamed
):
    nodes = [node("Add", names, [outputs[0]])]
    nodes += [node("Mul", names, [o]) for o in outputs[1:]]
    ins = [(n, ["N", 1]) for n in names]
    path = save(tmp_path / "m.onnx", nodes, inputs=ins, outputs=outputs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_onnx(path)
    assert (model.inputs, model.outputs) == (expected_in, expected_out)
    said = [w for w in caught if issubclass(w.category, wrt.InputNamesWarning)]
    assert bool(said) == renamed  # a fallback to default names is never silent


def test_output_with_several_columns_among_several_outputs(tmp_path):
    nodes = [node("Identity", ["x"], ["u"]), node("Gather", ["x", "i"], ["p"], axis=1)]
    path = save(
        tmp_path / "m.onnx", nodes, outputs=["u", "p"], init={"i": np.array([0], I64)}
    )
    model = load_onnx(path, inputs="x,t")
    assert model.inputs == ("x", "t") and model.outputs == ("u1", "u2", "p")


def test_user_names_must_match_the_columns(tmp_path):
    path = save(tmp_path / "m.onnx", [node("Sin", ["x"])])
    with pytest.raises(wrt.InvalidNameError, match="3 input name"):
        load_onnx(path, inputs=["a", "b", "c"])


def test_unknown_attribute_and_domain_are_unsupported():
    with pytest.raises(onnx_ops.UnsupportedNode, match="Tanh with attribute foo"):
        onnx_ops.build(helper.make_node("Tanh", ["x"], ["y"], foo=1))
    custom = helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")
    with pytest.raises(onnx_ops.UnsupportedNode):
        onnx_ops.build(custom)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_file_is_a_one_line_format_error(tmp_path, pinn_file, cut):
    data = pinn_file[1].read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(wrt.ModelFormatError, match="not a valid ONNX model") as info:
        wrt.load(path)
    assert "\n" not in str(info.value)


def test_invalid_graph_is_a_format_error(tmp_path):
    nodes = [node("Tanh", ["nowhere"])]  # reads a value nothing defines
    path = save(tmp_path / "m.onnx", nodes, check=False)
    with pytest.raises(wrt.ModelFormatError, match="not a valid ONNX model"):
        load_onnx(path)


@pytest.mark.parametrize(
    ("inputs", "elem", "fragment"),
    [
        ([("x", ["N", "F"])], D, "fixed size per point"),
        ([("x", [])], D, "points first"),
        ([("x", ["N", 2])], TensorProto.INT64, "floating-point inputs only"),
    ],
)
def test_inputs_wrt_cannot_use(tmp_path, inputs, elem, fragment):
    path = save(
        tmp_path / "m.onnx", [node("Identity", ["x"])], inputs=inputs, elem=elem
    )
    with pytest.raises(wrt.ModelFormatError, match=fragment):
        load_onnx(path, verify=False)


def test_a_failing_node_is_named(tmp_path):
    nodes = [node("Reshape", ["x", "shape"])]  # 2N values in rows of 4: N even
    nodes[0].name = "odd/reshape"
    init = {"shape": np.array([-1, 4], I64)}
    path = save(tmp_path / "m.onnx", nodes, init=init)
    with pytest.raises(wrt.ModelFormatError, match="'odd/reshape' \\(Reshape\\)"):
        load_onnx(path)


def test_points_of_the_wrong_width_are_refused(tmp_path):
    model = load_onnx(save(tmp_path / "m.onnx", [node("Sin", ["x"])]))
    with pytest.raises(wrt.ModelError, match="points of shape \\(N, 2\\)"):
        model(torch.zeros(4, 3))


def tanh_file(tmp_path: Path, elem: int = F) -> Path:
    nodes = [node("Gemm", ["x", "w", "b"], ["z"], transB=1), node("Tanh", ["z"])]
    return save(tmp_path / "m.onnx", nodes, init={"w": W, "b": B}, elem=elem)


def test_a_wrong_conversion_is_caught_by_onnxruntime(tmp_path, monkeypatch):
    path = tanh_file(tmp_path)
    monkeypatch.setitem(onnx_ops.OPS, "Tanh", onnx_ops.OPS["Sin"])  # a planted bug
    with pytest.raises(wrt.ModelFormatError, match="differs from onnxruntime") as info:
        load_onnx(path)
    assert "verify=False" in str(info.value) and "output 'y'" in str(info.value)
    assert load_onnx(path, verify=False).outputs == ("y1", "y2", "y3")


def test_float64_file_is_checked_through_float32_where_kernels_are_missing(
    tmp_path, monkeypatch
):
    # onnxruntime has no float64 Softplus: the float32 copy is what it runs
    path = save(tmp_path / "m.onnx", [node("Softplus", ["x"])])
    load_onnx(path)
    monkeypatch.setitem(onnx_ops.OPS, "Softplus", onnx_ops.OPS["Exp"])
    with pytest.raises(wrt.ModelFormatError, match="differs from onnxruntime"):
        load_onnx(path)


def test_without_onnxruntime_verification_is_skipped(tmp_path, monkeypatch):
    path = tanh_file(tmp_path)
    monkeypatch.setitem(onnx_ops.OPS, "Tanh", onnx_ops.OPS["Sin"])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    assert load_onnx(path).n_outputs == 3


def test_onnxruntime_failing_is_a_warning(tmp_path, monkeypatch):
    def fail(*args):
        raise RuntimeError("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : no kernel")

    monkeypatch.setattr(onnx_verify, "_run_onnxruntime", fail)
    with pytest.warns(VerificationSkippedWarning, match="not cross-checked"):
        load_onnx(tanh_file(tmp_path))


def test_load_dispatches_to_the_onnx_importer(tmp_path, monkeypatch):
    path = tanh_file(tmp_path)
    path = path.rename(tmp_path / "weights.bin")  # the extension says nothing
    seen = {}

    def spy(path, inputs, outputs, *, dtype=None, **options):
        seen.update(path=path, inputs=inputs, options=options)
        return load_onnx(path, inputs, outputs, dtype=dtype, **options)

    monkeypatch.setattr("wrt.importers.onnx.load_onnx", spy)
    model = wrt.load(path, inputs=["a", "b"], verify=False)
    assert seen == {"path": path, "inputs": ["a", "b"], "options": {"verify": False}}
    assert model.format == "onnx" and model.inputs == ("a", "b")


def test_model_local_functions_are_inlined(tmp_path):
    """onnxscript writes layers as functions of the model; their calls are nodes."""
    body = [
        helper.make_node("Sin", ["a"], ["s"]),
        helper.make_node("Mul", ["s", "a"], ["b"]),
    ]
    function = helper.make_function(
        "custom.layers",
        "SinTimes",
        ["a"],
        ["b"],
        body,
        [helper.make_opsetid("", 18)],
    )
    graph = helper.make_graph(
        [helper.make_node("SinTimes", ["x"], ["y"], domain="custom.layers")],
        "g",
        [helper.make_tensor_value_info("x", D, ["N", 2])],
        [helper.make_tensor_value_info("y", D, ["N", 2])],
    )
    opsets = [helper.make_opsetid("", 18), helper.make_opsetid("custom.layers", 1)]
    model = helper.make_model(
        graph, functions=[function], opset_imports=opsets, ir_version=IR_VERSION
    )
    onnx.save(model, tmp_path / "f.onnx")
    loaded = load_onnx(tmp_path / "f.onnx")
    check_partials(loaded, lambda x: torch.sin(x) * x, points(-1.0, 1.0))
