"""Training losses compiled whole: the Taylor form, traced once, through AOTAutograd.

:class:`CompiledLoss` records every term's loss as one pure function of the
parameters: each group's outputs and partials come from the forward Taylor form
(:func:`~wrt.engines.taylor.functional.bound_partials`), the terms' expressions
and matches follow, all traced by ``make_fx`` into one flat ATen graph. That
graph goes to ``torch.compile``: AOTAutograd derives its backward over the
parameters (one backward pass, no double backward: the partials are a forward
computation) and inductor fuses both into loops. The optimiser step stays
``torch.optim``'s (Adam with ``foreach``: one kernel per operation for all
parameters), so its state and checkpoints are the eager ones.

:class:`StepCompiler` decides when (``compile="auto" | True | False``) and
records the compile time. The ``auto`` rule: after two eager steps (the first
pays the trace), compile when the loss evaluations still planned (Adam steps
and L-BFGS iterations left) times the measured eager step time times
:data:`SAVED_FRACTION` exceed :data:`EXPECTED_COMPILE_SECONDS`.
Both constants were measured on the Burgers PINN of ``bench/bench_training.py``
(see ``docs/benchmarks_training.md``). A failure while building or compiling
warns once with :class:`~wrt.errors.CompileWarning` naming the cause, and the
run goes on eagerly.
"""

from __future__ import annotations

import functools
import operator
import time
import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch._dynamo.backends.registry import lookup_backend
from torch.fx.experimental.proxy_tensor import make_fx

from wrt.engines.taylor.functional import bound_partials, traceable
from wrt.errors import CompileWarning, DataError, caller_level, one_line
from wrt.training.terms import Residual

if TYPE_CHECKING:
    from wrt.training.problem import Problem

#: Seconds a compile is expected to take (make_fx of the Taylor program, then
#: inductor's forward and backward): measured 14-20 s for the Burgers PINN on
#: 2 cores, quiet; used only by ``compile="auto"``.
EXPECTED_COMPILE_SECONDS = 20.0
#: Share of an eager step the compiled one saves (measured 0.55-0.65 on the
#: Burgers PINN, float32 and float64); used only by ``compile="auto"``.
SAVED_FRACTION = 0.5
#: Engines whose results the compiled Taylor form reproduces.
ENGINES = ("auto", "taylor")
#: ``torch.compile``'s backend: inductor generates fused C++ loops. The tests
#: swap in ``aot_eager`` (the same AOTAutograd forward and backward graphs, run
#: by ATen) where inductor's seconds of code generation would add nothing.
BACKEND = "inductor"


def compile_mode(value: Any, engine: str) -> str | bool:
    """Check ``compile=``: ``"auto"``, True or False (DataError otherwise)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if not isinstance(value, bool):
        raise DataError(f'compile must be "auto", True or False, not {value!r}.')
    if value and engine not in ENGINES:
        raise DataError(
            f"compile=True compiles the Taylor form of the terms, and engine="
            f"{engine!r} was asked: pass engine='auto' (or 'taylor'), or "
            "compile=False."
        )
    return value


class CompiledLoss:
    """The problem's weighted total and term losses as one compiled function.

    Args:
        problem: the bound problem (terms grouped by points, sharded if need be).

    Raises:
        UnsupportedOpError, and whatever tracing or compiling raises: the caller
        (:class:`StepCompiler`) turns it into a :class:`CompileWarning`.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.params = [p for p in problem.model.module.parameters() if p.requires_grad]
        for x, _ in problem.groups:
            reason = traceable(problem.model, x)
            if reason is not None:
                raise CompileUnsupported(reason)
        for term in problem.terms:
            if isinstance(term, Residual) and term._expression is None:
                raise CompileUnsupported(
                    f"term {term.name!r} is a Python callable (only string "
                    "expressions are traced)"
                )
        placeholders = [p.detach() for p in self.params]
        with torch.no_grad():
            graph = make_fx(self._program)(*placeholders)
        # The graph is ATen already: it goes to the compiler backend as it is
        # (AOTAutograd, then inductor), without dynamo retracing its Python code.
        warm = [p.detach().clone().requires_grad_(True) for p in self.params]
        with warnings.catch_warnings():  # torch's own deprecations, not ours
            warnings.simplefilter("ignore", DeprecationWarning)
            self.function = lookup_backend(BACKEND)(graph, warm)
            # compile the backward now too, not inside a step
            total, _ = self.function(*warm)
            total.backward()

    def _program(self, *params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(total, stacked term losses) from ``params``: what is traced."""
        problem = self.problem
        losses: dict[int, torch.Tensor] = {}
        for x, members in problem.groups:
            needs = list(
                dict.fromkeys(p for i in members for p in problem.terms[i].needs())
            )
            values = bound_partials(problem.model, x, needs, params)
            for i in members:
                loss = problem.terms[i].loss(values, problem.model)
                losses[i] = loss * problem.scales[i]
        ordered = [losses[i] for i in range(len(problem.terms))]
        weighted = [t.weight * v for t, v in zip(problem.terms, ordered, strict=True)]
        return functools.reduce(operator.add, weighted), torch.stack(ordered)

    def __call__(self) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The weighted total and each term's loss at the current parameters."""
        total, losses = self.function(*self.params)
        return total, list(losses.unbind())


class CompileUnsupported(Exception):
    """The terms cannot be recorded as one pure function (the reason says why)."""


class StepCompiler:
    """When to compile a run's loss, and what it cost; held by one :func:`fit`.

    Args:
        problem: the bound problem; its ``compiled`` is set when compiled.
        mode: ``"auto"``, True or False (checked by :func:`compile_mode`).
        planned: loss evaluations the run plans (Adam steps, L-BFGS iterations).
    """

    def __init__(self, problem: Problem, mode: str | bool, planned: int) -> None:
        self.problem = problem
        self.mode = mode
        self.planned = planned
        self.seconds = 0.0
        self.decided = mode is False
        self.eager_steps: list[float] = []
        #: whether a compiled loss was built and used in this run
        self.ran_compiled = False

    def start(self) -> None:
        """Before the first step: ``compile=True`` compiles now."""
        if self.mode is True and not self.decided:
            self.build()

    def observe(self, seconds: float) -> None:
        """An eager step (a loss with its gradient) took ``seconds`` (``auto``)."""
        if self.decided:
            return
        self.eager_steps.append(seconds)
        remaining = self.planned - len(self.eager_steps)
        if len(self.eager_steps) < 2:  # the first step pays the trace
            return
        if self.problem.engine not in ENGINES:
            self.decided = True
            return
        saved = remaining * min(self.eager_steps[1:]) * SAVED_FRACTION
        if saved > EXPECTED_COMPILE_SECONDS:
            self.build()
        else:
            self.decided = True

    def build(self) -> None:
        """Compile the loss now; on failure warn (:class:`CompileWarning`) once."""
        self.decided = True
        start = time.perf_counter()
        try:
            self.problem.compiled = CompiledLoss(self.problem)
            self.ran_compiled = True
        except Exception as exc:  # tracing/compiling user models fails many ways
            self.problem.compiled = None
            warnings.warn(
                "The training step could not be compiled, so it runs eagerly "
                f"(same losses, slower): {one_line(exc)}. Pass compile=False "
                "(or train.compile = false in a config) to skip the attempt.",
                CompileWarning,
                stacklevel=caller_level(),
            )
        finally:
            self.seconds += time.perf_counter() - start
