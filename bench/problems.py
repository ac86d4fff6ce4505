"""The models, points and method records shared by the benchmark and its peers.

Three networks, each with the points it is benchmarked at:

- ``seed``: the seed network, 2 inputs ``x1, x2`` -> tanh layers
  64-64-32-32-16-16-8 -> ``y``, on the seed's line ``x2 = 1.5 x1``.
- ``pinn``: a PINN ``u(x, t)``, 2 inputs -> 4 tanh layers of 50 -> ``u``, at points
  drawn uniformly from the Burgers domain ``[-1, 1] x [0, 1]``.
- ``paper``: the MLP of the collapsed-Taylor-mode paper (the one jet-for-pytorch's
  own Laplacian benchmark uses), 50 inputs -> tanh 768-768-512-512 -> ``y``, at
  points drawn uniformly from ``[0, 1]^50``.

Every network keeps its parameters trainable (``requires_grad``), as a user's
would be; none of the timed methods differentiates with respect to them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

import wrt
from wrt.demo import line_points, seed_network

#: Method kinds. ``torch`` and ``jet`` are the PyTorch peers the targets compare
#: against; ``jax`` runs jit-compiled XLA code, a different league on CPU.
WRT, TORCH, JET, JAX = "wrt", "torch", "jet", "jax"


@dataclass(frozen=True)
class Method:
    """One way of computing a task's result.

    Attributes:
        name: shown in the table.
        kind: ``wrt``, ``torch``, ``jet`` or ``jax``.
        fn: computes the result (a torch tensor, or an array numpy can read);
            everything that can be prepared once (traces, jit) is done before.
        torch_memory: whether the peak-memory probe (torch's CPU allocator) sees
            what ``fn`` allocates; False for JAX.
        slow: ten or more times slower than the fastest way; left out by
            ``--quick``.
    """

    name: str
    kind: str
    fn: Callable[[], Any]
    torch_memory: bool = True
    slow: bool = False


@dataclass
class Problem:
    """A network, its wrt model, the points, and what torch.func needs.

    Attributes:
        key: ``seed``, ``pinn`` or ``paper``.
        net: the network, (N, D) -> (N, 1).
        model: the same network wrapped by wrt, with named inputs and output.
        X: the points, (N, D).
        f: the single-point function ``row (D,) -> scalar`` for torch.func.
        tasks: keys of the tasks this problem is benchmarked on.
    """

    key: str
    net: nn.Module
    model: wrt.Model
    X: torch.Tensor
    f: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    tasks: tuple[str, ...] = ()

    @property
    def inputs(self) -> tuple[str, ...]:
        """The model's input names."""
        return self.model.inputs

    @property
    def output(self) -> str:
        """The model's one output name."""
        return self.model.outputs[0]


def mlp(widths: Sequence[int], init: str | None, seed: int) -> nn.Sequential:
    """A tanh MLP with the given layer widths (first: inputs, last: outputs).

    Args:
        widths: e.g. (2, 50, 50, 50, 50, 1).
        init: ``"glorot_normal"`` (zero biases), or None for torch's default.
        seed: torch seed of the weights.
    """
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        linear = nn.Linear(a, b)
        if init == "glorot_normal":
            nn.init.xavier_normal_(linear.weight)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if k < len(widths) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def make_problem(key: str, n: int, dtype: torch.dtype) -> Problem:
    """The network and points of ``key`` with ``n`` points, in ``dtype``."""
    if key == "seed":
        torch.manual_seed(0)
        X = line_points(n)
        net = seed_network(X.mean(0), X.std(0))
        inputs, output = ("x1", "x2"), "y"
        tasks = ("grad", "hessian", "laplacian", "d3_mixed", "d4", "d5", "set3")
    elif key == "pinn":
        net = mlp((2, 50, 50, 50, 50, 1), "glorot_normal", seed=0)
        gen = torch.Generator().manual_seed(1)
        X = torch.rand(n, 2, generator=gen) * torch.tensor([2.0, 1.0])
        X -= torch.tensor([1.0, 0.0])
        inputs, output = ("x", "t"), "u"
        tasks = ("grad", "hessian", "laplacian", "burgers")
    elif key == "paper":
        net = mlp((50, 768, 768, 512, 512, 1), None, seed=0)
        X = torch.rand(n, 50, generator=torch.Generator().manual_seed(1))
        inputs, output = tuple(f"x{i}" for i in range(1, 51)), "y"
        tasks = ("grad", "laplacian")
    else:
        raise ValueError(f"unknown problem {key!r}")
    net = net.to(dtype).eval()
    X = X.to(dtype)

    def f(row: torch.Tensor) -> torch.Tensor:
        return net(row[None])[0, 0]

    model = wrt.wrap(net, inputs=list(inputs), outputs=[output])
    return Problem(key=key, net=net, model=model, X=X, f=f, tasks=tasks)


DESCRIPTIONS = {
    "seed": "the seed network: 2 inputs (x1, x2), tanh 64-64-32-32-16-16-8, linear "
    "output y (Glorot-uniform init, seed 0); points on the seed's line "
    "`x2 = 1.5 x1`",
    "pinn": "a PINN u(x, t): 2 inputs, 4 tanh layers of 50, linear output "
    "(Glorot-normal init, seed 0); points uniform in [-1, 1] x [0, 1]",
    "paper": "the collapsed-Taylor paper's MLP: 50 inputs, tanh 768-768-512-512, "
    "linear output (torch default init, seed 0); points uniform in [0, 1]^50",
}


# ------------------------------------------- Taylor-mode peers: directions per task


@dataclass(frozen=True)
class Recipe:
    """How a Taylor-mode peer gets a task's result from directional derivatives.

    The peer propagates ``x + t v`` for every direction ``v`` (stacked along the
    batch) up to order ``order`` and gets ``c[k][r]``, the k-th derivative in t along
    direction r, shape (N,). ``combine(c)`` returns the result's columns, in the
    order of the columns of wrt's result (row-major for a Hessian).
    """

    directions: tuple[tuple[int, ...], ...]
    order: int
    combine: Callable[[list[Any]], list[Any]]


def recipe(task: str, n_inputs: int) -> Recipe | None:
    """The directions and combination of ``task``; None if it has none here.

    Mixed partials use polarisation: with ``D^3[a, b]`` the third derivative along
    (a, b), ``D^3[1, 1] - D^3[1, -1] - 2 D^3[0, 1] = 6 d3y/dx1^2dx2``, and
    ``D^2[e_i + e_j] - D^2[e_i] - D^2[e_j] = 2 d2y/dx_i dx_j``.
    """

    def unit(*entries: tuple[int, int]) -> tuple[int, ...]:
        v = [0] * n_inputs
        for i, value in entries:
            v[i] = value
        return tuple(v)

    e1, e2 = unit((0, 1)), unit((1, 1))
    mixed3 = (unit((0, 1), (1, 1)), unit((0, 1), (1, -1)), e2)
    if task == "hessian":
        D = n_inputs
        pairs = [(i, j) for i in range(D) for j in range(i + 1, D)]
        dirs = tuple(unit((i, 1)) for i in range(D))
        dirs += tuple(unit((i, 1), (j, 1)) for i, j in pairs)
        where = {pair: D + k for k, pair in enumerate(pairs)}

        def hessian(c: list[Any]) -> list[Any]:
            def entry(i: int, j: int) -> Any:
                if i == j:
                    return c[2][i]
                r = where[min(i, j), max(i, j)]
                return (c[2][r] - c[2][i] - c[2][j]) / 2

            return [entry(i, j) for i in range(D) for j in range(D)]

        return Recipe(dirs, 2, hessian)
    if task == "laplacian":
        dirs = tuple(unit((i, 1)) for i in range(n_inputs))
        return Recipe(dirs, 2, lambda c: [sum(c[2][r] for r in range(n_inputs))])
    if n_inputs != 2:
        return None
    if task == "d3_mixed":
        return Recipe(mixed3, 3, lambda c: [(c[3][0] - c[3][1] - 2 * c[3][2]) / 6])
    if task in ("d4", "d5"):
        k = int(task[1])
        return Recipe((e1,), k, lambda c: [c[k][0]])
    if task == "set3":
        return Recipe(
            (e1, *mixed3),
            3,
            lambda c: [c[1][0], c[2][0], (c[3][1] - c[3][2] - 2 * c[3][3]) / 6],
        )
    if task == "burgers":  # columns du/dt, du/dx, d2u/dx^2; inputs (x, t)
        return Recipe((e1, e2), 2, lambda c: [c[1][1], c[1][0], c[2][0]])
    return None
