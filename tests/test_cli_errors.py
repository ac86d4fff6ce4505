"""Exit codes that mean one thing, hints chosen by what went wrong, no tracebacks.

0 success, 1 a check found an error, 2 bad usage or input, 3 an internal error
(one line of cause and a request to report it), 130 interrupted.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import wrt
from models import mlp, save_torchscript
from wrt.cli import errors as cli_errors
from wrt.cli.app import app
from wrt.errors import (
    DataError,
    Interrupted,
    ModelFormatError,
    NonFiniteLossError,
    SpecError,
    UnsupportedOpError,
    WrtError,
    one_line,
)

runner = CliRunner()


class FailsOnBigBatches(torch.nn.Module):
    """Passes the loader's 2-point probe, then raises inside forward."""

    def forward(self, x):
        if x.shape[0] > 2:
            raise RuntimeError("boom inside forward")
        return x[:, :1] * x[:, 1:2]


@pytest.fixture
def files(tmp_path):
    save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    save_torchscript(FailsOnBigBatches(), tmp_path / "fails.pt")
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(6, 2)), columns=["x1", "x2"]).to_csv(
        tmp_path / "points.csv", index=False
    )
    return tmp_path


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _partials(tmp, model="model.pt", *extra):
    return ["partials", str(tmp / model), str(tmp / "points.csv"), *extra]


@pytest.mark.parametrize("command", ["partials", "check", "sens", "report"])
def test_an_exception_inside_the_models_forward_is_exit_3(files, command):
    model = str(files / "fails.pt")
    data = str(files / "points.csv")
    argv = {
        "partials": ["partials", model, data, "-d", "dy/dx1"],
        "check": ["check", model, "--data", data, "--no-verify"],
        "sens": ["sens", model, "--data", data],
        "report": ["report", model, "--data", data, "-o", str(files / "r.html")],
    }[command]
    result = runner.invoke(app, [*argv, "--inputs", "x1,x2"])
    assert result.exit_code == 3, result.output
    lines = _lines(result.stderr)
    assert len(lines) == 2 and "Traceback" not in result.output
    assert lines[0] == "wrt: internal error: RuntimeError: boom inside forward"
    assert lines[1].startswith("wrt: hint:") and "report it" in lines[1]
    assert f"wrt {command}" in lines[1] and f"wrt {wrt.__version__}" in lines[1]
    assert "--debug" in lines[1]
    assert not (files / "r.html").exists()


def test_debug_shows_the_traceback_of_an_internal_error(files):
    result = runner.invoke(
        app,
        ["--debug", *_partials(files, "fails.pt", "-d", "dy/dx1", "--inputs", "x1,x2")],
    )
    assert result.exit_code == 3
    assert "Traceback" in result.stderr and "boom inside forward" in result.stderr


@pytest.mark.parametrize(
    ("raised", "code", "first_line"),
    [
        (
            ZeroDivisionError("division by zero"),
            3,
            "wrt: internal error: ZeroDivisionError: division by zero",
        ),
        (KeyError("x"), 3, "wrt: internal error: KeyError: 'x'"),
        (
            PermissionError(13, "Permission denied", "/no/such/out.csv"),
            2,
            "wrt: error: Permission denied: /no/such/out.csv",
        ),
        (
            Interrupted(
                "Stopped after 2 of 5 chunks; out.parquet.parts keeps them. "
                "Continue with: wrt partials ... --resume"
            ),
            130,
            "wrt: interrupted: Stopped after 2 of 5 chunks",
        ),
        (KeyboardInterrupt(), 130, "wrt: interrupted: nothing was written"),
        (torch.OutOfMemoryError("CUDA out of memory"), 2, "wrt: error: out of memory"),
        (MemoryError(), 2, "wrt: error: out of memory: MemoryError"),
        (SpecError("bad spec", hint="Write it so."), 2, "wrt: error: bad spec"),
    ],
    ids=[
        "bug",
        "keyerror",
        "oserror",
        "interrupted",
        "ctrl-c",
        "cuda-oom",
        "memory",
        "wrt-error",
    ],
)
def test_every_kind_of_failure_has_its_exit_code(
    files, monkeypatch, raised, code, first_line
):
    def fails(*args, **kwargs):
        raise raised

    monkeypatch.setattr("wrt.derivatives.partials", fails)
    result = runner.invoke(app, _partials(files, "model.pt", "-d", "dy/dx1"))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = _lines(result.stderr)
    assert lines[0].startswith(first_line), lines
    assert len(lines) == (1 if code == 130 else 2)


def test_usage_errors_stay_exit_2_from_click(files):
    for extra in (["--no-such-option"], ["--chunk-size", "0"], ["--order", "x"]):
        result = runner.invoke(
            app, _partials(files, "model.pt", "-d", "dy/dx1", *extra)
        )
        assert result.exit_code == 2, (extra, result.output)
        assert "Traceback" not in result.output


def test_a_hint_given_where_raised_wins_over_the_class_hint():
    assert cli_errors.hint(SpecError("x", hint="Do this.")) == "Do this."
    assert "Specs look like" in cli_errors.hint(SpecError("x"))
    # an unsupported ONNX op is not an engine problem once the importer says so
    op = UnsupportedOpError("ONNX op Foo", hint="Re-export it.")
    assert cli_errors.hint(op) == "Re-export it."
    # classes whose errors have many causes get no advice that only fits one
    for error in (DataError("x"), wrt.ModelError("x"), WrtError("x")):
        text = cli_errors.hint(error)
        assert "column" not in text and "maps (N, n_in)" not in text
    assert "wrt reads" in cli_errors.hint(wrt.UnsupportedFormatError("x"))


def test_errors_without_a_hint_keep_working():
    error = DataError("plain message")
    assert error.hint is None and str(error) == "plain message"
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == "plain message"
    loss = NonFiniteLossError("nan loss", "pde", 3, 7, None, hint="Lower lr.")
    assert (loss.term, loss.step, loss.point, loss.hint) == ("pde", 3, 7, "Lower lr.")
    assert ModelFormatError("m", hint="h").hint == "h"


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("simple", ValueError, "ValueError: simple"),
        (
            "The following operation failed in the TorchScript interpreter.\n"
            "Traceback of TorchScript (most recent call last):\n  File x\n"
            "builtins.RuntimeError: boom\n",
            RuntimeError,
            "RuntimeError: boom",
        ),
        ("", ValueError, "ValueError"),
        ("x" * 500, ValueError, "ValueError: " + "x" * 285 + "..."),
    ],
)
def test_one_line_cause(text, kind, expected):
    assert one_line(kind(text)) == expected


def test_a_models_own_traceback_never_reaches_the_error_line(tmp_path):
    class Raises(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("always fails")

    save_torchscript(Raises(), tmp_path / "m.pt")
    pd.DataFrame({"a": [1.0], "b": [2.0]}).to_csv(tmp_path / "p.csv", index=False)
    result = runner.invoke(
        app,
        [
            "partials",
            str(tmp_path / "m.pt"),
            str(tmp_path / "p.csv"),
            "--inputs",
            "a,b",
            "-d",
            "dy/da",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "always fails" in result.stderr
    assert len(_lines(result.stderr)) == 2


def test_wrt_warnings_are_one_line_and_the_settings_do_not_outlive_the_call(
    files, monkeypatch
):
    def warns(*args, **kwargs):
        warnings.warn("the first\nsecond line", wrt.PrecisionWarning, stacklevel=1)
        raise SpecError("then fails")

    monkeypatch.setattr("wrt.derivatives.partials", warns)
    filters = list(warnings.filters)
    shown = warnings.showwarning
    result = runner.invoke(app, _partials(files, "model.pt", "-d", "dy/dx1"))
    assert result.exit_code == 2
    assert _lines(result.stderr)[0] == "wrt: warning: the first second line"
    assert warnings.filters == filters and warnings.showwarning is shown
    with pytest.warns(wrt.PrecisionWarning):  # pytest's own handling is back
        warnings.warn("again", wrt.PrecisionWarning, stacklevel=1)


def test_a_closed_stdout_ends_quietly_with_exit_141(tmp_path):
    """``wrt partials ... | head -1``: no error, no hint, no "Exception ignored"."""
    import subprocess
    import sys

    save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(40000, 2)), columns=["x1", "x2"]).to_csv(
        tmp_path / "points.csv", index=False
    )
    argv = [sys.executable, "-m", "wrt", *_partials(tmp_path), "--order", "2", "-q"]
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert run.stdout is not None and run.stderr is not None
    assert run.stdout.readline().startswith(b"x1,x2,")
    run.stdout.close()  # as head -1 does
    with run.stderr:
        stderr = run.stderr.read().decode()
    assert run.wait(timeout=300) == cli_errors.EXIT_BROKEN_PIPE, stderr
    assert "error" not in stderr and "hint" not in stderr
    assert "Exception ignored" not in stderr and "BrokenPipe" not in stderr
