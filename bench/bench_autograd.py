"""Side-by-side benchmark of wrt's autograd engine against torch peers.

One process run measures every method on the same model (the seed network: 2
inputs, tanh layers 64-64-32-32-16-16-8, one linear output) and the same points
(the seed's line ``x2 = 1.5 x1``). For each task every method's result is first
checked against wrt's (max abs difference, asserted within float tolerance), then
all methods are timed interleaved, round after round with a rotating start, so that
machine noise hits them alike. The table reports the median time of each method and
its ratio to wrt (``peer / wrt``: above 1 means wrt is faster).

Usage::

    python bench/bench_autograd.py             # full: N=2000 and 20000, f32 + f64
    python bench/bench_autograd.py --quick     # N=2000, float32, few repeats
    python bench/bench_autograd.py --write docs/benchmarks.md

This is a benchmark, not a test: it asserts agreement, never speed; it prints (and
writes) whether first order is within 1.2x of ``vmap(jacrev)``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.func import hessian, jacfwd, jacrev, jvp, vmap

import wrt
from wrt.seed_problem import line_points, seed_network

#: wrt must be at most this many times slower than vmap(jacrev) on first order.
FIRST_ORDER_BUDGET = 1.2

#: Agreement with wrt's result, relative to the largest |value| of wrt's result.
RTOL = {torch.float32: 1e-3, torch.float64: 1e-9}

ENGINE = "autograd"


# --------------------------------------------------------------------------- problem


@dataclass
class Problem:
    """The model and points every method of one configuration works on.

    Attributes:
        net: the seed network, (N, 2) -> (N, 1).
        model: the same network wrapped by wrt (inputs x1, x2; output y).
        X: the points, shape (N, 2).
        f: the single-point function ``row (2,) -> scalar`` for torch.func.
    """

    net: nn.Module
    model: wrt.Model
    X: torch.Tensor
    f: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)


def make_problem(n: int, dtype: torch.dtype, seed: int = 0) -> Problem:
    """The seed network (seeded Glorot init) and ``n`` points on the seed's line.

    Args:
        n: number of points.
        dtype: torch.float32 or torch.float64.
        seed: torch seed of the weights.

    Returns:
        The problem.
    """
    torch.manual_seed(seed)
    X = line_points(n)
    net = seed_network(X.mean(0), X.std(0)).to(dtype).eval()
    X = X.to(dtype)

    def f(row: torch.Tensor) -> torch.Tensor:
        return net(row[None])[0, 0]

    return Problem(net=net, model=wrt.wrap(net), X=X, f=f)


def _leaf(X: torch.Tensor) -> torch.Tensor:
    return X.detach().requires_grad_(True)


def _d(
    value: torch.Tensor, x: torch.Tensor, keep: bool = True, retain: bool = False
) -> torch.Tensor:
    """Batched gradient of ``value.sum()`` w.r.t. ``x`` (the DeepXDE building block).

    ``keep`` builds the graph of the result (for a further derivative); ``retain``
    keeps the graph of ``value`` for another pass through it.
    """
    (g,) = torch.autograd.grad(
        value.sum(), x, create_graph=keep, retain_graph=keep or retain
    )
    return g


# ------------------------------------------------------------------ task 1: gradient


def wrt_grad(p: Problem) -> torch.Tensor:
    return wrt.grad(p.model, p.X, engine=ENGINE)


def func_vmap_jacrev(p: Problem) -> torch.Tensor:
    return vmap(jacrev(p.f))(p.X)


def autograd_grad_floor(p: Problem) -> torch.Tensor:
    x = _leaf(p.X)
    return _d(p.net(x), x, keep=False)


# ------------------------------------------------------------------- task 2: Hessian


def wrt_hessian(p: Problem) -> torch.Tensor:
    return wrt.hessian(p.model, p.X, engine=ENGINE)


def func_vmap_hessian(p: Problem) -> torch.Tensor:
    return vmap(hessian(p.f))(p.X)


def func_vmap_jacfwd2(p: Problem) -> torch.Tensor:
    return vmap(jacfwd(jacfwd(p.f)))(p.X)


def autograd_hessian(p: Problem) -> torch.Tensor:
    x = _leaf(p.X)
    g = _d(p.net(x), x)
    return torch.stack([_d(g[:, 0], x, False, True), _d(g[:, 1], x, False)], dim=1)


# ------------------------------------------------------------- task 3: d4y/dx1^4


def wrt_d4(p: Problem) -> torch.Tensor:
    return wrt.partials(p.model, p.X, "d4y/dx1^4", engine=ENGINE)["d4y/dx1^4"]


def func_vmap_jacfwd4(p: Problem) -> torch.Tensor:
    return vmap(jacfwd(jacfwd(jacfwd(jacfwd(p.f)))))(p.X)[:, 0, 0, 0, 0]


def func_vmap_jvp4(p: Problem) -> torch.Tensor:
    """Four nested jvp along e1: only the x1 direction, no full tensors."""
    e1 = torch.zeros_like(p.X[0])
    e1[0] = 1

    def along(g: Callable) -> Callable:
        return lambda row: jvp(g, (row,), (e1,))[1]

    return vmap(along(along(along(along(p.f)))))(p.X)


def autograd_nested_d4(p: Problem) -> torch.Tensor:
    x = _leaf(p.X)
    value = p.net(x)[:, 0]
    for k in range(4):
        value = _d(value, x, keep=k < 3)[:, 0]
    return value


# ---------------------------------------------- task 4: dy/dx1, d2y/dx1^2, d3y/dx1^2dx2

MIXED = ["dy/dx1", "d2y/dx1^2", "d3y/dx1^2dx2"]


def wrt_mixed(p: Problem) -> torch.Tensor:
    P = wrt.partials(p.model, p.X, MIXED, engine=ENGINE)
    return torch.stack([P[s] for s in MIXED], dim=1)


def _chain(p: Problem, jac: Callable) -> torch.Tensor:
    """dy/dx1, d2y/dx1^2, d3y/dx1^2dx2 in one composed call (lower orders as aux)."""

    def d1(row):
        g = jac(p.f)(row)[0]
        return g, g

    def d2(row):
        h, first = jac(d1, has_aux=True)(row)
        return h[0], (first, h[0])

    def d3(row):
        t, (first, second) = jac(d2, has_aux=True)(row)
        return torch.stack([first, second, t[1]])

    return vmap(d3)(p.X)


def func_jacfwd_chain(p: Problem) -> torch.Tensor:
    return _chain(p, jacfwd)


def func_jacrev_chain(p: Problem) -> torch.Tensor:
    return _chain(p, jacrev)


def autograd_mixed(p: Problem) -> torch.Tensor:
    x = _leaf(p.X)
    d1 = _d(p.net(x), x)[:, 0]
    d2 = _d(d1, x)[:, 0]
    d3 = _d(d2, x, False)[:, 1]
    return torch.stack([d1, d2, d3], dim=1)


# --------------------------------------------------------------------- the peer table


@dataclass(frozen=True)
class Peer:
    """One method of a task: a function of the problem returning the result tensor."""

    name: str
    fn: Callable[[Problem], torch.Tensor]


@dataclass(frozen=True)
class Task:
    """A derivative task; its first peer is wrt, the reference of every ratio."""

    title: str
    peers: tuple[Peer, ...]


TASKS = (
    Task(
        "1. gradient (N, 2)",
        (
            Peer("wrt.grad", wrt_grad),
            Peer("vmap(jacrev(f))", func_vmap_jacrev),
            Peer("autograd.grad(y.sum(), x) [floor]", autograd_grad_floor),
        ),
    ),
    Task(
        "2. Hessian (N, 2, 2)",
        (
            Peer("wrt.hessian", wrt_hessian),
            Peer("vmap(hessian(f))", func_vmap_hessian),
            Peer("vmap(jacfwd(jacfwd(f)))", func_vmap_jacfwd2),
            Peer("nested autograd.grad, by hand", autograd_hessian),
        ),
    ),
    Task(
        "3. d4y/dx1^4",
        (
            Peer('wrt.partials("d4y/dx1^4")', wrt_d4),
            Peer("vmap(jacfwd^4(f))[0,0,0,0]", func_vmap_jacfwd4),
            Peer("vmap(jvp^4 along e1)", func_vmap_jvp4),
            Peer("nested autograd.grad (DeepXDE way)", autograd_nested_d4),
        ),
    ),
    Task(
        "4. dy/dx1, d2y/dx1^2, d3y/dx1^2dx2 together",
        (
            Peer("wrt.partials([3 specs])", wrt_mixed),
            Peer("vmap(jacfwd chain, has_aux)", func_jacfwd_chain),
            Peer("vmap(jacrev chain, has_aux)", func_jacrev_chain),
            Peer("nested autograd.grad, by hand", autograd_mixed),
        ),
    ),
)


# -------------------------------------------------------------------------- measuring


@dataclass
class Row:
    """The measurement of one peer on one task."""

    task: str
    peer: str
    median_ms: float
    iqr_pct: float
    ratio: float
    max_abs_diff: float


def check(task: Task, problem: Problem) -> list[float]:
    """Every peer's max abs difference from wrt's result; asserts agreement.

    Raises:
        AssertionError: a peer disagrees beyond ``RTOL`` (relative to max |wrt|).
    """
    results = [peer.fn(problem).detach() for peer in task.peers]
    reference = results[0]
    scale = float(reference.abs().max()) or 1.0
    rtol = RTOL[problem.X.dtype]
    diffs = []
    for peer, result in zip(task.peers, results, strict=True):
        assert result.shape == reference.shape, (peer.name, tuple(result.shape))
        diff = float((result - reference).abs().max())
        assert diff <= rtol * scale, (
            f"{task.title}: {peer.name} differs from wrt by {diff:.3g} "
            f"(max |wrt| = {scale:.3g}, rtol {rtol:g})"
        )
        diffs.append(diff)
    return diffs


def _time_once(fn: Callable[[Problem], torch.Tensor], problem: Problem) -> float:
    start = time.perf_counter()
    fn(problem)
    return time.perf_counter() - start


def measure(task: Task, problem: Problem, warmup: int, repeats: int) -> list[Row]:
    """Check, warm up, then time every peer interleaved; one row per peer.

    Each round runs every peer once, starting from a different peer each round, with
    the garbage collector off during a call (as ``timeit`` does).
    """
    diffs = check(task, problem)
    peers = task.peers
    for _ in range(warmup):
        for peer in peers:
            peer.fn(problem)
    samples: list[list[float]] = [[] for _ in peers]
    for r in range(repeats):
        for k in range(len(peers)):
            i = (r + k) % len(peers)
            gc.collect()
            gc.disable()
            try:
                samples[i].append(_time_once(peers[i].fn, problem))
            finally:
                gc.enable()
    medians = [statistics.median(s) for s in samples]
    rows = []
    for peer, times, med, diff in zip(peers, samples, medians, diffs, strict=True):
        q = statistics.quantiles(times, n=4) if len(times) > 1 else [med, med, med]
        rows.append(
            Row(
                task=task.title,
                peer=peer.name,
                median_ms=med * 1e3,
                iqr_pct=100 * (q[2] - q[0]) / med,
                ratio=med / medians[0],
                max_abs_diff=diff,
            )
        )
    return rows


@dataclass
class Config:
    """One table: a number of points, a dtype and how many repeats."""

    n: int
    dtype: torch.dtype
    warmup: int
    repeats: int

    @property
    def label(self) -> str:
        """E.g. ``N = 2000, float32``."""
        return f"N = {self.n}, {str(self.dtype).removeprefix('torch.')}"


def run(configs: list[Config]) -> list[tuple[Config, list[Row], float]]:
    """Measure every task of every configuration, printing each table as it is done.

    Returns:
        (config, rows, seconds it took) per configuration.
    """
    done = []
    for config in configs:
        start = time.perf_counter()
        problem = make_problem(config.n, config.dtype)
        rows = []
        for task in TASKS:
            rows += measure(task, problem, config.warmup, config.repeats)
        seconds = time.perf_counter() - start
        print(f"\n### {config.label} ({config.repeats} repeats, {seconds:.0f} s)\n")
        print(table(rows))
        print(verdict(rows))
        sys.stdout.flush()
        done.append((config, rows, seconds))
    return done


# -------------------------------------------------------------------------- reporting


def table(rows: list[Row]) -> str:
    """A markdown table: task, method, median ms, IQR, ratio to wrt, max abs diff."""
    lines = [
        "| task | method | median ms | IQR | peer / wrt | max abs diff vs wrt |",
        "|---|---|--:|--:|--:|--:|",
    ]
    previous = None
    for row in rows:
        task = row.task if row.task != previous else ""
        previous = row.task
        ratio = "1 (ref)" if row.peer.startswith("wrt") else f"{row.ratio:.2f}x"
        lines.append(
            f"| {task} | `{row.peer}` | {row.median_ms:.2f} | {row.iqr_pct:.0f}% "
            f"| {ratio} | {row.max_abs_diff:.1e} |"
        )
    return "\n".join(lines)


def verdict(rows: list[Row]) -> str:
    """Whether first order is within FIRST_ORDER_BUDGET of vmap(jacrev)."""
    by_name = {r.peer: r for r in rows if r.task == TASKS[0].title}
    wrt_ms = by_name[TASKS[0].peers[0].name].median_ms
    jacrev_ms = by_name["vmap(jacrev(f))"].median_ms
    slower = wrt_ms / jacrev_ms
    status = "met" if slower <= FIRST_ORDER_BUDGET else "NOT met"
    return (
        f"First order: wrt.grad takes {slower:.2f}x the time of vmap(jacrev(f)) "
        f"(budget {FIRST_ORDER_BUDGET}x): {status}."
    )


def machine() -> str:
    """CPU model and core count, e.g. ``Intel Xeon ... , 2 cores, 2 torch threads``."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads "
        "(default)"
    )


def background_load(seconds: float = 1.0) -> float | None:
    """Share of all CPU time spent busy over ``seconds`` while this process sleeps.

    Read from ``/proc/stat`` (Linux); None elsewhere. A value well above 0 means
    another process was running and the timings below are likely inflated.
    """

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(total1 - total0, 1)


HOW_TO_READ = """\
**How to read.** Each row is one way of computing the same derivatives at the same
points with the same network; every result was checked against wrt's before timing
(last column: max absolute difference). *median ms* is the median wall time of one
full call (`time.perf_counter`) after warm-up, and *IQR* its interquartile spread as
a share of the median (a large IQR means noisy timings). All methods of a task
were run interleaved, round after round, so that background load affects them alike.
*peer / wrt* divides the peer's median by wrt's: **above 1 means wrt is faster**,
below 1 means the peer is. wrt's time includes everything a user pays: parsing the
specs, checking the points (NaN / Inf), building the result mapping. The `[floor]`
and "by hand" rows are bare `torch.autograd.grad` code with no checks: the cost wrt
would have with zero overhead. `f` is the single-point function
`row -> net(row[None])[0, 0]` that torch.func needs."""


def markdown(
    results: list[tuple[Config, list[Row], float]],
    command: str,
    load: float | None,
) -> str:
    """The whole docs/benchmarks.md page."""
    busy = "unknown" if load is None else f"{100 * load:.0f}% of all cores"
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    parts = [
        "# Benchmarks: wrt's autograd engine against torch peers",
        "",
        f"Generated by `{command}` on {now}.",
        "",
        f"- torch {torch.__version__}, Python {platform.python_version()}, "
        f"wrt {wrt.__version__}",
        f"- machine: {machine()}; background CPU use just before the run: {busy}",
        "- model: the seed network, 2 inputs, tanh layers 64-64-32-32-16-16-8, "
        "linear output (Glorot init, seed 0); points on the seed's line "
        "`x2 = 1.5 x1`",
        f"- N (points): {', '.join(sorted({str(c.n) for c, _, _ in results}))}",
        "",
        HOW_TO_READ,
    ]
    for config, rows, seconds in results:
        parts += [
            "",
            f"## {config.label}",
            "",
            f"{config.warmup} warm-up rounds, median of {config.repeats} "
            f"({seconds:.0f} s for this table).",
            "",
            table(rows),
            "",
            verdict(rows),
        ]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command line: ``[--quick] [--write PATH]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="N=2000, float32 only, few repeats"
    )
    parser.add_argument("--write", type=Path, help="write the markdown tables here")
    args = parser.parse_args(argv)
    if args.quick:
        configs = [Config(2000, torch.float32, warmup=1, repeats=5)]
    else:
        configs = [
            Config(2000, torch.float32, warmup=3, repeats=21),
            Config(2000, torch.float64, warmup=2, repeats=11),
            Config(20000, torch.float32, warmup=1, repeats=5),
        ]
    load = background_load()
    print(f"torch {torch.__version__} | {machine()}")
    if load is not None:
        print(f"background CPU use before the run: {100 * load:.0f}%")
        if load > 0.25:
            print("warning: the machine is busy; timings will be noisy and inflated")
    results = run(configs)
    if args.write:
        command = "python bench/bench_autograd.py" + " --quick" * args.quick
        command += f" --write {args.write}"
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(markdown(results, command, load))
        print(f"\nWrote {args.write}")


if __name__ == "__main__":
    main()
