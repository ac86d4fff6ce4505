"""ai.onnx.ml ops (Scaler, Normalizer, LinearRegressor, Imputer) and skl2onnx files.

Each op is checked on a hand-built graph against onnxruntime (values), and its
float64 conversion with torch's gradcheck / gradgradcheck (first and second
derivatives against finite differences). Classifier graphs as skl2onnx writes them
(label output, ZipMap or a probabilities tensor) keep their probabilities, named
after the classes. The skl2onnx corpus files match their scikit-learn references.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import wrt
from wrt.importers import onnx_ops

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
ML = "ai.onnx.ml"
ort = pytest.importorskip("onnxruntime")


def _graph(nodes, n_in=3, n_out=3, initializers=(), outputs=None):
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, n_in])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, n_out])
    graph = helper.make_graph(nodes, "g", [x], outputs or [y], list(initializers))
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, 1)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _save(model, tmp_path, name="m.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


OPS = {
    "scaler": (
        [
            helper.make_node(
                "Scaler",
                ["X"],
                ["Y"],
                domain=ML,
                offset=[0.5, -1.0, 2.0],
                scale=[2.0, 0.5, -3.0],
            )
        ],
        3,
    ),
    "scaler-broadcast": (
        [
            helper.make_node(
                "Scaler", ["X"], ["Y"], domain=ML, offset=[0.25], scale=[4.0]
            )
        ],
        3,
    ),
    "normalizer-l1": (
        [helper.make_node("Normalizer", ["X"], ["Y"], domain=ML, norm="L1")],
        3,
    ),
    "normalizer-l2": (
        [helper.make_node("Normalizer", ["X"], ["Y"], domain=ML, norm="L2")],
        3,
    ),
    "normalizer-max": (
        [helper.make_node("Normalizer", ["X"], ["Y"], domain=ML, norm="MAX")],
        3,
    ),
    "linear-regressor": (
        [
            helper.make_node(
                "LinearRegressor",
                ["X"],
                ["Y"],
                domain=ML,
                coefficients=[1.0, -2.0, 0.5, 0.25, 3.0, -1.0],
                intercepts=[0.1, -0.2],
                targets=2,
            )
        ],
        2,
    ),
    "imputer": (
        [
            helper.make_node(
                "Imputer",
                ["X"],
                ["Y"],
                domain=ML,
                imputed_value_floats=[1.0, 2.0, 3.0],
                replaced_value_float=float("nan"),
            )
        ],
        3,
    ),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_ml_ops_match_onnxruntime_and_differentiate_twice(tmp_path, name):
    nodes, n_out = OPS[name]
    path = _save(_graph(nodes, n_out=n_out), tmp_path)
    model = wrt.load(path)  # checked against onnxruntime on load, too
    assert model.outputs == (
        ("y",) if n_out == 1 else tuple(f"y{i}" for i in range(1, n_out + 1))
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 1.5, (7, 3)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, {"X": x})[0]
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    double = wrt.load(path, dtype="float64")
    points = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(double.module, (points,))
    assert torch.autograd.gradgradcheck(double.module, (points,))


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX"])
@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("strings", [True, False], ids=["strings", "ints"])
def test_linear_classifier_scores_like_onnxruntime(tmp_path, post, rows, strings):
    classes = ["a", "b", "c"][: max(rows, 2)]
    labels = (
        {"classlabels_strings": classes}
        if strings
        else {"classlabels_ints": list(range(len(classes)))}
    )
    rng = np.random.default_rng(rows)
    node = helper.make_node(
        "LinearClassifier",
        ["X"],
        ["label", "scores"],
        domain=ML,
        coefficients=rng.normal(size=3 * rows).tolist(),
        intercepts=rng.normal(size=rows).tolist(),
        post_transform=post,
        **labels,
    )
    kind = TensorProto.STRING if strings else TensorProto.INT64
    width = [None, len(classes)]
    outputs = [
        helper.make_tensor_value_info("label", kind, [None]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, width),
    ]
    path = _save(_graph([node], outputs=outputs), tmp_path)
    model = wrt.load(path)  # the label output is dropped; checked against onnxruntime
    names = tuple(classes) if strings else tuple(f"p_{i}" for i in range(len(classes)))
    assert model.outputs == names
    x = rng.uniform(-1, 1, (6, 3)).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"X": x}
    )[1]
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    double = wrt.load(path, dtype="float64")
    points = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(double.module, (points,))


def test_the_imputer_fills_nan_like_onnxruntime(tmp_path):
    path = _save(_graph(OPS["imputer"][0]), tmp_path)
    x = np.array([[np.nan, 0.5, 0.25], [1.0, np.nan, np.nan]], np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"X": x}
    )[0]
    with torch.no_grad():
        got = wrt.load(path)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, want)


def test_ml_ops_are_listed_with_their_domain():
    listed = onnx_ops.supported_ops()
    assert "Scaler" in listed and "Normalizer" in listed and "ai.onnx.ml" in listed


def test_an_unknown_ml_op_is_named_with_its_domain(tmp_path):
    node = helper.make_node(
        "TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, n_targets=1
    )
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])
    model = helper.make_model(
        helper.make_graph([node], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, 3)],
    )
    path = _save(model, tmp_path)
    with pytest.raises(
        wrt.UnsupportedOpError, match="TreeEnsembleRegressor.*ai.onnx.ml"
    ):
        wrt.load(path, verify=False)


# --- classifier graphs as skl2onnx writes them -------------------------------------


def _classifier(classes, zipmap: bool):
    """X (N, 2) -> p = sigmoid(X w + b), probabilities [1 - p, p], label, ZipMap."""
    strings = isinstance(classes[0], str)
    init = [
        numpy_helper.from_array(np.array([[1.5], [-2.0]], np.float32), "w"),
        numpy_helper.from_array(np.array([0.25], np.float32), "b"),
        numpy_helper.from_array(np.array([1.0], np.float32), "one"),
        numpy_helper.from_array(np.array(classes), "classes"),
        numpy_helper.from_array(np.array([-1], np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("MatMul", ["X", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["p"]),
        helper.make_node("Sub", ["one", "p"], ["q"]),
        helper.make_node("Concat", ["q", "p"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["index"], axis=1),
        helper.make_node(
            "ArrayFeatureExtractor", ["classes", "index"], ["picked"], domain=ML
        ),
        helper.make_node("Reshape", ["picked", "flat"], ["label"]),
    ]
    label_type = TensorProto.STRING if strings else TensorProto.INT64
    outputs = [helper.make_tensor_value_info("label", label_type, [None])]
    if zipmap:
        key = "classlabels_strings" if strings else "classlabels_int64s"
        nodes.append(
            helper.make_node(
                "ZipMap",
                ["probabilities"],
                ["output_probability"],
                domain=ML,
                **{key: classes},
            )
        )
        value = helper.make_tensor_type_proto(TensorProto.FLOAT, [])
        seq = helper.make_sequence_type_proto(
            helper.make_map_type_proto(label_type, value)
        )
        outputs.append(helper.make_value_info("output_probability", seq))
    else:
        outputs.append(
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])
        )
    return _graph(nodes, n_in=2, initializers=init, outputs=outputs)


@pytest.mark.parametrize("zipmap", [True, False], ids=["zipmap", "tensor"])
@pytest.mark.parametrize(
    ("classes", "names"),
    [(["no", "yes"], ("no", "yes")), ([3, 7], ("p_3", "p_7"))],
    ids=["strings", "ints"],
)
def test_classifier_outputs_keep_the_probabilities(tmp_path, zipmap, classes, names):
    path = _save(_classifier(classes, zipmap), tmp_path)
    model = wrt.load(path)  # onnxruntime runs the rewritten graph on load
    assert model.outputs == names and model.inputs == ("x1", "x2")
    x = torch.tensor([[0.5, 0.25], [-1.0, 2.0]])
    p = torch.sigmoid(x @ torch.tensor([1.5, -2.0]) + 0.25)
    torch.testing.assert_close(model(x), torch.stack([1 - p, p], dim=1))
    spec = f"d{names[1]}/dx1"
    grad = wrt.partials(model, x, spec, dtype="float64")[spec]
    torch.testing.assert_close(grad, (1.5 * p * (1 - p)).double(), rtol=1e-6, atol=1e-7)
    assert wrt.load(path, outputs=["a", "b"]).outputs == ("a", "b")


def test_a_graph_of_labels_only_is_refused(tmp_path):
    model = _classifier(["no", "yes"], zipmap=False)
    del model.graph.output[1]
    path = _save(model, tmp_path)
    with pytest.raises(wrt.ModelFormatError, match="nothing to differentiate"):
        wrt.load(path)


# --- the skl2onnx corpus -------------------------------------------------------------


def _entries():
    return sorted(CORPUS.glob("onnx-skl2onnx-*.ref.npz"))


@pytest.mark.parametrize("ref", _entries(), ids=lambda p: p.name.split(".")[0])
def test_skl2onnx_corpus_matches_scikit_learn(ref):
    with np.load(ref) as archive:
        data = dict(archive)
    meta = json.loads(str(data["meta"]))
    model = wrt.load(CORPUS / meta["file"], **meta["load_options"])
    assert model.inputs == tuple(data["input_names"])
    assert model.outputs == tuple(data["output_names"])
    x = torch.tensor(data["points"], dtype=model.dtype, requires_grad=True)
    y = model(x)
    grad = torch.stack(
        [
            torch.autograd.grad(y[:, o].sum(), x, retain_graph=True)[0]
            for o in range(y.shape[1])
        ],
        dim=1,
    )
    for key, got in (("values", y), ("grad", grad)):
        atol, rtol = meta["tolerance"][key]
        want = data[key]
        error = np.abs(got.detach().double().numpy() - want).max()
        assert error <= atol + rtol * np.abs(want).max(), (key, error)
    exact = wrt.load(CORPUS / meta["file"], dtype="float64")
    points = torch.tensor(data["points"][:3], requires_grad=True)
    assert torch.autograd.gradgradcheck(exact.module, (points,))
