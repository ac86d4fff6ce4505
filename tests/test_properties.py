"""Properties over random models: symmetry of mixed partials, engine agreement."""

import itertools

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wrt
from tolerances import FINITE_DIFF

ACTIVATIONS = {
    "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid,
    "softplus": torch.nn.Softplus,
    "silu": torch.nn.SiLU,
    "gelu": torch.nn.GELU,
}


def random_mlp(seed: int, n_in: int, width: int, depth: int, activation: str):
    torch.manual_seed(seed)
    layers, size = [], n_in
    for _ in range(depth):
        layers += [torch.nn.Linear(size, width), ACTIVATIONS[activation]()]
        size = width
    layers.append(torch.nn.Linear(size, 1))
    return torch.nn.Sequential(*layers).double()


mlps = st.builds(
    random_mlp,
    seed=st.integers(0, 10_000),
    n_in=st.integers(2, 4),
    width=st.integers(2, 12),
    depth=st.integers(1, 3),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
)
_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class Permuted(torch.nn.Module):
    """The same function with its input columns in another order."""

    def __init__(self, inner: torch.nn.Module, order: list[int]) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("inverse", torch.argsort(torch.tensor(order)))

    def forward(self, x):
        return self.inner(x[:, self.inverse])


@_settings
@given(net=mlps, data=st.data())
def test_mixed_partials_do_not_depend_on_differentiation_order(net, data):
    n = net[0].in_features
    names = [f"x{i}" for i in range(1, n + 1)]
    order = data.draw(st.permutations(list(range(n))))
    powers = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    if sum(powers) == 0:
        powers[0] = 1
    x = torch.randn(6, n, dtype=torch.float64)
    direct = wrt.wrap(net, inputs=names)
    # The permuted model differentiates along the inputs in another sequence.
    permuted = wrt.wrap(Permuted(net, order), inputs=[names[i] for i in order])
    spec = wrt.Partial("y", dict(zip(names, powers, strict=True)))
    a = wrt.partials(direct, x, [spec])[spec]
    b = wrt.partials(permuted, x[:, order], [spec])[spec]
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@_settings
@given(net=mlps, seed=st.integers(0, 1000))
def test_autograd_and_finite_differences_agree(net, seed):
    n = net[0].in_features
    torch.manual_seed(seed)
    x = torch.randn(5, n, dtype=torch.float64)
    specs = [
        wrt.Partial(
            "y", dict.fromkeys(combo, 0) | {name: combo.count(name) for name in combo}
        )
        for k in (1, 2, 3)
        for combo in itertools.combinations_with_replacement(
            [f"x{i}" for i in range(1, n + 1)], k
        )
    ]
    exact = wrt.partials(net, x, specs, engine="autograd")
    fd = wrt.partials(net, x, specs, engine="finite_diff")
    for spec in specs:
        scale = max(1.0, exact[spec].abs().max().item())
        torch.testing.assert_close(
            fd[spec],
            exact[spec],
            rtol=FINITE_DIFF["rtol"],
            atol=FINITE_DIFF["atol"] * scale,
        )
