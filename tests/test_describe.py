"""describe() and ``wrt inspect``: what a model is made of."""

import json

import torch
from typer.testing import CliRunner

import wrt
from models import mlp, save_torchscript
from wrt.cli.app import app
from wrt.describe import describe


def test_describe_a_wrapped_module():
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 4),
        torch.nn.LeakyReLU(),
        torch.nn.Linear(4, 1),
        torch.nn.Tanh(),
    )
    info = describe(wrt.wrap(net, inputs=["x", "t"]))
    assert info["parameters"] == 2 * 4 + 4 + 4 + 1
    assert info["activations"] == ["leaky_relu", "tanh"]
    assert info["inputs"] == ["x", "t"] and info["outputs"] == ["y"]
    assert info["format"] == "module" and info["dtype"] == "float32"
    assert [layer["type"] for layer in info["layers"]] == [
        "Linear", "LeakyReLU", "Linear", "Tanh"
    ]  # fmt: skip


def test_inspect_json_equals_describe(tmp_path):
    path = save_torchscript(mlp(3, 2), tmp_path / "m.pt")
    result = CliRunner().invoke(
        app, ["inspect", str(path), "--json", "--inputs", "a,b,c"]
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown == describe(wrt.load(path, inputs="a,b,c"))
    assert shown["format"] == "torchscript" and shown["dtype"] == "float64"


def test_inspect_text_and_errors(tmp_path):
    path = save_torchscript(mlp(2, 1), tmp_path / "m.pt")
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0 and "parameters" in result.stdout
    (tmp_path / "x.txt").write_text("hello")
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "text file" in result.stderr


def test_existing_keys_stay_and_new_ones_come(tmp_path):
    path = save_torchscript(mlp(2, 1), tmp_path / "m.pt")
    info = describe(wrt.load(path))
    old = {"format", "source", "inputs", "outputs", "dtype", "parameters"}
    new = {"non_smooth", "runtime", "runs_through", "layout", "engines", "notes"}
    assert old | {"layers", "activations"} | new <= set(info)
    assert {"name", "type", "detail", "activation", "parameters"} <= set(
        info["layers"][0]
    )
    assert info["runtime"] == "torch" and info["runs_through"] is None
    assert info["notes"] == []


def test_a_model_running_through_keras_says_so():
    model = wrt.wrap(mlp(2, 1))
    model.runtime = "keras"  # what the Keras importer sets for its fallback
    info = describe(model)
    assert info["runtime"] == "keras" and info["runs_through"] == "Keras"
    from wrt.cli.inspect import summary

    assert "runs through Keras itself" in summary(info)[0]
    assert any("float32" in note for note in info["notes"])


def test_a_file_that_changed_since_loading_gives_a_note(tmp_path):
    path = save_torchscript(mlp(2, 1), tmp_path / "m.pt")
    model = wrt.load(path)
    path.write_bytes(b"not a model any more")
    info = describe(model)
    assert info["parameters"] == sum(p.numel() for p in model.module.parameters())
    (note,) = info["notes"]
    assert "Could not read" in note and "m.pt" in note
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2  # the CLI loads the file again, and refuses it
    path.unlink()
    (note,) = describe(model)["notes"]
    assert "no longer exists" in note


def test_layouts_of_shapes_known_unknown_and_inconsistent():
    from wrt.inspection.layout import layout

    names = ["a1", "a2", "a3", "a4", "a5", "a6", "b"]
    grid = {"name": "a", "shape": [2, 3]}
    found = layout(names, [grid, {"name": "b", "shape": []}], "y")
    assert found == [
        {"name": "a", "shape": [2, 3], "columns": names[:6]},
        {"name": "b", "shape": [], "columns": ["b"]},
    ]
    # one open axis is fixed by the columns; two are not
    found = layout(names, [{"name": "a", "shape": ["seq", 7]}], "y")
    assert found == [{"name": "a", "shape": [1, 7], "columns": names}]
    found = layout(names, [{"name": "a", "shape": ["seq", None]}], "y")
    assert found == [{"name": "a", "shape": None, "columns": names}]
    found = layout(names, [{"name": "a", "shape": [None, 2]}], "y")  # 7 % 2
    assert found == [{"name": "a", "shape": None, "columns": names}]
    # shapes that do not add up to the columns are not trusted
    found = layout(names, [grid, {"name": "b", "shape": [2]}], "y")
    assert found == [{"name": "a, b", "shape": None, "columns": names}]
    # nothing stated: a module fed (N, n)
    assert layout(["x1", "x2"], None, "x") == [
        {"name": "x", "shape": [2], "columns": ["x1", "x2"]}
    ]
    assert layout(["x1", "x2"], [{"name": "xt", "shape": None}], "x") == [
        {"name": "xt", "shape": None, "columns": ["x1", "x2"]}
    ]
    # widths without shapes (TorchScript arguments of one column each)
    found = layout(["x", "t"], [{"name": "x", "width": 1}, {"name": "t", "width": 1}],
                   "x")  # fmt: skip
    assert [(t["name"], t["shape"], t["columns"]) for t in found] == [
        ("x", None, ["x"]), ("t", None, ["t"])
    ]  # fmt: skip
