"""Compiled execution (``compile=``): same values as eager, no recompiles, a fallback.

Real compiles cost seconds each (tens of seconds on a loaded 2-core machine), so
inductor runs for one zoo MLP (four programs: partials, Laplacian, directional,
Hutchinson) and one float32 request, all in module-scoped fixtures; the policy,
the batch handling on every zoo case, the fallback and the CLI line run with
``torch.compile`` replaced by the identity (the program is then the flat eager
graph, so everything but inductor itself is exercised). Every test writes the
compile cache under a temporary ``WRT_CACHE_DIR``, never into the home folder.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters
from typer.testing import CliRunner

import wrt
from models import mlp, save_torchscript
from tolerances import TAYLOR, assert_partial_close
from wrt.cli.app import app
from wrt.engines import compiling
from wrt.engines.compiling import (
    Program,
    Sighting,
    cache_dir,
    compile_mode,
    disk_cache,
    should_compile,
)
from wrt.errors import CompileWarning, EngineError
from zoo import CASES, ZooCase, case

# eager and compiled run the same ATen operations; inductor may reorder a sum or
# fuse a multiply-add, a few ulps in float64
F64 = {"rtol": 1e-12, "atol": 1e-12}


@pytest.fixture(autouse=True)
def _cache_folder(tmp_path_factory, monkeypatch):
    """Every test compiles into one temporary wrt cache folder."""
    folder = tmp_path_factory.getbasetemp() / "wrt-cache"
    monkeypatch.setenv("WRT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def no_inductor(monkeypatch):
    """``torch.compile`` as the identity: the program is the flat eager graph."""
    calls = []

    def identity(fn, **options):
        calls.append(options)
        return fn

    monkeypatch.setattr(torch, "compile", identity)
    return calls


def _model(zoo: ZooCase) -> wrt.Model:
    return wrt.wrap(zoo.module, inputs=zoo.inputs, outputs=zoo.outputs)


def _specs(zoo: ZooCase, max_order: int) -> list[wrt.Partial]:
    """Every partial of the first output up to ``max_order``, mixed ones too."""
    n = len(zoo.inputs)
    specs = []
    for k in range(1, max_order + 1):
        for combo in itertools.combinations_with_replacement(range(n), k):
            orders = {zoo.inputs[i]: combo.count(i) for i in set(combo)}
            specs.append(wrt.Partial(zoo.outputs[0], orders))
    return specs


def _laplacian(zoo: ZooCase, points: np.ndarray) -> np.ndarray:
    n = len(zoo.inputs)
    return sum(
        zoo.partial(points, 0, tuple(2 * int(i == k) for i in range(n)))
        for k in range(n)
    )


# --------------------------------------------------------------------------- #
# Real compiles (inductor): one zoo MLP, float64, and one float32 request
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def compiled_mlp(tmp_path_factory):
    """The sigmoid MLP's four programs, compiled once, and what it took."""
    folder = tmp_path_factory.getbasetemp() / "wrt-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WRT_CACHE_DIR", str(folder))
        zoo = case("sigmoid_mlp")
        model = _model(zoo)
        engine = wrt.TaylorEngine(compile=True)
        x = torch.from_numpy(zoo.points)
        v = torch.tensor([0.6, -0.8, 0.3], dtype=torch.float64)
        specs = _specs(zoo, 3)
        result = wrt.partials(model, x, specs, engine=engine)
        laplacian = wrt.laplacian(model, x, engine=engine)
        directional = wrt.directional_derivative(model, x, v, order=3, engine=engine)
        hutchinson = wrt.laplacian_estimate(model, x, samples=3, engine=engine)
        yield {
            "zoo": zoo,
            "model": model,
            "engine": engine,
            "x": x,
            "v": v,
            "specs": specs,
            "partials": result,
            "laplacian": laplacian,
            "directional": directional,
            "hutchinson": hutchinson,
            "folder": folder,
        }


def test_compiled_partials_match_closed_form_and_eager(compiled_mlp):
    zoo, result = compiled_mlp["zoo"], compiled_mlp["partials"]
    assert result.compile_seconds > 0
    eager = wrt.partials(
        _model(zoo), compiled_mlp["x"], compiled_mlp["specs"], compile=False
    )
    assert eager.compile_seconds == 0
    for spec in compiled_mlp["specs"]:
        expected = zoo.partial(zoo.points, 0, spec.multi_index(zoo.inputs))
        assert_partial_close(result[spec], expected, **TAYLOR, what=str(spec))
        assert_partial_close(
            result[spec], eager[spec].numpy(), **F64, what=f"{spec} eager"
        )


def test_compiled_operators_match_closed_form_and_eager(compiled_mlp):
    zoo, x, v = compiled_mlp["zoo"], compiled_mlp["x"], compiled_mlp["v"]
    eager = wrt.TaylorEngine(compile=False)
    model = _model(zoo)
    expected = _laplacian(zoo, zoo.points)
    assert_partial_close(compiled_mlp["laplacian"], expected, **TAYLOR, what="lap")
    same = wrt.laplacian(model, x, engine=eager)
    assert_partial_close(compiled_mlp["laplacian"], same.numpy(), **F64, what="lap")
    # D^3 y[v] = sum over |alpha| = 3 of 3! / alpha! v^alpha d^alpha y
    closed = np.zeros(len(zoo.points))
    for alpha in itertools.product(range(4), repeat=3):
        if sum(alpha) == 3:
            weight = 6 / np.prod([float(math.factorial(a)) for a in alpha])
            vpow = np.prod([float(v[i]) ** a for i, a in enumerate(alpha)])
            closed += weight * vpow * zoo.partial(zoo.points, 0, alpha)
    got = compiled_mlp["directional"]
    assert_partial_close(got, closed, **TAYLOR, what="directional")
    same = wrt.directional_derivative(model, x, v, order=3, engine=eager)
    assert_partial_close(got, same.numpy(), **F64, what="directional eager")
    estimate = compiled_mlp["hutchinson"]
    same = wrt.laplacian_estimate(model, x, samples=3, engine=eager)
    assert_partial_close(estimate.estimate, same.estimate.numpy(), **F64, what="hut")
    assert_partial_close(
        estimate.std_error, same.std_error.numpy(), **F64, what="hut error"
    )


def test_other_batch_sizes_never_recompile(compiled_mlp):
    zoo, model, engine = (
        compiled_mlp["zoo"],
        compiled_mlp["model"],
        compiled_mlp["engine"],
    )
    specs = compiled_mlp["specs"]
    graphs = counters["stats"]["unique_graphs"]
    spent = engine.compile_seconds
    n = len(zoo.points)
    generator = np.random.default_rng(3)
    # fewer points (padded), a whole multiple, more (split and padded)
    for size in (n, n // 2 + 1, 2 * n, 3 * n - 5):
        points = generator.uniform(-1.5, 1.5, size=(size, 3))
        result = wrt.partials(model, points, specs, engine=engine)
        assert result.compile_seconds == 0
        for spec in specs:
            expected = zoo.partial(points, 0, spec.multi_index(zoo.inputs))
            assert_partial_close(result[spec], expected, **TAYLOR, what=f"{size}")
    assert counters["stats"]["unique_graphs"] == graphs
    assert engine.compile_seconds == spent


def test_compile_cache_is_written_under_wrt_cache_dir(compiled_mlp):
    inductor = compiled_mlp["folder"] / "inductor"
    assert inductor.is_dir()
    assert any(inductor.rglob("*")), "inductor wrote nothing under WRT_CACHE_DIR"
    # scoped: the variable is not left pointing at wrt's folder
    assert os.environ.get("TORCHINDUCTOR_CACHE_DIR") != str(inductor)


def test_float32_compiled_within_round_off():
    zoo = case("tanh_mlp")
    module = copy.deepcopy(zoo.module).float()
    model = wrt.wrap(module, inputs=zoo.inputs, outputs=zoo.outputs)
    x = torch.from_numpy(zoo.points).float()
    specs = ["dy/dx1", "d2y/dx1dx2", "d3y/dx2^3"]
    got = wrt.partials(model, x, specs, engine="taylor", compile=True)
    assert got.compile_seconds > 0
    assert got["dy/dx1"].dtype == torch.float32
    eager = wrt.partials(model, x, specs, engine="taylor", compile=False)
    for spec in specs:
        scale = float(eager[spec].abs().max())
        # float32 round-off of a few dozen operations per entry
        assert torch.allclose(got[spec], eager[spec], rtol=1e-5, atol=1e-6 * scale)


# --------------------------------------------------------------------------- #
# Without inductor: batch handling on every zoo case, policy, fallback, CLI
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("zoo", CASES, ids=lambda c: c.name)
def test_program_batches_on_every_zoo_case(zoo, no_inductor):
    model = _model(zoo)
    specs = _specs(zoo, 2)
    engine = wrt.TaylorEngine(compile=True)
    n = len(zoo.points)
    first = wrt.partials(model, zoo.points, specs, engine=engine)
    assert first.compile_seconds > 0
    assert no_inductor == [{"dynamic": False}]
    for size in (n - 7, n + 13):
        points = np.concatenate([zoo.points, zoo.points])[:size]
        result = wrt.partials(model, points, specs, engine=engine)
        for spec in specs:
            expected = zoo.partial(points, 0, spec.multi_index(zoo.inputs))
            assert_partial_close(result[spec], expected, **TAYLOR, what=str(spec))
    assert len(no_inductor) == 1  # one program for every batch size


def test_compile_mode_values():
    assert compile_mode("auto") == "auto"
    assert compile_mode(True) == "on" and compile_mode("ON") == "on"
    assert compile_mode(False) == "off" and compile_mode("off") == "off"
    for bad in ("sometimes", 1, None, 0.5, "True", "false"):
        with pytest.raises(EngineError, match="compile must be 'auto', True or False"):
            compile_mode(bad)


def test_rent_or_buy_rule(monkeypatch):
    monkeypatch.setattr(compiling, "COMPILE_SECONDS", 4.0)
    monkeypatch.setattr(compiling, "SAVING", 0.5)
    never = Sighting()
    assert not should_compile("auto", never, 1000)  # nothing measured yet
    assert should_compile("on", never, 1000)
    assert not should_compile("off", Sighting(100, 10**6, 1000.0), 1000)
    small = Sighting(calls=3, points=3000, seconds=0.03)  # 10 ms per call
    assert not should_compile("auto", small, 1000)
    # 8 s spent at 10 ms a call: 4 s saved would have repaid the compile
    spent = Sighting(calls=800, points=800_000, seconds=8.0)
    assert should_compile("auto", spent, 1000)
    assert not should_compile("auto", Sighting(790, 790_000, 7.9), 1000)
    # a stream that announces 1000 more chunks of 10 ms compiles on its 2nd
    assert should_compile("auto", small, 1000, repeats=1000)
    assert not should_compile("auto", small, 1000, repeats=10)


def test_auto_compiles_once_repeated_work_repays_it(monkeypatch, no_inductor):
    monkeypatch.setattr(compiling, "COMPILE_SECONDS", 1e-9)  # any work repays it
    zoo = case("trig_exp2")
    model = _model(zoo)
    specs = ["d4y/dx1^4", "d2y/dx1dx2"]
    first = wrt.partials(model, zoo.points, specs, engine="taylor")
    assert first.compile_seconds == 0 and no_inductor == []  # a first sighting
    second = wrt.partials(model, zoo.points, specs, engine="taylor")
    assert second.compile_seconds > 0 and len(no_inductor) == 1
    third = wrt.partials(model, zoo.points[:30], specs, engine="taylor")
    assert third.compile_seconds == 0 and len(no_inductor) == 1
    for result, points in ((second, zoo.points), (third, zoo.points[:30])):
        for spec in specs:
            alpha = wrt.parse_spec(spec, zoo.inputs, zoo.outputs).multi_index(
                zoo.inputs
            )
            expected = zoo.partial(points, 0, alpha)
            assert_partial_close(result[spec], expected, **TAYLOR, what=spec)
    assert model.cache.compile_seconds == pytest.approx(second.compile_seconds)


def test_auto_never_compiles_small_work():
    zoo = case("poly3")
    model = _model(zoo)
    for _ in range(4):
        result = wrt.partials(model, zoo.points, "d3y/dx1^3", engine="taylor")
        assert result.compile_seconds == 0
    assert model.cache.programs == {}


def test_a_changed_parameter_drops_the_program(no_inductor):
    net = mlp(2, 1).double()
    model = wrt.wrap(net, inputs=["a", "b"])
    x = torch.rand(20, 2, dtype=torch.float64)
    engine = wrt.TaylorEngine(compile=True)
    wrt.partials(model, x, "d3y/da^3", engine=engine)
    with torch.no_grad():
        next(net.parameters()).mul_(1.5)
    got = wrt.partials(model, x, "d3y/da^3", engine=engine)
    want = wrt.partials(
        wrt.wrap(net, inputs=["a", "b"]), x, "d3y/da^3", engine="autograd"
    )
    assert torch.allclose(got["d3y/da^3"], want["d3y/da^3"], rtol=1e-10, atol=1e-12)
    assert len(no_inductor) == 2  # compiled again for the new values


def test_differentiable_results_stay_eager(no_inductor):
    net = mlp(2, 1).double()
    model = wrt.wrap(net, inputs=["a", "b"])
    x = torch.rand(8, 2, dtype=torch.float64)
    result = wrt.partials(
        model, x, "d2y/da^2", engine="taylor", compile=True, differentiable=True
    )
    assert no_inductor == [] and result.compile_seconds == 0
    result["d2y/da^2"].sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_a_failed_compile_falls_back_with_a_warning(monkeypatch):
    def broken(fn, **options):
        def run(*args):
            raise RuntimeError("no C++ compiler found (simulated)")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    zoo = case("tanh_mlp")
    model = _model(zoo)
    with pytest.warns(CompileWarning, match=r"RuntimeError: no C\+\+ compiler"):
        result = wrt.partials(model, zoo.points, "d3y/dx1^3", compile=True)
    # the time of a failed compile is not compile time of a program
    assert result.compile_seconds == 0 and model.cache.compile_seconds == 0
    expected = zoo.partial(zoo.points, 0, (3, 0))
    assert_partial_close(result["d3y/dx1^3"], expected, **TAYLOR, what="fallback")
    # the failure is remembered: no second attempt, no second warning
    again = wrt.partials(model, zoo.points, "d3y/dx1^3", compile=True)
    assert_partial_close(again["d3y/dx1^3"], expected, **TAYLOR, what="again")


def test_an_engine_object_keeps_its_own_setting(no_inductor):
    model = wrt.wrap(mlp(2, 1).double(), inputs=["a", "b"])
    x = torch.rand(8, 2, dtype=torch.float64)
    engine = wrt.TaylorEngine(compile=False)
    result = wrt.partials(model, x, "d3y/da^3", engine=engine, compile=True)
    assert no_inductor == [] and result.compile_seconds == 0


def test_cache_dir_rules(monkeypatch, tmp_path):
    monkeypatch.setenv("WRT_CACHE_DIR", str(tmp_path / "own"))
    assert cache_dir() == tmp_path / "own"
    monkeypatch.delenv("WRT_CACHE_DIR")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache_dir() == tmp_path / "xdg" / "wrt"
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert cache_dir() == Path.home() / ".cache" / "wrt"


def test_disk_cache_is_scoped_and_respects_the_users_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("WRT_CACHE_DIR", str(tmp_path / "wrt"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    with disk_cache() as folder:
        assert folder == tmp_path / "wrt" / "inductor"
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(folder)
    assert "TORCHINDUCTOR_CACHE_DIR" not in os.environ
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    with disk_cache() as folder:
        assert folder == tmp_path / "mine"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine")


def test_program_pads_by_repeating_a_valid_point():
    seen = []

    def fn(stack):
        seen.append(stack.shape[1])
        assert torch.isfinite(torch.log(stack[0, :, 0])).all()  # no zero padding
        return stack * 2

    program = Program(fn, batch=4)
    stack = torch.arange(1.0, 31.0).reshape(1, 10, 3)
    assert torch.equal(program(stack), stack * 2)
    assert seen == [4, 4, 4]
    assert program.serves(1) and program.serves(4)
    wide = Program(fn, batch=8)  # fewer than a quarter: run eagerly instead
    assert not wide.serves(1) and wide.serves(2)


def test_cli_reports_the_compile_time(tmp_path, no_inductor, _cache_folder):
    model_file = save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    points = tmp_path / "points.csv"
    points.write_text("x1,x2\n0.1,0.2\n0.3,0.4\n-0.5,0.6\n")
    runner = CliRunner()
    args = ["partials", str(model_file), str(points), "-d", "d3y/dx1^3", "--json"]
    on = runner.invoke(app, [*args, "--engine", "taylor", "--compile", "on"])
    assert on.exit_code == 0, on.output
    assert "compiled the Taylor programs in" in on.stderr
    assert f"cached for next runs in {_cache_folder}" in on.stderr
    quiet = runner.invoke(app, [*args, "--engine", "taylor", "--compile", "on", "-q"])
    assert quiet.exit_code == 0 and "compiled" not in quiet.stderr  # a note
    off = runner.invoke(app, [*args, "--engine", "taylor", "--compile", "off"])
    assert off.exit_code == 0 and "compiled" not in off.stderr
    assert off.stdout == on.stdout
    bad = runner.invoke(app, [*args, "--compile", "sometimes"])
    assert bad.exit_code == 2


def test_auto_drops_a_program_slower_than_eager(monkeypatch):
    monkeypatch.setattr(compiling, "COMPILE_SECONDS", 1e-9)

    runs = []

    def slow(fn, **options):
        def run(stack):
            runs.append(stack.shape)
            time.sleep(0.2)  # far slower than the eager flat graph
            return fn(stack)

        return run

    monkeypatch.setattr(torch, "compile", slow)
    zoo = case("tanh_mlp")
    model = _model(zoo)
    monkeypatch.setattr(compiling, "COMPILE_SECONDS", 1e9)
    for _ in range(3):  # eager calls: their best is the bar
        wrt.partials(model, zoo.points, "d3y/dx1^3", engine="taylor")
    monkeypatch.setattr(compiling, "COMPILE_SECONDS", 1e-9)
    for _ in range(1 + compiling.TRIALS):  # compile, trials
        wrt.partials(model, zoo.points, "d3y/dx1^3", engine="taylor")
    assert list(model.cache.programs.values()) == [compiling.SLOWER]
    assert len(runs) == 1 + compiling.TRIALS
    result = wrt.partials(model, zoo.points, "d3y/dx1^3", engine="taylor")
    assert len(runs) == 1 + compiling.TRIALS  # eager again
    expected = zoo.partial(zoo.points, 0, (3, 0))
    assert_partial_close(result["d3y/dx1^3"], expected, **TAYLOR, what="eager")


def test_an_unusable_cache_folder_warns_and_compiles_without_it(
    monkeypatch, tmp_path, no_inductor
):
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("a file, not a folder")
    monkeypatch.setenv("WRT_CACHE_DIR", str(not_a_folder))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    model = wrt.wrap(mlp(2, 1).double(), inputs=["a", "b"])
    x = torch.rand(8, 2, dtype=torch.float64)
    with pytest.warns(CompileWarning, match=r"\$WRT_CACHE_DIR.*without the disk cache"):
        result = wrt.partials(model, x, "d3y/da^3", compile=True, engine="taylor")
    assert len(no_inductor) == 1 and result.compile_seconds > 0
    assert "TORCHINDUCTOR_CACHE_DIR" not in os.environ
    assert not_a_folder.read_text() == "a file, not a folder"
