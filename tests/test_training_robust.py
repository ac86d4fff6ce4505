"""Training that survives what users do: nested term lists, non-contiguous
parameters, Ctrl-C at a chosen step, bad arguments; histories that agree."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import wrt
from wrt.errors import DataError, NotATermError, TrainingInterrupted
from wrt.training.fitting import flatten_terms

OPTIMIZERS = ["adam", "lbfgs", "adam+lbfgs", "pso", "cma"]


class Transposed(nn.Module):
    """A tanh network whose weights are transposed views made Parameters."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        base1 = torch.randn(6, 2, generator=g, dtype=torch.float64)
        base2 = torch.randn(2, 6, generator=g, dtype=torch.float64)
        self.w1 = nn.Parameter(base1.t())  # (2, 6), strides (1, 2)
        self.w2 = nn.Parameter(base2.t())  # (6, 2), strides (1, 6)
        self.b1 = nn.Parameter(torch.zeros(6, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(x @ self.w1 + self.b1) @ self.w2).sum(1, keepdim=True)


def _contiguous_twin(module: Transposed) -> Transposed:
    twin = copy.deepcopy(module)
    for name, p in list(twin.named_parameters()):
        setattr(twin, name, nn.Parameter(p.detach().contiguous().clone()))
    return twin


def _terms(x: torch.Tensor):
    return [wrt.match("y", x, torch.sin(x[:, 0]) * x[:, 1]),
            wrt.match("dy/dx1", x, torch.cos(x[:, 0]) * x[:, 1])]  # fmt: skip


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_non_contiguous_parameters_train_as_their_contiguous_twin(optimizer):
    module = Transposed()
    assert not module.w1.is_contiguous() and not module.w2.is_contiguous()
    twin = _contiguous_twin(module)
    x = torch.rand(12, 2, generator=torch.Generator().manual_seed(1),
                   dtype=torch.float64)  # fmt: skip
    steps = 4 if optimizer in ("pso", "cma") else 25
    settings = {"optimizer": optimizer, "steps": steps, "lr": 1e-2,
                "population": 6, "lbfgs_steps": 25}  # fmt: skip
    storage = module.w1.data_ptr()
    a = wrt.fit(wrt.wrap(module, inputs=["x1", "x2"]), _terms(x), **settings)
    b = wrt.fit(wrt.wrap(twin, inputs=["x1", "x2"]), _terms(x), **settings)
    # trained in place: the same parameter, its layout and storage kept
    assert not module.w1.is_contiguous() and module.w1.data_ptr() == storage
    np.testing.assert_allclose(a.frame["loss"], b.frame["loss"], rtol=1e-10)
    for p, q in zip(module.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    if optimizer != "pso":  # 4 generations of 6 particles need not improve
        assert a.frame["loss"].iloc[-1] < a.frame["loss"].iloc[0]


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_a_model_loaded_from_keras_trains(optimizer):
    """Keras stores kernels (in, out): imported weights are transposed views."""
    fixture = Path(__file__).parent / "fixtures" / "seed000.keras"
    model = wrt.load(fixture)
    x = torch.rand(16, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        start = float((model(x) ** 2).mean())
    history = wrt.fit(model, [wrt.match("y", x, torch.zeros(16))],
                      optimizer=optimizer, steps=5)  # fmt: skip
    with torch.no_grad():
        end = float((model(x) ** 2).mean())
    assert np.isfinite(history.frame["loss"]).all() and end < 0.5 * start


def _table():
    return pd.DataFrame(
        {"x1": [0.0, 0.5, 1.0], "x2": [1.0, 0.5, 0.0], "y": [0.1, 0.2, 0.3],
         "dy/dx1": [1.0, np.nan, 0.5]}
    )  # fmt: skip


def test_nested_term_lists_train_as_the_flat_list():
    flat = wrt.fit(wrt.mlp(["x1", "x2"], ["y"], hidden=[4]), wrt.rows(_table()),
                   steps=5)  # fmt: skip
    nested = wrt.fit(wrt.mlp(["x1", "x2"], ["y"], hidden=[4]), [wrt.rows(_table())],
                     steps=5)  # fmt: skip
    pd.testing.assert_frame_equal(flat.frame, nested.frame)


def test_flatten_terms_any_depth_and_names_the_bad_entry():
    x = torch.zeros(2, 1, dtype=torch.float64)
    a, b, c = (wrt.match("u", x, [0.0, 0.0]) for _ in range(3))
    assert flatten_terms([[a, [b]], (c,)]) == [a, b, c]
    assert flatten_terms(a) == [a]
    assert flatten_terms(t for t in (a, b)) == [a, b]
    for bad, where in [([a, None], r"terms\[1\] is a NoneType"),
                       ([[a, [b, 1.5]]], r"terms\[0\]\[1\]\[1\] is a float"),
                       ([a, {"u": 1}], r"terms\[1\] is a dict")]:  # fmt: skip
        with pytest.raises(NotATermError, match=where):
            flatten_terms(bad)
    with pytest.raises(TypeError):  # NotATermError is a TypeError too
        flatten_terms(3)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"steps": 2.0}, "steps must be a whole number"),
     ({"steps": True}, "steps must be a whole number"),
     ({"lr": 0}, "lr must be a finite number > 0"),
     ({"lr": math.inf}, "lr must be a finite number > 0"),
     ({"lr": None}, "lr must be a number"),
     ({"seed": -1}, "seed must be >= 0"),
     ({"lbfgs_steps": -1, "optimizer": "adam+lbfgs"}, "lbfgs_steps must be >= 0"),
     ({"population": 0, "optimizer": "cma"}, "population must be >= 2"),
     ({"optimizer": None}, "Unknown optimizer None")],
)  # fmt: skip
def test_bad_arguments_fail_before_any_step(kwargs, fragment):
    model = wrt.mlp(["x"], ["u"], hidden=[3])
    before = [p.detach().clone() for p in model.module.parameters()]
    x = torch.zeros(3, 1, dtype=torch.float64)
    with pytest.raises(DataError, match=fragment):
        wrt.fit(model, [wrt.match("u", x, [1.0, 1.0, 1.0])], **kwargs)
    for p, q in zip(before, model.module.parameters(), strict=True):
        assert torch.equal(p, q)


def _setup():
    model = wrt.mlp(["x"], ["u"], hidden=[5], seed=2)
    x = torch.linspace(-1, 1, 9, dtype=torch.float64)[:, None]
    return model, [wrt.match("u", x, torch.sin(2 * x[:, 0]))], x


def _stop_at(step_to_stop: int, snapshots: list):
    def callback(step, total, losses):
        snapshots.append([p.detach().clone() for p in snapshots_model[0].parameters()])
        if step == step_to_stop:
            raise KeyboardInterrupt

    snapshots_model: list = []
    return callback, snapshots_model


@pytest.mark.parametrize("stop", [0, 1, 4])
def test_ctrl_c_in_a_callback_keeps_the_completed_steps(stop):
    model, terms, _ = _setup()
    snapshots: list = []
    callback, holder = _stop_at(stop, snapshots)
    holder.append(model.module)
    start = [p.detach().clone() for p in model.module.parameters()]
    with pytest.raises(TrainingInterrupted) as caught:
        wrt.fit(model, terms, steps=10, lr=1e-2, callback=callback)
    assert isinstance(caught.value, KeyboardInterrupt)
    assert caught.value.step == stop and len(caught.value.history.frame) == stop
    # the parameters after `stop` completed updates: those seen at callback stop-1
    kept = snapshots[stop - 1] if stop else start
    for a, b in zip(kept, model.module.parameters(), strict=True):
        assert torch.equal(a, b)
    # and the rows are those of an uninterrupted run of `stop` steps
    fresh, terms2, _ = _setup()
    if stop:
        again = wrt.fit(fresh, terms2, steps=stop, lr=1e-2)
        pd.testing.assert_frame_equal(again.frame, caught.value.history.frame)


def test_ctrl_c_inside_a_term_restores_the_last_finite_parameters():
    model, _, x = _setup()
    calls = {"n": 0}
    seen = []

    def residual(values):
        calls["n"] += 1
        if calls["n"] == 4:  # the loss of step 3, after 3 updates
            raise KeyboardInterrupt
        seen.append([p.detach().clone() for p in model.module.parameters()])
        return values[wrt.Partial("u", {})] - torch.sin(2 * x[:, 0])

    term = wrt.residual(residual, x, reads=["u"])
    with pytest.raises(TrainingInterrupted) as caught:
        wrt.fit(model, [term], steps=10, lr=1e-2)
    # back to the last parameters whose loss was seen finite (after 2 updates),
    # with the rows of the 2 steps that led to them
    assert caught.value.step == 2 and len(caught.value.history.frame) == 2
    for a, b in zip(seen[-1], model.module.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("optimizer", ["pso", "cma"])
def test_ctrl_c_in_gradient_free_training_keeps_the_best_candidate(optimizer):
    model, terms, x = _setup()

    def callback(step, total, losses):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as caught:
        wrt.fit(model, terms, optimizer=optimizer, steps=10, population=6,
                callback=callback)  # fmt: skip
    frame = caught.value.history.frame
    assert caught.value.step == 3 and len(frame) == 3
    with torch.no_grad():
        loss = float(((model(x)[:, 0] - torch.sin(2 * x[:, 0])) ** 2).mean())
    assert loss == pytest.approx(frame["loss"].iloc[-1], rel=1e-12)
    assert loss == pytest.approx(frame["loss"].min(), rel=1e-12)


def test_ctrl_c_during_lbfgs_keeps_finite_parameters_and_whole_blocks():
    model, terms, x = _setup()

    def callback(step, total, losses):
        if step >= 20:  # the second block of L-BFGS
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as caught:
        wrt.fit(model, terms, optimizer="lbfgs", steps=60, callback=callback)
    frame = caught.value.history.frame
    assert frame["step"].tolist() == [19] and caught.value.step == 20
    assert all(bool(torch.isfinite(p).all()) for p in model.module.parameters())


def test_lbfgs_rows_count_the_iterations_it_made():
    model, terms, _ = _setup()
    history = wrt.fit(model, terms, optimizer="adam+lbfgs", steps=3, lbfgs_steps=45)
    steps = history.frame["step"].tolist()
    assert steps[:3] == [0, 1, 2]
    made = np.diff([2, *steps[3:]])
    assert all(0 < m <= 20 for m in made), steps  # iterations made per block
    assert history.steps == steps[-1] + 1 <= 48
    if history.steps < 48:  # stopped early: converged, the last block not full
        assert made[-1] < 20 or steps[-1] + 1 == 48
