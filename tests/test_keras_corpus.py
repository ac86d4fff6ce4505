"""The Keras corpus (``.keras`` and ``.h5`` made by Keras 3 on TensorFlow) through wrt.

The files and their references (TensorFlow float32 values and GradientTape
gradients) are made by ``fixtures/make_corpus_keras.py`` and committed; this test
needs no TensorFlow. Every entry must load with the reference's names, convert to
plain torch, match TensorFlow's values and gradients at float32 tolerance, give
float64 values that agree with TensorFlow's float64 copy of the model and float64
second partials that agree with float64 central differences, and run the
Taylor engine where every op of it has a rule.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import wrt

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
ENTRIES = sorted(
    p
    for p in CORPUS.glob("*.ref.npz")
    if json.loads(str(np.load(p)["meta"]))["format"] in ("keras", "keras-h5")
)
ARCHITECTURES = {
    *(f"mlp-{a}" for a in ("tanh", "relu", "gelu", "silu", "softplus", "elu")),
    *("cnn-1d", "cnn-2d", "lstm", "gru", "simple-rnn", "normalization"),
    *("batchnorm-dropout", "dict-io", "layernorm", "transformer-encoder"),
    *("embedding", "features"),
}

# float64 second partials against central differences of the float64 gradient:
# a step of 1e-5 leaves a truncation error of ~1e-10 (third derivatives are O(1))
# and a round-off of ~1e-16 / 1e-5 = 1e-11 relative: 1e-7 is far above both and far
# below any conversion error (those are O(1)).
FD_STEP = 1e-5
FD_RTOL = 1e-7
# wrt's float64 conversion against TensorFlow's float64 copy of the model: the two
# differ by the order of float64 ops (measured: at most 7.8e-16 relative over the
# corpus); 1e-12 leaves three orders of margin and is 1e5 times below float32.
F64_VALUES = (1e-14, 1e-12)
# ... except where TensorFlow's float64 gelu is used: it keeps a float32 constant
# (measured: 5.0e-9 off the exact erf form, where torch's is 1e-16 off), which
# moves those models by up to ~5e-9 relative; float32 arithmetic moves them by
# ~1e-7, so 1e-8 still tells float64 from float32.
F64_VALUES_GELU = (1e-12, 1e-8)
GELU = {"mlp-gelu", "layernorm", "transformer-encoder"}
# Taylor against autograd, both float64 on the same converted module.
TAYLOR_RTOL = 1e-9


def _entry(path: Path):
    ref = np.load(path)
    meta = json.loads(str(ref["meta"]))
    return ref, meta


def _load(meta, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a converted entry loads without a word
        return wrt.load(CORPUS / meta["file"], **meta["load_options"], **options)


def _close(got, want, tolerance, what):
    atol, rtol = tolerance
    want = np.asarray(want, dtype=np.float64)
    got = got.detach().double().numpy()
    allowed = atol + rtol * max(1.0, float(np.abs(want).max(initial=0.0)))
    error = float(np.abs(got - want).max(initial=0.0))
    assert error <= allowed, f"{what}: error {error:.3g} > {allowed:.3g}"


def _float_columns(model, meta) -> list[int]:
    integer = set(meta.get("integer_inputs", []))
    return [i for i, name in enumerate(model.inputs) if name not in integer]


def test_corpus_has_every_keras_architecture_in_both_formats():
    found = {}
    for path in ENTRIES:
        _, meta = _entry(path)
        found.setdefault(meta["architecture"], set()).add(meta["format"])
        assert (CORPUS / meta["file"]).stat().st_size < 100_000, meta["file"]
    assert set(found) == ARCHITECTURES
    assert all(formats == {"keras", "keras-h5"} for formats in found.values()), found


@pytest.mark.parametrize("path", ENTRIES, ids=lambda p: p.name.split(".")[0])
def test_entry_converts_and_matches_tensorflow(path):
    ref, meta = _entry(path)
    assert meta["expect"] == "converted"
    model = _load(meta)
    assert model.runtime == "torch"
    assert model.inputs == tuple(ref["input_names"])
    assert model.outputs == tuple(ref["output_names"])
    x = torch.from_numpy(ref["points"]).float()
    _close(model(x), ref["values"], meta["tolerance"]["values"], "values")
    columns = _float_columns(model, meta)
    specs = [f"d{o}/d{model.inputs[i]}" for o in model.outputs for i in columns]
    got = wrt.partials(model, x, specs)
    jac = torch.stack([got[s] for s in specs], 1).reshape(len(x), model.n_outputs, -1)
    want = ref["grad"][:, :, columns]
    _close(jac, want, meta["tolerance"]["grad"], "gradients")


@pytest.mark.parametrize("path", ENTRIES, ids=lambda p: p.name.split(".")[0])
def test_entry_is_exact_in_float64_and_runs_taylor(path):
    ref, meta = _entry(path)
    model = _load(meta, dtype="float64")
    assert model.dtype == torch.float64
    x = torch.from_numpy(ref["points"])
    # float64 values still match TensorFlow's float32 ones, and its float64 ones
    # to float64 round-off (ops in another order: a few ulps per layer)
    _close(model(x), ref["values"], meta["tolerance"]["values"], "float64 values")
    assert meta["values_float64"] is not None
    tolerance = F64_VALUES_GELU if meta["architecture"] in GELU else F64_VALUES
    _close(model(x), meta["values_float64"], tolerance, "TensorFlow float64 values")
    out = model.outputs[0]
    first, *rest = [model.inputs[i] for i in _float_columns(model, meta)]
    other = rest[0] if rest else first
    specs = [f"d2{out}/d{first}^2", f"d2{out}/d{first}d{other}"]
    exact = wrt.partials(model, x, specs, engine="autograd")
    step = torch.zeros_like(x)
    step[:, model.inputs.index(other)] = FD_STEP
    grad_first = f"d{out}/d{first}"
    ahead = wrt.partials(model, x + step, grad_first, engine="autograd")[grad_first]
    behind = wrt.partials(model, x - step, grad_first, engine="autograd")[grad_first]
    fd = (ahead - behind) / (2 * FD_STEP)
    scale = max(1.0, float(fd.abs().max()))
    error = float((exact[specs[1]] - fd).abs().max())
    assert error <= FD_RTOL * scale, f"float64 d2 vs central differences: {error:.3g}"
    try:
        taylor = wrt.partials(model, x, specs, engine="taylor")
    except wrt.EngineError as gap:  # an op without a Taylor rule: named, not wrong
        assert "aten." in str(gap), str(gap)
        return
    for spec in specs:
        scale = max(1.0, float(exact[spec].abs().max()))
        error = float((taylor[spec] - exact[spec]).abs().max())
        assert error <= TAYLOR_RTOL * scale, f"taylor {spec}: {error:.3g}"


@pytest.mark.parametrize("fmt", ["keras", "keras-h5"])
def test_embedding_input_is_refused_along_its_columns(fmt):
    ref, meta = _entry(CORPUS / f"{fmt}-embedding.ref.npz")
    model = _load(meta)
    assert meta["integer_inputs"] == ["tok1", "tok2", "tok3"]
    x = torch.from_numpy(ref["points"]).float()
    for spec in ("dy/dtok2", "d2y/dx1dtok1"):
        with pytest.raises(wrt.IntegerInputError, match=r"'tok\d'.*Embedding"):
            wrt.partials(model, x, spec)
    with pytest.raises(wrt.IntegerInputError, match="'tok1'"):
        wrt.jacobian(model, x)
    with pytest.raises(wrt.IntegerInputError, match="'tok1'"):
        wrt.laplacian(model, x)
    # the float inputs differentiate, in every engine
    for engine in ("autograd", "taylor"):
        got = wrt.partials(model, x, "d2y/dx1dx2", engine=engine, dtype="float64")
        assert torch.isfinite(got["d2y/dx1dx2"]).all()
