"""The seed problem: partial derivatives that collinear data cannot determine.

A user trained ``y = f(x1, x2)`` on ``y = sin(x1) + cos(x2)`` with training inputs
``x1 = linspace(0, 6*pi, 2000)`` and ``x2 = 1.5 * x1``. The fit was good, but
``dy/dx1`` and ``dy/dx2`` did not match ``cos(x1)`` and ``-sin(x2)``. Because every
training point lies on the line ``x2 = 1.5 x1``, the data only pins down the
derivative *along* the line direction ``u = (1, 1.5) / sqrt(3.25)``; the two partials
separately are whatever the network happens to do off the line.

This module rebuilds that experiment in PyTorch: the data, the network, and its
training with wrt's own :func:`wrt.fit`. :mod:`wrt.demo.run` trains it on the
collinear data and on a 2-D grid; :mod:`wrt.demo.compare` measures both with wrt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from wrt.errors import DataError
from wrt.model import Model, wrap
from wrt.training import History, fit, match, mlp

#: Unit vector along the collinear data's line ``x2 = 1.5 x1``, shape (2,).
LINE_DIRECTION: torch.Tensor = torch.tensor([1.0, 1.5]) / math.sqrt(3.25)

#: The seed's hidden Dense layers.
SEED_HIDDEN: tuple[int, ...] = (64, 64, 32, 32, 16, 16, 8)

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


#: The largest seed accepted (seeds are 0 ... 2**63 - 1).
MAX_SEED = 2**63 - 1


def check_seed(seed: object) -> int:
    """Return ``seed`` if it is an integer in ``0 ... MAX_SEED``.

    Raises:
        DataError: it is not (``seed=...`` named, with the valid range).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise DataError(f"seed={seed!r}: give an integer from 0 to 2**63 - 1.")
    return seed


def seed_network(
    mean: torch.Tensor,
    std: torch.Tensor,
    hidden: Sequence[int] = SEED_HIDDEN,
    activation: str = "tanh",
    *,
    seed: int = 0,
) -> nn.Sequential:
    """The seed's architecture: standardisation, hidden Dense layers, linear output.

    The Dense layers are :func:`wrt.mlp`'s (Glorot weights, zero biases, as Keras
    ``Dense`` starts), in float32 like the seed's Keras model, behind a
    :class:`Standardize` layer built from ``mean`` and ``std``.

    Args:
        mean: Input mean, shape (D,).
        std: Input standard deviation, shape (D,); must be positive.
        hidden: Widths of the hidden layers.
        activation: A hidden activation of :func:`wrt.mlp` (``tanh``, ``sigmoid``,
            ``softplus``, ``silu``, ``gelu``, ``sin``, ``relu``).
        seed: Seed of the initialisation (a private generator: the global random
            state is untouched).

    Returns:
        A network mapping (N, D) to (N, 1), float32.

    Raises:
        DataError: ``activation`` is not one of :func:`wrt.mlp`'s, or ``seed`` is
            not an integer in ``0 ... 2**63 - 1``.
    """
    check_seed(seed)
    mean = torch.as_tensor(mean, dtype=torch.float32)
    names = [f"x{i + 1}" for i in range(mean.numel())]
    # mlp draws its weights from a private generator, but nn.Linear's constructor
    # draws a default initialisation from the global one first: keep that private
    with torch.random.fork_rng(devices=[]):
        body = mlp(names, ["y"], hidden, activation, dtype="float32", seed=seed)
    return nn.Sequential(Standardize(mean, std), *body.module.children())


@dataclass
class TrainResult:
    """A trained network and how the training went.

    Attributes:
        model: The trained network with inputs ``x1, x2`` and output ``y``,
            (N, 2) -> (N, 1), float32, its parameters frozen
            (``requires_grad=False``); input gradients still work.
        history: :func:`wrt.fit`'s loss per step (Adam steps, then one row per
            block of L-BFGS iterations).
        seconds: Wall time of the training.
    """

    model: Model
    history: History
    seconds: float

    @property
    def losses(self) -> list[float]:
        """The training mean squared error at each recorded step."""
        return [float(v) for v in self.history.frame["loss"]]


def train(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    seed: int = 0,
    lr: float = 1e-2,
    lbfgs_steps: int = 0,
    hidden: Sequence[int] = SEED_HIDDEN,
    activation: str = "tanh",
    num_threads: int | None = None,
) -> TrainResult:
    """Fit :func:`seed_network` to ``(X, y)`` with :func:`wrt.fit`: Adam, then L-BFGS.

    The standardisation uses the mean and (population) standard deviation of ``X``,
    as Keras ``Normalization.adapt`` does. The loss is :func:`wrt.match` of ``y``
    (the mean squared error); ``steps`` Adam steps at learning rate ``lr`` are
    followed by ``lbfgs_steps`` L-BFGS iterations (``optimizer="adam+lbfgs"``).

    The result is deterministic given ``seed`` and the number of threads; the
    global random state is untouched.

    Args:
        X: Training inputs, shape (N, 2).
        y: Training targets, shape (N,) or (N, 1).
        steps: Number of Adam steps (>= 0).
        seed: Seed of the weight initialisation.
        lr: Adam learning rate.
        lbfgs_steps: L-BFGS iterations after Adam (0 for none).
        hidden: Widths of the hidden layers.
        activation: Hidden activation (see :func:`seed_network`).
        num_threads: If given, ``torch.set_num_threads(num_threads)`` for the
            duration of the training only (the previous value is restored on
            return or error). For a network this small, 1 thread is as fast as 2 on
            an idle machine and many times faster when another process is busy.

    Returns:
        The trained model, its loss history and the training wall time.

    Raises:
        DataError: ``X`` is not (N, 2) with one target per row, or a setting is out
            of range (negative ``steps``).
    """
    for name, count in (("steps", steps), ("lbfgs_steps", lbfgs_steps)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise DataError(f"{name} must be a whole number >= 0, not {count!r}.")
    X = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.float32).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] != y.shape[0]:
        raise DataError(
            f"X must be (N, 2) and y (N,); got {tuple(X.shape)} and {tuple(y.shape)}."
        )
    start = time.perf_counter()
    with _threads(num_threads):
        std = X.std(dim=0, unbiased=False).clamp_min(1e-12)
        net = seed_network(X.mean(dim=0), std, hidden, activation, seed=seed)
        model = wrap(net, inputs=["x1", "x2"], outputs=["y"])
        optimizer = "adam+lbfgs" if lbfgs_steps > 0 else "adam"
        history = fit(
            model,
            [match("y", X, y, name="y = data")],
            optimizer=optimizer,
            steps=steps,
            lr=lr,
            lbfgs_steps=lbfgs_steps,
            seed=seed,
        )
    for p in net.parameters():
        p.requires_grad_(False)
    return TrainResult(model, history, time.perf_counter() - start)


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """``torch.set_num_threads(n)`` inside the block only (nothing when None)."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
