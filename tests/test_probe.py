"""Probes when a model is wrapped or loaded: width, coupled rows, cut graphs (issue 12).

Each kind is tested over several models: features built from the inputs, slicing
and broadcasting (width); batch statistics, softmax / mean / sum over the batch
(coupling); detach, NumPy, no_grad, rounding, integer outputs, functions torch
cannot differentiate (cuts). Models that are fine (piecewise linear, constant in one
input when the inputs are given, with kinks) must pass.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import wrt
from models import mlp, save_torchscript
from wrt.cli.app import app
from wrt.errors import IgnoredInputWarning, ModelError

FIXTURES = Path(__file__).parent / "fixtures"


class Features(nn.Module):
    """x (N, n) -> [x, x**2, sin x] (N, 3n) -> tanh MLP: first weight has 3n columns."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.net = mlp(3 * n, 1, seed=n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, x**2, torch.sin(x)], dim=1))


class Pinn(nn.Module):
    """(x, t) sliced from the columns, five features, like the TorchScript fixture."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp(5, 1, seed=7)

    def forward(self, xt: torch.Tensor) -> torch.Tensor:
        x, t = xt[:, 0:1], xt[:, 1:2]
        return self.net(torch.cat([x, t, x.sin(), t.cos(), (-x * t).exp()], dim=1))


class Scaled(nn.Module):
    """Standardisation buffers (2,) broadcast over the columns, then an MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.5, -1.0], dtype=torch.float64))
        self.register_buffer("std", torch.tensor([2.0, 0.5], dtype=torch.float64))
        self.net = mlp(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


class Fn(nn.Module):
    """``fn(net, x)`` with a 2-input MLP inside: a model built for one test."""

    def __init__(self, fn, n_in: int = 2) -> None:
        super().__init__()
        self.fn = fn
        self.net = mlp(n_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.net, x)


def _closed_form_check(model: wrt.Model, module: nn.Module, n: int) -> None:
    """Partials of the inferred model equal autograd on the module, every column."""
    x = torch.rand(6, n, dtype=torch.float64)
    got = wrt.jacobian(model, x).sum(1)  # (N, n): the sum of the outputs
    leaf = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(module(leaf).sum(), leaf)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    assert bool((got != 0).all())  # no dummy column with a partial of 0


# --- width -----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_width_of_models_that_build_features_is_found_by_calling(n):
    module = Features(n)
    model = wrt.wrap(module)
    assert model.n_inputs == n
    _closed_form_check(model, module, n)


@pytest.mark.parametrize(
    ("module", "n"), [(Pinn(), 2), (Scaled(), 2), (mlp(20, 1), 20), (mlp(1, 3), 1)]
)
def test_width_of_slicing_broadcasting_and_plain_models(module, n):
    model = wrt.wrap(module)
    assert model.n_inputs == n
    _closed_form_check(model, module, n)


def test_torchscript_pinn_fixture_has_two_inputs_and_its_reference_partials():
    model = wrt.load(FIXTURES / "torch_pinn_script.pt", dtype="float64")
    assert model.inputs == ("x1", "x2")
    ref = np.load(FIXTURES / "torch_pinn_script.ref.npz")
    x = torch.from_numpy(ref["points"])
    jac = wrt.jacobian(model, x)
    torch.testing.assert_close(
        jac, torch.from_numpy(ref["grad_f64"]), rtol=1e-9, atol=1e-12
    )


def test_cli_reads_the_pinn_fixture_with_two_columns(tmp_path):
    points = tmp_path / "p.csv"
    points.write_text("x1,x2\n0.1,0.2\n0.3,-0.4\n")
    result = CliRunner().invoke(
        app,
        [
            "partials",
            str(FIXTURES / "torch_pinn_script.pt"),
            str(points),
            "-d",
            "dy/dx2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr + result.stdout
    assert "x3" not in result.stdout and "dy/dx2" in result.stdout


def test_width_cannot_be_told_without_weights_asks_for_inputs():
    with pytest.raises(
        ModelError, match=r"no weight matrix.*inputs=\[\.\.\.\].*--inputs"
    ):
        wrt.wrap(nn.Tanh())


def test_inferred_width_with_an_ignored_column_is_an_error():
    # first weight: 3 columns, the third has no effect, and no other width fits
    net = mlp(3, 1)
    with torch.no_grad():
        net[0].weight[:, 2] = 0.0
    with pytest.raises(ModelError, match=r"column\(s\) 3 change no output.*inputs="):
        wrt.wrap(net)


@pytest.mark.parametrize("column", [0, 1, 2])
def test_a_given_input_the_model_ignores_is_named_in_a_warning(column):
    names = ["a", "b", "c"]
    net = mlp(3, 1)
    with torch.no_grad():
        net[0].weight[:, column] = 0.0
    with pytest.warns(IgnoredInputWarning, match=rf"Input\(s\) {names[column]} "):
        model = wrt.wrap(net, inputs=names)
    assert model.inputs == tuple(names)


def test_a_constant_model_is_not_refused_when_inputs_are_given():
    with pytest.warns(IgnoredInputWarning, match="x, t"):
        model = wrt.wrap(lambda z: torch.ones(z.shape[0]), inputs=["x", "t"])
    assert model(torch.zeros(3, 2)).shape == (3, 1)


# --- rows coupled through the batch ---------------------------------------------

COUPLED = {
    "batch-statistics": lambda n, x: n((x - x.mean(0)) / (x.std(0) + 1e-3)),
    "softmax-over-rows": lambda n, x: torch.softmax(n(x), dim=0),
    "mean-over-rows": lambda n, x: n(x) - n(x).mean(),
    "sum-over-rows": lambda n, x: n(x) * x.sum(),
    "batchnorm-functional-training": lambda n, x: n(
        nn.functional.batch_norm(x, None, None, training=True)
    ),
    "cumulative-sum": lambda n, x: torch.cumsum(n(x), dim=0),
}


@pytest.mark.parametrize("kind", COUPLED)
@pytest.mark.parametrize("inputs", [None, ["x", "t"]])
def test_rows_coupled_through_the_batch_are_refused(kind, inputs):
    with pytest.raises(ModelError, match=r"coupled through the batch|single point"):
        wrt.wrap(Fn(COUPLED[kind]), inputs=inputs)


def test_batchnorm_in_training_mode_is_fine_once_wrap_puts_it_in_eval():
    net = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1))
    net.double().train()
    with torch.no_grad():
        net(torch.randn(32, 2, dtype=torch.float64))  # running statistics
    model = wrt.wrap(net)
    assert not net.training and model.n_inputs == 2


class SoftmaxRows(nn.Module):
    """A softmax over the batch dimension: a classic slip (dim=0 for dim=1)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=0)


def test_a_coupled_torchscript_file_is_refused_on_load(tmp_path):
    path = save_torchscript(SoftmaxRows(), tmp_path / "m.pt")
    with pytest.raises(ModelError, match="coupled through the batch"):
        wrt.load(path, inputs=["x", "t"])
    result = CliRunner().invoke(
        app, ["inspect", str(path), "--inputs", "x,t"], catch_exceptions=True
    )
    assert result.exit_code == 2 and "coupled" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_dropout_left_on_is_refused_and_the_random_state_is_kept():
    module = Fn(lambda n, x: nn.functional.dropout(n(x), 0.5, training=True))
    torch.manual_seed(5)
    state = torch.get_rng_state()
    with pytest.raises(ModelError, match="different outputs for the same points"):
        wrt.wrap(module)
    assert torch.equal(torch.get_rng_state(), state)


# --- graphs cut inside the model ------------------------------------------------

CUT = {
    "detach": lambda n, x: n(x.detach()),
    "numpy": lambda n, x: torch.from_numpy(np.tanh(x.detach().numpy())).sum(1),
    "item": lambda n, x: n(x) * 0 + torch.tensor([[float(v)] for v in x[:, 0]]),
    "round": lambda n, x: torch.round(n(x) * 100) / 100,
    "partial-detach": lambda n, x: n(x) + (x.detach() ** 2).sum(1, keepdim=True),
    "no-derivative-in-torch": lambda n, x: torch.special.bessel_j0(x).sum(1),
    "sign": lambda n, x: torch.sign(n(x) - 0.1) + 0 * n(x),
}


def _no_grad_forward(net, x):
    with torch.no_grad():
        return net(x)


CUT["no_grad"] = _no_grad_forward


@pytest.mark.parametrize("kind", CUT)
@pytest.mark.parametrize("inputs", [None, ["x", "t"]])
def test_graphs_cut_inside_the_model_are_refused(kind, inputs):
    with pytest.raises(ModelError, match=r"not a differentiable torch function|width"):
        wrt.wrap(Fn(CUT[kind]), inputs=inputs)


@pytest.mark.parametrize("inputs", [None, ["x", "t"]])
def test_integer_outputs_are_refused(inputs):
    with pytest.raises(ModelError, match=r"torch.int64 values.*no derivatives"):
        wrt.wrap(Fn(lambda n, x: (n(x) * 100).long()), inputs=inputs)


FINE = {
    "relu": lambda n, x: torch.relu(n(x)),
    "abs": lambda n, x: n(x).abs(),
    "leaky-kinks": lambda n, x: nn.functional.leaky_relu(x - 0.5, 0.1).sum(1),
    "clamp": lambda n, x: torch.clamp(n(x), -0.3, 0.3) + x[:, :1],
    "max-of-columns": lambda n, x: x.max(dim=1).values + n(x)[:, 0],
    "log-domain": lambda n, x: torch.log(x).sum(1) + n(x)[:, 0],
    "two-outputs": lambda n, x: torch.cat([n(x), n(x) ** 2], 1),
}


@pytest.mark.parametrize("kind", FINE)
def test_piecewise_linear_and_kinked_models_are_accepted(kind):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = wrt.wrap(Fn(FINE[kind]))
    assert model.n_inputs == 2


def test_wrap_probe_is_cheap_and_leaves_no_state():
    net = mlp(2, 1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    attributes = set(vars(net))
    state = torch.get_rng_state()
    wrt.wrap(net)
    start = time.perf_counter()
    for _ in range(10):
        wrt.wrap(net)
    per_call = (time.perf_counter() - start) / 10
    # measured 1-5 ms on a busy 2-core machine; the bound leaves room for load
    assert per_call < 0.2, per_call
    assert torch.equal(torch.get_rng_state(), state)
    assert set(vars(net)) == attributes
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("frequency", [1.0, 30.0, 300.0, 1000.0])
def test_fast_varying_smooth_models_are_not_taken_for_cut_ones(dtype, frequency):
    # Fourier features: the finite difference's truncation error is large, not
    # the gradient's; the probe estimates it from two steps
    module = Fn(lambda n, x: n(torch.sin(frequency * x)) + torch.cos(frequency * x))
    module = module.to(dtype)
    model = wrt.wrap(module)
    assert model.n_inputs == 2 and model.dtype == dtype


def test_float32_partial_detach_is_still_caught():
    module = Fn(CUT["partial-detach"]).float()
    with pytest.raises(ModelError, match="disagrees with a finite difference"):
        wrt.wrap(module, inputs=["x", "t"])


@pytest.mark.parametrize("n", [40, 100])
def test_wide_models_are_probed_in_blocks(n):
    net = mlp(n, 2)
    with torch.no_grad():
        net[0].weight[:, n - 1] = 0.0  # the last column, in the last block
    with pytest.warns(IgnoredInputWarning, match=rf"Input\(s\) x{n} "):
        model = wrt.wrap(net, inputs=[f"x{i}" for i in range(1, n + 1)])
    assert model.n_inputs == n
    with pytest.raises(ModelError, match=rf"column\(s\) {n} change no output"):
        wrt.wrap(net)


NAN_SOMEWHERE = {
    "sqrt-domain": lambda n, x: torch.sqrt(x[:, :1] - 0.5) + n(x),
    "log-domain-everywhere": lambda n, x: torch.log(x - 1.0).sum(1),
    "nan-on-a-column": lambda n, x: torch.acos(x[:, 1] + 0.5) + n(x)[:, 0],
}


@pytest.mark.parametrize("kind", NAN_SOMEWHERE)
def test_models_that_are_nan_at_some_probe_points_are_not_refused(kind):
    # NaN outputs are a domain question for the partials, not a cut graph
    model = wrt.wrap(Fn(NAN_SOMEWHERE[kind]), inputs=["x", "t"])
    assert model.n_inputs == 2


class OutputFirst(nn.Module):
    """The output layer is registered first: its weight is the first 2-D one."""

    def __init__(self, n: int) -> None:
        super().__init__()
        torch.manual_seed(n)
        self.out = nn.Linear(16, 1).double()
        self.inp = nn.Linear(n, 16).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.inp(x)))


class Pairwise(nn.Module):
    """Features x_i * x_j for i <= j: n (n + 1) / 2 columns into the first Linear."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.rows, self.cols = torch.triu_indices(n, n)
        self.net = mlp(len(self.rows), 1, seed=n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, self.rows] * x[:, self.cols])


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("kind", [OutputFirst, Pairwise])
def test_width_when_the_first_weight_is_not_the_input_layer(kind, n):
    module = kind(n)
    model = wrt.wrap(module)
    assert model.n_inputs == n
    _closed_form_check(model, module, n)


class _Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


# ReLU units that are off at every probe point in (0.1, 0.9) but on elsewhere: the
# column is used and differentiable; its gradient is 0 only in the probe box.
_DEAD_IN_THE_BOX = {
    "on-after-a-unit-step": lambda x: torch.relu(x[:, :1] - 1.0) + x[:, 1:],
    "on-only-far-away": lambda x: torch.relu(-x[:, :1] - 1.0) + x[:, 1:],
    "conv-relu-average": lambda x: torch.relu(
        nn.functional.conv1d(x[:, None, :], x.new_tensor([[[1.0, -3.0]]]))
    ).mean(dim=(1, 2))[:, None],
}


@pytest.mark.parametrize("kind", sorted(_DEAD_IN_THE_BOX))
def test_relu_units_off_at_the_probe_points_are_neither_cut_nor_ignored(kind):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = wrt.wrap(_Lambda(_DEAD_IN_THE_BOX[kind]), inputs=["a", "b"])
    x = np.array([[-3.0, 0.5], [2.5, 0.5]])
    grad = wrt.grad(m, x)
    assert np.isfinite(np.asarray(grad)).all()
