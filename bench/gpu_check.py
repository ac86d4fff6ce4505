"""GPU check: the engines on a device agree with CPU float64, and their timings there.

Two parts, one command:

1. **Agreement.** Networks with parameters from the test zoo (tanh, sigmoid and
   softplus MLPs, one hidden layer), a two-layer tanh MLP with three outputs and
   the seed network go to the device; every engine (``taylor``, ``autograd``,
   ``finite_diff``) computes partials of orders 1 to 4, pure and mixed, and
   ``taylor`` and ``autograd`` the Laplacian, there, in float64 (and the exact
   engines in float32 too). Each result must be on the device and agree with
   ``autograd`` run on the CPU in float64 to the engine's tolerance; a
   disagreement makes the exit status 1.
2. **Timings.** The seed network (N = 2000) and the Burgers PINN (N = 4096), in
   float32 on the device: wrt's engines and nested ``torch.autograd`` (the PyTorch
   peer of ``bench/peers_torch.py``) on the tasks of ``bench/bench_engines.py``,
   interleaved, the device synchronised around every call (``torch.cuda
   .synchronize`` on CUDA only). The result is a Markdown table for
   ``docs/benchmarks.md``.

Only device-agnostic torch calls are used, so ``--device cpu`` is a dry run of the
same code (the test suite runs ``--device cpu --quick``).

Usage::

    python bench/gpu_check.py [--device cuda] [--quick] [--write PATH]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import peers_torch  # noqa: E402 - bench/ and tests/ are not packages
from problems import Problem, make_problem  # noqa: E402

import wrt  # noqa: E402
import zoo  # noqa: E402

#: rtol, and atol relative to the largest reference value, per engine and dtype.
#: float64: autograd and Taylor are exact to round-off (the test suite holds them
#: to 1e-10; a device's other summation order adds a few ulps); finite_diff
#: promises 1e-6. float32: about 1e-7 per operation over a few dozen operations,
#: amplified per order.
TOLERANCES = {
    ("taylor", torch.float64): (1e-9, 1e-10),
    ("autograd", torch.float64): (1e-9, 1e-10),
    ("finite_diff", torch.float64): (1e-5, 1e-6),
    ("taylor", torch.float32): (1e-3, 1e-4),
    ("autograd", torch.float32): (1e-3, 1e-4),
}


@dataclass(frozen=True)
class Agreement:
    """One engine on one network and dtype against CPU float64 autograd."""

    network: str
    engine: str
    dtype: torch.dtype
    worst: float  # largest error / allowed error over every spec and point
    worst_spec: str
    on_device: bool

    @property
    def ok(self) -> bool:
        """Within tolerance everywhere, and computed on the device."""
        return self.on_device and self.worst <= 1.0


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def networks(
    quick: bool,
) -> dict[str, tuple[torch.nn.Module, tuple, tuple, torch.Tensor]]:
    """Name -> (float64 module, inputs, outputs, points (N, n_in) on the CPU)."""
    found = {}
    for case in zoo.CASES:
        if any(True for _ in case.module.parameters()):  # a device to move to
            points = torch.from_numpy(case.points)
            found[case.name] = (case.module, case.inputs, case.outputs, points)
    torch.manual_seed(0)
    three = torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16),
        torch.nn.Tanh(), torch.nn.Linear(16, 3),
    ).double()  # fmt: skip
    found["mlp-2-3"] = (three, ("x", "t"), ("u", "v", "w"), torch.rand(64, 2) * 2 - 1)
    seed = make_problem("seed", 64, torch.float64)
    found["seed"] = (seed.net, seed.inputs, (seed.output,), seed.X)
    if quick:
        found = {"tanh_mlp": found["tanh_mlp"]}
    return found


def specs_of(inputs: tuple, outputs: tuple) -> list[str]:
    """Orders 1 to 4, pure and mixed, of the first and last output."""
    a, b = inputs[0], inputs[-1]
    specs = []
    for y in dict.fromkeys([outputs[0], outputs[-1]]):
        specs += [f"d{y}/d{a}", f"d2{y}/d{a}^2", f"d2{y}/d{a}d{b}"]
        specs += [f"d3{y}/d{a}^2d{b}", f"d4{y}/d{a}^4", f"d4{y}/d{a}^2d{b}^2"]
    return list(dict.fromkeys(specs))


def compare(
    got: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float
) -> float:
    """Largest ``|got - expected| / (rtol |expected| + atol max|expected|)``."""
    got = got.detach().to("cpu", torch.float64)
    scale = max(1.0, float(expected.abs().max()))
    allowed = rtol * expected.abs() + atol * scale
    ratio = (got - expected).abs() / allowed
    return math.inf if not bool(torch.isfinite(got).all()) else float(ratio.max())


def agreement(device: torch.device, quick: bool) -> list[Agreement]:
    """Every engine on every network on ``device``, against CPU float64 autograd."""
    rows = []
    for name, (module, inputs, outputs, points) in networks(quick).items():
        specs = specs_of(inputs, outputs)
        cpu = wrt.wrap(module, inputs=list(inputs), outputs=list(outputs))
        x64 = points.to(torch.float64)
        reference = wrt.partials(cpu, x64, specs, engine="autograd")
        out = outputs[-1]
        lap_reference = wrt.laplacian(cpu, x64, output=out, engine="autograd")
        for (engine, dtype), (rtol, atol) in TOLERANCES.items():
            moved = copy.deepcopy(module).to(device=device, dtype=dtype)
            model = wrt.wrap(moved, inputs=list(inputs), outputs=list(outputs))
            x = points.to(device=device, dtype=dtype)
            result = wrt.partials(model, x, specs, engine=engine)
            checks = {spec: (result[spec], reference[spec]) for spec in specs}
            if engine != "finite_diff":
                laplacian = wrt.laplacian(model, x, output=out, engine=engine)
                checks[f"laplacian of {out}"] = (laplacian, lap_reference)
            worst, worst_spec, on_device = 0.0, "", True
            for spec, (got, expected) in checks.items():
                on_device &= got.device.type == device.type
                ratio = compare(got, expected, rtol, atol)
                if ratio >= worst:
                    worst, worst_spec = ratio, spec
            rows.append(Agreement(name, engine, dtype, worst, worst_spec, on_device))
    return rows


# ------------------------------------------------------------------------- timings

TASKS = {
    "seed": ("grad", "hessian", "laplacian", "d3_mixed", "d4"),
    "pinn": ("grad", "hessian", "burgers"),
}
TITLES = {
    "grad": "gradient",
    "hessian": "Hessian",
    "laplacian": "Laplacian",
    "d3_mixed": "d3y/dx1^2dx2",
    "d4": "d4y/dx1^4",
    "burgers": "Burgers set (du/dt, du/dx, d2u/dx^2)",
}


def methods(task: str, p: Problem) -> dict[str, Callable[[], object]]:
    """wrt's engines and nested torch.autograd on ``task``, each a no-argument call."""
    fixed = {
        "d3_mixed": ["d3y/dx1^2dx2"],
        "d4": ["d4y/dx1^4"],
        "burgers": ["du/dt", "du/dx", "d2u/dx^2"],
    }

    def wrt_call(engine: str) -> Callable[[], object]:
        if task in ("grad", "hessian", "laplacian"):
            return lambda: getattr(wrt, task)(p.model, p.X, engine=engine)
        return lambda: wrt.partials(p.model, p.X, fixed[task], engine=engine)

    found = {f"wrt [{e}]": wrt_call(e) for e in ("autograd", "taylor", "auto")}
    peers = {
        "grad": lambda: peers_torch.grad_floor(p),
        "hessian": lambda: peers_torch.hessian_by_hand(p),
        "laplacian": lambda: peers_torch.laplacian_by_hand(p),
        "d3_mixed": lambda: peers_torch.nested(p, [0, 0, 1]),
        "d4": lambda: peers_torch.nested(p, [0, 0, 0, 0]),
    }
    if task in peers:
        found["nested torch.autograd"] = peers[task]
    return found


def timed(calls: dict[str, Callable[[], object]], device: torch.device,
          repeats: int) -> dict[str, float]:  # fmt: skip
    """Median milliseconds per call, the calls interleaved, after one warm-up each."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()
    sync(device)
    for _ in range(repeats):
        for name, call in calls.items():
            sync(device)
            start = time.perf_counter()
            call()
            sync(device)
            samples[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(times) for name, times in samples.items()}


def timings(device: torch.device, quick: bool) -> str:
    """The Markdown table of every task's timings on ``device`` (float32)."""
    sizes = {"seed": 64} if quick else {"seed": 2000, "pinn": 4096}
    repeats = 1 if quick else 15
    lines = [
        "| network, N | task | method | median ms | vs nested autograd |",
        "|---|---|---|---|---|",
    ]
    for key, n in sizes.items():
        p = make_problem(key, n, torch.float32)
        p = replace(p, net=p.net.to(device), X=p.X.to(device))
        tasks = TASKS[key][:1] if quick else TASKS[key]
        for task in tasks:
            ms = timed(methods(task, p), device, repeats)
            peer = ms.get("nested torch.autograd")
            for name, value in ms.items():
                ratio = f"{peer / value:.2f}x" if peer else ""
                lines.append(
                    f"| {key}, {n} | {TITLES[task]} | {name} | {value:.3f} | {ratio} |"
                )
    return "\n".join(lines)


def describe(device: torch.device) -> str:
    """The device, in words."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"{device.type} (dry run: {torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> int:
    """Command line; the exit status is 1 when an engine disagrees."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:1, cpu")
    parser.add_argument("--quick", action="store_true", help="tiny problems (tests)")
    parser.add_argument("--write", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("No CUDA device here; run with --device cpu for a dry run.")
        return 2
    rows = agreement(device, args.quick)
    lines = [
        f"## GPU check on {describe(device)}",
        "",
        f"torch {torch.__version__}, {datetime.date.today()}, "
        f"`python bench/gpu_check.py {' '.join(argv or sys.argv[1:])}`",
        "",
        "### Agreement with CPU float64 autograd (error / allowed; <= 1 passes)",
        "",
        "| network | engine | dtype | worst | at | on device | ok |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dtype = str(r.dtype).removeprefix("torch.")
        lines.append(
            f"| {r.network} | {r.engine} | {dtype} | {r.worst:.3g} | {r.worst_spec} "
            f"| {'yes' if r.on_device else 'NO'} | {'yes' if r.ok else 'NO'} |"
        )
    lines += [
        "",
        "### Timings (float32, on the device)",
        "",
        timings(device, args.quick),
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.write:
        args.write.write_text(report)
    failed = [r for r in rows if not r.ok]
    for r in failed:
        print(f"DISAGREES: {r.network} {r.engine} {r.dtype} at {r.worst_spec} "
              f"({r.worst:.3g} x the tolerance)", file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
