"""``wrt inspect`` on ONNX files: the operators, opsets and weights ONNX holds."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

import wrt
from wrt.checks.activations import non_smooth_operations
from wrt.cli.app import app
from wrt.inspection.onnx_file import onnx_view

FIXTURES = Path(__file__).parent / "fixtures"
ONNX_FILES = sorted(FIXTURES.glob("*.onnx"))
# the test's own reading of ONNX activation operators
ACTIVATION_OPS = {
    "Tanh": "tanh", "Relu": "relu", "LeakyRelu": "leaky_relu", "Elu": "elu",
    "Softplus": "softplus", "Sigmoid": "sigmoid", "Gelu": "gelu",
}  # fmt: skip


def _dims(value):
    return [
        d.dim_value if d.HasField("dim_value") else d.dim_param
        for d in value.type.tensor_type.shape.dim
    ]


def test_there_are_onnx_fixtures():
    assert len(ONNX_FILES) >= 7


@pytest.mark.parametrize("path", ONNX_FILES, ids=lambda p: p.name)
def test_committed_files_match_what_onnx_holds(path):
    proto = onnx.load(str(path))
    info = wrt.describe(wrt.load(path))
    own = info["onnx"]
    assert own["ops"] == dict(Counter(n.op_type for n in proto.graph.node))
    assert own["opset"] == {
        (o.domain or "ai.onnx"): o.version for o in proto.opset_import
    }
    weights = [numpy_helper.to_array(t) for t in proto.graph.initializer]
    floating = sum(w.size for w in weights if np.issubdtype(w.dtype, np.floating))
    assert info["parameters"] == own["parameters"] == floating
    assert [v["name"] for v in own["inputs"]] == [v.name for v in proto.graph.input]
    assert [v["shape"] for v in own["inputs"]] == [_dims(v) for v in proto.graph.input]
    assert [t["shape"] for t in info["layout"]["inputs"]] == [
        _dims(v)[1:] for v in proto.graph.input
    ]
    assert [c for t in info["layout"]["inputs"] for c in t["columns"]] == list(
        info["inputs"]
    )
    # the traced graph finds the activations the file's operators declare
    declared = {ACTIVATION_OPS.get(n.op_type) for n in proto.graph.node} - {None}
    assert set(info["activations"]) == declared, path.name
    assert [layer["type"] for layer in info["layers"]] == [
        n.op_type for n in proto.graph.node
    ]
    assert info["runtime"] == "torch" and info["engines"]["autograd"]["available"]


def test_tanh_onnx_model_has_tanh_not_none():
    info = wrt.describe(wrt.load(FIXTURES / "onnx_tanh_mlp.onnx"))
    assert info["activations"] == ["tanh"] and info["non_smooth"] == []
    assert info["engines"]["taylor"] == {"available": True, "reason": None}


def test_inspect_and_check_agree_on_non_smooth_operations():
    for name, expected in (("onnx_acts", ["leaky_relu"]), ("onnx_gelu", [])):
        model = wrt.load(FIXTURES / f"{name}.onnx")
        assert wrt.describe(model)["non_smooth"] == expected
        assert non_smooth_operations(model) == expected


def _reshaping_model(path, batch):
    """x (batch, 3) -> tanh(x W) reshaped to (batch, 2, 3)."""
    weight = np.arange(18, dtype=np.float32).reshape(3, 6) / 10
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
            helper.make_node("Tanh", ["h"], ["a"], name="tanh"),
            helper.make_node("Reshape", ["a", "shape"], ["y"], name="reshape"),
        ],
        "grid",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 2, 3])],
        [
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(np.array([-1, 2, 3], dtype=np.int64), "shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path, weight


def test_an_output_of_per_sample_shape_2_by_3_is_six_row_major_columns(tmp_path):
    path, weight = _reshaping_model(tmp_path / "grid.onnx", "N")
    model = wrt.load(path)
    info = wrt.describe(model)
    (tensor,) = info["layout"]["outputs"]
    assert tensor == {"name": "y", "shape": [2, 3], "columns": list(model.outputs)}
    assert info["parameters"] == 18  # the int64 shape is not a weight
    assert info["onnx"]["outputs"] == [{"name": "y", "shape": ["N", 2, 3],
                                        "dtype": "float32"}]  # fmt: skip
    assert info["layers"][0]["parameters"] == 18
    x = torch.tensor([[0.1, -0.2, 0.3]])
    want = np.tanh(x.numpy() @ weight).reshape(1, 2, 3)
    got = model(x).detach().numpy()
    np.testing.assert_allclose(got[0, 3:6], want[0, 1], rtol=1e-6)  # row 1


def test_onnx_view_counts_subgraphs_domains_and_fixed_batches(tmp_path):
    then = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"])], "then", [],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, [1, 2])],
    )  # fmt: skip
    other = helper.make_graph(
        [helper.make_node("Tanh", ["x"], ["s"]), helper.make_node("Neg", ["s"], ["n"])],
        "else", [],
        [helper.make_tensor_value_info("n", TensorProto.FLOAT, [1, 2])],
    )  # fmt: skip
    graph = helper.make_graph(
        [
            helper.make_node(
                "Scaler",
                ["x"],
                ["z"],
                domain="ai.onnx.ml",
                offset=[0.0, 1.0],
                scale=[2.0, 3.0],
            ),
            helper.make_node(
                "Constant",
                [],
                ["c"],
                value=numpy_helper.from_array(np.ones((2, 2), dtype=np.float64)),
            ),
            helper.make_node(
                "If", ["flag"], ["y"], then_branch=then, else_branch=other
            ),
        ],  # fmt: skip
        "branches",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", 17),
            helper.make_opsetid("ai.onnx.ml", 3),
        ],
        producer_name="handmade",
    )
    onnx.save(model, str(tmp_path / "m.onnx"))
    view = onnx_view(tmp_path / "m.onnx")
    assert view["ops"] == {
        "ai.onnx.ml.Scaler": 1, "Constant": 1, "If": 1, "Relu": 1, "Tanh": 1, "Neg": 1
    }  # fmt: skip
    assert view["domains"] == ["ai.onnx", "ai.onnx.ml"]
    assert view["opset"] == {"ai.onnx": 17, "ai.onnx.ml": 3}
    assert view["parameters"] == 0 and view["constants"] == 4  # float64 constant
    assert view["producer"] == "handmade"
    assert view["inputs"][0] == {"name": "x", "shape": [1, 2], "dtype": "float32"}
    assert view["inputs"][1] == {"name": "flag", "shape": [], "dtype": "bool"}
    assert view["nodes"][0]["detail"] == "offset=(0, 1), scale=(2, 3)"
    assert view["nodes"][2]["detail"] == ""  # subgraphs are counted, not shown


def test_inspect_text_shows_operations_and_opset():
    path = FIXTURES / "onnx_acts.onnx"
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    for text in ("Gemm", "LeakyRelu", "opset ai.onnx", "leaky_relu", "piecewise"):
        assert text in result.stdout, text
    result = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    shown = json.loads(result.stdout)
    assert shown == json.loads(json.dumps(wrt.describe(wrt.load(path))))
    assert shown["onnx"]["ops"]["Gemm"] == 5
    leaky = next(x for x in shown["layers"] if x["type"] == "LeakyRelu")
    assert leaky["detail"] == "alpha=0.125" and leaky["activation"] == "leaky_relu"
