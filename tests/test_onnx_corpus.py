"""The ONNX files of the corpus (torch.onnx dynamo and legacy, tf2onnx) through wrt.

Each file must convert (no source framework at test time), give the reference's
names, match the exporter-side framework's values and gradients at float32
tolerance, and give float64 second partials that agree with central differences
of its float64 gradient. ``tests/test_corpus.py`` checks every format; this file
adds the ONNX-specific second-order check and runs without the other formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import wrt

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
PREFIXES = ("onnx-torch-dynamo-", "onnx-torch-legacy-", "onnx-tf2onnx-")
# the fixed-batch exports (fixtures/make_corpus_torch.py) warn on load by design;
# tests/test_fixed_batch.py and tests/test_corpus.py check them
REFS = sorted(
    p
    for p in CORPUS.glob("*.ref.npz")
    if p.name.startswith(PREFIXES) and "fixed-batch" not in p.name
)


def _entry(ref: Path):
    data = np.load(ref)
    return data, json.loads(str(data["meta"]))


def test_the_onnx_corpus_is_there():
    """Both torch exporters for every architecture, tf2onnx for all but gelu."""
    stems = {p.name.removesuffix(".ref.npz") for p in REFS}
    assert len([s for s in stems if s.startswith("onnx-torch-")]) == 32
    assert len([s for s in stems if s.startswith("onnx-tf2onnx-")]) == 15
    assert "onnx-tf2onnx-mlp-gelu" not in stems  # tf2onnx cannot convert Erfc


@pytest.mark.parametrize("ref", REFS, ids=lambda p: p.name.removesuffix(".ref.npz"))
def test_onnx_export_converts_and_matches_its_source(ref):
    data, meta = _entry(ref)
    model = wrt.load(CORPUS / meta["file"], **meta["load_options"])
    assert meta["expect"] == "converted" and model.runtime == "torch"
    assert list(model.inputs) == list(data["input_names"])
    assert list(model.outputs) == list(data["output_names"])
    x = torch.tensor(data["points"], dtype=torch.float32, requires_grad=True)
    y = model.module(x)
    grads = [torch.autograd.grad(y[:, j].sum(), x, retain_graph=True)[0]
             for j in range(y.shape[1])]  # fmt: skip
    grad = torch.stack(grads, 1).double().numpy()
    for key, got in (("values", y.detach().double().numpy()), ("grad", grad)):
        atol, rtol = meta["tolerance"][key]
        expected = data[key]
        bound = atol + rtol * np.abs(expected).max()
        assert np.abs(got - expected).max() <= bound, f"{key} of {ref.name}"


@pytest.mark.parametrize("ref", REFS, ids=lambda p: p.name.removesuffix(".ref.npz"))
def test_onnx_export_second_partials_match_finite_differences(ref):
    data, meta = _entry(ref)
    model = wrt.load(CORPUS / meta["file"], dtype="float64", **meta["load_options"])
    x = torch.tensor(data["points"][:4], dtype=torch.float64)
    n_in = x.shape[1]
    inputs = list(model.inputs)
    pairs = [(i, (i + 1) % n_in) for i in range(min(n_in, 3))]
    specs = [
        wrt.Partial(model.outputs[0], {inputs[i]: 1, inputs[j]: 1})
        if i != j
        else wrt.Partial(model.outputs[0], {inputs[i]: 2})
        for i, j in pairs
    ]
    got = wrt.partials(model, x, specs, engine="autograd")
    h = 1e-5
    for (i, j), spec in zip(pairs, specs, strict=True):
        step = torch.zeros(n_in, dtype=torch.float64)
        step[j] = h
        first = wrt.Partial(model.outputs[0], {inputs[i]: 1})
        up = wrt.partials(model, x + step, [first], engine="autograd")[first]
        down = wrt.partials(model, x - step, [first], engine="autograd")[first]
        fd = (up - down) / (2 * h)
        scale = max(1.0, float(fd.abs().max()))
        error = float((got[spec] - fd).abs().max())
        assert error <= 1e-6 * scale, f"{spec} of {ref.name}: {error:.2e}"
