""":func:`fit`: train a model on derivative terms, by gradient or without, guarded.

Every step, the terms are grouped by point set and each group's outputs and
partials are computed in one batched, differentiable call of :func:`wrt.partials`
(shared lower orders are computed once: ``u``, ``du/dx`` and ``d2u/dx^2`` of a
Burgers residual cost one forward pass and two backward passes together). The total
loss is the weighted sum of the terms' losses.

Optimisers: ``adam``, ``lbfgs`` (strong Wolfe line search), ``adam+lbfgs`` (Adam,
then L-BFGS to polish), and the gradient-free ``pso`` and ``cma`` from nevergrad,
which evaluate the same loss on the flattened parameters (each candidate of a
population is one batched evaluation over the points).

Guards: every term is bound (names, specs, points, values checked) before the first
step; an objective not provably bounded below raises
:class:`~wrt.errors.UnboundedLossError` at that point; the first non-finite loss
stops gradient training with :class:`~wrt.errors.NonFiniteLossError`, naming the
term, the step and the first offending point, with the model restored to its last
finite parameters.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import distributed as dist
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from wrt.derivatives import ModelLike, as_model, partials
from wrt.errors import DataError, NonFiniteLossError
from wrt.model import Model
from wrt.spec import Partial
from wrt.training.terms import Term

OPTIMIZERS = ("adam", "lbfgs", "adam+lbfgs", "pso", "cma")
#: The loss a gradient-free optimiser is told for a non-finite or huge candidate.
LOSS_CAP = 1e12


@dataclass
class History:
    """Loss per term per step.

    Attributes:
        frame: one row per step: ``step``, ``loss`` (weighted total) and one column
            per term name (its unweighted loss).
        optimizer: the optimiser's name.
        seconds: wall time of the training.
    """

    frame: pd.DataFrame
    optimizer: str
    seconds: float = 0.0

    @property
    def final(self) -> dict[str, float]:
        """The last row as a dict."""
        return {k: float(v) for k, v in self.frame.iloc[-1].items()}

    def to_csv(self, path) -> None:
        """Write the history as CSV."""
        self.frame.to_csv(path, index=False)


@dataclass
class _Rows:
    names: list[str]
    rows: list[list[float]] = field(default_factory=list)

    def add(self, step: int, total: float, losses: Sequence[float]) -> None:
        self.rows.append([step, total, *losses])

    def history(self, optimizer: str, seconds: float) -> History:
        frame = pd.DataFrame(self.rows, columns=["step", "loss", *self.names])
        frame["step"] = frame["step"].astype(int)
        return History(frame, optimizer, seconds)


class Problem:
    """Terms bound to a model, grouped by point set: evaluates every term's loss."""

    def __init__(
        self, model: Model, terms: Sequence[Term], engine: str = "auto"
    ) -> None:
        if not terms:
            raise DataError(
                "No terms to train on: give at least one wrt.residual/match."
            )
        self.model = model
        self.terms = list(terms)
        self.engine = engine
        names: list[str] = []
        for i, term in enumerate(self.terms):
            term.name = term.name or f"term{i + 1}"
            base, k = term.name, 2
            while term.name in names:
                term.name, k = f"{base} ({k})", k + 1
            names.append(term.name)
            term.bind(model)
        self.names = names
        self.rank, self.world = world()
        self.scales = [1.0] * len(self.terms)
        if self.world > 1:
            self._shard()
        self.groups = _group_by_points(self.terms)

    def _shard(self) -> None:
        """Keep rows rank, rank + world, ... of every term (data parallelism).

        Each rank's term loss is scaled by its share of the rows, so that the sum
        over ranks of the losses (and of their gradients) is the loss of the whole
        point set: the same numbers as one process, whatever the world size.
        """
        for i, term in enumerate(self.terms):
            n = term.x.shape[0]
            if n < self.world:
                raise DataError(
                    f"Term {term.name!r} has {n} points for {self.world} processes; "
                    "give every process at least one point."
                )
            rows = slice(self.rank, None, self.world)
            term.x = term.x[rows]
            if getattr(term, "_y", None) is not None:
                term._y = term._y[rows]
            self.scales[i] = term.x.shape[0] / n

    def reduce(self, total: torch.Tensor, losses: list[torch.Tensor]) -> list[float]:
        """[total, *losses] summed over the processes (as they are, alone)."""
        values = torch.stack([total.detach(), *(v.detach() for v in losses)])
        if self.world > 1:
            values = values.to(torch.float64)
            dist.all_reduce(values)
        return values.tolist()

    def reduce_gradients(self) -> None:
        """Sum the parameters' gradients over the processes (one all-reduce)."""
        if self.world == 1:
            return
        params = _parameters(self.model)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for p in params:
            size = p.numel()
            p.grad = flat[offset : offset + size].view_as(p).clone()
            offset += size

    def losses(self) -> tuple[torch.Tensor, list[torch.Tensor], list[dict]]:
        """Weighted total, each term's loss, and each group's values (for the guard)."""
        per_term: dict[int, torch.Tensor] = {}
        all_values = []
        for x, members in self.groups:
            needs = list(
                dict.fromkeys(p for i in members for p in self.terms[i].needs())
            )
            values = partials(
                self.model, x, needs, engine=self.engine, differentiable=True
            )
            all_values.append(values)
            for i in members:
                per_term[i] = self.terms[i].loss(values, self.model) * self.scales[i]
        losses = [per_term[i] for i in range(len(self.terms))]
        total = sum(t.weight * loss for t, loss in zip(self.terms, losses, strict=True))
        return total, losses, all_values

    def first_bad_point(self, index: int) -> int | None:
        """The first point where term ``index`` is not finite (None if none is)."""
        term = self.terms[index]
        with torch.no_grad():
            values = partials(self.model, term.x, term.needs(), engine=self.engine)
            pointwise = term.pointwise(values, self.model)
        bad = torch.nonzero(~torch.isfinite(pointwise)).flatten()
        first = int(bad[0]) * self.world + self.rank if bad.numel() else -1
        if self.world > 1:  # the smallest row over the processes, in the whole set
            found = torch.tensor([first if first >= 0 else 2**62])
            dist.all_reduce(found, op=dist.ReduceOp.MIN)
            first = int(found) if int(found) < 2**62 else -1
        return first if first >= 0 else None


def fit(
    model: ModelLike,
    terms: Sequence[Term],
    optimizer: str = "adam",
    steps: int = 1000,
    lr: float = 1e-3,
    seed: int = 0,
    *,
    lbfgs_steps: int | None = None,
    population: int = 32,
    engine: str = "auto",
    callback: Callable[[int, float, list[float]], None] | None = None,
) -> History:
    """Train ``model`` on ``terms``; see the module docstring.

    Args:
        model: a :class:`~wrt.model.Model` (e.g. from :func:`wrt.mlp`), a module or
            a model file; its parameters are trained in place.
        terms: from :func:`wrt.residual`, :func:`wrt.match`, :func:`wrt.rows`,
            :func:`wrt.objective`.
        optimizer: one of ``adam``, ``lbfgs``, ``adam+lbfgs``, ``pso``, ``cma``.
        steps: optimiser steps (for ``adam+lbfgs``: the Adam steps; for pso / cma:
            generations of ``population`` candidates).
        lr: learning rate (Adam; L-BFGS uses 1 with a line search).
        seed: seed of the gradient-free optimisers' randomness.
        lbfgs_steps: L-BFGS iterations for ``adam+lbfgs`` (default steps // 2).
        population: candidates per generation for pso / cma.
        engine: the derivative engine (``auto`` shares lower orders).
        callback: called after each step with (step, total, per-term losses).

    Returns:
        The :class:`History`.

    Raises:
        UnboundedLossError: an objective is not provably bounded below.
        NonFiniteLossError: a loss became NaN or Inf (gradient optimisers).
        DataError, SpecError: a term does not fit the model.
    """
    name = optimizer.strip().lower()
    if name not in OPTIMIZERS:
        raise DataError(
            f"Unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}."
        )
    if steps < 0:
        raise DataError(f"steps must be >= 0, not {steps}.")
    model = as_model(model)
    problem = Problem(model, terms, engine)
    rows = _Rows(problem.names)
    start = time.perf_counter()
    if name in ("pso", "cma"):
        _gradient_free(problem, name, steps, population, seed, rows, callback)
    else:
        adam_steps = steps if name != "lbfgs" else 0
        polish = (
            steps
            if name == "lbfgs"
            else (lbfgs_steps if lbfgs_steps is not None else steps // 2)
        )
        if name == "adam":
            polish = 0
        _adam(problem, adam_steps, lr, rows, callback, start, name)
        _lbfgs(problem, polish, rows, callback, start, name, offset=adam_steps)
    return rows.history(name, time.perf_counter() - start)


def world() -> tuple[int, int]:
    """(rank, world size) of the process group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _parameters(model: Model) -> list[torch.nn.Parameter]:
    params = [p for p in model.module.parameters() if p.requires_grad]
    if not params:
        raise DataError("The model has no trainable parameters.")
    return params


def _guarded(
    problem: Problem,
    step: int,
    rows: _Rows,
    last_good: torch.Tensor,
    name: str,
    start: float,
):
    """Losses at the current parameters, which become ``last_good`` when finite.

    When not finite: the parameters are restored from ``last_good`` (the last ones
    whose losses were finite) and :class:`NonFiniteLossError` is raised.
    """
    total, losses, _ = problem.losses()
    params = _parameters(problem.model)
    reported = problem.reduce(total, losses)
    if math.isfinite(reported[0]):
        last_good.copy_(parameters_to_vector(params).detach())  # these were finite
        return total, reported
    bad = next((i for i, v in enumerate(reported[1:]) if not math.isfinite(v)), 0)
    with torch.no_grad():
        vector_to_parameters(last_good, params)
    point = problem.first_bad_point(bad)
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
        rows.history(name, time.perf_counter() - start),
    )


def _point_text(problem: Problem, index: int, point: int) -> str:
    row = problem.terms[index].x[point]
    return ", ".join(
        f"{n}={float(v):.6g}" for n, v in zip(problem.model.inputs, row, strict=True)
    )


def _adam(problem, steps, lr, rows, callback, start, name) -> None:
    if steps == 0:
        return
    params = _parameters(problem.model)
    opt = torch.optim.Adam(params, lr=lr)
    last_good = parameters_to_vector(params).detach().clone()
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        total, reported = _guarded(problem, step, rows, last_good, name, start)
        total.backward()
        problem.reduce_gradients()
        opt.step()
        _record(rows, callback, step, reported)


def _lbfgs(problem, steps, rows, callback, start, name, offset: int) -> None:
    """L-BFGS with a strong Wolfe line search, ``steps`` iterations in all.

    Iterations run in blocks of up to 20 inside one ``LBFGS.step`` (its own loop
    keeps the curvature pairs and the step length consistent); one history row per
    block, labelled with the iteration count reached.
    """
    if steps == 0:
        return
    params = _parameters(problem.model)
    block = 20
    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=block,
        history_size=50,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
    )
    done = 0
    last_good = parameters_to_vector(params).detach().clone()
    while done < steps:
        opt.param_groups[0]["max_iter"] = min(block, steps - done)
        step = offset + done

        def closure(step=step, last_good=last_good):
            opt.zero_grad(set_to_none=True)
            total, reported = _guarded(problem, step, rows, last_good, name, start)
            total.backward()
            problem.reduce_gradients()
            # the line search must see the loss of all processes, the same on each
            return torch.tensor(reported[0], dtype=total.dtype)

        opt.step(closure)
        done += opt.param_groups[0]["max_iter"]
        with torch.no_grad():
            total, losses, _ = problem.losses()
        _record(rows, callback, offset + done - 1, problem.reduce(total, losses))


def _record(rows: _Rows, callback, step: int, reported: list[float]) -> None:
    total, values = reported[0], reported[1:]
    rows.add(step, total, values)
    if callback is not None:
        callback(step, total, values)


def _gradient_free(problem, name, steps, population, seed, rows, callback) -> None:
    import nevergrad as ng  # deferred: only these optimisers need it

    if problem.world > 1:
        raise DataError(
            f"{name} runs in one process: its candidates are not data-parallel. "
            "Train with adam or lbfgs across processes, or run it alone."
        )

    params = _parameters(problem.model)
    start_vector = parameters_to_vector(params).detach()
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

    def evaluate(vector: np.ndarray) -> tuple[float, list[float]]:
        with torch.no_grad():
            vector_to_parameters(
                torch.as_tensor(vector, dtype=start_vector.dtype), params
            )
        with torch.no_grad():
            total, losses, _ = problem.losses()
        value = float(total)
        return (value if math.isfinite(value) else 1e300), [float(v) for v in losses]

    best = (math.inf, [math.nan] * len(problem.terms))
    for step in range(steps):
        candidates = [opt.ask() for _ in range(population)]
        for candidate in candidates:
            value, losses = evaluate(candidate.value)
            with warnings.catch_warnings():  # nevergrad warns of large values
                warnings.simplefilter("ignore")
                opt.tell(candidate, value)
            if value < best[0]:
                best = (value, losses)
        rows.add(step, best[0], best[1])
        if callback is not None:
            callback(step, best[0], best[1])
    final = opt.provide_recommendation().value
    with torch.no_grad():
        vector_to_parameters(torch.as_tensor(final, dtype=start_vector.dtype), params)


def _group_by_points(terms: Sequence[Term]) -> list[tuple[torch.Tensor, list[int]]]:
    """Terms on the same points (same object or equal values) share one evaluation."""
    groups: list[tuple[torch.Tensor, list[int]]] = []
    for i, term in enumerate(terms):
        for x, members in groups:
            if x is term.x or (x.shape == term.x.shape and torch.equal(x, term.x)):
                members.append(i)
                break
        else:
            groups.append((term.x, [i]))
    return groups


__all__ = ["OPTIMIZERS", "History", "Partial", "Problem", "fit"]
