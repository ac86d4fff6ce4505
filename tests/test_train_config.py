"""Samplers, the TOML config, and ``wrt train`` with checkpoints and --resume."""

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import wrt
from wrt.cli.app import app
from wrt.training.config import TrainConfig
from wrt.training.runner import run
from wrt.training.samplers import sample

runner = CliRunner()
BOX = {"x": (-1.0, 1.0), "t": (0.0, 2.0)}


@pytest.mark.parametrize("method", ["uniform", "lhs", "sobol"])
def test_samplers_fill_the_box(method):
    x = sample(BOX, 512, ["x", "t"], method=method, seed=3)
    assert x.shape == (512, 2) and x.dtype == torch.float64
    assert float(x[:, 0].min()) >= -1 and float(x[:, 0].max()) <= 1
    assert float(x[:, 1].min()) >= 0 and float(x[:, 1].max()) <= 2
    # every quarter of each interval gets about a quarter of the points
    counts = torch.histc(x[:, 0], bins=4, min=-1, max=1)
    assert float(counts.min()) > 80
    assert torch.equal(x, sample(BOX, 512, ["x", "t"], method=method, seed=3))


def test_latin_hypercube_has_one_point_per_stratum():
    x = sample({"a": (0, 1), "b": (0, 1)}, 50, ["a", "b"], method="lhs")
    for column in range(2):
        strata = torch.floor(x[:, column] * 50).long()
        assert sorted(strata.tolist()) == list(range(50))


def test_boundary_points_lie_on_the_chosen_faces():
    x = sample(BOX, 100, ["x", "t"], boundary=True, faces=["x"])
    assert set(x[:, 0].tolist()) == {-1.0, 1.0}
    all_faces = sample(BOX, 100, ["x", "t"], boundary=True)
    on_face = (
        (all_faces[:, 0].abs() == 1) | (all_faces[:, 1] == 0) | (all_faces[:, 1] == 2)
    )
    assert bool(on_face.all())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "halton"}, "Unknown sampler"),
        ({"box": {"x": (0, 1)}}, "missing: t"),
        ({"box": {"x": (1, 0), "t": (0, 1)}}, "low <= high"),
        ({"boundary": True, "faces": ["z"]}, "Unknown face"),
    ],
)
def test_sampler_errors(kwargs, message):
    args = {"box": BOX, **kwargs}
    with pytest.raises(wrt.DataError, match=message):
        sample(args.pop("box"), 10, ["x", "t"], **args)


CONFIG = """
[model]
inputs = ["x", "t"]
outputs = ["u"]
hidden = [8, 8]

[[terms]]
kind = "residual"
expr = "du/dt + u*du/dx - 0.01/pi*d2u/dx^2"
points = { sampler = "sobol", n = 128, box = { x = [-1, 1], t = [0, 1] } }

[[terms]]
kind = "match"
target = "u"
values = "-sin(pi*x)"
points = { sampler = "uniform", n = 64, box = { x = [-1, 1], t = [0, 0] } }

[[terms]]
kind = "match"
target = "u"
values = { column = "u" }
points = { file = "walls.csv" }

[train]
optimizer = "adam"
steps = 30
lr = 1e-3
checkpoint_every = 10

[output]
folder = "out"
"""


@pytest.fixture
def config(tmp_path):
    pd.DataFrame(
        {"x": [-1.0, 1.0, -1.0, 1.0], "t": [0.2, 0.4, 0.6, 0.8], "u": 0.0}
    ).to_csv(tmp_path / "walls.csv", index=False)
    path = tmp_path / "burgers.toml"
    path.write_text(CONFIG)
    return path


def test_wrt_train_writes_every_output_and_the_model_loads_back(config):
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 0, result.output
    out = config.parent / "out"
    for name in (
        "model.pt2",
        "state_dict.pt",
        "history.csv",
        "loss.png",
        "checkpoint.pt",
    ):
        assert (out / name).exists(), name
    history = pd.read_csv(out / "history.csv")
    assert list(history.columns)[:2] == ["step", "loss"] and len(history) == 30
    loaded = wrt.load(out / "model.pt2")
    assert loaded.inputs == ("x", "t") and loaded.outputs == ("u",)
    state = torch.load(out / "state_dict.pt", weights_only=True)
    model = wrt.mlp(["x", "t"], ["u"], hidden=[8, 8])
    model.module.load_state_dict(state)
    x = torch.rand(5, 2, dtype=torch.float64)
    torch.testing.assert_close(loaded(x), model(x))
    # and its partials, through the exported program
    spec = "d2u/dx^2"
    torch.testing.assert_close(
        wrt.partials(loaded, x, spec)[spec], wrt.partials(model, x, spec)[spec]
    )


def test_resume_continues_from_the_checkpoint(config):
    parsed = TrainConfig.read(config)
    parsed.train["steps"] = 20
    run(parsed)
    parsed.train["steps"] = 30
    _, history = run(parsed, resume=True)
    assert history.frame["step"].tolist() == list(range(30))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("hidden = [8, 8]", "hiden = [8]"), "Unknown key.*hiden"),
        (
            lambda t: t.replace('kind = "residual"', 'kind = "pde"'),
            "kind must be one of",
        ),
        (lambda t: t.replace("[model]", "[modle]"), "Unknown table 'modle'.*'model'"),
        (lambda t: t + "\n[[terms]\n", "not valid TOML"),
        (lambda t: t.replace('"du/dt + u*du/dx', '"du/dt + u*du/dy'), "du/dy"),
    ],
)
def test_config_errors_exit_2_with_a_message(config, edit, message):
    config.write_text(edit(CONFIG))
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 2
    import re

    assert re.search(message, result.output), result.output


def test_resume_without_a_checkpoint_is_an_error(config):
    result = runner.invoke(app, ["train", str(config), "--resume"])
    assert result.exit_code == 2 and "no checkpoint" in result.output


def test_two_processes_follow_the_single_process_history(config, tmp_path):
    text = CONFIG.replace(
        'optimizer = "adam"', 'optimizer = "adam+lbfgs"\nlbfgs_steps = 20'
    )
    config.write_text(text.replace('folder = "out"', 'folder = "one"'))
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 0, result.output
    two = tmp_path / "two.toml"
    two.write_text(text.replace('folder = "out"', 'folder = "two"'))
    result = runner.invoke(app, ["train", str(two), "--nproc", "2"])
    assert result.exit_code == 0, result.output
    one = pd.read_csv(tmp_path / "one" / "history.csv")
    both = pd.read_csv(tmp_path / "two" / "history.csv")
    assert len(one) == len(both) == 31  # 30 Adam steps, one L-BFGS block of 20
    # same global loss, up to the order of the sums (float64)
    np.testing.assert_allclose(both["loss"], one["loss"], rtol=1e-9)
    np.testing.assert_allclose(both.iloc[:, 2:], one.iloc[:, 2:], rtol=1e-9, atol=1e-14)


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_an_earlier_run_is_kept_unless_overwrite_is_asked(config):
    config.write_text(CONFIG.replace("steps = 30", "steps = 3"))
    assert runner.invoke(app, ["train", str(config)]).exit_code == 0
    out = config.parent / "out"
    before = _snapshot(out)
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 2
    assert "holds an earlier run" in result.output and str(out) in result.output
    assert "--overwrite" in result.output and "--resume" in result.output
    assert _snapshot(out) == before
    config.write_text(CONFIG.replace("steps = 30", "steps = 4"))
    result = runner.invoke(app, ["train", str(config), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out / "history.csv")) == 4


def test_ctrl_c_keeps_a_checkpoint_and_resume_finishes(config, monkeypatch):
    from wrt.training.problem import Problem

    original = Problem.losses
    calls = {"n": 0}

    def interrupted(self):
        calls["n"] += 1
        if calls["n"] == 13:  # the loss of step 12, after 12 updates
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Problem, "losses", interrupted)
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output
    # back to the parameters whose loss was last seen finite: after 11 updates
    assert "interrupted at step 11" in result.output
    assert f"wrt train {config} --resume" in result.output
    out = config.parent / "out"
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["done"] == 11 and [r[0] for r in state["history"]] == list(range(11))
    assert not (out / "model.pt2").exists()  # only the checkpoint is written
    kept = state["history"]
    monkeypatch.setattr(Problem, "losses", original)
    result = runner.invoke(app, ["train", str(config), "--resume"])
    assert result.exit_code == 0, result.output
    history = pd.read_csv(out / "history.csv")
    assert history["step"].tolist() == list(range(30))
    np.testing.assert_array_equal(history.iloc[:11].to_numpy(), np.array(kept))


def test_the_summary_counts_the_steps_of_the_history(config):
    text = CONFIG.replace("steps = 30", "steps = 3").replace(
        'optimizer = "adam"', 'optimizer = "adam+lbfgs"\nlbfgs_steps = 25'
    )
    config.write_text(text)
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 0, result.output
    history = pd.read_csv(config.parent / "out" / "history.csv")
    reached = int(history["step"].iloc[-1]) + 1
    assert len(history) < reached  # L-BFGS writes one row per block
    assert f"trained {reached} steps" in result.output


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("steps = 30", "steps = 30.0", r"train\.steps = 30\.0"),
        ("lr = 1e-3", "lr = 0", r"train\.lr = 0"),
        ("hidden = [8, 8]", "hidden = [8, true]", r"model\.hidden = \[8, true\]"),
        ("n = 128", 'n = "128"', r"terms\[1\]\.points\.n = \"128\""),
        ("n = 64", "n = 64, seed = -1", r"terms\[2\]\.points\.seed = -1"),
        ('values = "-sin(pi*x)"', 'values = "-sin(pi*"', r"terms\[2\] \(match\)"),
        ('{ column = "u" }', '{ column = "v" }', r"terms\[3\].*no column 'v'"),
        ('{ column = "u" }', '{ col = "u" }', r"terms\[3\]\.values"),
        ("t = [0, 0]", "t = [0, 0], z = [0, 1]", r"unknown: z"),
        ('folder = "out"', 'folder = ""', r"output\.folder = \"\""),
        ('folder = "out"', "folder = 3", r"output\.folder = 3"),
    ],
)
def test_every_value_is_checked_before_anything_is_written(config, old, new, message):
    assert old in CONFIG
    config.write_text(CONFIG.replace(old, new, 1))
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 2, result.output
    import re

    assert re.search(message, result.output), result.output
    assert "Traceback" not in result.output
    assert not (config.parent / "out").exists()


def test_a_diverged_run_keeps_its_last_finite_parameters_for_resume(config):
    config.write_text(
        CONFIG.replace("steps = 30", "steps = 4").replace("1e-3", "1e300")
    )
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "lower [train] lr" in result.output
    out = config.parent / "out"
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert all(bool(torch.isfinite(v).all()) for v in state["model"].values())
    assert np.isfinite(np.array(state["history"])).all()
    assert not (out / "model.pt2").exists()
    config.write_text(CONFIG.replace("steps = 30", "steps = 4"))
    result = runner.invoke(app, ["train", str(config), "--resume"])
    assert result.exit_code == 0, result.output
    history = pd.read_csv(out / "history.csv")
    assert history["step"].tolist() == [0, 1, 2, 3]


class _Killed(BaseException):
    """A process killed right after a checkpoint (nothing in wrt catches it)."""


def _parsed(config, folder):
    parsed = TrainConfig.read(config)
    parsed.folder = config.parent / folder
    return parsed


@pytest.mark.parametrize(
    ("optimizer", "stop", "how"),
    [
        ("adam", 8, "kill"),
        ("adam", 6, "ctrl-c"),
        ("adam+lbfgs", 24, "kill"),
        ("adam+lbfgs", 2, "ctrl-c"),
        ("adam+lbfgs", 43, "ctrl-c"),  # after L-BFGS's second block
    ],
)
def test_resume_gives_the_uninterrupted_result(
    config, monkeypatch, optimizer, stop, how
):
    """Parameters, Adam's moments and L-BFGS's pairs all go to the checkpoint."""
    import wrt.training.runner as config_module

    settings = "steps = 12\nlr = 1e-2\ncheckpoint_every = 4"
    if optimizer == "adam+lbfgs":
        settings = (
            'optimizer = "adam+lbfgs"\nsteps = 4\nlbfgs_steps = 40\nlr = 1e-2\n'
            "checkpoint_every = 4"
        )
    text = CONFIG.replace(
        'optimizer = "adam"\nsteps = 30\nlr = 1e-3\ncheckpoint_every = 10', settings
    )
    assert text != CONFIG
    config.write_text(text)
    whole_model, whole = run(_parsed(config, "whole"))

    if how == "kill":
        original = config_module.save_checkpoint

        def killed(folder, model, rows, columns, done, optimizer=None):
            original(folder, model, rows, columns, done, optimizer)
            if done == stop:
                raise _Killed

        monkeypatch.setattr(config_module, "save_checkpoint", killed)
        with pytest.raises(_Killed):
            run(_parsed(config, "parts"))
        monkeypatch.setattr(config_module, "save_checkpoint", original)
    else:

        def on_step(step, total, losses):
            if step == stop:
                raise KeyboardInterrupt

        with pytest.raises(wrt.TrainingInterrupted):
            run(_parsed(config, "parts"), on_step=on_step)
    resumed_model, resumed = run(_parsed(config, "parts"), resume=True)
    pd.testing.assert_frame_equal(resumed.frame, whole.frame, check_exact=True)
    for a, b in zip(
        whole_model.module.parameters(), resumed_model.module.parameters(), strict=True
    ):
        assert torch.equal(a, b)


def test_ctrl_c_while_writing_the_outputs_then_resume_writes_them(config, monkeypatch):
    import wrt.training.runner as runner_module

    config.write_text(CONFIG.replace("steps = 30", "steps = 3"))
    original = runner_module.write_outputs

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_module, "write_outputs", interrupted)
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 130 and "while writing the outputs" in result.output
    assert f"wrt train {config} --resume" in result.output
    monkeypatch.setattr(runner_module, "write_outputs", original)
    result = runner.invoke(app, ["train", str(config), "--resume"])
    assert result.exit_code == 0, result.output
    out = config.parent / "out"
    assert (out / "model.pt2").exists()
    assert pd.read_csv(out / "history.csv")["step"].tolist() == [0, 1, 2]
