"""The Taylor engine: every rule against autograd, auto's choice, fallback, training."""

import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

import wrt
from tolerances import assert_engines_agree
from wrt.engines.taylor.algebra import TRACE, Algebra

ORDER = 4
SPECS = [
    "y", "dy/dx", "dy/dt", "d2y/dx^2", "d2y/dxdt", "d3y/dx^2dt", "d4y/dx^4",
    "d4y/dx^2dt^2", "d4y/dt^4",
]  # fmt: skip

# One small function per family of rules; each is compared with nested autograd.
# Inputs: x in column 0, t in column 1, both in (0.2, 1.2) (log, sqrt, pow domains).
RULE_CASES = {
    "add_sub_mul_div": lambda z: (z[:, 0] + 2 * z[:, 1]) * (z[:, 0] - z[:, 1]) / (1 + z[:, 1]),
    "rsub_neg": lambda z: 1 - (-z[:, 0]) * z[:, 1],
    "pow_sqrt_rsqrt": lambda z: z[:, 0] ** 2.5 + torch.sqrt(z[:, 1]) + torch.rsqrt(z[:, 0]),
    "reciprocal_square": lambda z: torch.reciprocal(z[:, 0] + z[:, 1]) + torch.square(z[:, 1]),
    "const_pow_series": lambda z: 2.0 ** z[:, 0] + z[:, 0] ** z[:, 1],
    "exp_log": lambda z: torch.exp(z[:, 0] * z[:, 1]) + torch.log(z[:, 0] + 2 * z[:, 1]),
    "log1p_expm1": lambda z: torch.log1p(z[:, 0]) * torch.expm1(z[:, 1]),
    "sin_cos": lambda z: torch.sin(3 * z[:, 0]) * torch.cos(z[:, 1] * z[:, 0]),
    "tanh_sigmoid": lambda z: torch.tanh(z[:, 0] - z[:, 1]) + torch.sigmoid(2 * z[:, 1] * z[:, 0]),
    "softplus_silu": lambda z: F.softplus(z[:, 0] - z[:, 1], beta=2.0) + F.silu(z[:, 1] * 3),
    "gelu_erf": lambda z: F.gelu(z[:, 0] - z[:, 1]) + F.gelu(z[:, 1], approximate="tanh")
    + torch.erf(z[:, 0]),
    "elu": lambda z: F.elu(z[:, 0] - 0.7, alpha=0.5) * z[:, 1],
    "piecewise_linear": lambda z: F.relu(z[:, 0] - 0.6) + F.leaky_relu(z[:, 1] - 0.6, 0.1)
    + torch.abs(z[:, 0] - 0.5) + torch.clamp(z[:, 1], 0.3, 0.9) * z[:, 0],
    "linear_layers": torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1)),
    "shapes": lambda z: torch.cat([z, z[:, :1] ** 2], 1).reshape(-1, 3).unsqueeze(1)
    .permute(0, 2, 1).squeeze(2).sum(1) * z.mean(1),
    "split_stack_where": lambda z: torch.stack(z.split(1, 1), 0).prod(0).squeeze(1)
    + torch.where(z[:, 0] > 0.7, z[:, 1] ** 2, z[:, 1]),
    "index_max_min_norm": lambda z: torch.maximum(z[:, [1, 0]], z * 0.9).sum(1)
    + torch.minimum(z[:, 0], z[:, 1]) + torch.linalg.vector_norm(z, dim=1),
    "matmul_bmm": lambda z: (z.unsqueeze(1) @ torch.ones(2, 3, dtype=z.dtype)).tanh()
    .sum((1, 2)),
    "conv_layernorm_softmax": torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 2)), torch.nn.Conv1d(1, 3, 2, padding=1),
        torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.LayerNorm(9),
        torch.nn.Linear(9, 4), torch.nn.Softmax(-1), torch.nn.Linear(4, 1)),
    "default_dims": lambda z: torch.stack(z.T.unbind(), 1).prod(1)
    + sum(c.sum(0) for c in (z * z).T.chunk(2)) + z.T.split(1)[0].squeeze(0),
    "group_norm": torch.nn.Sequential(
        torch.nn.Linear(2, 4), torch.nn.GroupNorm(2, 4), torch.nn.Tanh(),
        torch.nn.Linear(4, 1)),
    "conv2d_log_softmax": lambda z: torch.log_softmax(
        torch.nn.functional.conv2d(
            (z[:, :, None, None] * z[:, None, :, None]).tanh(),
            torch.linspace(-1, 1, 12, dtype=z.dtype).reshape(3, 2, 2, 1),
            torch.tensor([0.1, -0.2, 0.3], dtype=z.dtype), padding=(1, 0)),
        dim=1).sum((1, 2, 3)),
}  # fmt: skip


def _points(n=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return 0.2 + torch.rand(n, 2, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(RULE_CASES))
def test_rule_matches_autograd(name):
    fn = RULE_CASES[name]
    module = fn.double() if isinstance(fn, torch.nn.Module) else fn
    model = wrt.wrap(module, inputs=["x", "t"])
    assert_engines_agree(model, _points(), SPECS, engine="taylor")


def test_algebra_keeps_the_downward_closure_only():
    algebra = Algebra.closure(3, [(2, 0, 1), (0, 1, 0)])
    assert set(algebra.entries) == {
        (0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 0, 1), (1, 0, 1), (2, 0, 1), (0, 1, 0)
    }  # fmt: skip
    assert algebra.entries[0] == (0, 0, 0) and algebra.order == 3
    # the product's terms: every split of each entry into two non-constant parts
    position = algebra.position
    splits = {
        (algebra.entries[t], algebra.entries[lf], algebra.entries[r])
        for t, lf, r, _ in algebra.cross_terms()
    }
    assert ((2, 0, 1), (1, 0, 0), (1, 0, 1)) in splits
    assert ((2, 0, 1), (2, 0, 0), (0, 0, 1)) in splits
    symmetric = algebra.cross_terms(symmetric=True)
    assert (
        position((2, 0, 0)),
        position((1, 0, 0)),
        position((1, 0, 0)),
        1.0,
    ) in symmetric
    assert len(symmetric) < len(algebra.cross_terms())


def test_trace_entry_collapses_the_pure_second_entries():
    algebra = Algebra.closure(3, [], trace_weights=[1.0, 0.0, 2.0])
    assert algebra.entries[-1] == TRACE and len(algebra) == 5  # 1 + 3 + trace
    terms = algebra.cross_terms()
    assert sorted(w for *_, w in terms) == [1.0, 2.0]  # the zero weight is dropped
    assert all(lf == r for _, lf, r, _ in terms)


def test_auto_picks_taylor_for_high_order_along_few_directions(model2):
    x = torch.randn(5, 2, dtype=torch.float64)
    assert wrt.partials(model2, x, "d4y/dx1^4").engine == "taylor"
    assert wrt.partials(model2, x, ["dy/dx1", "d2y/dx1dx2"]).engine == "autograd"
    assert wrt.partials(model2, x, "d3y/dx1^2dx2").engine == "autograd"


def test_auto_falls_back_with_a_warning_naming_the_op():
    model = wrt.wrap(lambda z: torch.lgamma(z).sum(1), inputs=["x", "t"])
    x = _points()
    with pytest.warns(wrt.FallbackWarning, match="lgamma"):
        result = wrt.partials(model, x, "d4y/dx^4")
    assert result.engine == "autograd"
    with pytest.raises(wrt.EngineError, match="no Taylor rule for aten.lgamma"):
        wrt.partials(model, x, "d4y/dx^4", engine="taylor")


def test_results_stay_differentiable_in_the_parameters():
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)
    )
    model = wrt.wrap(net.double(), inputs=["x", "t"])
    x = _points()
    for engine in ("taylor", "autograd"):
        net.zero_grad()
        value = wrt.partials(model, x, "d3y/dx^3", engine=engine, differentiable=True)
        value["d3y/dx^3"].pow(2).mean().backward()
        # the output bias does not reach a derivative: no gradient, or a zero one
        grads = [
            p.grad.clone() if p.grad is not None else None for p in net.parameters()
        ]
        if engine == "taylor":
            taylor_grads = grads
    assert taylor_grads[3] is None or not taylor_grads[3].any()
    for a, b in zip(taylor_grads[:3], grads[:3], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_traces_are_reused_and_follow_weight_updates():
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
    )
    model = wrt.wrap(net.double(), inputs=["x", "t"])
    x = _points()
    first = wrt.partials(model, x, "d3y/dx^3", engine="taylor")["d3y/dx^3"]
    traced = len(model.cache.graphs)
    with torch.no_grad():
        net[0].weight.mul_(2.0)  # an in-place training step
    second = wrt.partials(model, x, "d3y/dx^3", engine="taylor")["d3y/dx^3"]
    expected = wrt.partials(model, x, "d3y/dx^3", engine="autograd")["d3y/dx^3"]
    assert len(model.cache.graphs) == traced  # no new trace
    assert not torch.equal(first, second)
    torch.testing.assert_close(second, expected, rtol=1e-10, atol=1e-12)


ACTIVATIONS = [
    torch.nn.Tanh,
    torch.nn.Sigmoid,
    torch.nn.Softplus,
    torch.nn.SiLU,
    torch.nn.GELU,
    torch.nn.ELU,
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_in=st.integers(1, 3),
    depth=st.integers(1, 3),
    width=st.integers(2, 10),
    activation=st.sampled_from(ACTIVATIONS),
)
def test_random_mlps_agree_with_autograd(seed, n_in, depth, width, activation):
    torch.manual_seed(seed)
    layers, size = [], n_in
    for _ in range(depth):
        layers += [torch.nn.Linear(size, width), activation()]
        size = width
    net = torch.nn.Sequential(*layers, torch.nn.Linear(size, 1)).double()
    model = wrt.wrap(net)
    names = model.inputs
    specs = [f"d{ORDER}y/d{names[0]}^{ORDER}", f"d3y/d{names[-1]}^3"]
    if n_in > 1:
        specs.append(f"d4y/d{names[0]}^2d{names[1]}d{names[-1]}")
    x = torch.randn(6, n_in, dtype=torch.float64)
    assert_engines_agree(model, x, specs, engine="taylor")


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    "name",
    [
        "tanh_mlp.keras",
        "two_inputs.h5",
        "onnx_pinn.onnx",
        "onnx_acts.onnx",
        "sklearn_mlp.npz",
    ],
)
def test_imported_models_go_through_taylor(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wrt.WrtWarning)
        model = wrt.load(FIXTURES / name, dtype="float64")
    x = torch.rand(7, model.n_inputs, dtype=torch.float64)
    first = model.inputs[0]
    out = model.outputs[0]
    specs = [f"d4{out}/d{first}^4", f"d2{out}/d{first}^2"]
    assert_engines_agree(model, x, specs, engine="taylor")
