"""Bad input of the ONNX importer (issue 13): nodes wrt cannot convert, odd graphs.

An op without a converter is refused naming the file, the node, the op, its domain
and opset, and what to do (never an engine); a value wrt cannot use (a recurrent
layer's ``sequence_lens``) is refused when the node first runs, the same way; a
graph whose rows are coupled through the batch is refused as wrap() refuses it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import wrt
from bad_input.harness import Api, Cli, points_file
from wrt.errors import ModelError, UnsupportedModelOpError

F = TensorProto.FLOAT


def _onnx(folder: Path, nodes, init=None, opsets=(("", 20),)) -> Path:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", F, ["N", 2])],
        [helper.make_tensor_value_info("y", F, ["N", 2])],
        [numpy_helper.from_array(v, k) for k, v in (init or {}).items()],
    )
    opset_imports = [helper.make_opsetid(d, v) for d, v in opsets]
    model = helper.make_model(graph, opset_imports=opset_imports, ir_version=10)
    path = folder / "model.onnx"
    onnx.save(model, path)
    return path


def _hardmax(folder: Path) -> Path:
    nodes = [helper.make_node("Hardmax", ["x"], ["y"], name="head/hardmax", axis=1)]
    return _onnx(folder, nodes)


def _custom_domain(folder: Path) -> Path:
    node = helper.make_node("FastGelu", ["x"], ["y"], name="ff", domain="com.microsoft")
    return _onnx(folder, [node], opsets=(("", 17), ("com.microsoft", 1)))


def _sequence_lens(folder: Path) -> Path:
    h = 2
    rng = np.random.default_rng(0)
    init = {
        "ax": np.array([2]),
        "ax0": np.array([0]),
        "w": rng.normal(size=(1, 4 * h, 1)).astype(np.float32),
        "r": rng.normal(size=(1, 4 * h, h)).astype(np.float32),
        "lens": np.array([1], np.int32),
    }
    nodes = [
        helper.make_node("Unsqueeze", ["x", "ax"], ["s"]),
        helper.make_node("Transpose", ["s"], ["t"], perm=[1, 0, 2]),
        helper.make_node(
            "LSTM", ["t", "w", "r", "", "lens"], ["", "yh"], name="rnn", hidden_size=h
        ),
        helper.make_node("Squeeze", ["yh", "ax0"], ["y"]),
    ]
    return _onnx(folder, nodes, init, opsets=(("", 17),))


def _batch_mean(folder: Path) -> Path:
    nodes = [
        helper.make_node("ReduceMean", ["x", "ax"], ["m"]),
        helper.make_node("Sub", ["x", "m"], ["y"]),
    ]
    return _onnx(folder, nodes, {"ax": np.array([0])}, opsets=(("", 18),))


CASES = [
    Cli(
        "onnx13-unsupported-op-cli",
        lambda d: ["partials", str(_hardmax(d)), str(points_file(d)), "-d", "dy1/dx1"],
        2,
        r"node 'head/hardmax' \(op Hardmax, domain ai\.onnx, opset 20\) has no "
        r"converter in wrt.*docs/onnx\.md.*re-export",
    ),
    Api(
        "onnx13-unsupported-domain",
        lambda d: wrt.load(_custom_domain(d), verify=False),
        UnsupportedModelOpError,
        r"node 'ff' \(op FastGelu, domain com\.microsoft, opset 1\)",
        new_files=True,  # the case writes the model file itself
    ),
    Api(
        "onnx13-sequence-lens",
        lambda d: wrt.load(_sequence_lens(d), verify=False),
        UnsupportedModelOpError,
        r"node 'rnn' \(op LSTM.*a recurrent layer with sequence_lens",
        new_files=True,  # the case writes the model file itself
    ),
    Api(
        "onnx13-batch-coupled",
        lambda d: wrt.load(_batch_mean(d)),
        ModelError,
        r"coupled through the batch",
        new_files=True,  # the case writes the model file itself
    ),
]
