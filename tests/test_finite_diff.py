"""The finite-difference engine: steps from the data, error estimates, limits."""

import pytest
import torch

import wrt
from models import mlp
from wrt.engines.finite_diff import step_scale


def test_step_scale_follows_the_data_spread():
    x = torch.stack([torch.linspace(0, 100, 50), torch.linspace(0, 1, 50)], 1).double()
    scale = step_scale(x)
    torch.testing.assert_close(scale, x.std(0))
    single = torch.tensor([[1000.0, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(step_scale(single), torch.tensor([1000.0, 1.0]).double())


def test_wide_input_ranges_are_handled():
    # seed 000's data: x in [0, 6 pi] and [0, 9 pi]; a fixed step would be wrong
    m = wrt.wrap(lambda x: torch.sin(x[:, 0]) + torch.cos(x[:, 1]), inputs="x1,x2")
    x1 = torch.linspace(0, 6 * torch.pi, 200, dtype=torch.float64)
    x = torch.stack([x1, 1.5 * x1], 1)
    P = wrt.partials(m, x, ["dy/dx1", "dy/dx2", "d2y/dx1^2"], engine="finite_diff")
    torch.testing.assert_close(P["dy/dx1"], torch.cos(x1), rtol=0, atol=1e-9)
    torch.testing.assert_close(P["dy/dx2"], -torch.sin(1.5 * x1), rtol=0, atol=1e-9)
    torch.testing.assert_close(P["d2y/dx1^2"], -torch.sin(x1), rtol=0, atol=1e-8)


def test_error_estimates_bound_the_actual_error():
    m = wrt.wrap(mlp(2, 1))
    x = torch.randn(64, 2, dtype=torch.float64)
    specs = ["dy/dx1", "d2y/dx1dx2", "d3y/dx1^2dx2", "d4y/dx2^4"]
    exact = wrt.partials(m, x, specs)
    fd = wrt.partials(m, x, specs, engine="finite_diff")
    assert fd.engine == "finite_diff"
    for spec in specs:
        error = (fd[spec] - exact[spec]).abs()
        # the estimate may miss a few points by a small factor, never by much
        assert (error <= 10 * fd.errors[fd.key(spec)] + 1e-15).all()


def test_float32_models_are_differenced_in_float64():
    m = wrt.wrap(mlp(2, 1).float())
    P = wrt.partials(m, torch.randn(8, 2), ["d2y/dx1^2"], engine="finite_diff")
    assert P["d2y/dx1^2"].dtype == torch.float64


def test_limits_are_refused_with_a_reason():
    m = wrt.wrap(mlp(1, 1))
    with pytest.raises(wrt.EngineError, match="up to order 4"):
        wrt.partials(m, torch.zeros(2, 1), "d5y/dx1^5", engine="finite_diff")
    with pytest.raises(wrt.EngineError, match="backpropagated"):
        wrt.partials(
            m, torch.zeros(2, 1), "dy/dx1", engine="finite_diff", differentiable=True
        )
