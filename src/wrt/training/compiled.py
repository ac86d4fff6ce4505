"""Training losses compiled whole: the Taylor form, traced once, through AOTAutograd.

:class:`CompiledLoss` records every term's loss as one pure function of the
parameters: each group's outputs and partials come from the forward Taylor form
(:func:`~wrt.engines.taylor.functional.bound_partials`), the terms' expressions
and matches follow, all traced by ``make_fx`` into one flat ATen graph. That
graph goes straight to ``torch.compile``'s backend (:data:`BACKEND`, inductor;
being ATen already, it needs no dynamo retrace of Python code): AOTAutograd
derives its backward over the parameters (one backward pass, no double
backward: the partials are a forward computation) and inductor fuses both into
loops. The optimiser step stays
``torch.optim``'s (Adam with ``foreach``: one kernel per operation for all
parameters), so its state and checkpoints are the eager ones.

:class:`StepCompiler` decides when (``compile="auto" | True | False``) and
records the compile time. The ``auto`` rule is deterministic (a resumed run
decides as the same run would, whatever the machine's load): compile before the
first step when the model is on a device where compiling pays (:data:`PAYS_ON`:
CUDA; on the CPU the compiled step measured no faster than the eager one) and
the planned loss evaluations (Adam steps plus L-BFGS iterations) times the work
of one evaluation reach :data:`WORK_TO_COMPILE`. The
work is the jet's multiply-adds through the parameters, sum over point sets of
points x kept entries x parameters (the Burgers PINN of
``bench/bench_training.py``: 1.3e8 per step, so about 1500 steps repay a
compile; the Burgers example, 7.4e7 x 4000 planned: compiled; the Poisson
example, 1.2e7 x 3000: eager). A failure while building or compiling
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

from wrt.engines.base import Request
from wrt.engines.compiling import compile_mode as engine_compile_mode
from wrt.engines.taylor.engine import TaylorEngine
from wrt.engines.taylor.functional import bound_partials, traceable
from wrt.errors import CompileWarning, DataError, caller_level, one_line
from wrt.training.terms import Residual

if TYPE_CHECKING:
    from wrt.training.problem import Problem

#: Jet multiply-adds over the planned steps from which ``compile="auto"``
#: compiles. The break-even is compile seconds / (saved share x seconds per
#: multiply-add): the Burgers PINN's eager step costs about 1.5e-10 s per
#: multiply-add on 2 quiet cores (20 ms for 1.3e8, docs/benchmarks_training.md
#: before compiling), the compiled step saved 41% of it (measured under load,
#: side by side), and a compile is taken as 12 s quiet (measured 119 s under a
#: load average of 18, where steps were 200x slower): 12 / 6e-11 = 2e11.
WORK_TO_COMPILE = 2e11
#: Device types where ``compile="auto"`` compiles a training step at all. Not the
#: CPU: measured side by side on 2 CPU cores, the compiled Burgers step was no
#: faster than the eager one (33.6 against 30.5 ms of CPU time at one thread;
#: 60.4 against 57.7 ms wall in the session's final run, under load), so there
#: ``auto`` trains eagerly and ``compile=True`` still compiles. On CUDA, where
#: fusing the jets' many small elementwise kernels removes launches, ``auto``
#: compiles at the work threshold (not measured here: no GPU was available).
PAYS_ON = ("cuda",)
#: Engines whose results the compiled Taylor form reproduces.
ENGINES = ("auto", "taylor")
#: ``torch.compile``'s backend: inductor generates fused C++ loops. The tests
#: swap in ``aot_eager`` (the same AOTAutograd forward and backward graphs, run
#: by ATen) where inductor's seconds of code generation would add nothing.
BACKEND = "inductor"


def compile_mode(value: Any, engine: str) -> str | bool:
    """Check ``compile=``: ``"auto"``, True or False ("on" / "off" too).

    The values follow :func:`wrt.engines.compiling.compile_mode`, the rule of
    every ``compile=`` argument.

    Raises:
        EngineError: a value that rule refuses.
        DataError: compile=True with an engine whose results the compiled Taylor
            form does not reproduce.
    """
    mode = engine_compile_mode(value)
    value = "auto" if mode == "auto" else mode == "on"
    if value is True and engine not in ENGINES:
        raise DataError(
            f"compile=True compiles the Taylor form of the terms, which the "
            f"{engine!r} engine does not compute: pass engine='auto' (or "
            "'taylor'), or compile=False."
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


def work(problem: Problem) -> float:
    """Multiply-adds of one loss evaluation's jets: points x entries x parameters."""
    params = sum(p.numel() for p in problem.model.module.parameters())
    total = 0.0
    for x, members in problem.groups:
        terms = [problem.terms[i] for i in members]
        needs = list(dict.fromkeys(p for t in terms for p in t.needs()))
        plan = TaylorEngine().plan(Request(tuple(needs)), problem.model.inputs)
        total += x.shape[0] * len(plan.algebra) * params
    return total


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
        #: whether a compiled loss was built and used in this run
        self.ran_compiled = False

    def start(self) -> None:
        """Before the first step: compile when asked, or when ``auto`` says so."""
        if self.decided:
            return
        if self.mode is True:
            self.build()
        elif self.problem.engine in ENGINES and self.worth_it():
            self.build()
        self.decided = True

    def worth_it(self) -> bool:
        """The ``auto`` rule: a device of :data:`PAYS_ON`, and enough work.

        Enough work: planned evaluations x work >= :data:`WORK_TO_COMPILE`.
        """
        if self.problem.model.device.type not in PAYS_ON:
            return False
        return self.planned * work(self.problem) >= WORK_TO_COMPILE

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
