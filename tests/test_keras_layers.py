"""Keras layer families converted to torch, configuration by configuration.

Each model is built with Keras on the torch backend, saved, loaded by wrt, and
held to Keras itself: values, and partials up to order 2 against Keras
differentiated by torch autograd (both float32), then the float64 conversion
against float64 finite differences. The corpus (``test_keras_corpus.py``) holds
TensorFlow's numbers for the common configurations; this file covers the
variants (strides with ``same`` padding, groups, channels first, dilation, axes,
``go_backwards``, masks, call options) and the refusals.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import wrt
from wrt.errors import IgnoredInputWarning
from wrt.importers.keras import KerasModule, import_keras

keras = import_keras()
layers = keras.layers


def _save(model, tmp_path, name="m.keras"):
    path = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls .h5 "legacy" (it is)
        model.save(path)
    return path


def _layout(kmodel):
    return [tuple(int(d) for d in t.shape[1:]) for t in kmodel.inputs]


def _check(kmodel, tmp_path, specs, *, x=None, suffix=".keras", keras_order=2):
    """Load, check it converted, and compare it with Keras and finite differences.

    Partials up to ``keras_order`` are compared with Keras differentiated by torch
    (Keras' fused attention kernel has no second derivative on CPU); all of them
    with float64 finite differences.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = wrt.load(_save(kmodel, tmp_path, f"m{suffix}"))
    assert model.runtime == "torch" and not isinstance(model.module, KerasModule)
    if x is None:
        gen = torch.Generator().manual_seed(7)
        x = torch.randn(6, model.n_inputs, generator=gen, dtype=torch.float64)
    keras_module = KerasModule(kmodel, _layout(kmodel))
    reference = wrt.Model(keras_module, model.inputs, model.outputs)
    # float32 on both sides, ops in another order (fused kernels in Keras): a few
    # ulps per layer, amplified by stacked normalisations, as for the partials
    torch.testing.assert_close(
        model(x.float()), reference(x.float()), rtol=1e-4, atol=1e-5
    )
    low = [
        s
        for s in specs
        if wrt.parse_spec(s, model.inputs, model.outputs).order <= keras_order
    ]
    got = wrt.partials(model, x.float(), low)
    want = wrt.partials(reference, x.float(), low)
    for spec in low:
        scale = max(1.0, float(want[spec].abs().max()))
        torch.testing.assert_close(got[spec], want[spec], rtol=1e-4, atol=1e-5 * scale)
    exact = wrt.partials(model, x, specs, dtype="float64")
    fd = wrt.partials(model, x, specs, engine="finite_diff")
    for spec in specs:
        scale = max(1.0, float(fd[spec].abs().max()))
        bound = 1e-7 * scale + 1e-6 * fd[spec].abs() + 10 * fd.errors[fd.key(spec)]
        assert bool(((exact[spec] - fd[spec]).abs() <= bound).all()), spec
    try:
        taylor = wrt.partials(model, x, specs, dtype="float64", engine="taylor")
    except wrt.EngineError as gap:  # an op without a Taylor rule: named, not wrong
        assert "aten." in str(gap), str(gap)
        return model
    for spec in specs:
        scale = max(1.0, float(exact[spec].abs().max()))
        error = float((taylor[spec] - exact[spec]).abs().max())
        assert error <= 1e-9 * scale, f"taylor {spec}: {error:.3g}"
    return model


def test_conv1d_strides_same_padding_groups_dilation_causal(tmp_path):
    keras.utils.set_random_seed(1)
    kmodel = keras.Sequential(
        [
            keras.Input((11, 2)),
            layers.Conv1D(4, 3, strides=2, padding="same", activation="tanh"),
            layers.Conv1D(4, 2, dilation_rate=2, padding="causal", groups=2),
            layers.MaxPooling1D(3, strides=2, padding="same"),
            layers.AveragePooling1D(2, strides=1, padding="same"),
            layers.Conv1D(3, 2, padding="valid", use_bias=False),
            layers.DepthwiseConv1D(2, depth_multiplier=3, strides=2, padding="same"),
            layers.GlobalMaxPooling1D(),
            layers.Dense(1),
        ]
    )
    _check(kmodel, tmp_path, ["y", "dy/dx3", "d2y/dx1dx4"])


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_conv2d_odd_sizes_strides_groups_and_pooling(tmp_path, suffix):
    keras.utils.set_random_seed(2)
    kmodel = keras.Sequential(
        [
            keras.Input((7, 5, 2)),
            layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same", groups=2),
            layers.Activation("gelu"),
            layers.AveragePooling2D((2, 2), strides=2, padding="same"),
            layers.MaxPooling2D((2, 1), padding="valid"),
            layers.Conv2D(3, 1, activation="silu"),
            layers.DepthwiseConv2D(2, depth_multiplier=2, padding="same"),
            layers.GlobalAveragePooling2D(keepdims=True),
            layers.Flatten(),
            layers.Dense(2),
        ]
    )
    model = _check(kmodel, tmp_path, ["y2", "dy1/dx5", "d2y2/dx7^2"], suffix=suffix)
    assert model.n_inputs == 70 and model.outputs == ("y1", "y2")


def test_conv2d_channels_first(tmp_path):
    keras.utils.set_random_seed(3)
    kmodel = keras.Sequential(
        [
            keras.Input((2, 6, 5)),
            layers.Conv2D(
                3, 3, strides=2, padding="same", data_format="channels_first"
            ),
            layers.AveragePooling2D(2, padding="same", data_format="channels_first"),
            layers.GlobalMaxPooling2D(data_format="channels_first"),
            layers.Dense(1, activation="tanh"),
        ]
    )
    _check(kmodel, tmp_path, ["dy/dx1", "d2y/dx2dx31"])


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_recurrent_variants(tmp_path, suffix):
    keras.utils.set_random_seed(4)
    kmodel = keras.Sequential(
        [
            keras.Input((5, 3)),
            layers.LSTM(
                4,
                return_sequences=True,
                go_backwards=True,
                activation="softsign",
                recurrent_activation="tanh",
            ),
            layers.GRU(3, return_sequences=True),  # reset_after=True
            layers.GRU(3, return_sequences=True, reset_after=False, use_bias=False),
            layers.SimpleRNN(2, go_backwards=True, activation="tanh"),
            layers.Dense(1),
        ]
    )
    _check(kmodel, tmp_path, ["dy/dx1", "dy/dx15", "d2y/dx2dx14"], suffix=suffix)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_bidirectional_and_time_distributed(tmp_path, suffix):
    keras.utils.set_random_seed(9)
    kmodel = keras.Sequential(
        [
            keras.Input((4, 3)),
            layers.Bidirectional(layers.LSTM(3, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(4, activation="tanh")),
            layers.Bidirectional(
                layers.GRU(2, return_sequences=True, reset_after=False),
                merge_mode="sum",
            ),
            layers.Bidirectional(layers.SimpleRNN(2), merge_mode="ave"),
            layers.Dense(1),
        ]
    )
    _check(kmodel, tmp_path, ["dy/dx1", "dy/dx12", "d2y/dx2dx11"], suffix=suffix)


def test_normalisations_on_every_axis(tmp_path):
    keras.utils.set_random_seed(5)
    data = np.random.default_rng(0).normal(2.0, 3.0, size=(64, 3, 4))
    by_row, by_cell = layers.Normalization(axis=1), layers.Normalization(axis=(1, 2))
    by_row.adapt(data)
    by_cell.adapt(data)
    batch = layers.BatchNormalization(axis=1)
    kmodel = keras.Sequential(
        [
            keras.Input((3, 4)),
            by_row,
            by_cell,
            layers.Normalization(mean=0.5, variance=4.0),
            batch,
            layers.LayerNormalization(axis=(1, 2)),
            layers.LayerNormalization(axis=-1, center=False),
            layers.RMSNormalization(axis=(1, 2), epsilon=1e-3),
            layers.RMSNormalization(),
            layers.Permute((2, 1)),
            layers.Dense(3, activation="tanh"),
            layers.Flatten(),
            layers.Dense(2),
            layers.Normalization(mean=[1.0, -2.0], variance=[4.0, 9.0], invert=True),
        ]
    )
    batch.moving_mean.assign(np.array([0.1, -0.2, 0.3]))
    batch.moving_variance.assign(np.array([0.5, 2.0, 1.5]))
    batch.gamma.assign(np.array([1.5, 0.5, -1.0]))
    _check(kmodel, tmp_path, ["y1", "dy2/dx5", "d2y1/dx1dx12"])


def test_attention_with_its_own_key_and_value_and_a_causal_mask(tmp_path):
    keras.utils.set_random_seed(6)
    q, kv = keras.Input((4, 3), name="q"), keras.Input((5, 2), name="kv")
    attend = layers.MultiHeadAttention(
        num_heads=2, key_dim=3, value_dim=2, output_shape=4
    )
    h = attend(q, value=kv, key=layers.Dense(2)(kv))
    self_attend = layers.MultiHeadAttention(num_heads=1, key_dim=2, use_bias=False)
    h = layers.Add()([h, self_attend(h, h, use_causal_mask=True)])
    kmodel = keras.Model([q, kv], layers.Dense(1)(layers.GlobalAveragePooling1D()(h)))
    specs = ["dy/dq1", "dy/dkv10", "d2y/dq2dkv3"]
    model = _check(kmodel, tmp_path, specs, keras_order=1)
    assert model.inputs[:2] == ("q1", "q2") and model.inputs[-1] == "kv10"


def test_training_true_or_a_mask_runs_through_keras(tmp_path):
    x = keras.Input((3,), name="x")
    h = layers.Dense(4)(x)
    h = layers.Dropout(0.5)(h, training=True)  # dropout at inference: random
    path = _save(keras.Model(x, layers.Dense(1)(h)), tmp_path)
    with pytest.warns(wrt.FallbackWarning, match="training=True"):
        assert wrt.load(path).runtime == "keras"
    tok = keras.Input((4,), name="tok")
    e = layers.Embedding(6, 2, mask_zero=True)(tok)
    path = _save(keras.Model(tok, layers.Dense(1)(layers.LSTM(3)(e))), tmp_path)
    with pytest.warns(wrt.FallbackWarning, match="mask_zero|not_equal"):
        model = wrt.load(path)
    assert model.runtime == "keras"
    assert model.inputs == ("x1", "x2", "x3", "x4")
    with pytest.raises(wrt.IntegerInputError, match="'x3'.*Embedding"):
        wrt.partials(model, torch.zeros(2, 4), "dy/dx3")


def test_embedding_lookups_are_exact_and_refuse_derivatives(tmp_path):
    keras.utils.set_random_seed(8)
    kmodel = keras.Sequential(
        [keras.Input((3,)), layers.Embedding(5, 2), layers.Flatten(), layers.Dense(1)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = wrt.load(_save(kmodel, tmp_path))
    assert model.runtime == "torch" and set(model.integer_inputs) == {0, 1, 2}
    x = torch.tensor([[0.0, 4.0, 2.0], [3.0, 3.0, 1.0]])
    expected = kmodel(x.int()).detach()
    torch.testing.assert_close(model(x), expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        wrt.load(_save(kmodel, tmp_path), dtype="float64")(x.double()).float(),
        expected,
    )
    # not an index: NaN, never a silent neighbour row
    bad = torch.tensor([[0.5, 1.0, 1.0], [5.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])
    assert torch.isnan(model(bad)).all()
    for engine in ("autograd", "taylor", "finite_diff"):
        with pytest.raises(
            wrt.IntegerInputError, match="'x2'.*Embedding layer 'embedding"
        ):
            wrt.partials(model, x, "dy/dx2", engine=engine)
    with pytest.raises(wrt.IntegerInputError, match="'x1'"):
        wrt.directional_derivative(model, x, direction=[1.0, 0.0, 0.0])
    renamed = wrt.wrap(model, inputs=["a", "b", "c"])
    with pytest.raises(wrt.IntegerInputError, match="'a'"):
        wrt.hessian(renamed, x)


def test_embedding_fed_by_a_computed_tensor_is_refused(tmp_path):
    x = keras.Input((2,), name="x")
    index = layers.Dense(2)(x)
    out = layers.Dense(1)(layers.Flatten()(layers.Embedding(4, 2)(index)))
    path = _save(keras.Model(x, out), tmp_path)
    with pytest.raises(wrt.UnsupportedFormatError, match="reads the computed tensor"):
        wrt.load(path)


def test_float64_on_a_keras_runtime_model_says_float32(tmp_path):
    kmodel = keras.Sequential(
        [keras.Input((2,)), layers.UnitNormalization(), layers.Dense(1)]
    )
    path = _save(kmodel, tmp_path)
    with pytest.warns(wrt.FallbackWarning, match="float64 is computed in float32"):
        model = wrt.load(path)
    with pytest.warns(wrt.PrecisionWarning, match="float32"):
        wrt.partials(model, torch.rand(3, 2), "dy/dx1", dtype="float64")


def test_dict_keys_that_cannot_name_the_columns_are_refused(tmp_path):
    ins = {"my x": keras.Input((1,), name="a"), "t": keras.Input((1,), name="b")}
    h = layers.Dense(4, activation="tanh")(layers.Concatenate()(list(ins.values())))
    outs = {"u": layers.Dense(2)(h), "u1": layers.Dense(1)(h)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras: keys differ from tensor names
        path = _save(keras.Model(inputs=ins, outputs=outs), tmp_path)
    with pytest.raises(wrt.InvalidNameError, match=r"'my x' is not an identifier"):
        wrt.load(path)
    with pytest.raises(wrt.InvalidNameError, match=r"'u1' names two columns"):
        wrt.load(path, inputs=["x", "t"])
    model = wrt.load(path, inputs=["x", "t"], outputs=["p", "q", "r"])
    assert model.inputs == ("x", "t") and model.outputs == ("p", "q", "r")
    assert model.runtime == "torch"


def test_keras_ops_in_a_functional_model(tmp_path):
    ops = keras.ops
    keras.utils.set_random_seed(10)
    x, t, z = (
        keras.Input(s, name=n) for s, n in (((1,), "x"), ((1,), "t"), ((3,), "z"))
    )
    features = [
        x * t,
        ops.sin(x),
        x**2,
        ops.exp(-t),
        x / 2.0,
        1.0 - t,
        ops.sqrt(ops.abs(x) + 1.0),
        z[:, 0:1],
        ops.expand_dims(z[:, 2], -1),
        ops.sum(z * z, axis=-1, keepdims=True),
        ops.maximum(x, 0.0),
        ops.where(x > 0, x, 0.0),
        keras.activations.gelu(t),
        ops.sigmoid(x),
        ops.norm(z, axis=-1, keepdims=True),
        ops.reshape(ops.transpose(ops.stack([z, z * x], axis=1), (0, 2, 1)), (-1, 6)),
    ]
    h = layers.Dense(4, activation="tanh")(ops.concatenate(features, axis=-1))
    kmodel = keras.Model([x, t, z], ops.log1p(ops.square(layers.Dense(1)(h))))
    model = _check(kmodel, tmp_path, ["y", "dy/dz3", "d2y/dxdt", "d2y/dz1dz2"])
    assert model.inputs == ("x", "t", "z1", "z2", "z3") and model.outputs == ("y",)


def test_unknown_or_batch_mixing_operations_run_through_keras(tmp_path):
    from wrt.importers.keras_base import UnsupportedLayer
    from wrt.importers.keras_ops import convert_op

    x = keras.Input((3,), name="x")
    path = _save(keras.Model(x, layers.Dense(1)(keras.ops.cumsum(x, axis=1))), tmp_path)
    with pytest.warns(wrt.FallbackWarning, match="operation Cumsum"):
        assert wrt.load(path).runtime == "keras"
    for name, config in [
        ("Sum", {"axis": 0}),
        ("Mean", {"axis": None}),
        ("Transpose", {"axes": [1, 0]}),
        ("Reshape", {"newshape": [4, 3]}),
        ("Cast", {"dtype": "int32"}),
    ]:
        with pytest.raises(UnsupportedLayer):
            convert_op(name, config)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_padding_cropping_upsampling_and_activation_layers(tmp_path, suffix):
    keras.utils.set_random_seed(11)
    prelu = layers.PReLU(shared_axes=[1, 2])
    kmodel = keras.Sequential(
        [
            keras.Input((5, 4, 2)),
            layers.ZeroPadding2D(((1, 2), (0, 1))),
            layers.Conv2D(3, 2, activation="tanh"),
            layers.Cropping2D(((1, 0), (0, 1))),
            layers.UpSampling2D((2, 1)),
            prelu,
            layers.ReLU(max_value=0.6, negative_slope=0.1, threshold=0.05),
            layers.Identity(),
            layers.Rescaling([1.0, -2.0, 0.5], offset=0.25),
            layers.Reshape((-1, 3)),
            layers.ZeroPadding1D(2),
            layers.Cropping1D((1, 3)),
            layers.UpSampling1D(2),
            layers.Flatten(),
            layers.Dense(1),
        ]
    )
    prelu.alpha.assign(np.array([[[0.2, -0.3, 0.5]]]))
    _check(kmodel, tmp_path, ["y", "dy/dx3", "d2y/dx1dx7"], suffix=suffix)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_nested_models_convert_with_their_own_graphs(tmp_path, suffix):
    keras.utils.set_random_seed(12)
    encoder = keras.Sequential(
        [keras.Input((3,)), layers.Dense(4, activation="tanh")], name="encoder"
    )
    inner = keras.Input((4,))
    head = keras.Model(inner, layers.Dense(2, activation="silu")(inner), name="head")
    x = keras.Input((3,), name="x")
    shared = encoder(x)
    out = layers.Dense(1, name="u")(layers.Concatenate()([head(shared), shared]))
    model = _check(
        keras.Model(x, out), tmp_path, ["u", "du/dx1", "d2u/dx2dx3"], suffix=suffix
    )
    assert model.inputs == ("x1", "x2", "x3") and model.outputs == ("u",)


def test_an_embedding_inside_a_nested_model_is_refused(tmp_path):
    tokens = keras.Input((2,))
    inner = keras.Model(tokens, layers.Flatten()(layers.Embedding(4, 2)(tokens)))
    tok = keras.Input((2,), name="tok")
    path = _save(keras.Model(tok, layers.Dense(1)(inner(tok))), tmp_path)
    with pytest.raises(wrt.UnsupportedFormatError, match="nested model .* Embedding"):
        wrt.load(path)


def test_an_input_no_layer_reads_is_reported(tmp_path):
    x, t = keras.Input((2,), name="x"), keras.Input((1,), name="t")
    path = _save(keras.Model([x, t], layers.Dense(1)(x)), tmp_path)
    with pytest.warns(IgnoredInputWarning, match=r"Input\(s\) t of .* feed no"):
        model = wrt.load(path)
    assert model.inputs == ("x1", "x2", "t")
    assert torch.equal(
        wrt.partials(model, torch.ones(2, 3), "dy/dt")["dy/dt"], torch.zeros(2)
    )
