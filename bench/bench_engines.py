"""Side-by-side benchmark of wrt's engines (autograd, taylor, auto) against peers.

One process run measures, for each problem (network + points) and each task, wrt
with ``engine="autograd"``, ``"taylor"`` and ``"auto"``, the PyTorch peers
(torch.func transforms, hand-written nested ``torch.autograd.grad``), and the
optional peers that import here: jet-for-pytorch (Taylor mode for PyTorch) and
JAX + folx (jit-compiled). For each task every method's result is first checked
against wrt's autograd engine (max abs difference, asserted within float
tolerance), then all methods are timed interleaved, round after round with a
rotating start, so that machine noise hits them alike. Last, each method runs once
more under ``torch.profiler`` to record the peak of torch's CPU memory.

Usage::

    python bench/bench_engines.py             # every problem (about 10 min)
    python bench/bench_engines.py --quick     # seed network, f32, no slow methods
    python bench/bench_engines.py --write docs/benchmarks.md
    python bench/bench_engines.py --problems paper --tasks laplacian

The optional peers are installed by ``make bench-peers`` in ``.bench-venv`` (never
in wrt's dependencies); where they do not import, their rows are left out and the
page says why. This is a benchmark, not a test: it asserts agreement, never speed;
it prints (and writes) which of the Taylor engine's targets are met.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peers_jax
import peers_jet
import peers_torch
import torch
from problems import DESCRIPTIONS, JAX, JET, TORCH, WRT, Method, Problem, make_problem

import wrt
from wrt.engines.base import Request, WeightedTrace
from wrt.engines.choose import resolve

#: Agreement with wrt's autograd result, relative to its largest |value|.
RTOL = {torch.float32: 1e-3, torch.float64: 1e-9}

ENGINES = ("autograd", "taylor", "auto")

TITLES = {
    "grad": "gradient (N, D)",
    "hessian": "Hessian (N, D, D)",
    "laplacian": "Laplacian (sum of d2y/dxi^2)",
    "d3_mixed": "d3y/dx1^2dx2",
    "d4": "d4y/dx1^4",
    "d5": "d5y/dx1^5",
    "set3": "dy/dx1, d2y/dx1^2, d3y/dx1^2dx2 together",
    "burgers": "Burgers residual set: du/dt, du/dx, d2u/dx^2",
}


# ---------------------------------------------------------------------- wrt's rows


def specs(task: str, p: Problem) -> list[str]:
    """The spec strings of ``task`` (what wrt.grad / hessian / laplacian ask)."""
    y, xs = p.output, p.inputs
    if task == "grad":
        return [f"d{y}/d{x}" for x in xs]
    if task == "hessian":
        return [
            f"d2{y}/d{a}^2" if a == b else f"d2{y}/d{a}d{b}"
            for i, a in enumerate(xs)
            for b in xs[i:]
        ]
    if task == "laplacian":
        return [f"d2{y}/d{x}^2" for x in xs]
    fixed = {
        "d3_mixed": ["d3y/dx1^2dx2"],
        "d4": ["d4y/dx1^4"],
        "d5": ["d5y/dx1^5"],
        "set3": ["dy/dx1", "d2y/dx1^2", "d3y/dx1^2dx2"],
        "burgers": ["du/dt", "du/dx", "d2u/dx^2"],
    }
    return fixed[task]


def wrt_methods(task: str, p: Problem) -> list[Method]:
    """wrt with each engine; ``auto`` says which engine it picked.

    The rows on ``p.model`` measure the steady state of repeated calls (its
    :class:`~wrt.cache.Cache` keeps traces between calls); the engines asked by
    name run eagerly (``compile=False``), ``auto`` with ``compile="auto"`` (it
    compiles once the repeated work repays it, during warm-up). One more row runs the
    Taylor engine through ``torch.compile`` (``TaylorEngine(compile=True)``),
    compiled here, before timing; its compile time is part of its name. The
    ``one-shot`` row wraps the network afresh on every call (``engine="auto"``):
    what a single call in a new session pays (tracing, planning), compile-free.
    """
    asked = specs(task, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "laplacian":
            trace = WeightedTrace(p.model.outputs[0], tuple(range(len(p.inputs))))
            picked = resolve("auto", p.model, Request((), operators=(trace,))).name
        else:
            picked = wrt.partials(p.model, p.X[:4], asked, engine="auto").engine

    def call(
        engine: Any, fresh: bool = False, compile: Any = "auto"
    ) -> Callable[[], torch.Tensor]:
        def model() -> wrt.Model:
            if not fresh:
                return p.model
            return wrt.wrap(p.net, inputs=list(p.inputs), outputs=[p.output])

        if task == "grad":
            return lambda: wrt.grad(model(), p.X, engine=engine, compile=compile)
        if task == "hessian":
            return lambda: wrt.hessian(model(), p.X, engine=engine, compile=compile)
        if task == "laplacian":
            return lambda: wrt.laplacian(model(), p.X, engine=engine, compile=compile)

        def partials() -> torch.Tensor:
            result = wrt.partials(model(), p.X, asked, engine=engine, compile=compile)
            if len(asked) == 1:
                return result[asked[0]]
            return torch.stack([result[s] for s in asked], dim=1)

        return partials

    if task in ("grad", "hessian", "laplacian"):
        what = f"wrt.{task}"
    elif len(asked) == 1:
        what = f'wrt.partials("{asked[0]}")'
    else:
        what = f"wrt.partials([{len(asked)} specs])"
    rows = []
    for engine in ENGINES:
        # the engines by name run eagerly; auto may compile (compile="auto")
        label = f"auto: {picked}" if engine == "auto" else engine
        mode = "auto" if engine == "auto" else False
        rows.append(Method(f"{what} [{label}]", WRT, call(engine, compile=mode)))
    one_shot = call("auto", fresh=True)
    rows.append(
        Method(f"{what} [auto, one-shot: a fresh model per call]", WRT, one_shot)
    )
    if task != "grad":
        compiled = wrt.TaylorEngine(compile=True)
        fn = call(compiled)
        fn()  # compiles the shapes of this call
        rows.append(
            Method(
                f"{what} [taylor, torch.compile: {compiled.compile_seconds:.0f} s "
                "to compile]",
                WRT,
                fn,
            )
        )
    return rows


def all_methods(task: str, p: Problem, optional: bool, quick: bool) -> list[Method]:
    """wrt's rows first (autograd: the reference), then every peer's."""
    rows = wrt_methods(task, p) + peers_torch.methods(task, p)
    if optional:
        rows += peers_jet.methods(task, p) + peers_jax.methods(task, p)
    return [m for m in rows if not (quick and m.slow)]


# -------------------------------------------------------------------------- measuring


@dataclass
class Row:
    """The measurement of one method on one task."""

    task: str
    method: str
    kind: str
    median_ms: float
    iqr_pct: float
    peak_mib: float | None
    max_abs_diff: float


def as_tensor(value: Any) -> torch.Tensor:
    """A method's result as a detached torch tensor."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    return peers_jax.to_torch(value)


def check(title: str, methods: list[Method], dtype: torch.dtype) -> list[float]:
    """Every method's max abs difference from wrt's autograd result; asserts agreement.

    The first call of each method also compiles / traces what it caches.

    Raises:
        AssertionError: a method disagrees beyond ``RTOL`` (relative to max |ref|).
    """
    results = [as_tensor(m.fn()) for m in methods]
    reference = results[0].to(dtype)
    scale = float(reference.abs().max()) or 1.0
    diffs = []
    for method, result in zip(methods, results, strict=True):
        assert result.shape == reference.shape, (method.name, tuple(result.shape))
        diff = float((result.to(dtype) - reference).abs().max())
        assert diff <= RTOL[dtype] * scale, (
            f"{title}: {method.name} differs from wrt by {diff:.3g} "
            f"(max |wrt| = {scale:.3g}, rtol {RTOL[dtype]:g})"
        )
        diffs.append(diff)
    return diffs


@contextlib.contextmanager
def _stderr_muted() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null (C++ logging bypasses sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory_mib(fn: Callable[[], Any]) -> float | None:
    """Peak of torch's CPU allocations during one call of ``fn``, above the start.

    Read from ``torch.profiler`` (``profile_memory=True``): every allocation and
    free of torch's CPU allocator is recorded with the running total, so the peak
    counts every tensor the call creates (temporaries, saved activations, the
    result) and nothing allocated before it. It does not see memory outside
    torch's allocator (Python objects, JAX). None if the profiler's event tree is
    not available in this torch version.
    """
    try:
        from torch._C._profiler import _EventType
        from torch.profiler import ProfilerActivity, profile

        with _stderr_muted():  # kineto logs two lines per session on stderr
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
                fn()
        stack = list(p.profiler.kineto_results.experimental_event_tree())
    except Exception:  # private API: treat any change as "not measured"
        return None
    events = []
    while stack:
        event = stack.pop()
        stack.extend(event.children)
        if event.tag == _EventType.Allocation:
            extra = event.extra_fields
            events.append(
                (event.start_time_ns, extra.alloc_size, extra.total_allocated)
            )
    if not events:
        return 0.0
    events.sort()
    start = events[0][2] - events[0][1]
    return max(0, max(total for _, _, total in events) - start) / 2**20


def _timed(methods: list[Method], warmup: int, repeats: int) -> list[list[float]]:
    """Seconds per call of each method, interleaved round after round.

    Each round runs every method once, starting from a different one each round,
    with the garbage collector off during a call (as ``timeit`` does). The objects
    that exist before timing are frozen out of the collector (``gc.freeze``), so
    that the collection before each call costs little with JAX loaded.
    """
    for _ in range(warmup):
        for method in methods:
            method.fn()
    samples: list[list[float]] = [[] for _ in methods]
    gc.collect()
    gc.freeze()
    try:
        _rounds(methods, repeats, samples)
    finally:
        gc.unfreeze()
    return samples


def _rounds(methods: list[Method], repeats: int, samples: list[list[float]]) -> None:
    for r in range(repeats):
        for k in range(len(methods)):
            i = (r + k) % len(methods)
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                methods[i].fn()
                samples[i].append(time.perf_counter() - start)
            finally:
                gc.enable()


def measure(
    title: str, methods: list[Method], dtype: torch.dtype, warmup: int, repeats: int
) -> list[Row]:
    """Check, warm up, time every method interleaved, then probe peak memory.

    JAX rows are timed in a group of their own, after the others: XLA's CPU
    thread pool keeps running briefly after a call and slowed the torch call that
    followed it by about 10-20% when they were interleaved.
    """
    diffs = check(title, methods, dtype)
    groups = [
        [i for i, m in enumerate(methods) if m.kind != JAX],
        [i for i, m in enumerate(methods) if m.kind == JAX],
    ]
    samples: list[list[float]] = [[] for _ in methods]
    for group in groups:
        if group:
            timed = _timed([methods[i] for i in group], warmup, repeats)
            for i, times in zip(group, timed, strict=True):
                samples[i] = times
    rows = []
    for method, times, diff in zip(methods, samples, diffs, strict=True):
        med = statistics.median(times)
        q = statistics.quantiles(times, n=4) if len(times) > 1 else [med, med, med]
        gc.collect()
        peak = peak_memory_mib(method.fn) if method.torch_memory else None
        rows.append(
            Row(
                task=title,
                method=method.name,
                kind=method.kind,
                median_ms=med * 1e3,
                iqr_pct=100 * (q[2] - q[0]) / med,
                peak_mib=peak,
                max_abs_diff=diff,
            )
        )
    return rows


@dataclass
class Config:
    """One table: a problem, a number of points, a dtype and how many repeats."""

    problem: str
    n: int
    dtype: torch.dtype
    warmup: int
    repeats: int

    @property
    def label(self) -> str:
        """E.g. ``seed network, N = 2000, float32``."""
        name = {"seed": "seed network", "pinn": "PINN", "paper": "paper MLP"}
        dtype = str(self.dtype).removeprefix("torch.")
        return f"{name[self.problem]}, N = {self.n}, {dtype}"


@dataclass
class Table:
    """The rows of one configuration, per task, and how long it took."""

    config: Config
    tasks: dict[str, list[Row]]
    seconds: float


def run(
    configs: list[Config], tasks: set[str] | None, optional: bool, quick: bool
) -> list[Table]:
    """Measure every task of every configuration, printing each table as it is done.

    ``quick`` leaves out the methods marked slow (ten or more times slower).
    """
    done = []
    for config in configs:
        start = time.perf_counter()
        problem = make_problem(config.problem, config.n, config.dtype)
        measured: dict[str, list[Row]] = {}
        for task in problem.tasks:
            if tasks is not None and task not in tasks:
                continue
            methods = all_methods(task, problem, optional, quick)
            title = f"{len(measured) + 1}. {TITLES[task]}"
            measured[task] = measure(
                title, methods, config.dtype, config.warmup, config.repeats
            )
        table = Table(config, measured, time.perf_counter() - start)
        print(f"\n### {config.label} ({config.repeats} repeats, {table.seconds:.0f} s)")
        print()
        print(markdown_table(table))
        print()
        print(summary(table))
        sys.stdout.flush()
        done.append(table)
    return done


# -------------------------------------------------------------------------- reporting


def _by(rows: list[Row], engine: str) -> Row | None:
    """wrt's row for ``engine``: autograd, taylor, auto or torch.compile."""
    labels = {
        "auto": "[auto:",
        "torch.compile": "torch.compile:",
        "one-shot": "one-shot:",
    }
    label = labels.get(engine, f"[{engine}]")
    return next((r for r in rows if r.kind == WRT and label in r.method), None)


def taylor_row(rows: list[Row]) -> Row:
    """The row of wrt's taylor engine."""
    row = _by(rows, "taylor")
    assert row is not None
    return row


def fastest(rows: list[Row], kinds: tuple[str, ...]) -> Row | None:
    """The fastest row among ``kinds``."""
    candidates = [r for r in rows if r.kind in kinds]
    return min(candidates, key=lambda r: r.median_ms) if candidates else None


def markdown_table(table: Table) -> str:
    """Task, method, median ms, IQR, time / taylor, peak MiB, max abs diff."""
    lines = [
        "| task | method | median ms | IQR | time / taylor | peak MiB | max abs diff |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for rows in table.tasks.values():
        taylor = taylor_row(rows).median_ms
        for k, row in enumerate(rows):
            task = row.task if k == 0 else ""
            ratio = "1 (ref)" if row.method.endswith("[taylor]") else ""
            ratio = ratio or f"{row.median_ms / taylor:.2f}x"
            peak = "n/a" if row.peak_mib is None else f"{row.peak_mib:.1f}"
            lines.append(
                f"| {task} | `{row.method}` | {row.median_ms:.2f} | "
                f"{row.iqr_pct:.0f}% | {ratio} | {peak} | {row.max_abs_diff:.1e} |"
            )
    return "\n".join(lines)


def summary(table: Table) -> str:
    """One line per task: taylor against autograd and against the fastest peers."""
    lines = []
    for rows in table.tasks.values():
        taylor = taylor_row(rows)
        autograd = _by(rows, "autograd")
        torch_peer = fastest(rows, (TORCH, JET))
        jax_peer = fastest(rows, (JAX,))
        parts = [f"autograd engine {autograd.median_ms / taylor.median_ms:.2f}x"]
        if torch_peer is not None:
            parts.append(
                f"fastest PyTorch peer `{torch_peer.method}` "
                f"{torch_peer.median_ms / taylor.median_ms:.2f}x"
            )
        if jax_peer is not None:
            parts.append(
                f"fastest JAX `{jax_peer.method}` "
                f"{jax_peer.median_ms / taylor.median_ms:.2f}x"
            )
        lines.append(f"- {rows[0].task}: taylor vs " + "; ".join(parts))
    return "\n".join(lines)


@dataclass
class Target:
    """One of the Taylor engine's speed targets (ratio: other's time / taylor's)."""

    text: str
    problem: str
    dtype: torch.dtype
    task: str
    pick: Callable[[list[Row]], Row | None]
    least: float
    #: first order is a ceiling on taylor / peer, not a floor on peer / taylor
    ceiling: bool = False


def _named(fragment: str) -> Callable[[list[Row]], Row | None]:
    return lambda rows: next((r for r in rows if fragment in r.method), None)


def _torch_peers(rows: list[Row]) -> Row | None:
    return fastest(rows, (TORCH, JET))


TARGETS = (
    Target(
        "d4y/dx1^4 (seed): nested autograd.grad / taylor >= 5",
        "seed",
        torch.float32,
        "d4",
        _named("nested autograd"),
        5.0,
    ),
    Target(
        "d4y/dx1^4 (seed): jet-for-pytorch / taylor >= 2",
        "seed",
        torch.float32,
        "d4",
        lambda rows: fastest(rows, (JET,)),
        2.0,
    ),
    Target(
        "d3y/dx1^2dx2 (seed): fastest PyTorch peer / taylor >= 2",
        "seed",
        torch.float32,
        "d3_mixed",
        _torch_peers,
        2.0,
    ),
    Target(
        "Hessian (seed): fastest PyTorch peer / taylor >= 2",
        "seed",
        torch.float32,
        "hessian",
        _torch_peers,
        2.0,
    ),
    Target(
        "Laplacian (paper MLP): jet-for-pytorch / taylor >= 1.2",
        "paper",
        torch.float32,
        "laplacian",
        lambda rows: fastest(rows, (JET,)),
        1.2,
    ),
    Target(
        "Burgers set (PINN): nested autograd.grad / taylor >= 1.5",
        "pinn",
        torch.float32,
        "burgers",
        _named("nested autograd"),
        1.5,
    ),
    *(
        Target(
            f"gradient ({name}): taylor / fastest PyTorch peer <= 1.1",
            key,
            torch.float32,
            "grad",
            _torch_peers,
            1.1,
            ceiling=True,
        )
        for key, name in (("seed", "seed"), ("pinn", "PINN"), ("paper", "paper MLP"))
    ),
)


#: wrt's rows in the targets table, by :func:`_by`'s engine labels.
TARGET_COLUMNS = ("taylor", "auto", "torch.compile", "one-shot")


def targets(tables: list[Table]) -> str:
    """A markdown table: each target, its ratio for each of wrt's rows, met or not.

    *met* is judged on the better steady state a user gets without writing an
    engine by hand: ``auto``, or the Taylor engine compiled (its compile time is
    in the task's table); the eager taylor and one-shot ratios are shown beside.
    """
    lines = [
        "| target (float32) | against | taylor | auto | taylor + torch.compile "
        "| auto, one-shot | met (auto or compiled) |",
        "|---|---|--:|--:|--:|--:|---|",
    ]
    for target in TARGETS:
        rows = next(
            (
                t.tasks[target.task]
                for t in tables
                if t.config.problem == target.problem
                and t.config.dtype == target.dtype
                and target.task in t.tasks
            ),
            None,
        )
        other = target.pick(rows) if rows is not None else None
        if other is None:
            lines.append(f"| {target.text} | not measured in this run | | | | | |")
            continue
        cells = []
        ratios: dict[str, float] = {}
        for engine in TARGET_COLUMNS:
            ours = _by(rows, engine)
            if ours is None:
                cells.append("n/a")
                continue
            ratios[engine] = (
                ours.median_ms / other.median_ms
                if target.ceiling
                else other.median_ms / ours.median_ms
            )
            cells.append(f"{ratios[engine]:.2f}")
        steady = [ratios[e] for e in ("auto", "torch.compile") if e in ratios]
        value = (min if target.ceiling else max)(steady)
        met = value <= target.least if target.ceiling else value >= target.least
        lines.append(
            f"| {target.text} | `{other.method}` | {' | '.join(cells)} "
            f"| {'met' if met else '**not met**'} |"
        )
    return "\n".join(lines)


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


def peers_status(optional: bool) -> list[str]:
    """One line per optional peer: its version, or why its rows are missing."""
    if not optional:
        return ["optional peers (jet-for-pytorch, JAX, folx): left out (--no-peers)"]
    hint = "; `make bench-peers` installs it in .bench-venv"
    lines = []
    if peers_jet.available():
        lines.append(f"jet-for-pytorch {peers_jet.version()}")
    else:
        lines.append(f"jet-for-pytorch: not importable ({peers_jet.WHY}){hint}")
    if peers_jax.available():
        lines.append(peers_jax.versions() + " (CPU, jit)")
        if peers_jax.folx is None:
            lines.append(f"folx: not importable ({peers_jax.FOLX_WHY}){hint}")
    else:
        lines.append(f"JAX / folx: not importable ({peers_jax.WHY}){hint}")
    return lines


HOW_TO_READ = """\
**How to read.** Each row is one way of computing the same derivatives at the same
points with the same network; every result was checked against wrt's autograd
engine before timing (last column: max absolute difference). *median ms* is the
median wall time of one full call (`time.perf_counter`) after warm-up, and *IQR* its
interquartile spread as a share of the median (a large IQR means noisy timings).
All methods of a task were run interleaved, round after round, so that background
load affects them alike. *time / taylor* divides the row's median by that of wrt's
taylor engine: **above 1 means the taylor engine is faster**. wrt's rows include
everything a user pays: parsing the specs, checking the points (NaN / Inf),
building the result mapping; `[auto: ...]` is the default engine choice and says
which engine it took. The `[floor]` and "by hand" rows are bare
`torch.autograd.grad` code with no checks (the DeepXDE way). `f` is the
single-point function `row -> net(row[None])[0, 0]` that torch.func needs. jet rows
run captured + CSE under `torch.no_grad()`, as jet's own benchmark does; JAX rows
are `jax.jit`-compiled (compiled before timing), so they measure XLA, not eager
PyTorch, and are not among the "PyTorch peers" of the targets.

*peak MiB* is the peak of the memory held by torch's CPU allocator during one
call, above what was held before it, read from `torch.profiler`
(`profile_memory=True`), which records every allocation and free of torch's CPU
allocator with its running total: it counts every tensor the call creates
(activations kept for backward, Taylor coefficients, temporaries, the result),
not memory outside torch (Python objects, the traced graphs built before timing)
and so not JAX's (n/a). Process RSS was not used: on CPU it is dominated by the
interpreter and libraries and by allocator caching, and is much coarser.

Peak memory also costs time. glibc hands blocks above 32 MiB back to the system
when they are freed, so a call whose tensors are that large page-faults its memory
afresh every time (the first Taylor engine's Laplacian on the paper MLP, about
1 GiB, spent as much system time on page faults as on arithmetic). The taylor
engine therefore sizes its chunks so that its widest stack of coefficients stays
under 24 MiB."""


def markdown(tables: list[Table], command: str, load: float | None, opt: bool) -> str:
    """The whole docs/benchmarks.md page."""
    busy = "unknown" if load is None else f"{100 * load:.0f}% of all cores"
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    problems = dict.fromkeys(t.config.problem for t in tables)
    parts = [
        "# Benchmarks: wrt's engines against PyTorch (and JAX) peers",
        "",
        f"Generated by `{command}` on {now}.",
        "",
        f"- torch {torch.__version__}, Python {platform.python_version()}, "
        f"wrt {wrt.__version__}",
        *(f"- {line}" for line in peers_status(opt)),
        f"- machine: {machine()}; background CPU use just before the run: {busy}",
        *(f"- {key}: {DESCRIPTIONS[key]}" for key in problems),
        "",
        HOW_TO_READ,
        "",
        "## Targets of the Taylor engine",
        "",
        "Each ratio is the other method's median time over wrt's (above 1: wrt is "
        "faster), except first order, where it is wrt's over the peer's (at most "
        '1.1 allowed). *auto* is the same ratio for `engine="auto"` on a model '
        "called again and again (the steady state), *taylor + torch.compile* for "
        "`TaylorEngine(compile=True)` after its compile (seconds in the task's "
        "table), *auto, one-shot* for a model wrapped afresh on every call (what "
        "one call in a new session pays). *met* is judged on the better of *auto* "
        "and *taylor + torch.compile*. The fastest PyTorch peer is taken over "
        "torch.func, nested autograd.grad (including the `[floor]` rows) and "
        "jet-for-pytorch.",
        "",
        targets(tables),
    ]
    for table in tables:
        config = table.config
        parts += [
            "",
            f"## {config.label}",
            "",
            f"{config.warmup} warm-up rounds, median of {config.repeats} "
            f"({table.seconds:.0f} s for this table).",
            "",
            markdown_table(table),
            "",
            summary(table),
        ]
    return "\n".join(parts) + "\n"


CONFIGS = {
    "full": [
        Config("seed", 2000, torch.float32, warmup=2, repeats=15),
        Config("seed", 2000, torch.float64, warmup=1, repeats=9),
        Config("pinn", 4096, torch.float32, warmup=2, repeats=15),
        Config("paper", 256, torch.float32, warmup=1, repeats=7),
    ],
    "quick": [Config("seed", 2000, torch.float32, warmup=1, repeats=5)],
}


def main(argv: list[str] | None = None, script: str = "bench/bench_engines.py") -> None:
    """Command line: ``[--quick] [--write PATH] [--problems ...] [--tasks ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="seed network, float32, few repeats, without the slow methods",
    )
    parser.add_argument("--write", type=Path, help="write the markdown page here")
    parser.add_argument(
        "--problems", help="comma-separated subset of seed, pinn, paper"
    )
    parser.add_argument(
        "--tasks", help=f"comma-separated subset of {', '.join(TITLES)}"
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="leave out jet-for-pytorch and JAX"
    )
    args = parser.parse_args(argv)
    configs = CONFIGS["quick" if args.quick else "full"]
    if args.problems:
        keep = set(args.problems.split(","))
        configs = [c for c in configs if c.problem in keep]
    tasks = set(args.tasks.split(",")) if args.tasks else None
    optional = not args.no_peers
    load = background_load()
    print(f"torch {torch.__version__} | {machine()}")
    for line in peers_status(optional):
        print(line)
    if load is not None:
        print(f"background CPU use before the run: {100 * load:.0f}%")
        if load > 0.25:
            print("warning: the machine is busy; timings will be noisy and inflated")
    tables = run(configs, tasks, optional, args.quick)
    print("\n## Targets of the Taylor engine\n")
    print(targets(tables))
    if args.write:
        python = os.path.relpath(sys.executable)
        python = python if not python.startswith("..") else "python"
        command = f"{python} {script}" + " ".join(["", *(argv or sys.argv[1:])])
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(markdown(tables, command, load, optional))
        print(f"\nWrote {args.write}")


if __name__ == "__main__":
    main()
