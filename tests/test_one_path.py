"""One derivative path: operators against closed forms, one engine choice, no state.

Every operator of a request (weighted trace, directional derivative of any order,
Hutchinson estimate) is checked in float64 against the zoo's closed forms on both
exact engines; a spy engine shows that every public feature computes through the
engine it is given; every fallback warns; nothing is stored on the user's module or
model; ``dtype="float64"`` reuses one converted copy that follows in-place updates.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch

import wrt
import zoo
from models import mlp
from tolerances import AUTOGRAD, FINITE_DIFF, assert_partial_close
from wrt.checks.run import directional_derivative as check_directional
from wrt.engines.autograd import AutogradEngine
from wrt.engines.base import Directional, Hutchinson, WeightedTrace, rademacher
from wrt.engines.finite_diff import FiniteDiffEngine

ENGINES = ("autograd", "taylor")
CASES = [c for c in zoo.CASES]


def _multi_indices(n: int, k: int):
    """Every alpha in N^n with |alpha| = k."""
    for combo in itertools.combinations_with_replacement(range(n), k):
        alpha = [0] * n
        for i in combo:
            alpha[i] += 1
        yield tuple(alpha)


def _closed_directional(case, x: np.ndarray, out: int, v: np.ndarray, k: int):
    """sum over |alpha| = k of k!/alpha! v^alpha d^alpha y (v per point or shared)."""
    v = np.broadcast_to(v, x.shape)
    total = np.zeros(x.shape[0])
    for alpha in _multi_indices(x.shape[1], k):
        coefficient = math.factorial(k) / math.prod(math.factorial(a) for a in alpha)
        power = np.prod(v ** np.asarray(alpha), axis=1)
        total += coefficient * power * case.partial(x, out, alpha)
    return total


def _closed_hessian(case, x: np.ndarray, out: int) -> np.ndarray:
    n = x.shape[1]
    h = np.zeros((x.shape[0], n, n))
    for i in range(n):
        for j in range(i, n):
            alpha = [0] * n
            alpha[i] += 1
            alpha[j] += 1
            h[:, i, j] = h[:, j, i] = case.partial(x, out, tuple(alpha))
    return h


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_directional_derivatives_of_every_order_match_closed_forms(case, engine):
    model = wrt.wrap(case.module, inputs=case.inputs, outputs=case.outputs)
    x = case.points[:12]
    rng = np.random.default_rng(1)
    shared = rng.normal(size=x.shape[1])
    per_point = rng.normal(size=x.shape)
    for out, name in enumerate(case.outputs):
        for k in (1, 2, 3, 4):
            for v in (shared, per_point):
                got = wrt.directional_derivative(
                    model, torch.tensor(x), torch.tensor(v), order=k, output=name,
                    engine=engine, chunk_size=5,
                )  # fmt: skip
                assert_partial_close(
                    got,
                    _closed_directional(case, x, out, v, k),
                    **AUTOGRAD,
                    what=f"{case.name} D^{k}{name} ({engine}, v {v.shape})",
                )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_traces_and_estimates_match_closed_forms(case, engine):
    model = wrt.wrap(case.module, inputs=case.inputs, outputs=case.outputs)
    x = case.points[:10]
    n = x.shape[1]
    rng = np.random.default_rng(2)
    c = rng.normal(size=(n, n))
    c = (c + c.T) / 2
    for out, name in enumerate(case.outputs):
        h = _closed_hessian(case, x, out)
        lap = wrt.laplacian(model, torch.tensor(x), output=name, engine=engine)
        assert_partial_close(
            lap, np.trace(h, axis1=1, axis2=2), **AUTOGRAD, what=f"{case.name} lap"
        )
        weighted = wrt.laplacian(
            model, torch.tensor(x), output=name, weights=c, engine=engine, chunk_size=3
        )
        assert_partial_close(
            weighted, (h * c).sum((1, 2)), **AUTOGRAD, what=f"{case.name} C:H"
        )
        est = wrt.laplacian_estimate(
            model, torch.tensor(x), output=name, samples=5, seed=7, engine=engine
        )
        v = rademacher(
            Hutchinson(name, tuple(range(n)), 5, 7), n, torch.float64, "cpu"
        ).numpy()
        quadratic = np.einsum("si,nij,sj->sn", v, h, v)
        assert_partial_close(
            est.estimate, quadratic.mean(0), **AUTOGRAD, what=f"{case.name} hutch"
        )
        assert_partial_close(
            est.std_error,
            quadratic.std(0, ddof=1) / math.sqrt(5),
            **AUTOGRAD,
            what=f"{case.name} hutchinson std error",
        )


class _LayerNormNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.a = torch.nn.Linear(3, 6)
        self.norm = torch.nn.LayerNorm(6)
        self.b = torch.nn.Linear(6, 1)

    def forward(self, x):
        return self.b(torch.tanh(self.norm(self.a(x))))


def _fd_along(net, x: torch.Tensor, v: torch.Tensor, k: int) -> tuple[float, float]:
    """k-th derivative of t -> net(x + t v) at 0 by wrt's Richardson differences."""
    line = wrt.wrap(lambda t: net(x + t * v), inputs=["t"])
    engine = FiniteDiffEngine(scale=torch.tensor([0.2], dtype=torch.float64))
    spec = f"d{k}y/dt^{k}" if k > 1 else "dy/dt"
    p = wrt.partials(line, torch.zeros(1, 1, dtype=torch.float64), spec, engine=engine)
    return float(p[spec][0]), float(p.errors[spec][0])


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_the_checks_directional_derivative_is_exact_through_a_layer_norm(order):
    net = _LayerNormNet().double()
    model = wrt.wrap(net)
    x = torch.randn(
        4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    v = torch.nn.functional.normalize(torch.randn(4, 3, dtype=torch.float64), dim=1)
    got = check_directional(model, x, v, order, "y")
    for engine in ENGINES:
        torch.testing.assert_close(
            wrt.directional_derivative(model, x, v, order=order, engine=engine),
            got,
            rtol=1e-10,
            atol=1e-12,
        )
    for i in range(4):
        reference, error = _fd_along(net, x[i], v[i], order)
        assert abs(float(got[i]) - reference) <= 10 * error + FINITE_DIFF["rtol"] * max(
            1.0, abs(reference)
        ), (i, float(got[i]), reference, error)


def test_nested_autograd_through_the_fused_layer_norm_is_what_went_wrong():
    """The failure the path closes: torch's fused kernel is wrong at order 3."""
    net = _LayerNormNet().double()
    x = torch.randn(
        3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    v = torch.tensor([0.6, -0.8, 0.0], dtype=torch.float64)
    points = x.clone().requires_grad_(True)
    g = net(points)[:, 0]
    for j in range(3):
        (grad,) = torch.autograd.grad(g.sum(), points, create_graph=j < 2)
        g = (grad * v).sum(1)
    exact = wrt.directional_derivative(wrt.wrap(net), x, v, order=3)
    assert not torch.allclose(g.detach(), exact, rtol=1e-3)


class SpyEngine(AutogradEngine):
    """Autograd, recording every request it computes."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list = []

    def compute(self, model, x, request):
        self.seen.append(request)
        return super().compute(model, x, request)


def _kinds(spy: SpyEngine) -> set[str]:
    kinds = set()
    for request in spy.seen:
        if request.partials:
            kinds.add("partials")
        kinds.update(type(op).__name__ for op in request.operators)
    return kinds


def test_every_feature_computes_through_the_engine_it_is_given():
    model = wrt.wrap(mlp(2, 1))
    x = torch.rand(20, 2, dtype=torch.float64)
    cases = {
        "partials": lambda e: wrt.partials(model, x, "d2y/dx1dx2", engine=e),
        "grad": lambda e: wrt.grad(model, x, engine=e),
        "hessian": lambda e: wrt.hessian(model, x, engine=e),
        "jacobian": lambda e: wrt.jacobian(model, x, engine=e),
        "laplacian": lambda e: wrt.laplacian(model, x, engine=e),
        "estimate": lambda e: wrt.laplacian_estimate(model, x, samples=4, engine=e),
        "directional": lambda e: wrt.directional_derivative(
            model, x, [1.0, 2.0], order=3, engine=e
        ),
        "sensitivity": lambda e: wrt.sensitivity(model, x, order=2, engine=e),
    }
    expected = {
        "laplacian": {"WeightedTrace"},
        "estimate": {"Hutchinson"},
        "directional": {"Directional"},
    }
    for name, call in cases.items():
        spy = SpyEngine()
        call(spy)
        assert _kinds(spy) == expected.get(name, {"partials"}), name


def test_the_check_computes_its_directional_derivative_through_the_engine():
    model = wrt.wrap(lambda z: z[:, 0] + 2 * z[:, 1] + z[:, 0] ** 3, inputs=["a", "b"])
    line = torch.linspace(0, 1, 40, dtype=torch.float64)[:, None] * torch.tensor(
        [[1.0, 1.5]], dtype=torch.float64
    )
    spy = SpyEngine()
    report = wrt.check(model, line, data=line, engine=spy, verify=False)
    assert report.by_code("not-identifiable")
    directional = [
        op for r in spy.seen for op in r.operators if isinstance(op, Directional)
    ]
    assert directional and all(op.per_point for op in directional)
    for finding in report.by_code("not-identifiable"):
        u = finding.details["directions"]  # (N, 2), unit, per point
        expected = (1 + 3 * line[:, 0] ** 2) * u[:, 0] + 2 * u[:, 1]
        torch.testing.assert_close(finding.directional_derivative, expected)


class _NoRule(torch.nn.Module):
    """A smooth model with an operation the Taylor engine has no rule for."""

    def forward(self, z):
        return torch.lgamma(z).sum(1) + (z**3).sum(1)


def test_every_fallback_says_so():
    model = wrt.wrap(_NoRule(), inputs=["a", "b", "c"])
    x = torch.rand(6, 3, dtype=torch.float64)
    calls = {
        "laplacian": lambda: wrt.laplacian(model, x),
        "weighted": lambda: wrt.laplacian(model, x, weights=[1.0, 2.0, 3.0]),
        "estimate": lambda: wrt.laplacian_estimate(model, x, samples=4),
        "directional": lambda: wrt.directional_derivative(
            model, x, [1.0, 0.0, 1.0], order=4
        ),
        "partials": lambda: wrt.partials(model, x, "d4y/da^4"),
    }
    for name, call in calls.items():
        with pytest.warns(wrt.FallbackWarning, match="lgamma") as caught:
            call()
        assert caught[0].filename == __file__, name  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # autograd preferred: no fallback, no warning
        wrt.laplacian(wrt.wrap(_NoRule(), inputs=["a", "b"]), x[:, :2])
        wrt.directional_derivative(model, x, [1.0, 0.0, 1.0], order=2)
    for call in (
        lambda: wrt.laplacian(model, x, engine="taylor"),
        lambda: wrt.laplacian_estimate(model, x, engine="taylor"),
        lambda: wrt.directional_derivative(model, x, [1, 0, 0], engine="taylor"),
    ):
        with pytest.raises(wrt.EngineError, match="lgamma"):
            call()


def test_fallback_results_equal_the_exact_values():
    model = wrt.wrap(_NoRule(), inputs=["a", "b", "c"])
    x = torch.rand(5, 3, dtype=torch.float64)
    with pytest.warns(wrt.FallbackWarning):
        got = wrt.laplacian(model, x)
    expected = (torch.polygamma(1, x) + 6 * x).sum(1)  # lgamma'' = trigamma
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    v = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    with pytest.warns(wrt.FallbackWarning):
        fourth = wrt.directional_derivative(model, x, v, order=4)
    lgamma4 = torch.polygamma(3, x)
    torch.testing.assert_close(fourth, (lgamma4 * v**4).sum(1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("engine", ["auto", "autograd", "taylor"])
def test_no_attribute_is_added_to_the_users_module_or_model(engine):
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.LayerNorm(5), torch.nn.Tanh(),
        torch.nn.Linear(5, 1),
    )  # fmt: skip
    model = wrt.wrap(net)
    x = torch.rand(7, 3)

    def state():
        return (
            set(vars(model)),
            {name: set(vars(m)) for name, m in net.named_modules()},
            {name: p.data_ptr() for name, p in net.named_parameters()},
        )

    before = state()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wrt.PrecisionWarning)
        for _ in range(2):
            wrt.partials(model, x, ["dy/dx1", "d3y/dx1^2dx2"], engine=engine)
            wrt.partials(model, x, ["d2y/dx1^2"], engine=engine, dtype="float64")
            wrt.laplacian(model, x, engine=engine)
            wrt.laplacian_estimate(model, x, samples=3, engine=engine)
            wrt.directional_derivative(model, x, [1, 1, 0], order=3, engine=engine)
            wrt.partials(net, x, "d3y/dx3^3", engine=engine)  # a bare module
    assert state() == before
    assert all(p.dtype == torch.float32 for p in net.parameters())


def test_float64_copy_is_reused_and_follows_in_place_updates():
    net = mlp(2, 1).float()
    model = wrt.wrap(net)
    x = torch.rand(30, 2)
    specs = ["d2y/dx1^2", "d3y/dx1dx2^2"]
    copy = model.converted("float64")
    assert model.converted(torch.float64) is copy  # one copy, not one per call
    first = wrt.partials(model, x, specs, dtype="float64", engine="taylor")
    assert model.converted("float64") is copy

    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    loss = net(x).pow(2).sum()
    loss.backward()
    optimizer.step()  # an in-place training step between two calls

    for engine in ("taylor", "autograd"):
        got = wrt.partials(model, x, specs, dtype="float64", engine=engine)
        fresh = wrt.partials(wrt.wrap(mlp(2, 1).float()), x, specs, dtype="float64")
        reference = wrt.partials(
            wrt.wrap(_float64_copy_of(net)), x.double(), specs, engine="autograd"
        )
        for spec in specs:
            torch.testing.assert_close(got[spec], reference[spec], rtol=1e-10, atol=0)
            assert not torch.equal(got[spec], first[spec])
            assert not torch.equal(got[spec], fresh[spec])
    assert model.converted("float64") is copy  # refreshed in place, not rebuilt

    with torch.no_grad():  # a replaced parameter: the copy is rebuilt
        net[0].weight = torch.nn.Parameter(net[0].weight * 3)
    got = wrt.partials(model, x, specs, dtype="float64")
    reference = wrt.partials(wrt.wrap(_float64_copy_of(net)), x.double(), specs)
    for spec in specs:
        torch.testing.assert_close(got[spec], reference[spec], rtol=1e-10, atol=0)
    assert model.converted("float64") is not copy
    model.clear()
    assert not model.cache.graphs and model.converted("float64") is not copy


def _float64_copy_of(net):
    import copy

    return copy.deepcopy(net).double()


class _Doubled(torch.nn.Module):
    """Uses a value computed from a parameter (not a view of it) in forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(4, 2, dtype=torch.float64))

    def forward(self, x):
        return torch.tanh(x @ (self.w * 2.0).T).sum(1, keepdim=True)


def test_flat_graphs_do_not_keep_stale_values_after_an_in_place_update():
    net = _Doubled()
    model = wrt.wrap(net, inputs=["x1", "x2"])
    x = torch.rand(6, 2, dtype=torch.float64)
    spec = "d3y/dx1^2dx2"
    for _ in range(3):  # interpreted, then flat, then the flat graph again
        wrt.partials(model, x, spec, engine="taylor")
    with torch.no_grad():
        net.w.mul_(-0.7)
    got = wrt.partials(model, x, spec, engine="taylor")[spec]
    expected = wrt.partials(model, x, spec, engine="autograd")[spec]
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_errors_are_keyed_like_the_values():
    model = wrt.wrap(mlp(2, 1))
    x = torch.rand(5, 2, dtype=torch.float64)
    p = wrt.partials(model, x, ["d2y/dx1dx2", "dy/dx1"], engine="finite_diff")
    assert torch.equal(p.errors["d2y/dx2dx1"], p.errors[p.key("d2y/dx1dx2")])
    assert p.errors["dy/dx1"].shape == (5,) and len(p.errors) == 2
    with pytest.raises(KeyError, match="dy/dx2"):
        p.errors["dy/dx2"]
    exact = wrt.partials(model, x, "dy/dx1", engine="autograd")
    assert len(exact.errors) == 0
    with pytest.raises(KeyError, match="finite_diff"):
        exact.errors["dy/dx1"]


def test_per_point_directions_follow_their_points_across_chunks():
    model = wrt.wrap(mlp(3, 1))
    x = torch.rand(23, 3, dtype=torch.float64)
    v = torch.randn(23, 3, dtype=torch.float64)
    whole = wrt.directional_derivative(model, x, v, order=2)
    for size in (1, 4, 7, 100):
        got = wrt.directional_derivative(model, x, v, order=2, chunk_size=size)
        torch.testing.assert_close(got, whole, rtol=1e-12, atol=1e-15)
    one_by_one = torch.stack(
        [wrt.directional_derivative(model, x[i : i + 1], v[i], order=2)[0]
         for i in range(23)]
    )  # fmt: skip
    torch.testing.assert_close(one_by_one, whole, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x, c: wrt.partials(m, x, "dy/dx1", chunk_size=c),
        lambda m, x, c: wrt.grad(m, x, chunk_size=c),
        lambda m, x, c: wrt.hessian(m, x, chunk_size=c),
        lambda m, x, c: wrt.jacobian(m, x, chunk_size=c),
        lambda m, x, c: wrt.laplacian(m, x, chunk_size=c),
        lambda m, x, c: wrt.laplacian_estimate(m, x, chunk_size=c),
        lambda m, x, c: wrt.directional_derivative(m, x, [1, 0], chunk_size=c),
    ],
    ids=["partials", "grad", "hessian", "jacobian", "laplacian", "estimate", "dir"],
)
@pytest.mark.parametrize("size", [0, -1, 2.5, True, "8"])
def test_a_bad_chunk_size_is_refused_everywhere(call, size):
    model = wrt.wrap(mlp(2, 1))
    with pytest.raises(wrt.DataError, match="chunk_size"):
        call(model, torch.rand(4, 2, dtype=torch.float64), size)


def test_engine_objects_state_their_operators():
    request_ops = (
        WeightedTrace("y", (0, 1)),
        Directional("y", torch.ones(2), 3),
        Hutchinson("y", (0, 1), 4),
    )
    from wrt.engines.base import Request

    request = Request((), operators=request_ops)
    assert request.max_order == 3
    assert isinstance(FiniteDiffEngine().supports(wrt.wrap(mlp(2, 1)), request), str)
    with pytest.raises(wrt.EngineError, match="operators"):
        wrt.laplacian(wrt.wrap(mlp(2, 1)), torch.rand(3, 2), engine="finite_diff")


def test_a_check_with_finite_differences_says_how_it_got_the_directional_derivative():
    model = wrt.wrap(lambda z: z[:, 0] + 2 * z[:, 1], inputs=["a", "b"])
    line = torch.linspace(0, 1, 40, dtype=torch.float64)[:, None] * torch.tensor(
        [[1.0, 1.5]], dtype=torch.float64
    )
    with pytest.warns(wrt.FallbackWarning, match="partials only.*engine='auto'"):
        report = wrt.check(model, line, data=line, engine="finite_diff", verify=False)
    (finding, *_) = report.by_code("not-identifiable")
    expected = (1 + 2 * 1.5) / math.sqrt(1 + 1.5**2)
    torch.testing.assert_close(
        finding.directional_derivative,
        torch.full((40,), expected, dtype=torch.float64),
    )


def test_operators_are_differentiable_in_the_parameters_on_both_engines():
    net = mlp(3, 1)
    model = wrt.wrap(net)
    x = torch.rand(6, 3, dtype=torch.float64)
    v = torch.randn(6, 3, dtype=torch.float64)
    calls = {
        "directional": lambda e: wrt.directional_derivative(
            model, x, v, order=3, engine=e, differentiable=True
        ),
        "estimate": lambda e: wrt.laplacian_estimate(
            model, x, samples=3, engine=e, differentiable=True
        ).estimate,
        "weighted": lambda e: wrt.laplacian(
            model, x, weights=[[1.0, 0.3, 0], [0.3, 2.0, 0], [0, 0, 0.5]], engine=e,
            differentiable=True,
        ),
    }  # fmt: skip
    for name, call in calls.items():
        grads = {}
        for engine in ENGINES:
            net.zero_grad()
            call(engine).pow(2).sum().backward()
            grads[engine] = [
                torch.zeros_like(p) if p.grad is None else p.grad.clone()
                for p in net.parameters()
            ]
        for a, b in zip(grads["taylor"], grads["autograd"], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=name)


def test_auto_chooses_by_one_cost_model():
    from wrt.engines.base import Request
    from wrt.engines.choose import resolve

    model = wrt.wrap(mlp(4, 1))
    v = torch.ones(4, dtype=torch.float64)

    def picked(*ops):
        return resolve("auto", model, Request((), operators=ops)).name

    assert picked(Directional("y", v, 1)) == "autograd"
    assert picked(Directional("y", v, 2)) == "autograd"
    assert picked(Directional("y", v, 3)) == "taylor"
    assert picked(WeightedTrace("y", (0, 1))) == "autograd"
    assert picked(WeightedTrace("y", (0, 1, 2))) == "taylor"
    assert picked(Hutchinson("y", (0, 1), 4)) == "taylor"
    assert wrt.partials(model, torch.rand(2, 4), "d4y/dx1^4").engine == "taylor"
    assert wrt.partials(model, torch.rand(2, 4), "d2y/dx1dx2").engine == "autograd"


def test_over_may_be_one_name():
    model = wrt.wrap(mlp(2, 1))
    x = torch.rand(5, 2, dtype=torch.float64)
    torch.testing.assert_close(
        wrt.laplacian(model, x, over="x2"), wrt.hessian(model, x)[:, 1, 1]
    )


def test_finite_difference_errors_are_joined_across_chunks():
    model = wrt.wrap(mlp(2, 1))
    x = torch.rand(9, 2, dtype=torch.float64)
    engine = FiniteDiffEngine(scale=torch.tensor([0.3, 0.3], dtype=torch.float64))
    whole = wrt.partials(model, x, ["dy/dx1", "d2y/dx2^2"], engine=engine)
    parts = wrt.partials(model, x, ["dy/dx1", "d2y/dx2^2"], engine=engine, chunk_size=2)
    for spec in ("dy/dx1", "d2y/dx2^2"):
        torch.testing.assert_close(parts[spec], whole[spec], rtol=1e-12, atol=0)
        # The error estimates include the rounding noise observed in the model's
        # values, and a batch of one rounds differently (BLAS gemv vs gemm): equal
        # in size, not bit for bit (measured: within 2%).
        torch.testing.assert_close(
            parts.errors[spec], whole.errors[spec], rtol=0.1, atol=1e-18
        )
        assert (whole.errors[spec] > 0).all()


def test_float64_copy_follows_in_place_buffer_updates():
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(),
        torch.nn.Linear(4, 1),
    ).float()  # fmt: skip
    model = wrt.wrap(net)  # eval mode: running statistics are buffers
    x = torch.rand(10, 2)
    first = wrt.partials(model, x, "d2y/dx1^2", dtype="float64")["d2y/dx1^2"]
    copy = model.converted("float64")
    with torch.no_grad():
        net[1].running_var.mul_(4.0)  # an in-place change of a buffer
    got = wrt.partials(model, x, "d2y/dx1^2", dtype="float64")["d2y/dx1^2"]
    reference = wrt.partials(
        wrt.wrap(_float64_copy_of(net).eval()), x.double(), "d2y/dx1^2"
    )["d2y/dx1^2"]
    assert model.converted("float64") is copy
    assert not torch.allclose(got, first)
    torch.testing.assert_close(got, reference, rtol=1e-10, atol=1e-14)


def test_a_function_without_parameters_keeps_one_float64_model():
    model = wrt.wrap(lambda z: torch.sin(z).sum(1), inputs=["a", "b"])
    assert model.converted("float64") is model.converted(torch.float64)
    got = wrt.partials(model, torch.rand(3, 2), "d3y/da^3", dtype="float64")
    assert got["d3y/da^3"].dtype == torch.float64


@pytest.mark.parametrize("engine", ENGINES)
def test_traces_and_estimates_over_a_subset_of_inputs(engine):
    case = next(c for c in zoo.CASES if c.name == "sep5")
    model = wrt.wrap(case.module, inputs=case.inputs, outputs=case.outputs)
    x = case.points[:8]
    h = _closed_hessian(case, x, 0)
    over = ["x2", "x4", "x5"]
    index = [1, 3, 4]
    sub = h[:, index][:, :, index]
    c = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, -0.3], [0.0, -0.3, 0.7]])
    got = wrt.laplacian(model, torch.tensor(x), over=over, weights=c, engine=engine)
    assert_partial_close(got, (sub * c).sum((1, 2)), **AUTOGRAD, what="C:H over")
    est = wrt.laplacian_estimate(
        model, torch.tensor(x), over=over, samples=6, seed=3, engine=engine
    )
    v = rademacher(Hutchinson("y", tuple(index), 6, 3), 5, torch.float64, "cpu")
    vv = v.numpy()[:, index]
    quadratic = np.einsum("si,nij,sj->sn", vv, sub, vv)
    assert_partial_close(est.estimate, quadratic.mean(0), **AUTOGRAD, what="est")
