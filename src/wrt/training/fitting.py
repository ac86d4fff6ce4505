""":func:`fit`: train a model on derivative terms, by gradient or without, guarded.

Every step, the terms are grouped by point set and each group's outputs and
partials are computed in one batched, differentiable call of :func:`wrt.partials`
(:mod:`wrt.training.problem`). The total loss is the weighted sum of the terms'
losses.

Optimisers (:mod:`wrt.training.optimizers`): ``adam``, ``lbfgs`` (strong Wolfe line
search), ``adam+lbfgs`` (Adam, then L-BFGS to polish), and the gradient-free
``pso`` and ``cma`` from nevergrad, which evaluate the same loss on the flattened
parameters (each candidate of a population is one batched evaluation over the
points).

Guards: the arguments and every term are checked (names, specs, points, values)
before the first step; an objective not provably bounded below raises
:class:`~wrt.errors.UnboundedLossError` at that point; the first non-finite loss
stops gradient training with :class:`~wrt.errors.NonFiniteLossError`, naming the
term, the step and the first offending point, with the model restored to its last
finite parameters. An interrupt (Ctrl-C) restores the same way and raises
:class:`~wrt.errors.TrainingInterrupted` (a ``KeyboardInterrupt``) carrying the
steps kept and their history.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Iterable
from typing import Any

from wrt.derivatives import ModelLike, as_model
from wrt.errors import DataError, NotATermError, TrainingInterrupted
from wrt.spec import Partial
from wrt.training import optimizers
from wrt.training.compiled import StepCompiler, compile_mode
from wrt.training.history import History, OptimizerState, Record
from wrt.training.problem import Problem, assign, flatten, parameters, world
from wrt.training.terms import Term

OPTIMIZERS = ("adam", "lbfgs", "adam+lbfgs", "pso", "cma")
LOSS_CAP = optimizers.LOSS_CAP


def fit(
    model: ModelLike,
    terms: Iterable[Any],
    optimizer: str = "adam",
    steps: int = 1000,
    lr: float = 1e-3,
    seed: int = 0,
    *,
    lbfgs_steps: int | None = None,
    population: int = 32,
    engine: str = "auto",
    compile: bool | str = "auto",
    callback: Callable[[int, float, list[float]], None] | None = None,
    state: OptimizerState | None = None,
) -> History:
    """Train ``model`` on ``terms``; see the module docstring.

    Terms that match partials as well as values (:func:`wrt.rows`,
    :func:`wrt.match` of a spec) make this Sobolev training (Czarnecki et al.
    2017); residual terms make it a physics-informed network.

    Args:
        model: a :class:`~wrt.model.Model` (e.g. from :func:`wrt.mlp`), a module or
            a model file; its parameters are trained in place.
        terms: from :func:`wrt.residual`, :func:`wrt.match`, :func:`wrt.rows`,
            :func:`wrt.objective`; lists of terms may be nested (``[wrt.rows(t),
            term]``), they are flattened.
        optimizer: one of ``adam``, ``lbfgs``, ``adam+lbfgs``, ``pso``, ``cma``.
        steps: optimiser steps, >= 0 (for ``adam+lbfgs``: the Adam steps; for
            pso / cma: generations of ``population`` candidates).
        lr: learning rate, > 0 (Adam; L-BFGS uses 1 with a line search).
        seed: seed of the gradient-free optimisers' randomness, >= 0.
        lbfgs_steps: L-BFGS iterations for ``adam+lbfgs`` (default steps // 2).
        population: candidates per generation for pso / cma, >= 2.
        engine: the derivative engine (``auto`` shares lower orders).
        compile: compile the loss and its backward over the parameters (the
            Taylor form through ``torch.compile``; :mod:`wrt.training.compiled`):
            ``"auto"`` when the steps left after two eager ones repay the compile
            time, True at once, False never ("on" / "off" too; the rule of
            :func:`wrt.engines.compiling.compile_mode`). Gradient optimisers
            only (compile=True with pso or cma is refused); a failure
            warns (:class:`~wrt.errors.CompileWarning`) and trains eagerly. The
            compile time is in ``History.compile_seconds``.
        callback: called after each step with (step, total, per-term losses).
        state: the optimisers' state to start from and to follow (Adam's moments,
            L-BFGS's curvature pairs), for an exact resumption from a checkpoint;
            see :class:`~wrt.training.history.OptimizerState`.

    Returns:
        The :class:`History`: one row per step (L-BFGS: per block of iterations).

    Raises:
        UnboundedLossError: an objective is not provably bounded below.
        NonFiniteLossError: a loss became NaN or Inf (gradient optimisers).
        NotATermError: an entry of ``terms`` is not a term.
        DataError, SpecError: an argument or a term does not fit the model.
        EngineError: a ``compile`` value other than "auto", True, False, "on" or
            "off" (the same error as :func:`wrt.partials`).
        TrainingInterrupted: Ctrl-C (a KeyboardInterrupt raised in a step or a
            callback); the model keeps the parameters of ``err.step`` completed
            steps, whose rows are ``err.history``.
    """
    name = _optimizer(optimizer)
    _count("steps", steps, 0)
    _count("seed", seed, 0)
    _count("population", population, 2)
    if lbfgs_steps is not None:
        _count("lbfgs_steps", lbfgs_steps, 0)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise DataError(f"lr must be a number > 0, not {lr!r}.")
    if not (math.isfinite(lr) and lr > 0):
        raise DataError(f"lr must be a finite number > 0, not {lr!r}.")
    mode = compile_mode(compile, engine)
    if mode is True and name in ("pso", "cma"):
        raise DataError(
            f"compile=True: compile is used by optimizer='adam', 'lbfgs' or "
            f"'adam+lbfgs', not by {name!r} (gradient-free, never compiled); "
            "pass compile='auto' or False, or change the optimizer."
        )
    model = as_model(model)
    problem = Problem(model, flatten_terms(terms), engine)
    record = Record(problem.names)
    params = parameters(model)
    record.keep(flatten(params), 0)
    state = state if state is not None else OptimizerState()
    compiler = StepCompiler(problem, False, 0)  # gradient-free: never compiled
    start = time.perf_counter()
    try:
        if name in ("pso", "cma"):
            optimizers.gradient_free(
                problem, name, steps, population, seed, record, callback
            )
        else:
            adam_steps = steps if name != "lbfgs" else 0
            polish = (
                steps
                if name == "lbfgs"
                else (lbfgs_steps if lbfgs_steps is not None else steps // 2)
            )
            if name == "adam":
                polish = 0
            compiler = StepCompiler(problem, mode, adam_steps + polish)
            optimizers.adam(
                problem, adam_steps, lr, record, callback, start, name, state, compiler
            )
            optimizers.lbfgs(
                problem,
                polish,
                record,
                callback,
                start,
                name,
                adam_steps,
                state,
                compiler,
            )
    except KeyboardInterrupt as exc:
        if isinstance(exc, TrainingInterrupted):
            raise
        if record.kept is not None:
            assign(record.kept, params)
        record.cut()
        history = _finish(record, name, start, compiler)
        raise TrainingInterrupted(
            f"Training interrupted after {history.steps} step(s); the model keeps "
            "the parameters of the last completed step with a finite loss.",
            history.steps,
            history,
        ) from None
    finally:
        problem.compiled = None  # the compiled function lives for this run only
    return _finish(record, name, start, compiler)


def _finish(record, name: str, start: float, compiler: StepCompiler) -> History:
    """The history with the run's time and its compile time."""
    history = record.history(name, time.perf_counter() - start)
    history.compile_seconds = compiler.seconds
    history.compiled = compiler.ran_compiled
    return history


def flatten_terms(terms: Any) -> list[Term]:
    """The terms of a list that may nest lists of terms (``[wrt.rows(t), term]``).

    Raises:
        NotATermError: an entry is not a term (its position and type are named).
    """
    if isinstance(terms, Term):
        return [terms]
    if isinstance(terms, (str, bytes)) or not isinstance(terms, Iterable):
        raise NotATermError(
            f"terms must be a list of terms (wrt.residual, wrt.match, wrt.rows, "
            f"wrt.objective), not {type(terms).__name__}."
        )
    flat: list[Term] = []

    def walk(items: Iterable[Any], where: str) -> None:
        for i, item in enumerate(items):
            position = f"{where}[{i}]"
            if isinstance(item, Term):
                flat.append(item)
            elif isinstance(item, (list, tuple)):
                walk(item, position)
            else:
                raise NotATermError(
                    f"terms{position} is a {type(item).__name__}, not a term: give "
                    "wrt.residual(...), wrt.match(...), wrt.objective(...) or the "
                    "list that wrt.rows(...) returns."
                )

    walk(terms, "")
    return flat


def _optimizer(optimizer: Any) -> str:
    name = optimizer.strip().lower() if isinstance(optimizer, str) else optimizer
    if name not in OPTIMIZERS:
        raise DataError(
            f"Unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}."
        )
    return name


def _count(label: str, value: Any, least: int) -> None:
    """``value`` must be a whole number >= ``least`` (not a bool, not 5.7)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DataError(f"{label} must be a whole number >= {least}, not {value!r}.")
    if value < least:
        raise DataError(f"{label} must be >= {least}, not {value}.")


__all__ = ["LOSS_CAP", "OPTIMIZERS", "History", "Partial", "Problem", "fit", "world"]
