"""``wrt inspect`` on Keras files: layers, classes and counts as Keras gives them."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import wrt
from wrt.cli.app import app
from wrt.errors import FallbackWarning
from wrt.importers.keras import import_keras
from wrt.inspection.keras_file import snake_case

keras = import_keras()
layers = keras.layers
FIXTURES = Path(__file__).parent / "fixtures"
# every committed Keras file Keras itself can load (Lambda: refused by design;
# the Keras 2 file without an input size: Keras 3 cannot rebuild it, wrt can)
KERAS_FILES = sorted(
    p
    for p in [*FIXTURES.glob("*.keras"), *FIXTURES.glob("*.h5")]
    if p.stem not in ("lambda_layer", "seed000_tfkeras_noinput")
)


def _save(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls .h5 "legacy" (it is)
        model.save(path)
    return path


def _load(path):
    """wrt's model; quiet when a layer still runs through Keras itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        return wrt.load(path)


def _keras_model(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return keras.saving.load_model(str(path), compile=False, safe_mode=True)


def _assert_as_keras_counts(path):
    """Layer names, classes and counts are Keras' own, for every layer."""
    kmodel = _keras_model(path)
    info = wrt.describe(_load(path))
    assert info["parameters"] == kmodel.count_params(), path.name
    shown = {layer["name"]: layer for layer in info["layers"]}
    for klayer in kmodel.layers:
        assert shown[klayer.name]["type"] == type(klayer).__name__, klayer.name
        assert shown[klayer.name]["parameters"] == klayer.count_params(), klayer.name
    assert [n for n in shown if n in {k.name for k in kmodel.layers}] == [
        k.name for k in kmodel.layers
    ]
    return info


@pytest.mark.parametrize("path", KERAS_FILES, ids=lambda p: p.name)
def test_committed_files_are_counted_as_keras_counts(path):
    info = _assert_as_keras_counts(path)
    assert "Lambda" not in {layer["type"] for layer in info["layers"]}
    assert info["runtime"] == "torch" and info["runs_through"] is None


def test_a_keras2_file_without_input_size_is_read_from_the_file():
    # Keras 3 cannot load it, so the counts come from the file alone: the same
    # network saved with its input size gives Keras' numbers
    info = wrt.describe(wrt.load(FIXTURES / "seed000_tfkeras_noinput.h5"))
    reference = _keras_model(FIXTURES / "seed000_tfkeras.h5")
    assert info["parameters"] == reference.count_params() == 8438
    assert info["layers"][0]["type"] == "Normalization"
    assert info["layers"][0]["parameters"] == 5  # mean (2), variance (2), count
    assert info["layers"][0]["detail"] == "axis=(-1,), invert=False"
    # Keras 2 saved its LeakyReLU activations as layer objects
    assert {x["activation"] for x in info["layers"][1:-1]} == {"leaky_relu"}
    assert "activation=leaky_relu" in info["layers"][1]["detail"]
    assert info["activations"] == ["leaky_relu"]
    assert info["non_smooth"] == ["leaky_relu"]
    # the file leaves the size open ([None, None]); the columns fix it
    assert info["layout"]["inputs"] == [
        {"name": "normalization_input", "shape": [2], "columns": ["x1", "x2"]}
    ]


def test_tanh_dense_layers_are_dense_with_their_activation():
    info = wrt.describe(wrt.load(FIXTURES / "smooth_mix.keras"))
    dense = [layer for layer in info["layers"] if layer["type"] == "Dense"]
    assert [d["activation"] for d in dense] == [
        "sigmoid", "softplus", "gelu", "silu", "elu", None, None
    ]  # fmt: skip
    assert "activation=gelu" in dense[2]["detail"] and "units=16" in dense[2]["detail"]
    activation = next(x for x in info["layers"] if x["type"] == "Activation")
    assert activation["activation"] == "tanh"
    assert info["activations"] == ["sigmoid", "softplus", "gelu", "silu", "elu", "tanh"]


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_dropout_seed_state_is_not_a_parameter(tmp_path, suffix):
    # Keras keeps the dropout's random seed state apart from its weights; wrt
    # counted it when the model ran through Keras (131 instead of 129)
    keras.utils.set_random_seed(0)
    x = keras.Input((2,), name="xt")
    h = layers.Dense(16, activation="tanh")(x)
    h = layers.BatchNormalization()(h)
    h = layers.Dropout(0.1)(h)
    kmodel = keras.Model(x, layers.Dense(1, name="u")(h))
    path = _save(kmodel, tmp_path / f"bn{suffix}")
    info = _assert_as_keras_counts(path)
    assert info["parameters"] == kmodel.count_params() == 129
    assert [layer["type"] for layer in info["layers"]] == [
        "InputLayer", "Dense", "BatchNormalization", "Dropout", "Dense"
    ]  # fmt: skip
    assert info["activations"] == ["tanh"]
    assert info["layout"]["inputs"] == [
        {"name": "xt", "shape": [2], "columns": ["x1", "x2"]}
    ]
    assert info["layout"]["outputs"] == [{"name": "u", "shape": [1], "columns": ["u"]}]


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_recurrent_models_list_their_layers_not_parameter_dicts(tmp_path, suffix):
    keras.utils.set_random_seed(0)
    kmodel = keras.Sequential(
        [keras.Input((5, 2)), layers.LSTM(8), layers.Dense(4), layers.Dense(1)]
    )
    path = _save(kmodel, tmp_path / f"lstm{suffix}")
    info = _assert_as_keras_counts(path)
    assert [layer["type"] for layer in info["layers"]] == ["LSTM", "Dense", "Dense"]
    assert info["layers"][0]["parameters"] == 4 * (2 * 8 + 8 * 8 + 8)
    assert "recurrent_activation=sigmoid" in info["layers"][0]["detail"]
    assert set(info["activations"]) == {"tanh", "sigmoid"}
    (tensor,) = info["layout"]["inputs"]
    assert tensor["shape"] == [5, 2] and tensor["columns"] == list(info["inputs"])
    assert len(tensor["columns"]) == 10


def test_normalization_both_ways_and_a_nested_model(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    norm = layers.Normalization()
    norm.adapt(rng.normal(size=(20, 3)))
    inverse = layers.Normalization(invert=True)
    inverse.adapt(rng.normal(size=(20, 1)))
    inner = keras.Sequential(
        [keras.Input((3,)), layers.Dense(8, activation="silu"), layers.Dense(1)],
        name="core",
    )
    x = keras.Input((3,), name="state")
    kmodel = keras.Model(x, inverse(inner(norm(x))))
    path = _save(kmodel, tmp_path / "norm.keras")
    info = _assert_as_keras_counts(path)
    types = {layer["name"]: layer["type"] for layer in info["layers"]}
    assert types["core"] == "Sequential"
    assert info["parameters"] == (3 + 3 + 1) + (3 * 8 + 8 + 8 + 1) + (1 + 1 + 1)
    inverted = next(x for x in info["layers"] if "invert=True" in x["detail"])
    assert inverted["type"] == "Normalization"
    assert "silu" in info["activations"]


def test_dict_inputs_and_outputs_and_an_output_of_shape_2_by_3(tmp_path):
    keras.utils.set_random_seed(0)
    x = keras.Input((2,), name="x")
    t = keras.Input((1,), name="t")
    h = layers.Dense(8, activation="tanh")(layers.Concatenate()([x, t]))
    grid = layers.Reshape((2, 3))(layers.Dense(6)(h))
    energy = layers.Dense(1)(h)
    kmodel = keras.Model({"x": x, "t": t}, {"grid": grid, "energy": energy})
    path = _save(kmodel, tmp_path / "dict.keras")
    model = _load(path)
    info = wrt.describe(model)
    assert info["parameters"] == kmodel.count_params()
    assert info["layout"]["inputs"] == [
        {"name": "x", "shape": [2], "columns": ["x1", "x2"]},
        {"name": "t", "shape": [1], "columns": ["t"]},
    ]
    grid = [f"grid{i}" for i in range(1, 7)]
    assert info["layout"]["outputs"] == [
        {"name": "grid", "shape": [2, 3], "columns": grid},
        {"name": "energy", "shape": [1], "columns": ["energy"]},
    ]
    # the layout is what the model computes: columns follow Keras' tensors
    points = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    got = model(points).detach()
    want = kmodel({"x": points[:, :2], "t": points[:, 2:]})
    index = {name: i for i, name in enumerate(model.outputs)}
    torch.testing.assert_close(
        got[:, [index[c] for c in grid[3:]]], want["grid"][:, 1, :].detach()
    )
    torch.testing.assert_close(
        got[:, [index["energy"]]], want["energy"].detach(), rtol=1e-5, atol=1e-6
    )


def test_inspect_text_says_keras_and_json_is_describe(tmp_path):
    path = FIXTURES / "tanh_mlp.keras"
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "Dense" in result.stdout and "Lambda" not in result.stdout
    assert "353 (as Keras counts them)" in result.stdout
    result = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    shown = json.loads(result.stdout)
    assert shown == json.loads(json.dumps(wrt.describe(wrt.load(path))))
    assert shown["keras"] == {"class_name": "Sequential"}


def test_snake_case_follows_keras_names():
    for name in ("BatchNormalization", "LSTM", "Conv2D", "InputLayer", "GRU"):
        assert snake_case(name) == keras.src.utils.naming.to_snake_case(name)


def test_output_shapes_that_keras_cannot_give_leave_a_note(tmp_path, monkeypatch):
    import wrt.inspection.keras_file as keras_file

    def fails(path):
        raise ValueError("cannot rebuild")

    model = wrt.load(FIXTURES / "two_heads.keras")
    monkeypatch.setattr(keras_file, "_reload", fails)
    info = wrt.describe(model)
    assert info["parameters"] == 99 and info["layers"][1]["type"] == "Dense"
    (note,) = info["notes"]
    assert "output shapes" in note and "ValueError" in note
    assert info["layout"]["outputs"] == [
        {"name": "u, v", "shape": None, "columns": ["u", "v1", "v2"]}
    ]
