"""Keras files saved by TensorFlow 2.21 / Keras 3: wrt against TensorFlow's own numbers.

The files and their references (values, gradients and Hessians computed with
TensorFlow GradientTape, float32 and float64) are made by ``make fixtures``
(``fixtures/make_keras.py``) and committed; this test needs no TensorFlow.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

import wrt
from tolerances import framework_numbers
from wrt.describe import describe

FIXTURES = Path(__file__).parent / "fixtures"
KERAS_FILES = sorted(
    p
    for p in [*FIXTURES.glob("*.keras"), *FIXTURES.glob("*.h5")]
    if p.with_suffix(".ref.npz").exists()
    and "lambda" not in p.name
    and "noinput" not in p.name
)

# float32: both frameworks round each op to float32; a few ulps per layer through
# a dozen layers, and Hessians amplify them: 1e-4 relative, 1e-5 of the scale.
F32 = {"rtol": 1e-4, "atol": 1e-5}
# float64: models of tanh/sigmoid/linear layers agree with TensorFlow to 1e-14.
# TensorFlow keeps some activation constants in float32 even in float64 graphs (the
# LeakyRelu op's alpha is a 32-bit attribute), which moves results by ~1e-8
# relative where those activations are used: 1e-7 of the scale covers that and
# still catches any real conversion error (those are O(1)).
F64 = {"rtol": 1e-9, "atol": 1e-7}


def _compare(model, ref, suffix, tolerance, what):
    x = torch.from_numpy(ref["points"]).to(model.dtype)
    got = framework_numbers(model, x)
    for key, value in got.items():
        expected = torch.from_numpy(np.asarray(ref[key + suffix], dtype=np.float64))
        scale = max(1.0, float(expected.abs().max()))
        torch.testing.assert_close(
            value.double(),
            expected,
            rtol=tolerance["rtol"],
            atol=tolerance["atol"] * scale,
            msg=lambda m, k=key: f"{what} {k}{suffix}: {m}",
        )


@pytest.mark.parametrize("path", KERAS_FILES, ids=lambda p: p.name)
def test_values_gradients_hessians_match_tensorflow(path):
    ref = np.load(path.with_suffix(".ref.npz"))
    model = wrt.load(path)
    assert model.inputs == tuple(_names(ref, "input", model.n_inputs))
    _compare(model.converted("float32"), ref, "_f32", F32, path.name)
    _compare(model.converted("float64"), ref, "_f64", F64, path.name)


def _names(ref, kind, n):
    names = [str(s) for s in ref[f"{kind}_names"]]
    sizes = [int(s) for s in ref[f"{kind}_sizes"]]
    if (
        len(names) > 1
        and all(s == 1 for s in sizes)
        and all(map(str.isidentifier, names))
    ):
        return names
    return [f"x{i}" for i in range(1, n + 1)]


def test_there_are_keras_fixtures():
    assert len(KERAS_FILES) >= 6
    assert {p.suffix for p in KERAS_FILES} == {".keras", ".h5"}


def test_seed000_h5_compiled_with_metrics_loads_uncompiled():
    # saved compiled with metrics=['mae']: Keras 3 cannot compile it back
    model = wrt.load(FIXTURES / "seed000.h5")
    assert model.outputs == ("y",) and model.format == "keras-h5"
    names = [layer["type"] for layer in describe(model)["layers"]]
    assert names[0] == "Normalization"  # it stays: partials wrt raw inputs


def test_lambda_fixture_is_refused():
    with pytest.raises(wrt.ModelFormatError, match="Lambda"):
        wrt.load(FIXTURES / "lambda_layer.keras")


def test_names_come_from_the_file_when_they_mean_something():
    two_heads = wrt.load(FIXTURES / "two_heads.keras")
    assert two_heads.outputs == ("u", "v1", "v2")  # v has two columns
    two_inputs = wrt.load(FIXTURES / "two_inputs.h5")
    assert two_inputs.inputs == ("x", "t") and two_inputs.outputs == ("u",)
    # names Keras made up (input_layer, dense_7) give way to the defaults
    seed = wrt.load(FIXTURES / "seed000.keras")
    assert seed.inputs == ("x1", "x2") and seed.outputs == ("y",)


def test_the_seed_users_own_file_loads():
    # Keras 2, Normalization first and no Input: the file records its input shape as
    # [None, None] and Keras 3 alone cannot rebuild it; wrt reads the size from the
    # normalisation's weights.
    model = wrt.load(FIXTURES / "seed000_tfkeras_noinput.h5")
    assert model.inputs == ("x1", "x2")
    assert describe(model)["activations"] == ["leaky_relu"]
