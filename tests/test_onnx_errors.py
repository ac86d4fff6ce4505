"""ONNX nodes wrt cannot convert: the error names the file, node, op, domain, opset."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import wrt
from test_import_onnx import IR_VERSION, node
from wrt.errors import IgnoredInputWarning
from wrt.importers import onnx_ops

F = TensorProto.FLOAT


def _save_unchecked(path, nodes, opset_imports, init=()):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", F, ["N", 2])],
        [helper.make_tensor_value_info("y", F, ["N", 2])],
        list(init),
    )
    model = helper.make_model(graph, opset_imports=opset_imports, ir_version=IR_VERSION)
    onnx.save(model, path)
    return path


UNSQUEEZE = [node("Unsqueeze", ["x", "ax"], ["u"])]  # (N, 2) -> (N, 1, 2)
SQUEEZE = [node("Squeeze", ["c", "ax"], ["y"])]


@pytest.mark.parametrize(
    ("nodes", "opset", "fragment"),
    [
        (
            [node("Hardmax", ["x"], axis=1)],
            20,
            r"op Hardmax, domain ai\.onnx, opset 20",
        ),
        (  # an attribute wrt does not read
            [
                *UNSQUEEZE,
                node("ConvTranspose", ["u", "w"], ["c"], output_shape=[2]),
                *SQUEEZE,
            ],
            17,
            r"op ConvTranspose, domain ai\.onnx, opset 17\) has no converter in wrt "
            r"\(ConvTranspose with attribute output_shape\)",
        ),
    ],
    ids=["op", "attribute"],
)
def test_unsupported_node_names_file_node_op_and_what_to_do(
    tmp_path, nodes, opset, fragment
):
    odd = next(n for n in nodes if n.op_type in ("Hardmax", "ConvTranspose"))
    odd.name = "head/odd"
    init = {"ax": np.array([1]), "w": np.ones((1, 1, 1), np.float32)}
    tensors = [onnx.numpy_helper.from_array(v, k) for k, v in init.items()]
    path = _save_unchecked(
        tmp_path / "m.onnx", nodes, [helper.make_opsetid("", opset)], tensors
    )
    with pytest.raises(wrt.UnsupportedModelOpError, match=fragment) as info:
        wrt.load(path)
    message = str(info.value)
    assert str(path) in message and "node 'head/odd'" in message
    assert "docs/onnx.md" in message and "wrt.wrap" in message
    assert "engine" not in message.lower() and "engine" not in info.value.hint.lower()
    # a model problem: both a format error and (for old callers) an op error
    assert isinstance(info.value, wrt.ModelFormatError)
    assert isinstance(info.value, wrt.UnsupportedOpError)


def test_a_custom_domain_is_named_with_its_opset(tmp_path):
    nodes = [
        helper.make_node("FastGelu", ["x"], ["y"], name="ms", domain="com.microsoft")
    ]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    path = _save_unchecked(tmp_path / "m.onnx", nodes, opsets)
    with pytest.raises(wrt.UnsupportedModelOpError) as info:
        wrt.load(path, verify=False)
    assert "node 'ms' (op FastGelu, domain com.microsoft, opset 1)" in str(info.value)


def test_a_value_wrt_cannot_use_is_refused_when_the_node_runs(tmp_path):
    """sequence_lens shorter than the sequence: found only when the LSTM runs."""
    h = 3
    rng = np.random.default_rng(0)
    init = {
        "w": rng.normal(size=(1, 4 * h, 1)).astype(np.float32),
        "r": rng.normal(size=(1, 4 * h, h)).astype(np.float32),
        "lens": np.array([1], np.int32),
    }
    nodes = [
        node("Unsqueeze", ["x", "ax"], ["s"]),  # (N, 2) -> (N, 2, 1)
        node("Transpose", ["s"], ["t"], perm=[1, 0, 2]),  # (2, N, 1)
        node("LSTM", ["t", "w", "r", "", "lens"], ["", "yh"], hidden_size=h),
        node("Squeeze", ["yh", "ax0"], ["y"]),
    ]
    init |= {"ax": np.array([2]), "ax0": np.array([0])}
    tensors = [onnx.numpy_helper.from_array(v, k) for k, v in init.items()]
    path = _save_unchecked(
        tmp_path / "m.onnx", nodes, [helper.make_opsetid("", 17)], tensors
    )
    with pytest.raises(wrt.UnsupportedModelOpError, match="with sequence_lens"):
        wrt.load(path, verify=False)


def test_unknown_attribute_and_domain_are_unsupported():
    with pytest.raises(onnx_ops.UnsupportedNode, match="Tanh with attribute foo"):
        onnx_ops.build(helper.make_node("Tanh", ["x"], ["y"], foo=1))
    custom = helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")
    with pytest.raises(onnx_ops.UnsupportedNode):
        onnx_ops.build(custom)
    with pytest.raises(onnx_ops.UnsupportedNode, match="Concat without attribute axis"):
        onnx_ops.build(helper.make_node("Concat", ["x", "x"], ["y"]))


def test_register_adds_an_op_of_another_domain(monkeypatch):
    """The hook other families (ai.onnx.ml) use: attributes from keyword-only params."""
    monkeypatch.setattr(onnx_ops, "DOMAINS", {"": onnx_ops.OPS})

    @onnx_ops.register("Twice", domain="test.domain")
    def twice(args, ft, *, factor: float = 2.0, n_outputs: int):
        return onnx_ops.req(args, 0) * factor + 0 * n_outputs

    assert twice.__name__ == "twice"  # returned unchanged
    op = onnx_ops.DOMAINS["test.domain"]["Twice"]
    assert dict(op.attributes) == {"factor": 2.0} and op.facts == {"n_outputs"}
    fn = onnx_ops.build(
        helper.make_node("Twice", ["x"], ["y"], domain="test.domain", factor=3.0)
    )
    assert fn([torch.tensor([1.0])], torch.float32).item() == 3.0
    with pytest.raises(ValueError, match="registered twice"):
        onnx_ops.register("Twice", domain="test.domain")(twice)


def test_rows_coupled_through_the_batch_are_refused(tmp_path):
    """What wrap() refuses, load() refuses: here a mean over the points' axis."""
    nodes = [
        node("ReduceMean", ["x", "ax"], ["m"]),  # (1, 2): the batch mean
        node("Sub", ["x", "m"], ["c"]),
        node("Tanh", ["c"], ["y"]),
    ]
    tensors = [onnx.numpy_helper.from_array(np.array([0]), "ax")]
    path = _save_unchecked(
        tmp_path / "m.onnx", nodes, [helper.make_opsetid("", 18)], tensors
    )
    with pytest.raises(wrt.ModelError, match="coupled through the batch"):
        wrt.load(path)


def test_an_input_the_graph_ignores_is_a_warning(tmp_path):
    nodes = [
        node("Gather", ["x", "i"], ["g"], axis=1),  # column x2 only
        node("Sin", ["g"], ["s"]),
        node("Concat", ["s", "s"], ["y"], axis=1),
    ]
    tensors = [onnx.numpy_helper.from_array(np.array([1]), "i")]
    path = _save_unchecked(
        tmp_path / "m.onnx", nodes, [helper.make_opsetid("", 18)], tensors
    )
    with pytest.warns(IgnoredInputWarning, match="Input.s. x1 "):
        model = wrt.load(path)
    assert model.inputs == ("x1", "x2")


def test_an_onnx_file_moved_without_its_external_data_says_which_file(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 1), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.save(
        model,
        tmp_path / "m.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="m.onnx.data",
        size_threshold=0,
    )
    assert wrt.load(tmp_path / "m.onnx").inputs == ("x1", "x2")
    (tmp_path / "m.onnx.data").unlink()
    with pytest.raises(wrt.ModelFormatError, match=r"separate file, m\.onnx\.data"):
        wrt.load(tmp_path / "m.onnx")
