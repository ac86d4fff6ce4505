"""The Taylor engine's operator paths: forward Laplacian, weighted trace, Hutchinson."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wrt
from tolerances import TAYLOR


def _mlp(n_in, widths=(7, 5), activation=torch.nn.Tanh, seed=0):
    torch.manual_seed(seed)
    layers, size = [], n_in
    for width in widths:
        layers += [torch.nn.Linear(size, width), activation()]
        size = width
    return torch.nn.Sequential(*layers, torch.nn.Linear(size, 1)).double()


def _close(got, expected):
    scale = max(1.0, float(expected.abs().max()))
    torch.testing.assert_close(
        got, expected, rtol=TAYLOR["rtol"], atol=TAYLOR["atol"] * scale
    )


def test_forward_laplacian_matches_the_hessian_trace():
    model = wrt.wrap(_mlp(4))
    x = torch.randn(9, 4, dtype=torch.float64)
    hessian = wrt.hessian(model, x, engine="autograd")
    got = wrt.laplacian(model, x, engine="taylor")
    _close(got, hessian.diagonal(dim1=1, dim2=2).sum(1))
    assert model.inputs == ("x1", "x2", "x3", "x4")
    partial = wrt.laplacian(model, x, over=["x2", "x4"], engine="taylor")
    _close(partial, hessian[:, 1, 1] + hessian[:, 3, 3])


def test_weighted_trace_with_a_full_symmetric_matrix():
    model = wrt.wrap(_mlp(3, activation=torch.nn.Sigmoid))
    x = torch.randn(6, 3, dtype=torch.float64)
    c = torch.tensor([[2.0, 0.5, 0.0], [0.5, -1.0, 0.3], [0.0, 0.3, 0.7]])
    expected = (wrt.hessian(model, x) * c.double()).sum((1, 2))
    for engine in ("taylor", "autograd"):
        _close(wrt.laplacian(model, x, weights=c, engine=engine), expected)
    diagonal = wrt.laplacian(model, x, weights=[1.0, 0.0, 3.0], engine="taylor")
    h = wrt.hessian(model, x)
    _close(diagonal, h[:, 0, 0] + 3 * h[:, 2, 2])


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, 2.0], r"shape \(2,\).*3 inputs"),
        ([[1.0, 2.0, 0], [0, 1, 0], [0, 0, 1]], "not symmetric"),
        ([1.0, math.nan, 1.0], "NaN"),
    ],
)
def test_bad_weights_are_refused(weights, message):
    model = wrt.wrap(_mlp(3))
    with pytest.raises(wrt.DataError, match=message):
        wrt.laplacian(model, torch.zeros(2, 3, dtype=torch.float64), weights=weights)


def test_auto_takes_the_forward_laplacian_for_many_inputs(monkeypatch):
    calls = []
    original = wrt.TaylorEngine.weighted_trace

    def spy(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(wrt.TaylorEngine, "weighted_trace", spy)
    x = torch.randn(4, 5, dtype=torch.float64)
    wrt.laplacian(wrt.wrap(_mlp(5)), x)
    assert calls  # five inputs: forward Laplacian
    calls.clear()
    wrt.laplacian(wrt.wrap(_mlp(2)), x[:, :2])
    assert not calls  # two inputs: reverse mode is cheaper


def test_forward_laplacian_is_differentiable_in_the_parameters():
    net = _mlp(3)
    model = wrt.wrap(net)
    x = torch.randn(5, 3, dtype=torch.float64)
    grads = {}
    for engine in ("taylor", "autograd"):
        net.zero_grad()
        wrt.laplacian(model, x, engine=engine, differentiable=True).pow(
            2
        ).sum().backward()
        grads[engine] = [p.grad.clone() for p in list(net.parameters())[:-1]]
    for a, b in zip(grads["taylor"], grads["autograd"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    model = wrt.wrap(lambda z: (z**3).sum(1) + torch.sin(z).sum(1), inputs=list("abcd"))
    x = torch.randn(7, 4, dtype=torch.float64)
    estimate = wrt.laplacian_estimate(model, x, samples=3, seed=1)
    _close(estimate.estimate, wrt.laplacian(model, x))
    assert float(estimate.std_error.abs().max()) < 1e-12
    assert estimate.samples == 3


def test_hutchinson_is_unbiased_within_its_standard_error():
    model = wrt.wrap(_mlp(6, widths=(16,)))
    x = torch.randn(50, 6, dtype=torch.float64)
    exact = wrt.laplacian(model, x)
    result = wrt.laplacian_estimate(model, x, samples=64, seed=3)
    z = (result.estimate - exact) / result.std_error
    assert float(z.abs().max()) < 5.0
    assert float(z.abs().mean()) < 1.5
    again = wrt.laplacian_estimate(model, x, samples=64, seed=3, chunk_size=7)
    torch.testing.assert_close(again.estimate, result.estimate)  # same vectors


def test_hutchinson_falls_back_to_autograd_with_a_warning():
    # lgamma has no Taylor rule; autograd differentiates it (bessel_j0, used here
    # before, has no derivative in torch at all: both sides were zero).
    model = wrt.wrap(
        lambda z: torch.lgamma(z).sum(1) + (z**2).sum(1), inputs=["a", "b"]
    )
    x = torch.rand(5, 2, dtype=torch.float64)
    with pytest.warns(wrt.FallbackWarning, match="lgamma"):
        result = wrt.laplacian_estimate(model, x, samples=8)
    expected = (torch.polygamma(1, x) + 2).sum(1)  # the Hessian is diagonal: exact
    _close(result.estimate, expected)


def test_flat_graph_is_reused_and_follows_in_place_updates():
    net = _mlp(2)
    model = wrt.wrap(net)
    x = torch.randn(8, 2, dtype=torch.float64)
    spec = "d4y/dx1^2dx2^2"
    for _ in range(3):  # interpreted, then traced flat, then the flat graph again
        got = wrt.partials(model, x, spec, engine="taylor")[spec]
    _close(got, wrt.partials(model, x, spec, engine="autograd")[spec])
    assert any(callable(v) for v in model.cache.flats.values())
    with torch.no_grad():
        net[0].weight.mul_(1.5)
    got = wrt.partials(model, x, spec, engine="taylor")[spec]
    _close(got, wrt.partials(model, x, spec, engine="autograd")[spec])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_in=st.integers(2, 4),
    activation=st.sampled_from([torch.nn.Tanh, torch.nn.Sigmoid, torch.nn.SiLU]),
    powers=st.lists(st.integers(0, 3), min_size=4, max_size=4),
)
def test_random_mixed_partials_and_laplacians_agree(seed, n_in, activation, powers):
    model = wrt.wrap(_mlp(n_in, widths=(6, 4), activation=activation, seed=seed))
    names = model.inputs
    orders = [(names[i], p) for i, p in enumerate(powers[:n_in]) if p]
    x = torch.randn(5, n_in, dtype=torch.float64)
    if orders:
        spec = wrt.Partial("y", orders)
        got = wrt.partials(model, x, [spec], engine="taylor")[spec]
        _close(got, wrt.partials(model, x, [spec], engine="autograd")[spec])
    _close(
        wrt.laplacian(model, x, engine="taylor"),
        wrt.laplacian(model, x, engine="autograd"),
    )


def test_compiled_engine_matches_and_reports_its_compile_time():
    model = wrt.wrap(_mlp(2, widths=(4,)))
    x = torch.randn(6, 2, dtype=torch.float64)
    engine = wrt.TaylorEngine(compile=True)
    got = wrt.partials(model, x, "d4y/dx1^4", engine=engine)["d4y/dx1^4"]
    expected = wrt.partials(model, x, "d4y/dx1^4", engine="autograd")["d4y/dx1^4"]
    _close(got, expected)
    assert engine.compile_seconds > 0
