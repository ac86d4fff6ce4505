"""The autograd engine's own contract: reuse, exact zeros, differentiability."""

import numpy as np
import pytest
import torch

import wrt
from models import mlp
from wrt.errors import UnsupportedOpError


@pytest.fixture
def count_backward(monkeypatch):
    calls = []
    real = torch.autograd.grad

    def counting(*args, **kwargs):
        calls.append(kwargs.get("create_graph", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counting)
    return calls


def test_lower_orders_are_reused(count_backward):
    m = wrt.wrap(mlp(2, 1))
    count_backward.clear()  # wrap's own probe takes one gradient
    x = torch.randn(16, 2, dtype=torch.float64)
    wrt.partials(m, x, ["d3y/dx1^2dx2"])
    alone = len(count_backward)
    count_backward.clear()
    wrt.partials(m, x, ["dy/dx1", "d2y/dx1^2", "d3y/dx1^2dx2"])
    assert len(count_backward) == alone == 3


def test_hessian_costs_one_pass_per_row_plus_one(count_backward):
    m = wrt.wrap(mlp(3, 1))
    count_backward.clear()  # wrap's own probe takes one gradient
    wrt.hessian(m, torch.randn(4, 3, dtype=torch.float64))
    assert len(count_backward) == 1 + 3
    # only the first pass keeps its graph: the second-order leaves are not reused
    assert count_backward == [True, False, False, False]


def test_input_the_output_ignores_gives_exact_zeros():
    # seed 002: a derivative with respect to a slice came back as None
    with pytest.warns(wrt.errors.IgnoredInputWarning, match="Input.*t "):
        m = wrt.wrap(lambda x: torch.sin(x[:, 0]) * 2.0, inputs=["x", "t"])
    x = torch.randn(5, 2, dtype=torch.float64)
    P = wrt.partials(m, x, ["dy/dt", "d2y/dt^2", "d2y/dxdt", "d3y/dx^3"])
    for spec in ["dy/dt", "d2y/dt^2", "d2y/dxdt"]:
        assert P[spec].shape == (5,) and torch.equal(P[spec], torch.zeros(5).double())
    torch.testing.assert_close(P["d3y/dx^3"], -2.0 * torch.cos(x[:, 0]))


def test_linear_model_has_zero_second_derivatives():
    m = wrt.wrap(torch.nn.Linear(2, 1).double())
    P = wrt.partials(
        m, torch.randn(3, 2, dtype=torch.float64), ["d2y/dx1dx2", "d4y/dx1^4"]
    )
    assert all(torch.equal(v, torch.zeros(3).double()) for v in P.values())


def test_results_are_detached_unless_asked():
    net = mlp(2, 1)
    m = wrt.wrap(net)
    x = torch.randn(4, 2, dtype=torch.float64)
    assert not wrt.partials(m, x, "d2y/dx1^2")["d2y/dx1^2"].requires_grad
    value = wrt.partials(m, x, "d2y/dx1^2", differentiable=True)["d2y/dx1^2"]
    assert value.requires_grad
    value.pow(2).mean().backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0


def test_multi_output_columns_are_separate():
    m = wrt.wrap(
        lambda x: torch.stack([x[:, 0] ** 2, x[:, 0] * x[:, 1]], 1), inputs="a,b"
    )
    x = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    P = wrt.partials(m, x, ["dy1/da", "dy2/da", "dy2/db", "d2y1/da^2", "y2"])
    assert [P[s].item() for s in ["dy1/da", "dy2/da", "dy2/db", "d2y1/da^2", "y2"]] == [
        4.0,
        3.0,
        2.0,
        2.0,
        6.0,
    ]


def test_lazy_zero_derivatives_are_ordinary_tensors():
    # d2|x|/dx2 comes back from autograd as a lazy "zero tensor" numpy cannot read
    m = wrt.wrap(torch.abs, inputs=["x"])
    P = wrt.partials(
        m, torch.randn(3, 1, dtype=torch.float64), ["d2y/dx^2", "d3y/dx^3"]
    )
    assert P.to_frame()["d2y/dx^2"].tolist() == [0.0, 0.0, 0.0]


class _Encoder(torch.nn.Module):
    """A transformer encoder layer on 3 tokens of 2 features (6 input columns)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Linear(2, 8)
        self.layer = torch.nn.TransformerEncoderLayer(
            8, 2, dim_feedforward=16, dropout=0.0, batch_first=True
        )
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x.view(-1, 3, 2))
        return self.head(self.layer(tokens).mean(1))


def test_attention_has_second_partials_equal_to_differences_of_the_first():
    # torch's fused CPU attention kernel has no double backward; the engine runs
    # the math kernel, the same function, for derivatives of order >= 2.
    names = [f"x{i}" for i in range(1, 7)]
    model = wrt.wrap(_Encoder(), inputs=names, dtype="float64")
    x = np.random.default_rng(0).uniform(-1, 1, (5, 6))
    second = np.asarray(wrt.partials(model, x, ["d2y/dx1dx4"])["d2y/dx1dx4"])
    h = 1e-5
    up, down = x.copy(), x.copy()
    up[:, 3] += h
    down[:, 3] -= h
    first = [
        np.asarray(wrt.partials(model, p, ["dy/dx1"])["dy/dx1"]) for p in (up, down)
    ]
    difference = (first[0] - first[1]) / (2 * h)
    np.testing.assert_allclose(second, difference, rtol=1e-6, atol=1e-9)
    hessian = np.asarray(wrt.hessian(model, x))
    np.testing.assert_allclose(hessian, np.swapaxes(hessian, -1, -2), atol=1e-12)


class _FlashOnly(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x.view(-1, 1, 2, 2)
        out = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, q, q)[0]
        return out.sum((1, 2, 3))[:, None]


def test_an_op_without_a_second_derivative_is_named_with_what_to_do():
    model = wrt.wrap(_FlashOnly(), inputs=["a", "b", "c", "d"], dtype="float64")
    x = np.random.default_rng(1).uniform(-1, 1, (4, 4))
    assert np.isfinite(np.asarray(wrt.grad(model, x))).all()
    with pytest.raises(UnsupportedOpError, match=r"flash_attention.*finite_diff"):
        wrt.partials(model, x, ["d2y/dada"], engine="autograd")
    by_differences = wrt.partials(model, x, ["d2y/dada"], engine="finite_diff")
    assert np.isfinite(np.asarray(by_differences["d2y/dada"])).all()
