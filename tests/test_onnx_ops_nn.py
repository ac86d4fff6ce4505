"""ONNX ops of network layers: softmax, normalisation, conv, pooling, RNNs, Loop.

Same two checks as ``test_onnx_ops.py`` (onnxruntime values, float64 double
backward against finite differences); x (N, k) is reshaped to the layer's layout.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

import wrt
from onnx_op_harness import (
    OpCase,
    check_derivatives,
    check_values,
    node,
    points,
    save_case,
)
from wrt.importers.onnx import load_onnx
from wrt.importers.onnx_graph import loop_dependence

I64 = np.int64
RNG = np.random.default_rng(11)


def w(*shape: int, scale: float = 0.5) -> np.ndarray:
    return RNG.normal(0.0, scale, shape)


def layer(id: str, shape: tuple[int, ...], nodes: list, **kwargs) -> OpCase:
    """``nodes`` read ``r``, x (N, prod(shape)) reshaped to (N, *shape)."""
    pre = [node("Reshape", ["x", "shape"], ["r"])]
    init = {"shape": np.array([-1, *shape], I64), **kwargs.pop("init", {})}
    k = int(np.prod(shape))
    return OpCase(id, pre + nodes, k=k, init=init, **kwargs)


def then_tanh(op: str, inputs, **attrs) -> list:
    return [node(op, inputs, ["h"], **attrs), node("Tanh", ["h"])]


SOFTMAX = [
    layer(f"{op}{opset}", (2, 3), [node(op, ["r"], axis=1)], opset=opset)
    for op in ("Softmax", "LogSoftmax")
    for opset in (11, 13)
] + [layer("SoftmaxDefault11", (2, 3), [node("Softmax", ["r"])], opset=11)]

NORMS = [
    layer(
        "LayerNormalization",
        (2, 3),
        [node("LayerNormalization", ["r", "g", "b"], epsilon=1e-3)],
        init={"g": 1 + w(3), "b": w(3)},
        opset=17,
    ),
    layer(
        "LayerNormalizationAxis1",
        (2, 3),
        [node("LayerNormalization", ["r", "g"], ["y", "m", "s"], axis=1)],
        init={"g": 1 + w(2, 3)},
        opset=17,
    ),
    layer(
        "BatchNormalization",
        (2, 3),
        then_tanh("BatchNormalization", ["r", "g", "b", "m", "v"], epsilon=1e-3),
        init={"g": 1 + w(2), "b": w(2), "m": w(2), "v": 0.5 + w(2) ** 2},
    ),
    layer(
        "InstanceNormalization",
        (2, 3),
        then_tanh("InstanceNormalization", ["r", "g", "b"]),
        init={"g": 1 + w(2), "b": w(2)},
    ),
]

CONV = [
    layer(
        "Conv1dGroupsAsymmetric",
        (2, 6),
        then_tanh(
            "Conv", ["r", "k", "b"], group=2, pads=[2, 1], strides=[2], dilations=[2]
        ),
        init={"k": w(4, 1, 2), "b": w(4)},
    ),
    layer(
        "Conv2dSameUpper",
        (1, 3, 3),
        then_tanh("Conv", ["r", "k"], auto_pad="SAME_UPPER", strides=[2, 1]),
        init={"k": w(2, 1, 2, 2)},
    ),
    layer(
        "Conv2dSameLower",
        (1, 3, 3),
        then_tanh("Conv", ["r", "k", "b"], auto_pad="SAME_LOWER"),
        init={"k": w(2, 1, 2, 2), "b": w(2)},
    ),
    layer(
        "Conv2dPadsValid",
        (1, 3, 3),
        then_tanh("Conv", ["r", "k"], pads=[1, 1, 1, 1]) + [],
        init={"k": w(3, 1, 3, 3)},
    ),
    layer(
        "ConvTranspose1d",
        (2, 3),
        then_tanh(
            "ConvTranspose",
            ["r", "k", "b"],
            strides=[2],
            pads=[1, 0],
            output_padding=[1],
        ),
        init={"k": w(2, 3, 3), "b": w(3)},
    ),
    layer(
        "ConvTranspose2dGroups",
        (2, 2, 2),
        then_tanh("ConvTranspose", ["r", "k"], group=2, dilations=[2, 1]),
        init={"k": w(2, 1, 2, 2)},
    ),
]

POOL = [
    layer(
        "MaxPool2dPadsCeil",
        (1, 3, 3),
        [
            node("Sin", ["r"], ["s"]),
            node(
                "MaxPool",
                ["s"],
                kernel_shape=[2, 2],
                pads=[1, 0, 0, 1],
                strides=[2, 2],
                ceil_mode=1,
            ),
        ],
        smooth=False,
    ),
    layer(
        "MaxPool1dDilations",
        (1, 6),
        [
            node("Exp", ["r"], ["s"]),
            node("MaxPool", ["s"], kernel_shape=[2], dilations=[2]),
        ],
        smooth=False,
    ),
    layer(
        "AveragePoolPads",
        (1, 3, 3),
        then_tanh("AveragePool", ["r"], kernel_shape=[2, 2], pads=[1, 1, 0, 1]),
    ),
    layer(
        "AveragePoolCountPadCeil",
        (1, 3, 3),
        then_tanh(
            "AveragePool",
            ["r"],
            kernel_shape=[2, 2],
            pads=[0, 1, 1, 0],
            strides=[2, 2],
            ceil_mode=1,
            count_include_pad=1,
        ),
    ),
    layer(
        "AveragePoolSameUpper",
        (1, 5),
        then_tanh(
            "AveragePool", ["r"], kernel_shape=[2], auto_pad="SAME_UPPER", strides=[2]
        ),
    ),
    layer("GlobalAveragePool", (2, 3), then_tanh("GlobalAveragePool", ["r"])),
    layer("GlobalMaxPool", (2, 3), [node("GlobalMaxPool", ["r"])], smooth=False),
]

H = 3  # hidden size


def recurrent(
    id: str, op: str, gates: int, directions: int = 1, *, extra=(), init=(), **attrs
) -> OpCase:
    """x (N, 4 steps, 2 features) -> op -> Y and Y_h, tanh of their sum."""
    weights = {
        "W": w(directions, gates * H, 2),
        "R": w(directions, gates * H, H),
        "B": w(directions, 2 * gates * H, scale=0.3),
        **dict(init),
    }
    layout = attrs.get("layout", 0)
    source, pre = "r", []
    if not layout:  # time-major: (4, N, 2)
        source, pre = "t", [node("Transpose", ["r"], ["t"], perm=[1, 0, 2])]
    post = [node("Flatten", ["yt"], ["yf"]), node("Flatten", ["ht"], ["hf"])]
    if layout:  # Y (N, T, D, H), Y_h (N, D, H)
        post += [node("Identity", ["Y"], ["yt"]), node("Identity", ["Yh"], ["ht"])]
    else:  # Y (T, D, N, H), Y_h (D, N, H)
        post += [
            node("Transpose", ["Y"], ["yt"], perm=[2, 0, 1, 3]),
            node("Transpose", ["Yh"], ["ht"], perm=[1, 0, 2]),
        ]
    post = post[2:] + post[:2]
    post += [node("Concat", ["yf", "hf"], ["c"], axis=1), node("Tanh", ["c"])]
    inputs = [source, "W", "R", "B", *extra]
    nodes = [*pre, node(op, inputs, ["Y", "Yh"], hidden_size=H, **attrs), *post]
    return layer(id, (4, 2), nodes, init=weights, opset=14)


RNN = [
    recurrent("LSTM", "LSTM", 4),
    recurrent(
        "LSTMPeepholesStates",
        "LSTM",
        4,
        extra=["", "h0", "c0", "P"],
        init={"h0": w(1, 5, H), "c0": w(1, 5, H), "P": w(1, 3 * H)},
    ),
    recurrent("LSTMBidirectional", "LSTM", 4, 2, direction="bidirectional"),
    recurrent("LSTMReverseClip", "LSTM", 4, direction="reverse", clip=0.7),
    recurrent("LSTMLayout1", "LSTM", 4, layout=1),
    recurrent("GRU", "GRU", 3),
    recurrent("GRULinearBeforeReset", "GRU", 3, linear_before_reset=1),
    recurrent(
        "GRUBidirectional",
        "GRU",
        3,
        2,
        direction="bidirectional",
        linear_before_reset=1,
    ),
    recurrent("RNN", "RNN", 1),
    recurrent(
        "RNNActivations",
        "RNN",
        1,
        2,
        direction="bidirectional",
        activations=["Sigmoid", "Softsign"],
    ),
]


def _loop_case() -> OpCase:
    """s <- s * x + sin(s), 3 times, with a scan output of every s; y = both."""
    body = helper.make_graph(
        [
            node("Mul", ["s_in", "x"], ["sx"]),
            node("Sin", ["s_in"], ["ss"]),
            node("Add", ["sx", "ss"], ["s_out"]),
            node("Identity", ["c_in"], ["c_out"]),
            node("Mul", ["s_out", "two"], ["scan"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("s_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("s_out", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("scan", TensorProto.FLOAT, None),
        ],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    nodes = [
        node("Loop", ["m", "go", "x"], ["s", "scans"], body=body),
        node("Transpose", ["scans"], ["st"], perm=[1, 0, 2]),
        node("Flatten", ["st"], ["sf"]),
        node("Concat", ["s", "sf"], axis=1),
    ]
    init = {"m": np.array(3, I64), "go": np.array(True)}
    return OpCase("Loop", nodes, k=2, init=init, opset=16)


NN_CASES = SOFTMAX + NORMS + CONV + POOL + RNN + [_loop_case()]


# onnxruntime has no layout=1 LSTM kernel: that case is checked against layout=0
# by the test below
ORT_CASES = [c for c in NN_CASES if c.id != "LSTMLayout1"]


@pytest.mark.parametrize("case", ORT_CASES, ids=lambda c: c.id)
def test_layer_values_match_onnxruntime(tmp_path, case):
    check_values(case, tmp_path)


def test_batch_major_layout_is_the_time_major_one_transposed(tmp_path):
    """layout=1 (N, T, ...) against layout=0, which onnxruntime checks."""
    batch_major = next(c for c in NN_CASES if c.id == "LSTMLayout1")
    time_major = next(c for c in NN_CASES if c.id == "LSTM")
    assert batch_major.init["W"].tolist() != time_major.init["W"].tolist()
    time_major = dataclasses.replace(time_major, init=batch_major.init)
    x = torch.from_numpy(points(time_major))
    got = {}
    for case in (batch_major, time_major):
        path = save_case(case, tmp_path / f"{case.id}.onnx")
        # onnxruntime cannot run layout=1: verify=False
        model = load_onnx(path, dtype="float64", verify=case.id == "LSTM")
        got[case.id] = model.module(x)
    torch.testing.assert_close(got["LSTMLayout1"], got["LSTM"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", NN_CASES, ids=lambda c: c.id)
def test_layer_double_backward_matches_finite_differences(tmp_path, case):
    check_derivatives(case, tmp_path)


def _loop_node(case: OpCase):
    return next(n for n in case.nodes if n.op_type == "Loop")


def test_a_counted_loop_has_static_control_and_runs_with_taylor(tmp_path):
    """Its trip count is a constant: the trace unrolls it, the Taylor engine runs."""
    case = next(c for c in NN_CASES if c.id == "Loop")
    assert loop_dependence(_loop_node(case), {"x"})[2]
    model = load_onnx(save_case(case, tmp_path / "loop.onnx"), dtype="float64")
    x = torch.from_numpy(points(case))
    specs = ["d2y1/dx1^2", "d3y3/dx1dx2^2"]
    taylor = wrt.partials(model, x, specs, engine="taylor")
    autograd = wrt.partials(model, x, specs, engine="autograd")
    for spec in specs:
        torch.testing.assert_close(taylor[spec], autograd[spec], rtol=1e-10, atol=0)


def test_a_loop_whose_condition_reads_the_values_is_not_static():
    """cond = sum(s) < 3 with s carried from x: the count depends on the point."""
    body = helper.make_graph(
        [
            node("Mul", ["s_in", "two"], ["s_out"]),
            node("ReduceSum", ["s_out"], ["total"], keepdims=0),
            node("Less", ["total", "three"], ["c_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("s_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("s_out", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("three", TensorProto.FLOAT, [], [3.0]),
        ],
    )
    loop = node("Loop", ["", "go", "x"], ["s"], body=body)
    seeds, outputs, static = loop_dependence(loop, {"x"})
    assert not static and outputs == {"s"} and "s_in" in seeds
    # the same body with a carried value that never meets x: static
    assert loop_dependence(loop, set())[2]
