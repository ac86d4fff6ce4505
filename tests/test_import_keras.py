"""Keras files: conversion to torch layer by layer, names, dtype, safety, fallback."""

import math
import os
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
import torch

import wrt
from wrt.importers.keras import KerasBackendError, KerasModule, import_keras

keras = import_keras()
layers = keras.layers


def _save(model, tmp_path, name):
    path = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls .h5 "legacy" (it is)
        model.save(path)
    return path


def _agrees_with_keras(model, kmodel, in_shapes, x, specs):
    """Values match Keras; partials match Keras differentiated by torch autograd.

    Keras on the torch backend computes in float32 whatever the model's dtype (its
    type promotion maps float64 to float32), so the comparison is at float32
    precision: 1e-4 relative for partials up to order 3 of O(1) functions. The
    float64 exactness of the conversion is checked separately against finite
    differences, and against TensorFlow's own float64 derivatives in the fixtures.
    """
    reference = wrt.wrap(KerasModule(kmodel, in_shapes), model.inputs, model.outputs)
    got = wrt.partials(model, x.float(), specs)
    want = wrt.partials(reference, x.float(), specs)
    for spec in specs:
        scale = max(1.0, float(want[spec].abs().max()))
        torch.testing.assert_close(got[spec], want[spec], rtol=1e-4, atol=1e-5 * scale)
    exact = wrt.partials(model, x, specs, dtype="float64")
    fd = wrt.partials(model, x, specs, engine="finite_diff")
    for spec in specs:
        scale = max(1.0, float(fd[spec].abs().max()))
        # where a difference stencil crosses a kink (elu at 0), the estimate's own
        # error bound is large: the tolerance follows it
        bound = 1e-7 * scale + 1e-6 * fd[spec].abs() + 10 * fd.errors[fd.key(spec)]
        assert bool(((exact[spec] - fd[spec]).abs() <= bound).all()), spec


def _sequential_zoo():
    # fixed weights (reproducible): with some random ones a point's 3rd-order
    # stencil crossed a kink of elu'' and the finite differences were off there
    keras.utils.set_random_seed(1)
    normalization = layers.Normalization()
    normalization.adapt(np.random.default_rng(0).normal(3.0, 2.0, size=(64, 3)))
    return keras.Sequential(
        [
            keras.Input((3,)),
            normalization,
            layers.Dense(8, activation="tanh"),
            layers.Dense(8, activation="sigmoid"),
            layers.Dense(8, activation="softplus"),
            layers.Dense(8, activation="gelu"),
            layers.Dense(8, activation="silu"),
            layers.Dense(8, activation="elu"),
            layers.Activation("softsign"),
            layers.Dropout(0.5),
            layers.Rescaling(0.5, offset=0.1),
            layers.Dense(6),
            layers.BatchNormalization(),
            layers.Reshape((2, 3)),
            layers.Flatten(),
            layers.Dense(2),
        ]
    )


def _functional():
    x, t = keras.Input((1,), name="x"), keras.Input((1,), name="t")
    h = layers.Concatenate()([x, t])
    h = layers.Dense(8, activation="tanh")(h)
    a, b = layers.Dense(4, activation="tanh")(h), layers.Dense(4)(h)
    h = layers.Add()([a, b])
    h = layers.Multiply()([h, layers.Dense(4, activation="sigmoid")(h)])
    u = layers.Dense(1, name="u")(h)
    v = layers.Dense(1, name="v")(layers.Subtract()([h, a]))
    return keras.Model([x, t], [u, v])


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_sequential_layers_convert_exactly(tmp_path, suffix):
    kmodel = _sequential_zoo()
    # give the batch norm non-trivial statistics
    bn = next(layer for layer in kmodel.layers if "batch" in layer.name)
    bn.moving_mean.assign(np.linspace(-0.5, 0.5, 6))
    bn.moving_variance.assign(np.linspace(0.5, 2.0, 6))
    model = wrt.load(_save(kmodel, tmp_path, f"m{suffix}"))
    assert model.format == ("keras" if suffix == ".keras" else "keras-h5")
    assert model.inputs == ("x1", "x2", "x3") and model.outputs == ("y1", "y2")
    assert type(model.module).__name__ == "KerasGraph"
    x = torch.from_numpy(np.random.default_rng(1).normal(3.0, 2.0, size=(10, 3)))
    specs = ["y1", "dy1/dx1", "d2y2/dx1dx3", "d3y1/dx2^3"]
    _agrees_with_keras(model, kmodel, [(3,)], x, specs)


def test_functional_model_keeps_input_and_output_names(tmp_path):
    kmodel = _functional()
    model = wrt.load(_save(kmodel, tmp_path, "f.keras"))
    assert model.inputs == ("x", "t") and model.outputs == ("u", "v")
    x = torch.randn(8, 2, dtype=torch.float64)
    _agrees_with_keras(
        model, kmodel, [(1,), (1,)], x, ["du/dx", "d2v/dxdt", "d3u/dt^3"]
    )


def test_per_sample_shape_2x1_becomes_two_scalars(tmp_path):
    kmodel = keras.Sequential(
        [
            keras.Input((2, 1)),
            layers.Flatten(),
            layers.Dense(5, "sigmoid"),
            layers.Dense(1),
        ]
    )
    model = wrt.load(_save(kmodel, tmp_path, "seed002.keras"))
    assert model.inputs == ("x1", "x2") and model.outputs == ("y",)
    x = torch.rand(4, 2)
    expected = kmodel(x.reshape(4, 2, 1)).detach()
    torch.testing.assert_close(model(x), expected, rtol=1e-6, atol=1e-6)


def test_float32_file_float64_copy(tmp_path):
    kmodel = keras.Sequential(
        [keras.Input((2,)), layers.Dense(4, "tanh"), layers.Dense(1)]
    )
    path = _save(kmodel, tmp_path, "m.keras")
    assert wrt.load(path).dtype == torch.float32
    m64 = wrt.load(path, dtype="float64")
    assert m64.dtype == torch.float64
    x = torch.randn(5, 2, dtype=torch.float64)
    torch.testing.assert_close(
        m64(x), kmodel(x.float()).detach().double(), rtol=1e-5, atol=1e-6
    )


def test_user_names_override_the_files(tmp_path):
    path = _save(_functional(), tmp_path, "f.keras")
    model = wrt.load(path, inputs=["a", "b"], outputs=["p", "q"])
    assert model.inputs == ("a", "b") and model.outputs == ("p", "q")


def test_unconvertible_layer_falls_back_to_keras_with_a_warning(tmp_path):
    kmodel = keras.Sequential(
        [
            keras.Input((2,)),
            layers.Dense(4, "tanh"),
            layers.UnitNormalization(),
            layers.Dense(1),
        ]
    )
    path = _save(kmodel, tmp_path, "u.keras")
    with pytest.warns(wrt.FallbackWarning, match="UnitNormalization"):
        model = wrt.load(path)
    assert isinstance(model.module, KerasModule)
    x = torch.randn(6, 2)
    torch.testing.assert_close(model(x), kmodel(x).detach(), rtol=1e-6, atol=1e-6)
    with pytest.warns(wrt.PrecisionWarning, match="float32"):
        m64 = model.converted("float64")  # rebuilt from config, not cast
    assert m64.dtype == torch.float64
    value = wrt.partials(m64, x.double(), "d2y/dx1dx2")["d2y/dx1dx2"]
    assert value.dtype == torch.float64 and torch.isfinite(value).all()


def test_lambda_layer_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"

    def side_effect(z, path=str(marker)):
        open(path, "w").close()
        return z

    kmodel = keras.Sequential(
        [keras.Input((2,)), layers.Lambda(side_effect), layers.Dense(1)]
    )
    marker.unlink(missing_ok=True)
    path = _save(kmodel, tmp_path, "evil.keras")
    with pytest.raises(wrt.ModelFormatError, match="Lambda layer .* holds Python code"):
        wrt.load(path)
    assert not marker.exists()


def test_damaged_keras_files(tmp_path):
    path = _save(_functional(), tmp_path, "f.keras")
    cut = tmp_path / "cut.keras"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(wrt.ModelFormatError):
        wrt.load(cut)
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("config.json", "{not json")
        archive.writestr("model.weights.h5", b"")
    with pytest.raises(wrt.ModelFormatError, match="model config"):
        wrt.load(broken)


def test_saved_model_directory_gets_advice(tmp_path):
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(
        wrt.UnsupportedFormatError, match=r"model.save\('model.keras'\)"
    ):
        wrt.load(tmp_path / "saved")


def test_keras_on_another_backend_is_reported(monkeypatch):
    class FakeBackend:
        @staticmethod
        def backend():
            return "tensorflow"

    class FakeKeras:
        backend = FakeBackend

    monkeypatch.setitem(sys.modules, "keras", FakeKeras)
    with pytest.raises(
        KerasBackendError, match="already imported with the 'tensorflow'"
    ):
        import_keras()


def test_keras_backend_variable_is_reported(tmp_path):
    path = _save(_functional(), tmp_path, "f.keras")
    code = (
        f"import wrt\ntry:\n    wrt.load({str(path)!r})\n"
        "except wrt.WrtError as e:\n    print(e)"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert "KERAS_BACKEND is 'jax'" in done.stdout, done.stderr[-2000:]


def test_cli_reads_keras_files(tmp_path):
    from typer.testing import CliRunner

    from wrt.cli.app import app

    path = _save(_functional(), tmp_path, "f.keras")
    points = tmp_path / "p.csv"
    points.write_text("x,t\n0.1,0.2\n0.3,0.4\n")
    result = CliRunner().invoke(
        app, ["partials", str(path), str(points), "-d", "du/dx", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert len(__import__("json").loads(result.stdout)["du/dx"]) == 2
    assert math.isfinite(__import__("json").loads(result.stdout)["du/dx"][0])


def _dict_model(keys_in=("x", "t"), keys_out=("u", "v")):
    """A functional model built with dicts; output keys differ from layer names."""
    keras.utils.set_random_seed(3)
    tensors = {key: keras.Input((1,), name=key) for key in keys_in}
    h = layers.Dense(8, activation="tanh")(layers.Concatenate()(list(tensors.values())))
    sizes = dict(zip(keys_out, (1, 2), strict=False))
    outs = {
        key: layers.Dense(size, name=f"out_{key}")(h) for key, size in sizes.items()
    }
    return keras.Model(inputs=tensors, outputs=outs)


@pytest.mark.parametrize(
    ("keys_in", "keys_out"),
    [(("x", "t"), ("u", "v")), (("t", "a", "z"), ("p", "b")), (("b", "a"), ("q",))],
)
@pytest.mark.parametrize("fallback", [False, True])
def test_dict_inputs_and_outputs_are_named_by_their_keys(
    tmp_path, keys_in, keys_out, fallback
):
    # issue 12: dict inputs or outputs gave `KeyError: 0`. Columns follow the keys
    # as written (not Keras' sorted flattening), in the converted module and in the
    # Keras fallback alike.
    kmodel = _dict_model(keys_in, keys_out)
    path = _save(kmodel, tmp_path, "d.keras")
    if fallback:
        with pytest.MonkeyPatch.context() as patch:
            patch.delitem(
                wrt.importers.keras_layers.CONVERTERS, "Concatenate", raising=True
            )
            with pytest.warns(wrt.FallbackWarning, match="Concatenate"):
                model = wrt.load(path)
        assert isinstance(model.module, KerasModule)
    else:
        model = wrt.load(path)
        assert not isinstance(model.module, KerasModule)
    want_out = keys_out[:1] if len(keys_out) == 1 else ("u", "v1", "v2")
    if keys_out == ("p", "b"):
        want_out = ("p", "b1", "b2")
    assert model.inputs == keys_in and model.outputs == want_out
    x = torch.rand(5, len(keys_in))
    feed = {k: x[:, i : i + 1] for i, k in enumerate(keys_in)}
    out = kmodel(feed)
    expected = torch.cat([out[k].detach() for k in keys_out], dim=1)
    torch.testing.assert_close(model(x), expected, rtol=1e-6, atol=1e-6)
    # a partial against a finite difference of Keras itself, column by column
    spec = f"d{keys_out[0]}/d{keys_in[-1]}"
    got = wrt.partials(model, x, spec)[spec]
    h = 1e-2
    step = torch.zeros_like(x)
    step[:, -1] = h

    def first(z):
        fed = {k: z[:, i : i + 1] for i, k in enumerate(keys_in)}
        return kmodel(fed)[keys_out[0]].detach()[:, 0].double()

    fd = (first(x + step) - first(x - step)) / (2 * h)
    torch.testing.assert_close(got.double(), fd, rtol=2e-3, atol=2e-3)


def test_converted_parameters_are_contiguous_and_trainable(tmp_path):
    # issue 12: parameters_to_vector refused the transposed Keras kernels
    path = _save(_functional(), tmp_path, "f.keras")
    model = wrt.load(path, dtype="float64")
    assert all(p.is_contiguous() for p in model.module.parameters())
    assert all(b.is_contiguous() for b in model.module.buffers())
    vector = torch.nn.utils.parameters_to_vector(model.module.parameters())
    assert vector.numel() == sum(p.numel() for p in model.module.parameters())
    x = torch.rand(16, 2, dtype=torch.float64)
    target = torch.sin(x[:, :1])

    def loss() -> float:
        with torch.no_grad():
            return float(((model(x)[:, :1] - target) ** 2).mean())

    before = loss()
    history = wrt.fit(model, [wrt.match("u", x, target)], steps=30, lr=1e-2)
    after = loss()
    assert after < before and len(history.frame) > 0


def test_variable_per_sample_shape_is_refused_in_one_line(tmp_path):
    x = keras.Input((None,), name="x")
    h = layers.Dense(3)(layers.Reshape((-1, 1))(x))
    path = _save(keras.Model(x, layers.Dense(1)(h)), tmp_path, "var.keras")
    with pytest.raises(
        wrt.UnsupportedFormatError, match=r"'x' has a variable .*\(k,\)"
    ):
        wrt.load(path)
