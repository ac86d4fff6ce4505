"""Training steps compiled whole: the same losses, gradients and updates as eager.

The compiled loss is the Taylor form of the terms traced into one graph of the
parameters (:mod:`wrt.engines.taylor.functional`) and differentiated by
AOTAutograd. Most tests compile with the ``aot_eager`` backend (the same forward
and backward graphs, run by ATen: no code generation); one runs inductor end to
end. Tolerances: float64, 1e-12 relative; float32, round-off.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import wrt
from wrt.engines.taylor.functional import bound_partials
from wrt.errors import (
    CompileWarning,
    DataError,
    EngineError,
    NonFiniteLossError,
    TrainingInterrupted,
    UnboundedLossError,
)
from wrt.spec import parse_spec
from wrt.training import compiled
from wrt.training.compiled import CompiledLoss
from wrt.training.config import TrainConfig
from wrt.training.fitting import Problem, flatten_terms
from wrt.training.history import OptimizerState
from wrt.training.runner import run


@pytest.fixture(autouse=True)
def _aot_eager(monkeypatch):
    """AOTAutograd without inductor's code generation (seconds per compile)."""
    monkeypatch.setattr(compiled, "BACKEND", "aot_eager")


def _points(n: int, dims: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, dims, generator=g, dtype=dtype) * 2 - 1


def _burgers(dtype=torch.float64):
    model = wrt.mlp(["x", "t"], ["u"], hidden=[8], dtype=dtype, seed=0)
    inside, edge = _points(48, 2, 1, dtype), _points(12, 2, 2, dtype)
    terms = [
        wrt.residual("du/dt + u*du/dx - 0.01/pi*d2u/dx^2", inside),
        wrt.match("u", edge, torch.sin(edge[:, 0])),
        wrt.match("du/dx", edge, torch.cos(edge[:, 0]), weight=0.5),
    ]
    return model, terms


def _poisson():
    model = wrt.mlp(["x", "y"], ["u"], hidden=[8], dtype=torch.float64, seed=1)
    inside, edge = _points(40, 2, 3), _points(16, 2, 4)
    terms = [
        wrt.residual("d2u/dx^2 + d2u/dy^2 + 2*pi^2*sin(pi*x)*sin(pi*y)", inside),
        wrt.match("u", edge, torch.zeros(16), weight=10.0),
    ]
    return model, terms


def _mixed_two_outputs():
    """Three inputs, two outputs, a mixed third partial, an objective, rows."""
    model = wrt.mlp(
        ["a", "b", "c"], ["u", "v"], hidden=[6, 6], dtype=torch.float64, seed=2
    )
    x = _points(30, 3, 5)
    table = pd.DataFrame(x[:10].numpy(), columns=["a", "b", "c"])
    table["u"] = np.sin(table["a"])
    table["dv/db"] = np.where(np.arange(10) % 2 == 0, table["c"], np.nan)
    terms = [
        wrt.residual("d3u/da^2db - v*dv/dc + a*b", x),
        wrt.objective("(du/da - 1)^2 + 0.1*v^2", x, weight=0.3),
        wrt.rows(table),
    ]
    return model, terms


def _tanh_sin():
    """A module of its own (not wrt.mlp): sin and a product of two branches."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(2, 5, dtype=torch.float64)
            self.b = nn.Linear(2, 5, dtype=torch.float64)
            self.out = nn.Linear(5, 1, dtype=torch.float64)

        def forward(self, x):
            return self.out(torch.tanh(self.a(x)) * torch.sin(self.b(x)))

    torch.manual_seed(0)
    model = wrt.wrap(Net(), inputs=["x", "t"], outputs=["u"])
    x = _points(32, 2, 6)
    return model, [wrt.residual("d2u/dt^2 - d2u/dx^2 + u^3", x)]


PROBLEMS = {
    "burgers": _burgers,
    "poisson": _poisson,
    "mixed": _mixed_two_outputs,
    "module": _tanh_sin,
}


def _gradients(model, total):
    params = [p for p in model.module.parameters() if p.requires_grad]
    return torch.autograd.grad(total, params)


@pytest.mark.parametrize("make", PROBLEMS.values(), ids=PROBLEMS.keys())
def test_compiled_loss_and_gradient_equal_eager(make):
    model, terms = make()
    problem = Problem(model, flatten_terms(terms))
    total, losses, _ = problem.losses()
    want = _gradients(model, total)
    fast = CompiledLoss(problem)
    total_c, losses_c = fast()
    got = _gradients(model, total_c)
    assert len(losses_c) == len(losses)
    for a, b in zip([total, *losses], [total_c, *losses_c], strict=True):
        assert float(a.detach()) != 0
        assert math.isclose(float(a.detach()), float(b.detach()), rel_tol=1e-12)
    for a, b in zip(want, got, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make", [_burgers, _poisson], ids=["burgers", "poisson"])
def test_bound_partials_match_closed_forms_of_a_quadratic(make):
    """u = x^2 t + 3 t^2 through a model with parameters: exact partials."""
    model, _ = make()
    x = _points(7, 2, 9)
    a, b = model.inputs
    names = [f"du/d{a}", f"du/d{b}", f"d2u/d{a}^2", f"d2u/d{a}d{b}", "u"]
    specs = [parse_spec(s, model.inputs, model.outputs) for s in names[:4]]
    specs.append(wrt.Partial("u", {}))

    class Quadratic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Parameter(torch.tensor([1.0, 3.0], dtype=torch.float64))

        def forward(self, p):
            return (self.c[0] * p[:, 0] ** 2 * p[:, 1] + self.c[1] * p[:, 1] ** 2)[
                :, None
            ]

    quad = wrt.wrap(Quadratic(), inputs=model.inputs, outputs=["u"])
    values = bound_partials(quad, x, specs, [quad.module.c])
    s, t = x[:, 0], x[:, 1]
    closed = [2 * s * t, s**2 + 6 * t, 2 * t, 2 * s, s**2 * t + 3 * t**2]
    for spec, want in zip(specs, closed, strict=True):
        torch.testing.assert_close(values[spec], want, rtol=1e-13, atol=1e-13)
    # and the value stays differentiable in the parameter: d(sum u)/dc
    grad = torch.autograd.grad(values[specs[-1]].sum(), quad.module.c)[0]
    torch.testing.assert_close(grad, torch.stack([(s**2 * t).sum(), (t**2).sum()]))


def _run(make, optimizer: str, compile, steps: int = 4, **kw):
    model, terms = make()
    history = wrt.fit(
        model, terms, optimizer=optimizer, steps=steps, lr=1e-2, compile=compile, **kw
    )
    params = torch.cat([p.detach().reshape(-1) for p in model.module.parameters()])
    return history, params


@pytest.mark.parametrize("optimizer", ["adam", "adam+lbfgs"])
def test_compiled_fit_equals_eager_fit(optimizer):
    eager, p_eager = _run(_burgers, optimizer, False, lbfgs_steps=3)
    fast, p_fast = _run(_burgers, optimizer, True, lbfgs_steps=3)
    assert fast.compiled and not eager.compiled
    assert fast.compile_seconds > 0 and eager.compile_seconds == 0
    pd.testing.assert_frame_equal(fast.frame, eager.frame, rtol=1e-12, atol=0)
    torch.testing.assert_close(p_fast, p_eager, rtol=1e-12, atol=1e-14)


def test_compiled_fit_float32_equals_eager_to_round_off():
    make = lambda: _burgers(torch.float32)  # noqa: E731
    eager, p_eager = _run(make, "adam", False, steps=5)
    fast, p_fast = _run(make, "adam", True, steps=5)
    pd.testing.assert_frame_equal(fast.frame, eager.frame, rtol=1e-5, atol=0)
    torch.testing.assert_close(p_fast, p_eager, rtol=1e-5, atol=1e-6)


@pytest.mark.timeout(900)  # inductor compiles C++: minutes on a loaded machine
def test_inductor_end_to_end(monkeypatch):
    """The default backend: inductor's fused loops, forward and backward."""
    monkeypatch.setattr(compiled, "BACKEND", "inductor")
    eager, p_eager = _run(_poisson, "adam", False, steps=3)
    fast, p_fast = _run(_poisson, "adam", True, steps=3)
    assert fast.compiled
    pd.testing.assert_frame_equal(fast.frame, eager.frame, rtol=1e-12, atol=0)
    torch.testing.assert_close(p_fast, p_eager, rtol=1e-12, atol=1e-14)


def test_auto_trains_eagerly_on_the_cpu_where_compiling_did_not_pay(monkeypatch):
    monkeypatch.setattr(compiled, "WORK_TO_COMPILE", 1.0)  # any work is enough
    history, _ = _run(_burgers, "adam", "auto", steps=3)
    assert not history.compiled  # the CPU is not in PAYS_ON
    assert _run(_burgers, "adam", True, steps=3)[0].compiled  # asked: compiled


def test_auto_compiles_only_when_the_steps_repay_it(monkeypatch):
    # the rule itself, on a device where compiling pays (the CPU stands in)
    monkeypatch.setattr(compiled, "PAYS_ON", ("cuda", "cpu"))
    few, p_few = _run(_burgers, "adam", "auto", steps=6)
    assert not few.compiled  # 6 steps of a tiny net cannot repay a compile
    model, terms = _burgers()
    work = compiled.work(Problem(model, flatten_terms(terms)))
    # 48 points x 4 entries (u, u_x, u_t, u_xx) + 12 points x 2 (u, u_x), x 33
    assert work == (48 * 4 + 12 * 2) * 33
    monkeypatch.setattr(compiled, "WORK_TO_COMPILE", 6 * work)
    many, p_many = _run(_burgers, "adam", "auto", steps=6)
    assert many.compiled and many.compile_seconds > 0
    pd.testing.assert_frame_equal(many.frame, few.frame, rtol=1e-12, atol=0)
    torch.testing.assert_close(p_many, p_few, rtol=1e-12, atol=1e-14)
    monkeypatch.setattr(compiled, "WORK_TO_COMPILE", 6 * work + 1)
    assert not _run(_burgers, "adam", "auto", steps=6)[0].compiled


def test_non_finite_loss_stops_naming_term_step_point_and_restores():
    model = wrt.mlp(["x", "t"], ["u"], hidden=[6], dtype=torch.float64, seed=0)
    x = _points(20, 2, 7)
    # sqrt(u + 2) turns NaN once the fit pushes u below -2 somewhere
    terms = [
        wrt.match("u", x, torch.full((20,), -5.0), weight=1.0),
        wrt.residual("sqrt(u + 2)", x, name="root", weight=0.01),
    ]
    kept: list = []

    def callback(step, total, losses):
        kept.append([p.detach().clone() for p in model.module.parameters()])

    eager_model = wrt.mlp(["x", "t"], ["u"], hidden=[6], dtype=torch.float64, seed=0)
    eager_terms = [
        wrt.match("u", x, torch.full((20,), -5.0), weight=1.0),
        wrt.residual("sqrt(u + 2)", x, name="root", weight=0.01),
    ]
    with pytest.raises(NonFiniteLossError) as want:
        wrt.fit(eager_model, eager_terms, steps=200, lr=0.05, compile=False)
    with pytest.raises(NonFiniteLossError) as got:
        wrt.fit(model, terms, steps=200, lr=0.05, compile=True, callback=callback)
    err = got.value
    assert err.step >= 2 and len(kept) == err.step  # finite steps came first
    assert err.term == "root" and err.term == want.value.term
    assert err.step == want.value.step and err.point == want.value.point
    assert err.point is not None and f"point {err.point}" in str(err)
    # back to the parameters of the last finite loss: those after step - 1
    # updates, which the callback of step - 2 saw
    for a, b in zip(kept[-2], model.module.parameters(), strict=True):
        assert torch.equal(a, b)


def test_interrupt_in_a_compiled_run_keeps_the_completed_steps():
    model, terms = _burgers()
    seen: list = []

    def callback(step, total, losses):
        seen.append([p.detach().clone() for p in model.module.parameters()])
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as caught:
        wrt.fit(model, terms, steps=10, lr=1e-2, compile=True, callback=callback)
    assert caught.value.step == 2 and len(caught.value.history.frame) == 2
    assert caught.value.history.compiled
    for a, b in zip(seen[1], model.module.parameters(), strict=True):
        assert torch.equal(a, b)


def test_resume_of_a_compiled_run_is_exact():
    whole, p_whole = _run(_burgers, "adam", True, steps=6)
    model, terms = _burgers()
    state = OptimizerState()
    first = wrt.fit(model, terms, steps=3, lr=1e-2, compile=True, state=state)
    saved = OptimizerState(saved=state.snapshot())
    second = wrt.fit(model, terms, steps=3, lr=1e-2, compile=True, state=saved)
    params = torch.cat([p.detach().reshape(-1) for p in model.module.parameters()])
    assert torch.equal(params, p_whole)
    losses = [*first.frame["loss"], *second.frame["loss"]]
    assert losses == list(whole.frame["loss"])


def test_unbounded_objective_is_refused_before_compiling():
    model, _ = _burgers()
    with pytest.raises(UnboundedLossError):
        wrt.fit(model, [wrt.objective("u", _points(8, 2, 0))], steps=3, compile=True)


@pytest.mark.parametrize("optimizer", ["pso", "cma"])
def test_gradient_free_optimisers_never_compile(optimizer):
    eager, p_eager = _run(_burgers, optimizer, False, steps=2, population=4)
    auto, p_auto = _run(_burgers, optimizer, "auto", steps=2, population=4)
    assert not auto.compiled and auto.compile_seconds == 0
    pd.testing.assert_frame_equal(auto.frame, eager.frame)
    assert torch.equal(p_auto, p_eager)
    # compile=True would be silently ignored: refused, as train.compile is
    with pytest.raises(DataError, match=rf"compile is used by .*not by '{optimizer}'"):
        _run(_burgers, optimizer, True, steps=2, population=4)


def test_a_callable_residual_falls_back_with_a_warning():
    model, _ = _burgers()
    x = _points(16, 2, 8)
    term = wrt.residual(
        lambda v: v[wrt.Partial("u", {})] - 1.0, x, reads=["u"], name="callable"
    )
    with pytest.warns(CompileWarning, match="callable.*Python callable"):
        history = wrt.fit(model, [term], steps=3, lr=1e-2, compile=True)
    assert not history.compiled and len(history.frame) == 3


def test_an_op_without_a_taylor_rule_falls_back_with_a_warning():
    class Sorting(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 3, dtype=torch.float64)

        def forward(self, x):
            return torch.sort(self.lin(x), dim=1).values.sum(1, keepdim=True)

    model = wrt.wrap(Sorting(), inputs=["x", "t"], outputs=["u"])
    x = _points(8, 2, 9)
    with pytest.warns(CompileWarning, match="no Taylor rule"):
        history = wrt.fit(
            model, [wrt.match("du/dx", x, torch.ones(8))], steps=2, compile=True
        )
    assert not history.compiled


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"compile": "yes"}, EngineError, "compile must be 'auto', True or False"),
        ({"compile": 1}, EngineError, "compile must be 'auto', True or False"),
        ({"compile": True, "engine": "autograd"}, DataError, "engine='auto'"),
    ],
)
def test_bad_compile_arguments_are_refused(kwargs, error, says):
    model, terms = _burgers()
    with pytest.raises(error, match=says):
        wrt.fit(model, terms, steps=1, **kwargs)


CONFIG = """
[model]
inputs = ["x", "t"]
outputs = ["u"]
hidden = [4]
dtype = "float64"

[[terms]]
kind = "residual"
expr = "du/dt + u*du/dx"
points = { sampler = "sobol", n = 16, box = { x = [-1, 1], t = [0, 1] } }

[train]
optimizer = "adam"
steps = 3
compile = COMPILE

[output]
folder = "out"
"""


@pytest.mark.parametrize("value", ["true", "false"])
def test_train_compile_in_a_config_reaches_fit(tmp_path, value):
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.replace("COMPILE", value), encoding="utf-8")
    _, history = run(TrainConfig.read(path))
    assert history.compiled is (value == "true") and len(history.frame) == 3
    assert (history.compile_seconds > 0) is (value == "true")
