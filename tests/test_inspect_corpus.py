"""``wrt inspect`` on the corpus of real exports (``tests/fixtures/corpus``).

For every entry wrt loads, the description must agree with the source framework
where the test environment has it (Keras' ``count_params`` and layer classes; the
``onnx`` package's node counts), lay out exactly wrt's columns, name the
activation an ``mlp-<activation>`` entry is built from when the file keeps it as
one operation, and say that an entry expected to run through its framework does.
Entries are added by the corpus generators (``make fixtures``).
"""

import json
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import wrt
from wrt.errors import WrtWarning

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
ENTRIES = sorted(CORPUS.glob("*.ref.npz"))
KERAS_FORMATS = {"keras", "keras-h5"}
# activations every exporter keeps as one operation (gelu, silu, softplus may be
# decomposed into erf, sigmoid and exp by some exporters: no name survives)
KEPT = {"mlp-tanh": "tanh", "mlp-relu": "relu", "mlp-elu": "elu"}


def _meta(reference):
    with np.load(reference) as data:
        return json.loads(str(data["meta"]))


def _loadable(reference):
    meta = _meta(reference)
    return meta["expect"] != "refused" and (CORPUS / meta["file"]).exists()


LOADABLE = [e for e in ENTRIES if _loadable(e)]


def _onnx_ops(graph):
    counts = Counter()
    for node in graph.node:
        domain = "" if node.domain in ("", "ai.onnx") else f"{node.domain}."
        counts[f"{domain}{node.op_type}"] += 1
        for attribute in node.attribute:
            subgraphs = [attribute.g] if attribute.HasField("g") else []
            for sub in [*subgraphs, *attribute.graphs]:
                counts.update(_onnx_ops(sub))
    return counts


@pytest.mark.parametrize("reference", LOADABLE, ids=lambda p: p.name[:-8])
def test_corpus_entries_are_described_as_their_framework_does(reference):
    meta = _meta(reference)
    for package in meta.get("requires", []):  # optional extras (TensorFlow, skops)
        pytest.importorskip(package)
    path = CORPUS / meta["file"]
    with warnings.catch_warnings():  # fallbacks, fixed batches: not this test's
        warnings.simplefilter("ignore", WrtWarning)
        model = wrt.load(path, **meta["load_options"])
        info = wrt.describe(model)
    assert info["notes"] == [] or model.runtime != "torch", info["notes"]
    layout = info["layout"]
    assert [c for t in layout["inputs"] for c in t["columns"]] == list(model.inputs)
    assert [c for t in layout["outputs"] for c in t["columns"]] == list(model.outputs)
    if meta["architecture"] in KEPT:
        assert KEPT[meta["architecture"]] in info["activations"], info["activations"]
    if meta["expect"] == "source":
        assert info["runs_through"] is not None
    else:
        assert info["runtime"] == "torch" and info["runs_through"] is None
    taylor = info["engines"]["taylor"]
    assert taylor["available"] or taylor["reason"]
    if meta["format"] in KERAS_FORMATS:
        keras = pytest.importorskip("keras")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            kmodel = keras.saving.load_model(str(path), compile=False, safe_mode=True)
        assert info["parameters"] == kmodel.count_params()
        shown = {layer["name"]: layer for layer in info["layers"]}
        for layer in kmodel.layers:
            assert shown[layer.name]["type"] == type(layer).__name__
            assert shown[layer.name]["parameters"] == layer.count_params()
    if meta["format"].startswith("onnx"):
        onnx = pytest.importorskip("onnx")
        proto = onnx.load(str(path), load_external_data=False)
        assert info["onnx"]["ops"] == dict(_onnx_ops(proto.graph))
