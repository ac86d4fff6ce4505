"""One training step of the Burgers PINN: wrt's terms against the DeepXDE way.

The same network (2 -> 4 x 50 tanh -> 1, float32 and float64), the same points
(4096 collocation points, 256 initial, 256 boundary) and the same Adam update.
Rows, measured interleaved, median of many steps:

- ``wrt.fit`` step: the residual as a string and two matches; u, u_t, u_x and
  u_xx from one batched differentiable call (shared lower orders).
- DeepXDE way: each derivative by its own nested ``torch.autograd.grad`` from the
  output (u_t and u_x by two gradient calls, u_xx by a gradient of a fresh u_x),
  as the per-term code PINN users write; no sharing.
- by hand, shared: one gradient for (u_x, u_t), one more for u_xx; the floor.

Usage::

    python bench/bench_training.py [--write docs/benchmarks_training.md]
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import statistics
import time

import torch

import wrt
from wrt.training.fitting import Problem
from wrt.training.samplers import sample

NU = 0.01 / math.pi


def setup(dtype: torch.dtype):
    """Model, points and terms of the Burgers PINN."""
    model = wrt.mlp(["x", "t"], ["u"], hidden=[50] * 4, dtype=dtype, seed=0)
    box = {"x": (-1.0, 1.0), "t": (0.0, 1.0)}
    inside = sample(box, 4096, model.inputs, method="sobol", dtype=dtype)
    initial = sample({"x": (-1, 1), "t": (0, 0)}, 256, model.inputs, dtype=dtype)
    walls = sample(box, 256, model.inputs, boundary=True, faces=["x"], dtype=dtype)
    terms = [
        wrt.residual("du/dt + u*du/dx - 0.01/pi*d2u/dx^2", inside),
        wrt.match("u", initial, -torch.sin(math.pi * initial[:, 0])),
        wrt.match("u", walls, torch.zeros(len(walls), dtype=dtype)),
    ]
    return model, inside, initial, walls, terms


def _grad(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True)[0]


def deepxde_loss(net, inside, initial, walls) -> torch.Tensor:
    """The per-term way: every derivative from scratch."""
    x = inside.clone().requires_grad_(True)
    u = net(x)[:, 0]
    u_t = _grad(u, x)[:, 1]
    u_x = _grad(u, x)[:, 0]
    u_xx = _grad(_grad(u, x)[:, 0], x)[:, 0]
    pde = u_t + u * u_x - NU * u_xx
    ic = net(initial)[:, 0] + torch.sin(math.pi * initial[:, 0])
    bc = net(walls)[:, 0]
    return pde.pow(2).mean() + ic.pow(2).mean() + bc.pow(2).mean()


def shared_loss(net, inside, initial, walls) -> torch.Tensor:
    """By hand, sharing the first gradient: two backward passes in all."""
    x = inside.clone().requires_grad_(True)
    u = net(x)[:, 0]
    g = _grad(u, x)
    u_x, u_t = g[:, 0], g[:, 1]
    u_xx = _grad(u_x, x)[:, 0]
    pde = u_t + u * u_x - NU * u_xx
    ic = net(initial)[:, 0] + torch.sin(math.pi * initial[:, 0])
    bc = net(walls)[:, 0]
    return pde.pow(2).mean() + ic.pow(2).mean() + bc.pow(2).mean()


def measure(dtype: torch.dtype, repeats: int) -> list[tuple[str, float]]:
    """Median ms per training step for each way, interleaved."""
    model, inside, initial, walls, terms = setup(dtype)
    net = model.module
    problem = Problem(model, terms)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def step_with(loss_fn):
        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            opt.step()
            return loss

        return step

    losses = {
        "wrt.fit step (residual string + matches)": lambda: problem.losses()[0],
        "DeepXDE way (nested autograd.grad per term)": lambda: deepxde_loss(
            net, inside, initial, walls
        ),
        "by hand, first gradient shared [floor]": lambda: shared_loss(
            net, inside, initial, walls
        ),
    }
    values = {name: float(fn().detach()) for name, fn in losses.items()}
    spread = max(values.values()) - min(values.values())
    assert spread <= 1e-4 * max(values.values()), values  # the same loss
    ways = {name: step_with(fn) for name, fn in losses.items()}
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for fn in ways.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in ways.items():
            start = time.perf_counter()
            fn()
            samples[name].append(1e3 * (time.perf_counter() - start))
    return [(name, statistics.median(times)) for name, times in samples.items()]


def table(results: dict[str, list[tuple[str, float]]]) -> str:
    """Markdown: per dtype, each way's median and its ratio to wrt's."""
    lines = ["| dtype | way | median ms per step | time / wrt |", "|---|---|--:|--:|"]
    for dtype, rows in results.items():
        ours = rows[0][1]
        for name, ms in rows:
            lines.append(f"| {dtype} | {name} | {ms:.2f} | {ms / ours:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure; print the table; optionally write the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", help="write the markdown page here")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    results = {
        str(dtype).removeprefix("torch."): measure(dtype, args.repeats)
        for dtype in (torch.float32, torch.float64)
    }
    text = table(results)
    print(text)
    if args.write:
        now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        page = (
            "# Benchmark: one Burgers PINN training step\n\n"
            f"Generated by `python bench/bench_training.py --write {args.write}` on "
            f"{now}; torch {torch.__version__}, Python {platform.python_version()}, "
            f"{torch.get_num_threads()} torch threads.\n\n"
            "PINN 2 -> 4 x 50 tanh -> 1; 4096 collocation points (Sobol), 256 initial "
            "and 256 boundary points; one Adam step (loss, backward, update). The "
            "three losses are checked equal before timing; steps are timed "
            f"interleaved, median of {args.repeats}. *time / wrt* above 1: wrt is "
            "faster.\n\n" + text + "\n"
        )
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(page)


if __name__ == "__main__":
    main()
