"""Finite differences that know the noise of the function they difference.

A model that is a small difference of large terms computes its value with rounding
noise far above float64's unit round-off. The finite-difference error estimate must
widen with that noise, so that ``fd-disagreement`` does not accuse an exact engine,
while a wrong engine is still caught.
"""

import math

import pytest
import torch

import wrt
from models import mlp
from wrt.engines.autograd import AutogradEngine
from wrt.engines.base import Computed
from wrt.engines.finite_diff import noise_level, step_scale


class Cancelling(torch.nn.Module):
    """``1e6 (f(s) - f(s - 1e-6)) + t``: about f'(s) + t, with noise 1e6 ulps."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, z):
        s = z[:, 0]
        return (1e6 * (self.fn(s) - self.fn(s - 1e-6)) + z[:, 1]).unsqueeze(1)


class OppositeTerms(torch.nn.Module):
    """``(1e5 + s)^2 - 1e10 - 2e5 s + s t``: s^2 + s t after cancelling 1e10."""

    def forward(self, z):
        s, t = z[:, 0], z[:, 1]
        return ((1e5 + s) ** 2 - 1e10 - 2e5 * s + s * t).unsqueeze(1)


class Pendulum(torch.nn.Module):
    """``1e7 (cos(s) - 1) + 5e6 s^2 + sin(t)``: ~ s^4 / 24 e7 terms cancelling."""

    def forward(self, z):
        s, t = z[:, 0], z[:, 1]
        return (1e7 * (torch.cos(s) - 1) + 5e6 * s**2 + torch.sin(t)).unsqueeze(1)


NOISY = {
    "tanh": lambda: Cancelling(torch.tanh),
    "exp": lambda: Cancelling(torch.exp),
    "sin": lambda: Cancelling(torch.sin),
    "opposite": OppositeTerms,
    "pendulum": Pendulum,
}
SPECS = ["dy/ds", "d2y/ds^2", "d2y/dsdt", "d3y/ds^3"]


def _points(n=40, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=generator, dtype=torch.float64) * 2 - 0.5


class Off(AutogradEngine):
    """Autograd's values times (1 + delta): an engine with a relative bug."""

    name = "off"

    def __init__(self, delta):
        super().__init__()
        self.delta = delta

    def compute(self, model, x, request):
        computed = super().compute(model, x, request)
        return Computed(
            {p: (1 + self.delta) * v for p, v in computed.values.items()},
            computed.errors,
        )


@pytest.mark.parametrize("name", sorted(NOISY))
def test_an_exact_engine_is_not_accused_on_a_noisy_model(name):
    model = wrt.wrap(NOISY[name](), inputs=["s", "t"])
    for seed in range(3):
        report = wrt.check(model, _points(seed=seed), specs=SPECS)
        assert not report.by_code("fd-disagreement"), (seed, str(report))
        assert not report.has_errors


@pytest.mark.parametrize(
    ("name", "delta"),
    [
        ("tanh", 1e-2),
        ("tanh", -1e-3),
        ("exp", -1e-3),
        ("sin", 1e-3),
        ("pendulum", 1e-3),
        # noise 2e-6 of values of size 1: differences resolve 1e-2, not 1e-3
        ("opposite", -1e-2),
    ],
)
def test_a_wrong_engine_is_still_caught_on_a_noisy_model(name, delta):
    model = wrt.wrap(NOISY[name](), inputs=["s", "t"])
    report = wrt.check(model, _points(), engine=Off(delta), specs=["dy/ds", "d2y/ds^2"])
    (finding,) = report.by_code("fd-disagreement")
    assert finding.severity == "error"
    assert set(finding.specs) == {"dy/ds", "d2y/ds^2"}


@pytest.mark.parametrize("delta", [1e-2, 1e-4, -1e-5])
def test_a_wrong_engine_is_caught_on_a_clean_network_at_every_order(delta):
    model = wrt.wrap(mlp(2, 1))
    specs = ["dy/dx1", "d2y/dx1dx2", "d3y/dx1^2dx2", "d4y/dx2^4"]
    x = torch.randn(32, 2, dtype=torch.float64)
    report = wrt.check(model, x, engine=Off(delta), specs=specs)
    (finding,) = report.by_code("fd-disagreement")
    assert set(finding.specs) == set(specs)


@pytest.mark.parametrize("name", sorted(NOISY))
def test_the_error_estimate_bounds_the_actual_error_on_noisy_models(name):
    model = wrt.wrap(NOISY[name](), inputs=["s", "t"])
    x = _points()
    exact = wrt.partials(model, x, SPECS, engine="autograd")
    fd = wrt.partials(model, x, SPECS, engine="finite_diff")
    for spec in SPECS:
        error = (fd[spec] - exact[spec]).abs()
        assert (error <= fd.errors[fd.key(spec)] + 1e-300).all(), spec


def test_noise_level_measures_the_rounding_noise_of_the_values():
    x = _points(200)
    scale = step_scale(x)
    clean = wrt.wrap(lambda z: torch.tanh(z[:, 0]) + z[:, 1], inputs="s,t")
    noisy = wrt.wrap(Cancelling(torch.tanh), inputs=["s", "t"])
    quiet = noise_level(clean, x, 0, (1, 0), scale * 2.0**-16)
    loud = noise_level(noisy, x, 0, (1, 0), scale * 2.0**-16)
    eps = torch.finfo(torch.float64).eps
    # tanh + t rounds to about an ulp of values of size ~1
    assert quiet.median() < 4 * eps
    # 1e6 (tanh(s) - tanh(s - 1e-6)): each tanh's rounding, a million times
    assert 1e-2 * 1e6 * eps < loud.median() < 1e2 * 1e6 * eps
    assert (loud > 10 * quiet).float().mean() > 0.9


def test_noise_level_is_infinite_where_the_model_is_not_finite():
    model = wrt.wrap(lambda z: torch.log(z[:, 0]) + z[:, 1], inputs="a,b")
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    step = torch.full((2,), 1e-4, dtype=torch.float64)
    sigma = noise_level(model, x, 0, (1, 0), step)
    assert sigma[0] < 1e-14 and math.isinf(sigma[1])


def test_sigmoid_in_its_tail_is_unreliable_by_differences_and_says_so():
    # sigmoid(40) rounds to 1: differences cannot see a slope of 4.25e-18
    model = wrt.wrap(lambda z: torch.sigmoid(z[:, :1]), inputs=["u"])
    x = torch.tensor([[40.0], [-40.0], [20.0], [30.0]], dtype=torch.float64)
    exact = [4.248354255291589e-18, 4.248354255291589e-18, 2.061153618190204e-09]
    fd = wrt.partials(model, x, ["dy/du"], engine="finite_diff")
    error = fd.errors[fd.key("dy/du")]
    assert abs(float(fd["dy/du"][2]) - exact[2]) <= float(error[2])
    assert abs(float(fd["dy/du"][0]) - exact[0]) <= float(error[0])
    # where the value is below the estimate, the estimate says so
    assert float(error[0]) > abs(float(fd["dy/du"][0]))
    report = wrt.check(model, x, specs=["dy/du", "d2y/du^2"])
    assert not report.by_code("fd-disagreement")


@pytest.mark.parametrize("outlier", [1e6, 1e100, 1e300])
def test_huge_points_do_not_spoil_the_steps_of_the_others(outlier):
    model = wrt.wrap(lambda z: torch.sin(z[:, 0]) * torch.exp(0.3 * z[:, 1]), "a,b")
    x = torch.tensor(
        [[0.5, 0.1], [outlier, 0.2], [-outlier, -0.3], [1.5, 0.7]], dtype=torch.float64
    )
    specs = ["dy/da", "d2y/da^2", "d2y/dadb"]
    fd = wrt.partials(model, x, specs, engine="finite_diff")
    exact = wrt.partials(model, x, specs, engine="autograd")
    for spec in specs:
        for row in (0, 3):
            assert float(fd[spec][row]) == pytest.approx(
                float(exact[spec][row]), rel=1e-6
            )
            assert float(fd.errors[fd.key(spec)][row]) < 1e-5


def test_wrt_check_on_a_cancelling_model_file_exits_0(tmp_path):
    # the case: 1e6 (tanh(s) - tanh(s - 1e-6)) gave fd-disagreement, exit 1
    import pandas as pd
    from typer.testing import CliRunner

    from models import save_torchscript
    from wrt.cli.app import app

    model = save_torchscript(Cancelling(torch.tanh), tmp_path / "m.pt")
    points = tmp_path / "p.csv"
    pd.DataFrame(_points(60).numpy(), columns=["x1", "x2"]).to_csv(points, index=False)
    argv = ["check", str(model), "--data", str(points), "--json", "--inputs", "x1,x2"]
    argv += ["-d", "dy/dx1", "-d", "d2y/dx1^2", "-d", "d3y/dx1^3"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "fd-disagreement" not in result.stdout


@pytest.mark.parametrize("fn", [torch.tanh, torch.sigmoid, torch.nn.functional.gelu])
def test_training_gradients_through_saturated_taylor_rules_are_finite(fn):
    torch.manual_seed(0)
    layer = torch.nn.Linear(1, 4).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.copy_(torch.tensor([0.0, 30.0, -800.0, 1000.0]))
    model = wrt.wrap(
        torch.nn.Sequential(layer, _Apply(fn), torch.nn.Linear(4, 1).double())
    )
    x = torch.tensor([[0.0], [0.5]], dtype=torch.float64)
    for engine in ("taylor", "autograd"):
        got = wrt.partials(model, x, "d2y/dx1^2", engine=engine, differentiable=True)
        got["d2y/dx1^2"].sum().backward()
        for p in model.module.parameters():  # the last bias has no second derivative
            assert p.grad is None or torch.isfinite(p.grad).all(), (engine, p.grad)
            p.grad = None


class _Apply(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)
