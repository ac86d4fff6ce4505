"""ONNX ops, elementwise, shape and reduction families: onnxruntime and FD checks.

Each case is a tiny hand-built graph (see :mod:`onnx_op_harness`); the network
layers (conv, pooling, normalisation, recurrent, Loop) are in
``test_onnx_ops_nn.py``. Together with ``test_import_onnx.py``'s table, every op
of the registry is tested (:func:`test_every_registered_op_has_a_case`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, numpy_helper

from onnx_op_harness import OpCase, check_derivatives, check_values, node
from test_onnx_ops_nn import NN_CASES
from wrt.importers import onnx_ops

I64 = np.int64
C3 = np.array([0.3, -0.2, 0.1])
POS = (0.2, 0.9)


def unary(op: str, domain=(-0.9, 0.9), label: str | None = None, **attrs) -> OpCase:
    """``y = op(x)`` times x (so that constant pieces still have a derivative)."""
    nodes = [node(op, ["x"], ["u"], **attrs), node("Mul", ["u", "x"])]
    return OpCase(label or op, nodes, domain=domain)


def reshaped(nodes, shape, **kwargs) -> OpCase:
    """Nodes reading ``r``: x (N, prod(shape)) reshaped to (N, *shape)."""
    pre = [node("Reshape", ["x", "shape"], ["r"])]
    init = {"shape": np.array([-1, *shape], I64), **kwargs.pop("init", {})}
    return OpCase(
        kwargs.pop("id"), pre + nodes, k=int(np.prod(shape)), init=init, **kwargs
    )


def reduce(op: str, *, opset=18, keepdims=1, axes=(1,), domain=POS) -> OpCase:
    """sin(``op`` over ``axes`` of x (N, 2, 3)), axes as an input (opset >= 18)."""
    nodes = [node(op, ["r", "axes"], ["s"], keepdims=keepdims), node("Sin", ["s"])]
    return reshaped(
        nodes, (2, 3), id=f"{op}", opset=opset, domain=domain,
        init={"axes": np.array(axes, I64)},
    )  # fmt: skip


def _half():
    return numpy_helper.from_array(np.array([0.5], np.float32))


ELEMENTWISE = [
    unary("Tan"),
    unary("Asin"),
    unary("Acos"),
    unary("Atan"),
    unary("Sinh"),
    unary("Cosh"),
    unary("Asinh"),
    unary("Acosh", (1.2, 2.0)),
    unary("Atanh"),
    unary("Softsign"),
    unary("Selu"),
    unary("Celu", alpha=0.8),
    unary("HardSigmoid", alpha=0.3, beta=0.4),
    unary("HardSwish", (-4.0, 4.0)),
    unary("Mish", (-2.0, 2.0)),
    unary("ThresholdedRelu", alpha=0.1),
    unary("Floor", (-2.0, 2.0)),
    unary("Ceil", (-2.0, 2.0)),
    unary("Round", (-2.0, 2.0)),
    unary("Sign"),
    OpCase(
        "PRelu",
        [node("PRelu", ["x", "s"])],
        init={"s": np.array([0.1, 2.0, -0.5])},
        smooth=False,
    ),
    OpCase(
        "Max",
        [node("Sin", ["x"], ["s"]), node("Max", ["x", "s", "c"])],
        init={"c": C3},
        smooth=False,
    ),
    OpCase(
        "Min",
        [node("Cos", ["x"], ["s"]), node("Min", ["x", "s", "c"])],
        init={"c": C3},
        smooth=False,
    ),
    OpCase(
        "Sum", [node("Sin", ["x"], ["s"]), node("Sum", ["x", "s", "c"])], init={"c": C3}
    ),
    OpCase("Mean", [node("Exp", ["x"], ["s"]), node("Mean", ["x", "s"])]),
    OpCase(
        "Mod",
        [node("Mod", ["x", "c"], fmod=1)],
        init={"c": np.array([0.3])},
        smooth=False,
    ),
    OpCase(
        "ModInt",
        [
            node("Cast", ["x"], ["i"], to=TensorProto.INT64),
            node("Mod", ["i", "c"], ["m"]),
            node("CastLike", ["m", "x"], ["f"]),
            node("Add", ["f", "x"]),
        ],
        init={"c": np.array([2], I64)},
        domain=(-5.0, 5.0),
        smooth=False,
    ),
    OpCase(
        "Clip",
        [node("Sin", ["x"], ["s"]), node("Clip", ["s", "lo", "hi"])],
        init={"lo": np.array(-0.5), "hi": np.array(0.4)},
        smooth=False,
    ),
    OpCase(
        "ClipAttributes",
        [node("Clip", ["x"], min=-0.5, max=0.4)],
        opset=6,
        smooth=False,
    ),
    OpCase(
        "Where",
        [
            node("Greater", ["x", "c"], ["b"]),
            node("Sin", ["x"], ["s"]),
            node("Cos", ["x"], ["o"]),
            node("Where", ["b", "s", "o"]),
        ],
        init={"c": C3},
    ),
    OpCase(
        "Logic",
        [
            node("Less", ["x", "c"], ["a"]),
            node("LessOrEqual", ["x", "d"], ["b"]),
            node("GreaterOrEqual", ["x", "c"], ["g"]),
            node("Equal", ["a", "b"], ["e"]),
            node("Xor", ["e", "g"], ["q"]),
            node("Or", ["q", "a"], ["o"]),
            node("Not", ["o"], ["n"]),
            node("And", ["n", "b"], ["w"]),
            node("Exp", ["x"], ["s"]),
            node("Where", ["w", "s", "x"]),
        ],
        init={"c": C3, "d": -C3},
    ),
    OpCase(
        "IsNaNIsInf",
        [
            node("Log", ["x"], ["l"]),
            node("IsNaN", ["l"], ["a"]),
            node("IsInf", ["l"], ["b"]),
            node("Or", ["a", "b"], ["c"]),
            node("Where", ["c", "x", "l"]),
        ],
        domain=(-1.0, 1.0),
    ),
]

SHAPE = [
    OpCase(
        "ScatterElements",
        [
            node("Sin", ["x"], ["s"]),
            node("ScatterElements", ["x", "i", "s"], ["u"], axis=1),
            node("Exp", ["u"], ["e"]),
            node("ScatterElements", ["e", "j", "x"], ["v"], axis=1, reduction="add"),
            node("Mul", ["v", "x"]),
        ],
        init={"i": np.array([[2, 0, 1]] * 5, I64), "j": np.array([[-1, 1, 0]] * 5)},
    ),
    reshaped(  # x[:, 1] = sin(x[:, 1]) and x[:, 0] += x[:, 2], as exporters write
        [
            node("Transpose", ["r"], ["t"], perm=[1, 0]),  # (3, N)
            node("Sin", ["t"], ["s"]),
            node("Gather", ["s", "one"], ["row"], axis=0),  # (1, N)
            node("ScatterND", ["t", "i1", "row"], ["u"]),
            node("Gather", ["t", "two"], ["last"], axis=0),
            node("ScatterND", ["u", "i0", "last"], ["v"], reduction="add"),
            node("Transpose", ["v"], ["w"], perm=[1, 0]),
            node("Mul", ["w", "r"]),
        ],
        (3,),
        id="ScatterND",
        init={
            "one": np.array([1], I64),
            "two": np.array([2], I64),
            "i1": np.array([[1]], I64),
            "i0": np.array([[-3]], I64),
        },
        opset=18,
    ),
    reshaped(
        [
            node(
                "Resize",
                ["r", "", "sc"],
                ["z"],
                mode="nearest",
                coordinate_transformation_mode="asymmetric",
                nearest_mode="floor",
            ),
            node("Sin", ["z"]),
        ],
        (1, 4),
        id="ResizeNearest",
        init={"sc": np.array([1.0, 1.0, 2.0])},
        opset=19,
    ),  # fmt: skip
    reshaped(
        [node("Resize", ["r", "", "", "sz"], ["z"], mode="linear"), node("Sin", ["z"])],
        (1, 4),
        id="ResizeLinearSizes",
        init={"sz": np.array([5, 1, 7], I64)},
        opset=19,
    ),
    reshaped(
        [
            node(
                "Resize",
                ["r", "", "sc"],
                ["z"],
                mode="linear",
                coordinate_transformation_mode="align_corners",
            ),
            node("Exp", ["z"]),
        ],
        (1, 2, 2),
        id="ResizeBilinearAlignCorners",
        init={"sc": np.array([1.0, 1.0, 2.0, 1.5])},
        opset=19,
    ),  # fmt: skip
    reshaped(
        [node("Resize", ["r", "", "sc"], ["z"], mode="cubic"), node("Tanh", ["z"])],
        (1, 2, 2),
        id="ResizeBicubic",
        init={"sc": np.array([1.0, 1.0, 2.0, 2.0])},
        opset=19,
    ),
    OpCase(  # every axis of size 1: not the points' axis here (N = 5)
        "SqueezeAll",
        [node("Unsqueeze", ["x", "ax"], ["u"]), node("Squeeze", ["u"], ["s"])]
        + [node("Sin", ["s"])],
        init={"ax": np.array([1, -1], I64)},
    ),
    OpCase(
        "Expand",
        [
            node("Slice", ["x", "s", "e", "a"], ["c"]),
            node("Expand", ["c", "shape"], ["b"]),
            node("Mul", ["b", "x"]),
        ],
        init={
            "s": np.array([1]),
            "e": np.array([2]),
            "a": np.array([1]),
            "shape": np.array([1, 3]),
        },
    ),
    OpCase(
        "Tile",
        [node("Tile", ["x", "reps"], ["t"]), node("Sin", ["t"])],
        init={"reps": np.array([1, 2], I64)},
    ),
    OpCase(
        "RangeSizeConstantOfShape",
        [
            node("Size", ["x"], ["n"]),
            node("Shape", ["x"], ["s"], start=1),
            node("Squeeze", ["s"], ["k"]),
            node("Range", ["zero", "k", "one"], ["r"]),
            node("Cast", ["r"], ["f"], to=1),
            node("ConstantOfShape", ["s"], ["c"], value=_half()),
            node("Cast", ["n"], ["nf"], to=1),
            node("Div", ["f", "nf"], ["g"]),
            node("Add", ["g", "c"], ["h"]),
            node("Mul", ["x", "h"], ["m"]),
            node("Sin", ["m"]),
        ],
        init={"zero": np.array(0, I64), "one": np.array(1, I64)},
    ),
    OpCase(
        "RangeFloat",
        [
            node("Range", ["a", "b", "d"], ["r"]),
            node("Mul", ["x", "r"], ["m"]),
            node("Tanh", ["m"]),
        ],
        init={"a": np.array(0.5), "b": np.array(2.0), "d": np.array(0.5)},
    ),
    OpCase(
        "GatherElementsArgMax",
        [
            node("ArgMax", ["x"], ["i"], axis=1),
            node("GatherElements", ["x", "i"], ["g"], axis=1),
            node("Sin", ["g"], ["s"]),
            node("ArgMin", ["x"], ["j"], axis=1, keepdims=1, select_last_index=1),
            node("GatherElements", ["x", "j"], ["h"], axis=1),
            node("Mul", ["s", "h"]),
        ],
        smooth=True,
    ),
    reshaped(  # batch_dims 0: the points moved to the last axis first
        [
            node("Transpose", ["r"], ["t"], perm=[1, 2, 0]),
            node("GatherND", ["t", "i"], ["g"]),
            node("Transpose", ["g"], ["u"], perm=[1, 0]),
            node("Exp", ["u"]),
        ],
        (3, 2),
        id="GatherND",
        init={"i": np.array([[0, 1], [2, 0], [-1, -2]], I64)},
        opset=13,
    ),
    reshaped(
        [node("GatherND", ["r", "i"], ["g"], batch_dims=1), node("Sin", ["g"])],
        (3, 2),
        id="GatherNDBatch",
        init={"i": np.array([[[2]]] * 5, I64)},
    ),
    reshaped(
        [node("Trilu", ["r", "k"], ["t"], upper=0), node("Sin", ["t"])],
        (3, 3),
        id="Trilu",
        init={"k": np.array(0, I64)},
    ),
    reshaped(
        [node("Trilu", ["r"], ["t"]), node("Exp", ["t"])], (3, 3), id="TriluUpper"
    ),
    OpCase(
        "PadConstant",
        [node("Pad", ["x", "p", "v"], ["q"]), node("Sin", ["q"])],
        init={"p": np.array([0, 1, 0, 2], I64), "v": np.array(0.5)},
        opset=13,
    ),
    reshaped(
        [node("Pad", ["r", "p"], ["q"], mode="reflect"), node("Sin", ["q"])],
        (1, 4),
        id="PadReflect",
        init={"p": np.array([0, 0, 2, 0, 0, 1], I64)},
        opset=13,
    ),
    reshaped(
        [node("Pad", ["r", "p", "", "ax"], ["q"], mode="edge"), node("Sin", ["q"])],
        (1, 4),
        id="PadEdgeAxes",
        init={"p": np.array([1, 2], I64), "ax": np.array([-1], I64)},
        opset=18,
    ),
    reshaped(
        [
            node("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
            node("MatMul", ["r", "t"], ["m"]),  # (N, 2, 3) @ (N, 3, 2)
            node("MatMul", ["m", "w"], ["v"]),  # (N, 2, 2) @ (2, 2)
            node("Tanh", ["v"]),
        ],
        (2, 3),
        id="MatMulBatch",
        init={"w": np.array([[0.5, -0.3], [0.2, 0.7]])},
    ),
    reshaped(
        [
            node("Einsum", ["r", "r"], ["e"], equation="bij, bkj -> bik"),
            node("Sin", ["e"]),
        ],
        (2, 3),
        id="Einsum",
    ),
    OpCase(
        "CumSum",
        [node("CumSum", ["x", "ax"], ["c"]), node("Sin", ["c"])],
        init={"ax": np.array(1, I64)},
    ),
    OpCase(
        "CumSumExclusiveReverse",
        [
            node("CumSum", ["x", "ax"], ["c"], exclusive=1, reverse=1),
            node("Exp", ["c"]),
        ],
        init={"ax": np.array(-1, I64)},
    ),
]

REDUCE = [
    *(
        reduce(op)
        for op in (
            "ReduceSum",
            "ReduceMean",
            "ReduceProd",
            "ReduceL1",
            "ReduceL2",
            "ReduceSumSquare",
            "ReduceLogSum",
            "ReduceLogSumExp",
        )
    ),
    reduce("ReduceMax", axes=(-1,)),
    reduce("ReduceMin", axes=(1, 2), keepdims=0),
    OpCase(
        "ReduceSumAxesInput13",
        [node("ReduceSum", ["x", "ax"], ["s"], keepdims=0), node("Sin", ["s"])],
        init={"ax": np.array([-1], I64)},
        opset=13,
    ),
    OpCase(
        "ReduceSumAttribute11",
        [node("ReduceSum", ["x"], ["s"], axes=[1]), node("Exp", ["s"])],
        opset=11,
    ),
    OpCase(
        "ReduceMeanAttribute13",
        [
            node("ReduceMean", ["x"], ["m"], axes=[1]),
            node("Sub", ["x", "m"], ["c"]),
            node("Exp", ["c"]),
        ],
        opset=13,
    ),
    OpCase(
        "ReduceSumNoop",
        [node("ReduceSum", ["x"], ["s"], noop_with_empty_axes=1), node("Sin", ["s"])],
        opset=13,
    ),
]

CASES = ELEMENTWISE + SHAPE + REDUCE


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_values_match_onnxruntime(tmp_path, case):
    check_values(case, tmp_path)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_double_backward_matches_finite_differences(tmp_path, case):
    check_derivatives(case, tmp_path)


def test_every_registered_op_has_a_case():
    """The op tables of this file, test_onnx_ops_nn.py and test_import_onnx.py."""
    from test_import_onnx import CASES as BASIC

    tested = {n.op_type for case in [*CASES, *NN_CASES] for n in case.nodes}
    tested |= {n.op_type for case in BASIC for n in case.nodes}
    assert set(onnx_ops.OPS) - tested == set()


def test_the_docs_list_exactly_the_supported_ops():
    text = (Path(__file__).parent.parent / "docs" / "onnx.md").read_text()
    section = text.split("## Supported ops")[1].split("\n## ")[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    listed = set(re.findall(r"`([A-Z][A-Za-z0-9]+)`", table))
    assert listed == set(onnx_ops.OPS) | {"Constant", "Loop"}
