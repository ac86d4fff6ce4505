"""Training with derivative terms: parser, terms, optimisers, guards."""

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import wrt
from wrt.training.expression import Expression


def _expr(text, inputs=("x", "t"), outputs=("u",)):
    return Expression(text, inputs, outputs)


# ---------------------------------------------------------------- the parser


def test_burgers_residual_reads_its_partials_and_evaluates():
    e = _expr("du/dt + u*du/dx - 0.01/pi*d2u/dx^2")
    assert [str(p) for p in e.partials()] == ["du/dt", "u", "du/dx", "d2u/dx^2"]
    values = {p: torch.tensor([float(i + 1)]) for i, p in enumerate(e.partials())}
    # 1 + 2*3 - 0.01/pi*4
    assert float(e.evaluate(values, {})) == pytest.approx(7 - 0.04 / math.pi)


def test_precedence_unary_minus_and_right_associative_power():
    x = {"x": torch.tensor([2.0]), "t": torch.tensor([3.0])}
    assert float(_expr("-x^2").evaluate({}, x)) == -4.0
    assert float(_expr("2^3^2").evaluate({}, x)) == 512.0
    assert float(_expr("x - t - 1").evaluate({}, x)) == -2.0
    assert float(_expr("x / t * 3").evaluate({}, x)) == pytest.approx(2.0)
    assert float(_expr("sqrt(abs(-x*8)) + exp(0)").evaluate({}, x)) == 5.0


def test_a_spec_followed_by_a_power_is_the_power_of_the_spec():
    e = _expr("du/dx^2")  # not a first derivative 'to the power 2' as a spec
    (p,) = e.partials()
    assert str(p) == "du/dx" and e.tree.kind == "^"
    assert [str(p) for p in _expr("d2u/dx^2").partials()] == ["d2u/dx^2"]
    assert [str(p) for p in _expr("d2u/dtdx").partials()] == ["d2u/dxdt"]


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("du/dt + * u", 9, "unexpected '*'"),
        ("du/dt + (u", 11, "expected ')'"),
        ("du/dt + v", 9, "unknown name 'v'"),
        ("sin u", 5, "expected '('"),
        ("u $ 2", 3, "unexpected character '$'"),
        ("du/dt +", 8, "ends too early"),
        ("u) + 1", 2, "unexpected ')'"),
    ],
)
def test_errors_point_at_the_column(text, column, fragment):
    with pytest.raises(wrt.ExpressionError, match=re.escape(fragment)) as caught:
        _expr(text)
    message = str(caught.value)
    assert f"column {column}" in message
    caret_line = message.splitlines()[-1]
    assert caret_line.index("^") - 2 == column - 1


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.sampled_from(["u", "x", "t", "du/dx", "2", "0.5", "pi"]),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(
                lambda p: f"({p[0]} {p[1]} {p[2]})"
            ),
            inner.map(lambda s: f"sin({s})"),
            inner.map(lambda s: f"-{s}"),
        ),
        max_leaves=8,
    )
)
def test_parser_agrees_with_python_on_random_expressions(text):
    names = {"u": 0.3, "x": 1.7, "t": -0.4, "du/dx": 2.2}
    e = _expr(text)
    values = {
        p: torch.tensor([names[str(p)]], dtype=torch.float64) for p in e.partials()
    }
    coords = {k: torch.tensor([v], dtype=torch.float64) for k, v in names.items()}
    python = text.replace("du/dx", "dudx").replace("pi", str(math.pi))
    expected = eval(python, {"sin": math.sin, "dudx": 2.2, **names})  # test oracle only
    assert float(e.evaluate(values, coords)) == pytest.approx(expected, rel=1e-12)


def test_boundedness_of_objectives():
    bounded = ["(du/dx + d2u/dt^2)^2", "abs(u) + 2*exp(u)", "u^2/4 + 1", "0.5*(u-1)^2"]
    unbounded = ["du/dx + d2u/dt^2", "u^3", "-u^2", "u^2 - du/dx", "(u)^2 * -1"]
    for text in bounded:
        assert _expr(text).bounded_below(), text
    for text in unbounded:
        assert not _expr(text).bounded_below(), text


# ---------------------------------------------------------------- terms and fit


def _poisson_1d(n=64):
    x = torch.linspace(0, 1, n, dtype=torch.float64).unsqueeze(1)
    return x


def test_seed_003_loss_is_refused_and_its_squared_residual_trains():
    model = wrt.mlp(["x", "y"], ["u"], hidden=[16], activation="softplus")
    points = torch.rand(64, 2, dtype=torch.float64)
    with pytest.raises(
        wrt.UnboundedLossError, match=r"wrt.residual\('du/dx \+ d2u/dy\^2'"
    ):
        wrt.fit(model, [wrt.objective("du/dx + d2u/dy^2", points)], steps=1)
    history = wrt.fit(
        model, [wrt.residual("du/dx + d2u/dy^2", points)], steps=60, lr=1e-2
    )
    losses = history.frame["loss"]
    assert losses.iloc[-1] < 0.1 * losses.iloc[0]


def test_an_unbounded_objective_can_be_allowed_explicitly():
    model = wrt.mlp(["x"], ["u"], hidden=[4])
    term = wrt.objective("u", _poisson_1d(8), allow_unbounded=True)
    assert len(wrt.fit(model, [term], steps=2).frame) == 2


def test_a_nan_stops_training_naming_term_step_and_point():
    model = wrt.mlp(["x"], ["u"], hidden=[8])
    x = _poisson_1d(10)
    good = wrt.match("u", x, torch.sin(x[:, 0]), name="fit")
    points = torch.tensor([[0.9], [0.2], [0.7]], dtype=torch.float64)
    bad = wrt.residual("sqrt(0.5 - x) * u", points, name="sqrt term")
    before = [p.detach().clone() for p in model.module.parameters()]
    with pytest.raises(wrt.NonFiniteLossError, match="'sqrt term'") as caught:
        wrt.fit(model, [good, bad], steps=5)
    err = caught.value
    assert (err.term, err.step, err.point) == ("sqrt term", 0, 0)
    assert "x=0.9" in str(err)
    for a, b in zip(before, model.module.parameters(), strict=True):
        assert torch.equal(a, b)


def test_after_some_steps_the_last_finite_parameters_are_kept():
    model = wrt.mlp(["x"], ["u"], hidden=[8])
    x = _poisson_1d(10)
    snapshots = []

    def poison(step, total, losses):
        snapshots.append([p.detach().clone() for p in model.module.parameters()])
        if step == 3:
            with torch.no_grad():
                next(model.module.parameters()).fill_(math.nan)

    with pytest.raises(wrt.NonFiniteLossError) as caught:
        wrt.fit(model, [wrt.match("u", x, x[:, 0] ** 2)], steps=10, callback=poison)
    assert caught.value.step == 4 and len(caught.value.history.frame) == 4
    # the parameters that gave the last finite loss: those after step 2's update
    for a, b in zip(snapshots[2], model.module.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("make", "error", "fragment"),
    [
        (lambda x: wrt.match("du/dz", x, np.zeros(4)), wrt.SpecError, "z"),
        (lambda x: wrt.match("u", x, np.zeros(3)), wrt.DataError, "3 values for 4"),
        (lambda x: wrt.match("u", x, [0, 1, np.nan, 0]), wrt.DataError, "NaN"),
        (
            lambda x: wrt.residual("du/dx", x.clone().fill_(np.inf)),
            wrt.DataError,
            "(?i)inf",
        ),
        (lambda x: wrt.residual("du/dx + q", x), wrt.ExpressionError, "unknown name"),
        (lambda x: wrt.match("u", x, np.zeros(4), weight=-1), wrt.DataError, "weight"),
    ],
)
def test_bad_terms_fail_before_training(make, error, fragment):
    model = wrt.mlp(["x"], ["u"], hidden=[4])
    with pytest.raises(error, match=fragment):
        wrt.fit(model, [make(_poisson_1d(4))], steps=1)


def test_rows_long_and_wide_layouts_give_the_same_terms():
    x1 = np.linspace(0, 1, 6)
    wide = pd.DataFrame({"x1": x1, "x2": 1 - x1})
    wide["y"] = [1.0, np.nan, np.nan, 2.0, np.nan, np.nan]
    wide["dy/dx1"] = [np.nan, 0.5, np.nan, np.nan, 0.7, np.nan]
    wide["dy/dx2"] = [np.nan, np.nan, -1.0, np.nan, np.nan, -2.0]
    terms = wrt.rows(wide)
    assert [t.target for t in terms] == ["y", "dy/dx1", "dy/dx2"]
    long = pd.DataFrame(
        {"x1": x1, "x2": 1 - x1, "label": ["y", "dy/dx1", "dy/dx2"] * 2,
         "value": [1.0, 0.5, -1.0, 2.0, 0.7, -2.0]}
    )  # fmt: skip
    assert sorted(t.target for t in wrt.rows(long)) == ["dy/dx1", "dy/dx2", "y"]
    model = wrt.mlp(["x1", "x2"], ["y"], hidden=[4])
    history = wrt.fit(model, terms, steps=3)
    assert list(history.frame.columns) == ["step", "loss", "y = data", "dy/dx1 = data",
                                           "dy/dx2 = data"]  # fmt: skip


def test_terms_on_the_same_points_share_one_evaluation(monkeypatch):
    import wrt.training.problem as fit_module

    calls = []
    original = fit_module.partials

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(fit_module, "partials", counting)
    model = wrt.mlp(["x", "t"], ["u"], hidden=[8])
    x = torch.rand(32, 2, dtype=torch.float64)
    terms = [wrt.residual("du/dt + u*du/dx", x), wrt.residual("d2u/dx^2", x.clone())]
    wrt.fit(model, terms, steps=3)
    assert len(calls) == 3  # one batched call per step for both terms


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam+lbfgs", "pso", "cma"])
def test_every_optimizer_reduces_a_derivative_fit(optimizer):
    model = wrt.mlp(["x"], ["u"], hidden=[6], activation="sigmoid", seed=1)
    x = _poisson_1d(16)
    terms = [wrt.match("u", x, torch.sin(3 * x[:, 0])),
             wrt.match("du/dx", x, 3 * torch.cos(3 * x[:, 0]))]  # fmt: skip
    steps = 30 if optimizer in ("pso", "cma") else 40
    history = wrt.fit(model, terms, optimizer=optimizer, steps=steps, lr=1e-2,
                      population=16, seed=0)  # fmt: skip
    losses = history.frame["loss"]
    assert losses.iloc[-1] < 0.5 * losses.iloc[0], optimizer
    assert history.optimizer == optimizer


def test_unknown_optimizer_and_callable_residuals():
    model = wrt.mlp(["x"], ["u"], hidden=[4])
    x = _poisson_1d(8)
    with pytest.raises(wrt.DataError, match="Unknown optimizer"):
        wrt.fit(model, [wrt.match("u", x, np.zeros(8))], optimizer="sgd")
    term = wrt.residual(
        lambda v: v[wrt.Partial("u", {"x": 1})] - 1.0, x, reads=["du/dx"]
    )
    history = wrt.fit(model, [term], steps=50, lr=1e-2)
    assert history.final["loss"] < history.frame["loss"].iloc[0]


def test_rows_find_a_fully_labelled_value_column_by_the_specs_beside_it():
    table = pd.DataFrame(
        {"x1": [0.0, 1.0], "x2": [1.0, 2.0], "y": [1.0, 2.0], "dy/dx1": [0.5, 0.3]}
    )
    assert [t.target for t in wrt.rows(table)] == ["y", "dy/dx1"]
