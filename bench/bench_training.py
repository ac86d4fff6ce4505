"""One training step of the Burgers PINN: wrt's terms against the DeepXDE way.

The same network (2 -> 4 x 50 tanh -> 1, float32 and float64), the same points
(4096 collocation points, 256 initial, 256 boundary) and the same Adam update.
Rows, measured interleaved, median of many steps:

- ``wrt.fit`` step, compiled: the residual as a string and two matches; u, u_t,
  u_x and u_xx as one forward Taylor jet (4 entries), the loss and its backward
  over the parameters compiled together (AOTAutograd + inductor), Adam with
  foreach kernels; timed inside ``wrt.fit`` (its guards included).
- ``wrt`` eager step: the same terms, uncompiled: u, u_t, u_x and u_xx from one
  batched differentiable call (shared lower orders).
- DeepXDE way: each derivative by its own nested ``torch.autograd.grad`` from the
  output (u_t and u_x by two gradient calls, u_xx by a gradient of a fresh u_x),
  as the per-term code PINN users write; no sharing.
- by hand, shared: one gradient for (u_x, u_t), one more for u_xx; the floor.

Usage::

    python bench/bench_training.py [--write docs/benchmarks_training.md]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import math
import os
import platform
import statistics
import time

import torch

import wrt
from wrt.training.fitting import Problem
from wrt.training.samplers import sample

NU = 0.01 / math.pi
FIT_ROW = "wrt.fit step, compiled (residual string + matches)"


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


def measure(dtype: torch.dtype, repeats: int) -> tuple[list[tuple[str, float]], float]:
    """Median ms per training step for each way, interleaved; the compile time.

    The compiled row is ``wrt.fit`` itself (``compile=True``: the whole loop, its
    guards included), timed from one step's callback to the next; inside each
    callback every other way makes one step on its own copy of the network, so
    all rows are measured side by side.
    """
    model, inside, initial, walls, terms = setup(dtype)
    problem = Problem(model, terms)
    nets = {}

    def step_with(loss_fn, net):
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            opt.step()
            return loss

        return step

    eager_net = model.module
    losses = {
        "wrt eager step (residual string + matches)": lambda: problem.losses()[0],
        "DeepXDE way (nested autograd.grad per term)": lambda: deepxde_loss(
            nets["dx"], inside, initial, walls
        ),
        "by hand, first gradient shared [floor]": lambda: shared_loss(
            nets["hand"], inside, initial, walls
        ),
    }
    nets["dx"], nets["hand"] = copy.deepcopy(eager_net), copy.deepcopy(eager_net)
    fitted = wrt.mlp(["x", "t"], ["u"], hidden=[50] * 4, dtype=dtype, seed=0)
    values = {name: float(fn().detach()) for name, fn in losses.items()}
    owners = [eager_net, nets["dx"], nets["hand"]]
    ways = {
        name: step_with(fn, net)
        for (name, fn), net in zip(losses.items(), owners, strict=True)
    }
    samples: dict[str, list[float]] = {FIT_ROW: [], **{name: [] for name in ways}}
    for fn in ways.values():
        fn()  # warm-up
    clock = {"end": 0.0}

    def callback(step: int, total: float, terms: list[float]) -> None:
        if step >= 1:  # step 0 follows the compile
            samples[FIT_ROW].append(1e3 * (time.perf_counter() - clock["end"]))
        for name, fn in ways.items():
            start = time.perf_counter()
            fn()
            samples[name].append(1e3 * (time.perf_counter() - start))
        clock["end"] = time.perf_counter()

    history = wrt.fit(
        fitted, setup(dtype)[4], steps=repeats + 1, lr=1e-4, compile=True,
        callback=callback,
    )  # fmt: skip
    assert history.compiled, "the step did not compile"
    values["compiled"] = float(history.frame["loss"].iloc[0])  # same start
    spread = max(values.values()) - min(values.values())
    assert spread <= 1e-4 * max(values.values()), values  # the same loss
    rows = [(name, statistics.median(times)) for name, times in samples.items()]
    return rows, history.compile_seconds


def table(results: dict[str, tuple[list[tuple[str, float]], float]]) -> str:
    """Markdown: per dtype, each way's median and its ratio to wrt's compiled step."""
    lines = ["| dtype | way | median ms per step | time / wrt |", "|---|---|--:|--:|"]
    for dtype, (rows, _) in results.items():
        ours = rows[0][1]
        for name, ms in rows:
            lines.append(f"| {dtype} | {name} | {ms:.2f} | {ms / ours:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure; print the table; optionally write the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", help="write the markdown page here")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--dtypes", nargs="+", default=["float32", "float64"], help="dtypes to time"
    )
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    results = {}
    for name in args.dtypes:
        results[name] = measure(getattr(torch, name), args.repeats)
        print(table({name: results[name]}), flush=True)  # as each dtype ends
    text = table(results)
    compile_text = "; ".join(
        f"{dtype}: {seconds:.1f} s" for dtype, (_, seconds) in results.items()
    )
    text += f"\n\nCompile time of the wrt.fit step (once per run): {compile_text}."
    print(text)
    if args.write:
        now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        page = (
            "# Benchmark: one Burgers PINN training step\n\n"
            f"Generated by `python bench/bench_training.py --write {args.write}` on "
            f"{now}; torch {torch.__version__}, Python {platform.python_version()}, "
            f"{torch.get_num_threads()} torch threads; load average "
            f"{load:.1f} at the start (2 cores).\n\n"
            "PINN 2 -> 4 x 50 tanh -> 1; 4096 collocation points (Sobol), 256 initial "
            "and 256 boundary points; one Adam step (loss, backward, update). The "
            "four losses are checked equal at the start; steps are timed "
            f"interleaved, median of {args.repeats}: the compiled row inside "
            "`wrt.fit(compile=True)` (guards included) from one callback to the "
            "next, the others one step each inside that callback. *time / wrt* "
            "above 1: wrt's compiled step is faster.\n\n" + text + "\n"
        )
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(page)


if __name__ == "__main__":
    main()
