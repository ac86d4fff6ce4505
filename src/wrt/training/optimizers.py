"""The optimiser loops of :func:`wrt.fit`: Adam, L-BFGS, and nevergrad's PSO / CMA-ES.

Each loop writes one history row per step (L-BFGS: per block of iterations) into a
:class:`~wrt.training.history.Record` and keeps there the last parameters whose
loss was finite, which the model falls back to when a loss turns NaN or Inf
(:class:`~wrt.errors.NonFiniteLossError`, raised here) or the run is interrupted
(handled by :func:`wrt.fit`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from wrt.errors import DataError, NonFiniteLossError
from wrt.training.compiled import StepCompiler
from wrt.training.history import OptimizerState, Record
from wrt.training.problem import (
    Problem,
    assign,
    contiguous_gradients,
    flatten,
    parameters,
)

#: The loss a gradient-free optimiser is told for a non-finite or huge candidate.
LOSS_CAP = 1e12
#: L-BFGS iterations per ``LBFGS.step`` call (one history row each).
LBFGS_BLOCK = 20

Callback = Callable[[int, float, list[float]], None] | None


def guarded(
    problem: Problem,
    step: int,
    record: Record,
    name: str,
    start: float,
    keep: bool = True,
):
    """Losses at the current parameters; when finite (and ``keep``), kept.

    When not finite: the parameters are set back to the kept ones (the last whose
    losses were finite) and :class:`NonFiniteLossError` is raised.
    """
    total, losses, _ = problem.losses()
    params = parameters(problem.model)
    reported = problem.reduce(total, losses)
    if math.isfinite(reported[0]):
        if keep:
            record.keep(flatten(params), len(record.rows))
        return total, reported
    bad = next((i for i, v in enumerate(reported[1:]) if not math.isfinite(v)), 0)
    point = problem.first_bad_point(bad)  # at these parameters, before restoring
    if record.kept is not None:  # the history keeps the row of these parameters
        assign(record.kept, params)
    where = (
        f", first at point {point} ({_point_text(problem, bad, point)})"
        if point is not None and problem.world == 1
        else (f", first at point {point}" if point is not None else "")
    )
    raise NonFiniteLossError(
        f"Training stopped at step {step}: the loss of term {problem.names[bad]!r} is "
        f"{reported[1 + bad]}{where}. The model keeps its parameters from "
        "the last finite step. Lower the learning rate, rescale the inputs or "
        "outputs, or check the term (log or sqrt of negatives, division by zero).",
        problem.names[bad],
        step,
        point,
        record.history(name, time.perf_counter() - start),
    )


def _point_text(problem: Problem, index: int, point: int) -> str:
    row = problem.terms[index].x[point]
    return ", ".join(
        f"{n}={float(v):.6g}" for n, v in zip(problem.model.inputs, row, strict=True)
    )


def adam(
    problem: Problem,
    steps: int,
    lr: float,
    record: Record,
    callback: Callback,
    start: float,
    name: str,
    state: OptimizerState,
    compiler: StepCompiler,
) -> None:
    """``steps`` Adam steps, one history row each.

    Adam updates all parameters with ``foreach`` kernels (one call per operation,
    not one per parameter). The loss is compiled as ``compiler`` decides.
    """
    if steps == 0:
        return
    params = parameters(problem.model)
    opt = torch.optim.Adam(params, lr=lr, foreach=True)
    state.attach("adam", opt)
    compiler.start()
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        total, reported = guarded(problem, step, record, name, start)
        state.remember("adam")  # the moments that go with the kept parameters
        total.backward()
        problem.reduce_gradients()
        opt.step()
        _record(record, callback, step, reported)


def lbfgs(
    problem: Problem,
    steps: int,
    record: Record,
    callback: Callback,
    start: float,
    name: str,
    offset: int,
    state: OptimizerState,
    compiler: StepCompiler,
) -> None:
    """L-BFGS with a strong Wolfe line search, ``steps`` iterations at most.

    Iterations run in blocks of up to :data:`LBFGS_BLOCK` inside one ``LBFGS.step``
    (its own loop keeps the curvature pairs and the step length consistent); one
    history row per block, labelled with the iteration count reached (the
    iterations L-BFGS actually made: it stops early once converged). The kept
    parameters are those at the start of the block (a NaN or an interrupt inside
    a block falls back there, with L-BFGS's state at that point).
    """
    if steps == 0:
        return
    params = parameters(problem.model)
    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=LBFGS_BLOCK,
        history_size=50,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
    )
    state.attach("lbfgs", opt)
    compiler.start()
    done = 0
    while done < steps:
        opt.param_groups[0]["max_iter"] = min(LBFGS_BLOCK, steps - done)
        step = offset + done

        first = [True]

        def closure(step=step, first=first):
            # the block's first evaluation is at its start, before LBFGS.step
            # changes its state: parameters and state kept there go together
            opt.zero_grad(set_to_none=True)
            total, reported = guarded(problem, step, record, name, start, first[0])
            if first[0]:
                state.remember("lbfgs")
                first[0] = False
            total.backward()
            problem.reduce_gradients()
            contiguous_gradients(params)
            # the line search must see the loss of all processes, the same on each
            return torch.tensor(reported[0], dtype=total.dtype)

        before = opt.state[params[0]].get("n_iter", 0)
        opt.step(closure)
        made = opt.state[params[0]].get("n_iter", 0) - before
        if made == 0:  # converged: no iteration was needed
            break
        done += made
        with torch.no_grad():
            total, losses, _ = problem.losses()
        _record(record, callback, offset + done - 1, problem.reduce(total, losses))
        if made < opt.param_groups[0]["max_iter"]:  # converged inside the block
            break


def _record(record: Record, callback: Callback, step: int, reported: list[float]):
    total, values = reported[0], reported[1:]
    record.add(step, total, values)
    if callback is not None:
        callback(step, total, values)


def gradient_free(
    problem: Problem,
    name: str,
    steps: int,
    population: int,
    seed: int,
    record: Record,
    callback: Callback,
) -> None:
    """``steps`` generations of ``population`` candidates (nevergrad PSO or CMA)."""
    import nevergrad as ng  # deferred: only these optimisers need it

    if problem.world > 1:
        raise DataError(
            f"{name} runs in one process: its candidates are not data-parallel. "
            "Train with adam or lbfgs across processes, or run it alone."
        )

    params = parameters(problem.model)
    start_vector = flatten(params)
    parametrization = ng.p.Array(init=start_vector.double().cpu().numpy())
    parametrization.random_state = np.random.RandomState(seed)
    chosen = {
        "pso": ng.optimizers.registry["PSO"],
        "cma": ng.optimizers.registry["CMA"],
    }[name]
    opt = chosen(
        parametrization=parametrization,
        budget=max(1, steps * population),
        num_workers=population,
    )

    def evaluate(vector: torch.Tensor) -> tuple[float, list[float]]:
        assign(vector, params)
        with torch.no_grad():
            total, losses, _ = problem.losses()
        value = float(total)
        told = value if math.isfinite(value) and value < LOSS_CAP else LOSS_CAP
        return told, [float(v) for v in losses]

    best = (math.inf, [math.nan] * len(problem.terms))
    for step in range(steps):
        candidates = [opt.ask() for _ in range(population)]
        for candidate in candidates:
            vector = torch.as_tensor(candidate.value, dtype=start_vector.dtype)
            value, losses = evaluate(vector)
            with warnings.catch_warnings():  # nevergrad warns of large values
                warnings.simplefilter("ignore")
                opt.tell(candidate, value)
            if value < best[0]:
                best = (value, losses)
                if value < LOSS_CAP:  # an interrupt falls back to the best
                    record.keep(vector, None)
        record.add(step, best[0], best[1])
        if callback is not None:
            callback(step, best[0], best[1])
    final = opt.provide_recommendation().value
    assign(torch.as_tensor(final, dtype=start_vector.dtype), params)
