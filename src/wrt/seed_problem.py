"""The seed problem: partial derivatives that collinear data cannot determine.

A user trained ``y = f(x1, x2)`` on ``y = sin(x1) + cos(x2)`` with training inputs
``x1 = linspace(0, 6*pi, 2000)`` and ``x2 = 1.5 * x1``. The fit was good, but
``dy/dx1`` and ``dy/dx2`` did not match ``cos(x1)`` and ``-sin(x2)``. Because every
training point lies on the line ``x2 = 1.5 x1``, the data only pins down the
derivative *along* the line direction ``u = (1, 1.5) / sqrt(3.25)``; the two partials
separately are whatever the network happens to do off the line.

This module rebuilds that experiment in PyTorch: the data, the network and its
training. :mod:`wrt.demo` trains it on the collinear data and on a 2-D grid and
measures both with wrt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

#: Unit vector along the collinear data's line ``x2 = 1.5 x1``, shape (2,).
LINE_DIRECTION: torch.Tensor = torch.tensor([1.0, 1.5]) / math.sqrt(3.25)

#: Default box of :func:`grid_data`: ``[lo1, hi1, lo2, hi2]``.
GRID_BOX: tuple[float, float, float, float] = (0.0, 6 * math.pi, 0.0, 9 * math.pi)


def target(X: torch.Tensor) -> torch.Tensor:
    """The true function ``sin(x1) + cos(x2)``.

    Args:
        X: Inputs, shape (N, 2).

    Returns:
        Values, shape (N,).
    """
    return torch.sin(X[:, 0]) + torch.cos(X[:, 1])


def target_partials(X: torch.Tensor) -> torch.Tensor:
    """The true partials ``(cos(x1), -sin(x2))``.

    Args:
        X: Inputs, shape (N, 2).

    Returns:
        Partials, shape (N, 2); column ``j`` is ``d y / d x_j``.
    """
    return torch.stack([torch.cos(X[:, 0]), -torch.sin(X[:, 1])], dim=1)


def line_points(n: int = 2000) -> torch.Tensor:
    """Points on the seed's line: ``x1 = linspace(0, 6 pi, n)``, ``x2 = 1.5 x1``.

    Args:
        n: Number of points.

    Returns:
        X, shape (n, 2), float32.
    """
    x1 = torch.linspace(0.0, 6 * math.pi, n, dtype=torch.float32)
    return torch.stack([x1, 1.5 * x1], dim=1)


def collinear_data(n: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """The seed's training data, exactly as the user built it.

    ``x1 = linspace(0, 6 pi, n)``, ``x2 = 1.5 x1`` and ``y = sin(x1) + cos(x2)``.

    Args:
        n: Number of points.

    Returns:
        ``(X, y)`` with X of shape (n, 2) and y of shape (n,), both float32.
    """
    X = line_points(n)
    return X, target(X)


def grid_data(
    n_side: int,
    box: Sequence[float] = GRID_BOX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A regular 2-D grid covering a box, with targets.

    The default box is the bounding box of the collinear data,
    ``[0, 6 pi] x [0, 9 pi]``, so that the grid model is asked about the same
    region and the two models can be compared at the same points (on the line).
    Along ``x1`` that box holds 3 periods and along ``x2`` 4.5 periods; the
    number of grid points per side in ``x2`` is scaled by 1.5 so that the spacing is
    the same in both directions. Although ``sin(x1) + cos(x2)`` oscillates 3 x 4.5
    times over this box, it is a sum of two 1-D functions and the seed network learns
    it well from a 30 x 45 grid (about 10 points per period) in about 8 s on one
    core (held-out RMSE about 0.009, partials about 0.01-0.03; see
    :class:`DemoConfig`), so no smaller box is needed.

    Args:
        n_side: Number of grid points along ``x1``; ``x2`` gets
            ``round(1.5 * n_side)`` points when the box has the default 2:3 aspect
            (in general, proportional to the box's side lengths).
        box: ``(lo1, hi1, lo2, hi2)``.

    Returns:
        ``(X, y)`` with X of shape (n_side * n2, 2) and y of shape (n_side * n2,),
        both float32.
    """
    lo1, hi1, lo2, hi2 = (float(b) for b in box)
    n2 = max(2, round(n_side * (hi2 - lo2) / (hi1 - lo1)))
    g1 = torch.linspace(lo1, hi1, n_side, dtype=torch.float32)
    g2 = torch.linspace(lo2, hi2, n2, dtype=torch.float32)
    a, b = torch.meshgrid(g1, g2, indexing="ij")
    X = torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)
    return X, target(X)


class Standardize(nn.Module):
    """Fixed input standardisation ``(x - mean) / std`` (like Keras ``Normalization``).

    ``mean`` and ``std`` are buffers, not parameters: they are not trained, but they
    are saved in the ``state_dict``. Because the layer is part of the network,
    derivatives of the network are with respect to the raw inputs.

    Args:
        mean: Per-feature mean, shape (D,).
        std: Per-feature standard deviation, shape (D,); must be positive.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise.

        Args:
            x: Inputs, shape (N, D).

        Returns:
            ``(x - mean) / std``, shape (N, D).
        """
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        """Show the number of features."""
        return f"features={self.mean.numel()}"


_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}


def seed_network(
    mean: torch.Tensor,
    std: torch.Tensor,
    hidden: Sequence[int] = (64, 64, 32, 32, 16, 16, 8),
    activation: str = "tanh",
) -> nn.Sequential:
    """The seed's architecture: standardisation, hidden Dense layers, linear output.

    Weights use Glorot-uniform initialisation and zero biases, as Keras ``Dense``
    does by default, to stay close to the seed (PyTorch's default initialisation
    trains this problem about as well).

    Args:
        mean: Input mean, shape (D,).
        std: Input standard deviation, shape (D,).
        hidden: Widths of the hidden layers.
        activation: One of ``tanh``, ``relu``, ``gelu``, ``silu``, ``softplus``,
            ``sigmoid``.

    Returns:
        A network mapping (N, D) to (N, 1).
    """
    try:
        act = _ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(
            f"unknown activation {activation!r}; choose from {sorted(_ACTIVATIONS)}"
        ) from None
    mean = torch.as_tensor(mean, dtype=torch.float32)
    layers: list[nn.Module] = [Standardize(mean, std)]
    width = mean.numel()
    for h in hidden:
        layers += [nn.Linear(width, h), act()]
        width = h
    layers.append(nn.Linear(width, 1))
    for m in layers:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)


@dataclass
class TrainResult:
    """A trained network and how the training went.

    Attributes:
        net: The trained network, (N, D) -> (N, 1), in eval mode with its parameters
            frozen (``requires_grad=False``); input gradients still work.
        losses: Training MSE at each Adam step, then at each L-BFGS function
            evaluation.
        seconds: Wall time of the training.
    """

    net: nn.Sequential
    losses: list[float]
    seconds: float


def _mse(net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.mean((net(X) - y) ** 2)


def train(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    seed: int = 0,
    lr: float = 1e-2,
    lr_final: float = 1e-3,
    lbfgs_steps: int = 0,
    hidden: Sequence[int] = (64, 64, 32, 32, 16, 16, 8),
    activation: str = "tanh",
    num_threads: int | None = None,
) -> TrainResult:
    """Fit :func:`seed_network` to ``(X, y)``: full-batch Adam, then L-BFGS.

    The standardisation uses the mean and (population) standard deviation of ``X``,
    as Keras ``Normalization.adapt`` does. Adam's learning rate decays
    geometrically from ``lr`` to ``lr_final`` over ``steps`` steps; then
    ``lbfgs_steps`` L-BFGS iterations (strong-Wolfe line search) polish the fit. If
    L-BFGS ends with a non-finite or larger loss, the Adam weights are restored.
    The loss is the mean squared error.

    The result is deterministic given ``seed`` and the number of threads. The
    global random state is left untouched (the seed is applied inside
    ``torch.random.fork_rng``).

    Args:
        X: Training inputs, shape (N, D).
        y: Training targets, shape (N,) or (N, 1).
        steps: Number of Adam steps.
        seed: Seed for the weight initialisation.
        lr: Initial Adam learning rate.
        lr_final: Adam learning rate at the last step.
        lbfgs_steps: Maximum number of L-BFGS iterations after Adam (0 for none).
        hidden: Widths of the hidden layers.
        activation: Hidden activation (see :func:`seed_network`).
        num_threads: If given, ``torch.set_num_threads(num_threads)`` for the
            duration of the training only (the previous value is restored). The
            setting is process-wide while the training runs. For a network this
            small, 1 thread is as fast as 2 on an idle machine and many times faster
            when another process is using a core.

    Returns:
        The trained network, its loss history and the training wall time.
    """
    X = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X must be (N, D) and y (N,); got {tuple(X.shape)}, {tuple(y.shape)}"
        )
    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            std = X.std(dim=0, unbiased=False).clamp_min(1e-12)
            net = seed_network(X.mean(dim=0), std, hidden, activation)
        losses: list[float] = []
        if steps > 0:
            opt = torch.optim.Adam(net.parameters(), lr=lr)
            gamma = (lr_final / lr) ** (1.0 / max(steps - 1, 1))
            for _ in range(steps):
                opt.zero_grad(set_to_none=True)
                loss = _mse(net, X, y)
                loss.backward()
                opt.step()
                for group in opt.param_groups:
                    group["lr"] *= gamma
                losses.append(loss.item())
        if lbfgs_steps > 0:
            _lbfgs(net, X, y, lbfgs_steps, losses)
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        return TrainResult(net, losses, time.perf_counter() - start)
    finally:
        if num_threads is not None:
            torch.set_num_threads(previous_threads)


def _lbfgs(
    net: nn.Module, X: torch.Tensor, y: torch.Tensor, iters: int, losses: list[float]
) -> None:
    with torch.no_grad():
        before = _mse(net, X, y).item()
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.LBFGS(
        net.parameters(),
        lr=1.0,
        max_iter=iters,
        history_size=50,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = _mse(net, X, y)
        loss.backward()
        losses.append(loss.item())
        return loss

    opt.step(closure)
    with torch.no_grad():
        after = _mse(net, X, y).item()
    if not math.isfinite(after) or after > before:
        net.load_state_dict(saved)


def heldout_line(n: int = 1000, seed: int = 1234) -> torch.Tensor:
    """Random points on the seed's line, ``x1 ~ U(0, 6 pi)``, ``x2 = 1.5 x1``.

    Args:
        n: Number of points.
        seed: Seed of a private generator (the global random state is untouched).

    Returns:
        X, shape (n, 2), float32.
    """
    g = torch.Generator().manual_seed(seed)
    x1 = torch.rand(n, generator=g) * (6 * math.pi)
    return torch.stack([x1, 1.5 * x1], dim=1)


def heldout_box(
    n: int = 1000, box: Sequence[float] = GRID_BOX, seed: int = 1234
) -> torch.Tensor:
    """Uniformly random points in a box ``(lo1, hi1, lo2, hi2)``.

    Args:
        n: Number of points.
        box: ``(lo1, hi1, lo2, hi2)``.
        seed: Seed of a private generator (the global random state is untouched).

    Returns:
        X, shape (n, 2), float32.
    """
    lo1, hi1, lo2, hi2 = (float(b) for b in box)
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 2, generator=g)
    return torch.stack([lo1 + (hi1 - lo1) * u[:, 0], lo2 + (hi2 - lo2) * u[:, 1]], 1)


@dataclass(frozen=True)
class DemoConfig:
    """Settings of :func:`run_demo`.

    The defaults train each model in about 9-10 s on one core of the development
    machine; :meth:`quick` is a tiny version for tests (poor results, ~1 s).

    Attributes:
        n_line: Number of collinear training points (the seed used 2000).
        n_side: Grid points along ``x1`` (``x2`` gets 1.5 times as many).
        box: Box of the grid, ``(lo1, hi1, lo2, hi2)``.
        adam_steps: Adam steps per model.
        lbfgs_steps: L-BFGS iterations per model.
        lr: Initial Adam learning rate.
        lr_final: Final Adam learning rate.
        seed: Initialisation seed.
        n_eval: Number of held-out evaluation points.
        num_threads: Threads used while training (see :func:`train`).
    """

    n_line: int = 2000
    n_side: int = 30
    box: tuple[float, float, float, float] = GRID_BOX
    adam_steps: int = 1500
    lbfgs_steps: int = 1000
    lr: float = 1e-2
    lr_final: float = 1e-3
    seed: int = 0
    n_eval: int = 1000
    num_threads: int | None = 1

    @classmethod
    def quick(cls, seed: int = 0) -> DemoConfig:
        """Tiny settings for tests: runs in about a second, results are poor."""
        return cls(
            n_line=200, n_side=8, adam_steps=60, lbfgs_steps=20, n_eval=200, seed=seed
        )
