"""wrt.check: each finding on a case made to have it, and its absence on a clean one."""

import json
import math

import numpy as np
import pytest
import torch

import wrt
from wrt.checks import CODES
from wrt.engines.autograd import AutogradEngine
from wrt.engines.base import Computed


def _smooth_model():
    # y = sin(x1) + x2^2 / 2 + x1 x2: closed-form directional derivatives
    return wrt.wrap(
        lambda z: torch.sin(z[:, 0]) + 0.5 * z[:, 1] ** 2 + z[:, 0] * z[:, 1],
        inputs=["x1", "x2"],
    )


def _line(n=300, noise=0.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    t = torch.rand(n, 1, generator=generator, dtype=torch.float64) * 2 - 1
    x = t * torch.tensor([[1.0, 1.5]], dtype=torch.float64)
    return x + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)


def _grid(n=20):
    a = torch.linspace(-1, 1, n, dtype=torch.float64)
    return torch.cartesian_prod(a, a * 1.5)


def test_collinear_data_flags_every_first_partial_with_the_right_direction():
    model = _smooth_model()
    data = _line()
    report = wrt.check(model, data, data=data, verify=False)
    flagged = report.by_code("not-identifiable")
    assert sorted(s for f in flagged for s in f.specs) == ["dy/dx1", "dy/dx2"]
    u = torch.tensor([1.0, 1.5], dtype=torch.float64) / math.sqrt(3.25)
    x1, x2 = data[:, 0], data[:, 1]
    exact = u[0] * (torch.cos(x1) + x2) + u[1] * (x2 + x1)  # grad . u
    for finding in flagged:
        assert finding.severity == "error"
        assert len(finding.points) == 100 and finding.count == data.shape[0]
        torch.testing.assert_close(finding.direction, u)
        torch.testing.assert_close(
            finding.directional_derivative, exact, rtol=1e-10, atol=1e-12
        )
        assert "(0.5547 x1 + 0.8321 x2)" in finding.message


def test_well_spread_data_flags_nothing():
    data = _grid()
    report = wrt.check(_smooth_model(), data, data=data)
    assert report.codes() == []
    assert not report.has_errors


def test_a_constant_input_is_not_determined_but_the_others_are():
    generator = torch.Generator().manual_seed(1)
    data = torch.rand(400, 3, generator=generator, dtype=torch.float64)
    data[:, 2] = 0.25
    model = wrt.wrap(lambda z: z[:, 0] * z[:, 1] + z[:, 2] ** 2, inputs=["a", "b", "c"])
    report = wrt.check(model, data[:50], data=data, verify=False)
    assert [f.specs for f in report.by_code("not-identifiable")] == [["dy/dc"]]


def test_identifiability_is_scale_aware_and_uses_the_spread_threshold():
    model = _smooth_model()
    thin = _line(noise=1e-3)  # a slab 1000 times longer than wide: flagged
    assert wrt.check(model, thin, data=thin, verify=False).by_code("not-identifiable")
    thick = _line(noise=0.3)
    assert not wrt.check(model, thick, data=thick, verify=False).by_code(
        "not-identifiable"
    )
    # the same grid in other units (x2 in thousandths) is as well determined
    scaled = _grid() * torch.tensor([1.0, 1000.0], dtype=torch.float64)
    assert not wrt.check(model, scaled, data=scaled, verify=False).codes()


def test_mixed_second_partials_need_both_directions():
    data = _line()
    report = wrt.check(
        _smooth_model(), data, data=data, specs=["d2y/dx1dx2"], verify=False
    )
    (finding,) = report.by_code("not-identifiable")
    assert finding.specs == ["d2y/dx1dx2"]
    assert finding.directional_derivative.shape == (data.shape[0],)


def test_far_from_data_flags_points_outside_the_data():
    data = _grid()
    inside = torch.tensor([[0.1, 0.2], [-0.5, 0.7]], dtype=torch.float64)
    outside = torch.tensor([[5.0, 0.0], [0.0, -9.0]], dtype=torch.float64)
    report = wrt.check(
        _smooth_model(), torch.cat([inside, outside]), data=data, verify=False
    )
    (far,) = report.by_code("far-from-data")
    assert far.points == [2, 3] and far.severity == "warning"


def test_piecewise_linear_models_are_flagged_and_smooth_ones_not():
    torch.manual_seed(0)
    leaky = torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.LeakyReLU(0.1), torch.nn.Linear(8, 1)
    ).double()
    report = wrt.check(wrt.wrap(leaky), _grid())
    (finding,) = report.by_code("piecewise-linear")
    assert finding.operations == ["leaky_relu"]
    assert "check-skipped" in report.codes()  # no finite differences across kinks
    smooth = torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    )
    assert not wrt.check(wrt.wrap(smooth.double()), _grid()).by_code("piecewise-linear")


class Cancelling(torch.nn.Module):
    """y ~ x1 exp(x1) + x2, as a difference of two terms of size 1e5 exp(x1)."""

    def forward(self, z):
        x1 = z[:, 0]
        return (1e5 * (torch.exp(x1) - torch.exp(x1 * (1 - 1e-5))) + z[:, 1]).unsqueeze(
            1
        )


def test_float32_roundoff_is_flagged_where_terms_cancel():
    model = wrt.wrap(Cancelling(), inputs=["x1", "x2"])  # float32 parameters: none
    x = torch.rand(64, 2) + 0.5
    report = wrt.check(model.converted(torch.float32), x, verify=False)
    (finding,) = report.by_code("float32-roundoff")
    assert finding.specs == ["dy/dx1"]  # dy/dx2 = 1 exactly
    assert finding.relative_error["dy/dx1"] > 1e-3


def test_well_conditioned_float32_pinn_high_order_is_not_flagged():
    torch.manual_seed(0)
    layers, size = [], 2
    for _ in range(4):
        layers += [torch.nn.Linear(size, 50), torch.nn.Tanh()]
        size = 50
    pinn = torch.nn.Sequential(*layers, torch.nn.Linear(50, 1))
    model = wrt.wrap(pinn, inputs=["x", "t"], outputs=["u"])
    x = torch.rand(200, 2) * 2 - 1
    report = wrt.check(model, x, specs=["d4u/dx^4", "du/dt"], verify=False)
    assert not report.by_code("float32-roundoff")


class WrongEngine(AutogradEngine):
    """Autograd's results, one percent off: what a buggy engine would return."""

    name = "wrong"

    def compute(self, model, x, request):
        values, errors = super().compute(model, x, request)
        return Computed({p: 1.01 * v for p, v in values.items()}, errors)


def test_a_wrong_engine_is_caught_by_finite_differences():
    data = _grid(8)
    report = wrt.check(
        _smooth_model(), data, engine=WrongEngine(), specs=["dy/dx1", "d2y/dx2^2"]
    )
    (finding,) = report.by_code("fd-disagreement")
    assert finding.severity == "error" and set(finding.specs) == {"dy/dx1", "d2y/dx2^2"}
    assert finding.relative_error["dy/dx1"] > 1e-3
    assert not wrt.check(_smooth_model(), data, specs=["dy/dx1", "d2y/dx2^2"]).by_code(
        "fd-disagreement"
    )


def test_nonfinite_outputs_name_the_first_point():
    model = wrt.wrap(lambda z: torch.log(z[:, 0]) + z[:, 1], inputs=["a", "b"])
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [2.0, 1.0]], dtype=torch.float64)
    report = wrt.check(model, x, verify=False)
    found = report.by_code("nonfinite")
    assert found and found[0].first_point == 1 and report.has_errors


def test_report_json_has_the_documented_fields():
    data = _line(50)
    report = wrt.check(_smooth_model(), data, data=data, verify=False)
    parsed = json.loads(report.to_json())
    for finding in parsed["findings"]:
        assert {"severity", "code", "message", "hint", "specs", "points"} <= set(
            finding
        )
        assert finding["code"] in CODES
    assert len(parsed["findings"][0]["directional_derivative"]) == 50
    assert "not-identifiable" in str(report)


def test_unknown_spec_names_are_errors_before_any_check():
    with pytest.raises(wrt.SpecError, match="x9"):
        wrt.check(_smooth_model(), _grid(4), specs=["dy/dx9"])


def test_points_at_extreme_distances_are_far_from_data_not_a_crash():
    # (x - mean) / scale of 1e300 squares to inf in the k-d tree, which then finds
    # no neighbour (an IndexError before); such points are simply far from the data
    torch.manual_seed(0)
    data = torch.randn(50, 2, dtype=torch.float64)
    points = data[:5].clone()
    points[0, 0], points[1, 1] = 1e300, -1e300
    model = wrt.wrap(lambda z: torch.tanh(z[:, 0]) + z[:, 1], inputs=["x1", "x2"])
    report = wrt.check(model, points, data=data, verify=False)
    far = report.by_code("far-from-data")
    assert far and far[0].points == [0, 1]


class _WrongSlopeRight(torch.autograd.Function):
    """y = x1 ** 2 whose backward is off by 1 where x1 > 0.5."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return x**2

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (2 * x + (x > 0.5).to(x.dtype))


class _WrongModel(torch.nn.Module):
    def forward(self, x):
        return _WrongSlopeRight.apply(x[:, :1]) + x[:, 1:]


def test_many_points_get_the_numeric_checks_at_a_stated_sample(monkeypatch):
    from wrt.checks import run as check_run

    monkeypatch.setattr(check_run, "NUMERIC_POINTS", 60)
    x = np.random.default_rng(3).uniform(0, 1, (400, 2))
    model = wrt.wrap(_WrongModel(), inputs=["x1", "x2"], dtype="float64")
    report = wrt.check(model, x, specs=["dy/dx1"])
    bad = [f for f in report.findings if f.code == "fd-disagreement"]
    assert len(bad) == 1
    points = bad[0].points
    assert 0 < len(points) <= 60
    assert all(x[p, 0] > 0.5 for p in points)  # indices into all 400 points
    assert bad[0].details["sampled"] == 60 and bad[0].details["of"] == 400
    skipped = [f.message for f in report.findings if f.code == "check-skipped"]
    assert any("sample of 60 of the 400 points" in m for m in skipped)
    # under the limit every point is checked and nothing says otherwise
    small = wrt.check(model, x[:50], specs=["dy/dx1"])
    assert not any("sample" in f.message for f in small.findings)
    every = [f for f in small.findings if f.code == "fd-disagreement"][0].points
    assert sorted(every) == [i for i in range(50) if x[i, 0] > 0.5]


def _net(*layers):
    torch.manual_seed(0)
    return wrt.wrap(torch.nn.Sequential(*layers), dtype="float64")


@pytest.mark.parametrize(
    "smooth",
    [
        # softsign is x / (1 + |x|): a kink inside a smooth function
        lambda: _net(torch.nn.Linear(2, 8), torch.nn.Softsign(), torch.nn.Linear(8, 1)),
        # relu under tanh: second partials are not zero
        lambda: _net(
            torch.nn.Linear(2, 8),
            torch.nn.ReLU(),
            torch.nn.Linear(8, 8),
            torch.nn.Tanh(),
            torch.nn.Linear(8, 1),
        ),  # fmt: skip
    ],
    ids=["softsign", "relu-then-tanh"],
)
def test_kinks_inside_smooth_nonlinearities_are_not_called_piecewise_linear(smooth):
    model = smooth()
    x = np.random.default_rng(2).uniform(-1, 1, (40, 2))
    second = np.asarray(wrt.partials(model, x, ["d2y/dx1dx1"])["d2y/dx1dx1"])
    assert np.abs(second).max() > 1e-3  # the claim "zero almost everywhere" is false
    codes = wrt.check(model, x[:5]).codes()
    assert "piecewise-linear" not in codes
    assert "fd-disagreement" not in codes  # the verification ran and agreed


def test_relu_networks_with_pooling_and_scaling_are_piecewise_linear():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(1, 2, 2)
            self.head = torch.nn.Linear(2, 1)

        def forward(self, x):
            h = torch.relu(self.conv(x[:, None, :]))
            h = torch.nn.functional.max_pool1d(h, 3).flatten(1)
            return 0.5 * self.head(h) - x[:, :1] / 4

    model = _net(Net())
    x = np.random.default_rng(3).uniform(-1, 1, (30, 4))
    assert "piecewise-linear" in wrt.check(model, x[:5]).codes()
