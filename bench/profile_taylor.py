"""Where the Taylor engine's time goes: one task, three views.

1. Wall time per call (median) of ``engine="taylor"`` and ``engine="autograd"``.
2. ``torch.profiler``: the ATen operations that the taylor call runs, by total
   self CPU time, their count, and the rest of the wall time (Python: spec parsing,
   checks, the graph walk, rule dispatch).
3. ``cProfile``: cumulative time of wrt's own functions (the phases: checks,
   planning, trace-cache lookup, propagation, tanh recurrences, assembly).

Usage::

    python bench/profile_taylor.py --problem seed --task d4
    python bench/profile_taylor.py --problem paper --task laplacian --calls 3
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engines import wrt_methods  # noqa: E402
from problems import make_problem  # noqa: E402


def median_ms(fn, calls: int) -> float:
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def aten_breakdown(fn, calls: int, top: int) -> str:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        wall = (time.perf_counter() - start) / calls
    total: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for event in prof.key_averages():
        if event.key.startswith("aten::"):
            total[event.key] += event.self_cpu_time_total / 1e3 / calls
            count[event.key] += event.count // calls
    aten = sum(total.values())
    lines = [
        f"wall under the profiler: {1e3 * wall:.1f} ms/call; ATen self time "
        f"{aten:.1f} ms ({100 * aten / (1e3 * wall):.0f}%), "
        f"{sum(count.values())} ATen calls/call",
        f"{'op':<28} {'ms/call':>8} {'calls':>6}",
    ]
    for key in sorted(total, key=total.get, reverse=True)[:top]:
        lines.append(f"{key:<28} {total[key]:8.2f} {count[key]:6d}")
    return "\n".join(lines)


def python_breakdown(fn, calls: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"wrt/", top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="seed", help="seed, pinn or paper")
    parser.add_argument("--task", default="d4", help="a task key of bench_engines")
    parser.add_argument("--n", type=int, help="points (default: the benchmark's)")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    n = args.n or {"seed": 2000, "pinn": 4096, "paper": 256}[args.problem]
    problem = make_problem(args.problem, n, torch.float32)
    rows = wrt_methods(args.task, problem)  # autograd, taylor, auto
    autograd, taylor = rows[0].fn, rows[1].fn
    print(f"{args.problem}, N = {n}, task {args.task}")
    print(
        f"median ms: taylor {median_ms(taylor, args.calls):.2f}, "
        f"autograd {median_ms(autograd, args.calls):.2f}\n"
    )
    print(aten_breakdown(taylor, args.calls, args.top))
    print()
    print(python_breakdown(taylor, args.calls, args.top))


if __name__ == "__main__":
    main()
