"""The Taylor engine: truncated multivariate Taylor polynomials pushed forward.

For a request, the inputs it differentiates along become the R directions of an
:class:`~wrt.engines.taylor.algebra.Algebra` that keeps exactly the coefficients
below the asked multi-indices (their downward closure). The input jet is
``x + sum_r t_r e_r``; one pass through the traced graph gives every kept
coefficient of every output, ``c_a = d^a y / a!``. Mixed partials need no
interpolation between directions: they are entries of the same jet, and every
lower order of the request comes from the same pass. Nothing is differentiated
backwards, so the cost per elementwise operation grows with the number of kept
entries and the products between them, not exponentially with the order.

The operators skip entries nobody asked for: the forward Laplacian (a weighted
trace ``sum c_ij d2/dx_i dx_j`` through one collapsed entry, never a Hessian), the
directional derivative (a univariate jet along v, per point if need be) and the
randomized (Hutchinson) Laplacian with its standard error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple, cast

import torch

from wrt.engines.base import (
    Computed,
    Directional,
    Hutchinson,
    Key,
    Operator,
    Request,
    WeightedTrace,
    rademacher,
)
from wrt.engines.compiling import (
    FAILED,
    SLOWER,
    CompileOption,
    Mode,
    Program,
    Sighting,
    compile_mode,
    compile_program,
    should_compile,
)
from wrt.engines.taylor.algebra import TRACE, Algebra, MultiIndex
from wrt.engines.taylor.interpreter import (
    StaleTrace,
    flat,
    missing_rules,
    propagate,
    trace,
)
from wrt.engines.taylor.jet import Jet
from wrt.model import Model
from wrt.spec import Partial

#: Largest stack one chunk may build (bytes of the widest layer's jet): glibc
#: returns blocks above 32 MiB to the system on free, so larger ones page-fault
#: afresh on every call.
STACK_BYTES = 24 * 2**20


class Plan(NamedTuple):
    """What one request propagates.

    Attributes:
        involved: input positions differentiated along, in the model's order.
        algebra: the kept entries over those directions.
        entries: per partial, its multi-index over ``involved`` (() for a value).
    """

    involved: tuple[int, ...]
    algebra: Algebra
    entries: dict[Partial, MultiIndex]


class HutchinsonEstimate(NamedTuple):
    """A randomized Laplacian: the estimate and its standard error, both (N,).

    From :func:`wrt.laplacian_estimate`, Hutchinson's estimator (Hutchinson 1990).

    Attributes:
        estimate: the mean of v^T H v over the samples, (N,), in the model's dtype.
        std_error: its standard error, (N,): the samples' standard deviation over
            sqrt(S) (inf for one sample).
        samples: S, the number of random vectors.
    """

    estimate: torch.Tensor
    std_error: torch.Tensor
    samples: int


class TaylorEngine:
    """Forward Taylor-mode propagation over the model's ATen graph.

    The model is traced once (``make_fx``) and one truncated multivariate Taylor
    polynomial is pushed through the graph, op by op, by Taylor arithmetic
    (Griewank and Walther 2008, chapter 13): only the coefficients below the asked
    partials are kept. Sums of second partials (Laplacians, weighted traces) are
    propagated collapsed (collapsed Taylor mode, Dangel et al. 2025; the forward
    Laplacian of Li et al. 2024). Exact to round-off; float64 gives about 1e-12
    relative.

    Args:
        compile: run the propagation through ``torch.compile`` (inductor on CPU:
            the elementwise chains fuse into loops): ``"auto"`` when the work has
            repeated enough to repay the compile time, True at the first call,
            False never (:mod:`wrt.engines.compiling`). Compiling takes seconds
            per model, request plan and point shape (any batch size), once per
            machine thanks to the disk cache; ``compile_seconds`` adds up what
            this engine spent. Results that must stay differentiable are not
            compiled.
        repeats: calls the caller still expects with the same shapes (a stream's
            chunks), for the ``"auto"`` rule; None when unknown.

    Raises:
        EngineError: ``compile`` is not "auto", True or False.
    """

    name = "taylor"

    def __init__(self, compile: CompileOption = "auto", repeats: int | None = None):
        self.compile: Mode = compile_mode(compile)
        self.repeats = repeats
        self.compile_seconds = 0.0

    def supports(self, model: Model, request: Request | None = None) -> bool | str:
        """True when every operation on the model's traced path has a rule.

        Every operator (weighted trace, directional derivative, Hutchinson) is
        supported on such a model.
        """
        probe = torch.zeros(
            2, model.n_inputs, dtype=model.dtype or torch.float64, device=model.device
        )  # on the model's device: a CUDA model traced on CPU points fails
        try:
            graph = trace(model, probe)
        except Exception as exc:  # tracing user code can fail in many ways
            return f"the model could not be traced ({type(exc).__name__}: {exc})"
        missing = missing_rules(graph)
        if missing:
            return f"no Taylor rule for {', '.join(missing)}"
        return True

    def chunk_size(self, request: Request, model: Model | None = None) -> int:
        """Points per batch: the widest layer's jet stays under :data:`STACK_BYTES`."""
        entries = 8
        if model is not None:
            entries = max(
                [len(self.plan(request, model.inputs).algebra)]
                + [operator_entries(op) for op in request.operators]
            )
        return points_per_chunk(model, entries)

    def plan(self, request: Request, inputs: tuple[str, ...]) -> Plan:
        """The directions and entries ``request``'s partials need (:class:`Plan`)."""
        alphas = {p: p.multi_index(inputs) for p in request.partials}
        involved = tuple(
            i for i in range(len(inputs)) if any(a[i] for a in alphas.values())
        )
        entries = {p: tuple(a[i] for i in involved) for p, a in alphas.items()}
        algebra = Algebra.closure(len(involved), entries.values())
        return Plan(involved, algebra, entries)

    def compute(self, model: Model, x: torch.Tensor, request: Request) -> Computed:
        """Compute the requested partials and operators at the points ``x`` (N, n_in).

        The partials come from one jet (:meth:`plan`); each operator from its own
        pass: :meth:`weighted_trace`, :meth:`directional`, :meth:`hutchinson`.

        Raises:
            UnsupportedOpError: an operation of the model has no Taylor rule.
        """
        values: dict[Key, torch.Tensor] = {}
        errors: dict[Key, torch.Tensor] = {}
        differentiable = request.differentiable
        if request.partials:
            values.update(self._partials(model, x, request))
        for op in request.operators:
            if isinstance(op, WeightedTrace):
                values[op] = self.weighted_trace(
                    model, x, op.output, op.over, op.weights, differentiable
                )
            elif isinstance(op, Directional):
                values[op] = self.directional(model, x, op, differentiable)
            else:
                values[op], errors[op] = self.hutchinson(model, x, op, differentiable)
        return Computed(values, errors)

    def _partials(
        self, model: Model, x: torch.Tensor, request: Request
    ) -> dict[Key, torch.Tensor]:
        involved, algebra, entries = self.plan(request, model.inputs)
        directions = torch.eye(model.n_inputs, dtype=x.dtype, device=x.device)
        y = self._push(
            model, x, directions[list(involved)], algebra, request.differentiable
        )
        results: dict[Key, torch.Tensor] = {}
        for partial, alpha in entries.items():
            column = model.outputs.index(partial.output)
            # a float: 21! and beyond do not fit the int64 torch would convert to
            scale = float(math.prod(math.factorial(a) for a in alpha))
            value = y[algebra.position(alpha), :, column]
            results[partial] = value * scale if scale != 1 else value
        return results

    def weighted_trace(
        self,
        model: Model,
        x: torch.Tensor,
        output: str,
        over: tuple[int, ...],
        weights: torch.Tensor | None = None,
        differentiable: bool = False,
    ) -> torch.Tensor:
        """``sum_ij C_ij d2y/dx_i dx_j`` over the inputs ``over``, shape (N,).

        The forward Laplacian: the value, R first-order entries and one collapsed
        second-order entry are propagated; no Hessian is formed. ``weights`` is the
        symmetric (R, R) matrix C (None: the identity, the Laplacian); it is
        diagonalised, C = sum_k l_k u_k u_k^T, and each eigenvector is a direction.
        """
        n_in, r = model.n_inputs, len(over)
        if weights is None:
            trace_weights = [1.0] * r
            vectors = torch.eye(r, dtype=x.dtype, device=x.device)
        else:  # the user's (R, R) weights, once per call, on the host (a tiny eigh)
            eigenvalues, vectors = torch.linalg.eigh(weights.to(torch.float64).cpu())
            trace_weights = eigenvalues.tolist()
        directions = torch.zeros(r, n_in, dtype=x.dtype, device=x.device)
        directions[:, list(over)] = vectors.T.to(dtype=x.dtype, device=x.device)
        algebra = Algebra.closure(r, [], trace_weights=trace_weights)
        y = self._push(model, x, directions, algebra, differentiable)
        return 2 * y[algebra.position(TRACE), :, model.outputs.index(output)]

    def directional(
        self, model: Model, x: torch.Tensor, op: Directional, differentiable: bool
    ) -> torch.Tensor:
        """``D^k y[v]``: a univariate jet ``x + t v`` of order k, shape (N,).

        The direction may differ per point: the jet's first-order entry is v itself,
        (n_in,) or (N, n_in). ``d^k/dt^k`` is k! times the k-th coefficient.
        """
        algebra = Algebra.closure(1, [(op.order,)])
        direction = op.direction.to(x.dtype).to(x.device)
        y = self._push(model, x, direction.unsqueeze(0), algebra, differentiable)
        value = y[algebra.position((op.order,)), :, model.outputs.index(op.output)]
        return value * float(math.factorial(op.order))

    def hutchinson(
        self, model: Model, x: torch.Tensor, op: Hutchinson, differentiable: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Randomized Laplacian: mean of v^T H v over Rademacher vectors v.

        Each sample keeps its own second-order entry (not collapsed), so the spread
        of the samples gives the standard error of the estimate, per point.

        Returns:
            The estimate and its standard error (inf when S = 1), each (N,).
        """
        samples = op.samples
        directions = rademacher(op, model.n_inputs, x.dtype, x.device)
        wanted = [
            tuple(2 * int(i == s) for i in range(samples)) for s in range(samples)
        ]
        algebra = Algebra.closure(samples, wanted)
        y = self._push(model, x, directions, algebra, differentiable)
        column = model.outputs.index(op.output)
        positions = [algebra.position(a) for a in wanted]
        quadratic = 2 * y[positions, :, column]  # (samples, N): v^T H v
        estimate = quadratic.mean(0)
        spread = (
            quadratic.std(0) if samples > 1 else torch.full_like(estimate, math.inf)
        )
        return estimate, spread.detach() / math.sqrt(samples)

    def _push(
        self,
        model: Model,
        x: torch.Tensor,
        directions: torch.Tensor,
        algebra: Algebra,
        differentiable: bool,
    ) -> torch.Tensor:
        """The output stack (M, N, n_out) of the input jet ``x + sum_r t_r v_r``.

        Args:
            model: the model.
            x: points (N, n_in).
            directions: (R, n_in), the v_r, one per direction of the algebra.
            algebra: the entries kept.
            differentiable: keep the graph to the model's parameters.
        """
        x = x.detach()
        stack = x.new_zeros((len(algebra), *x.shape))
        stack[0] = x
        for r in range(algebra.n_directions):
            stack[algebra.unit(r)] = directions[r]
        if len(algebra) == 1:  # values only
            with torch.set_grad_enabled(differentiable):
                return model(x).unsqueeze(0)
        if differentiable or self.compile == "off":
            return _propagate(model, x, stack, algebra, differentiable)
        key = (tuple(x.shape[1:]), x.dtype, x.device, _tensor_ids(model), algebra)
        program = model.cache.valid_programs(model.module).get(key)
        n = x.shape[0]
        seen = model.cache.sighting(key, Sighting)
        if isinstance(program, Program) and program.serves(n):
            if self.compile == "on" or program.pays(seen) is not None:
                with torch.no_grad():
                    return program(stack)
            start = time.perf_counter()  # on trial: timed like the eager calls
            with torch.no_grad():
                y = program(stack)
            program.trials.append((time.perf_counter() - start) / n)
            if program.pays(seen) is False:
                model.cache.add_program(key, SLOWER)
            return y
        if program is None and should_compile(self.compile, seen, n, self.repeats):
            graph = trace(model, x)
            if not graph.meta.get("wrt_reads"):  # reads are checked on every call
                start = time.perf_counter()
                built = flat(graph, model, Jet(stack, algebra), now=True)
                program, out = compile_program(cast(Callable, built), stack)
                spent = time.perf_counter() - start
                if program is not None:  # a failed compile built no program
                    self.compile_seconds += spent
                    model.cache.compile_seconds += spent
                model.cache.add_program(key, program or FAILED)
                if out is not None:
                    return out
        start = time.perf_counter()
        y = _propagate(model, x, stack, algebra, differentiable)
        seen.add(n, time.perf_counter() - start)
        return y


def _tensor_ids(model: Model) -> tuple[int, ...]:
    module = model.module
    return tuple(id(t) for t in (*module.parameters(), *module.buffers()))


def _propagate(
    model: Model,
    x: torch.Tensor,
    stack: torch.Tensor,
    algebra: Algebra,
    differentiable: bool,
) -> torch.Tensor:
    """The output stack of the input jet ``stack`` at ``x``, without compiling."""
    graph = trace(model, x)
    jet = Jet(stack, algebra)
    if not differentiable:
        flattened = flat(graph, model, jet)
        if flattened is not None:
            with torch.no_grad():
                return flattened(stack)
    with torch.set_grad_enabled(differentiable):
        try:
            return propagate(graph, jet).stack
        except StaleTrace:  # these points branch otherwise: trace them
            return propagate(trace(model, x, fresh=True), jet).stack


def operator_entries(op: Operator) -> int:
    """Entries of the jet one operator propagates (its stack's first size)."""
    if isinstance(op, WeightedTrace):
        return len(op.over) + 2
    if isinstance(op, Directional):
        return op.order + 1
    return 2 * op.samples + 1


def points_per_chunk(model: Model | None, entries: int) -> int:
    """Points whose widest jet (entries x width x itemsize) fits :data:`STACK_BYTES`."""
    width, itemsize = 64, 4
    if model is not None:
        shapes = [p.shape for p in model.module.parameters() if p.dim()]
        width = max([max(s) for s in shapes] + [model.n_inputs, 1])
        itemsize = (model.dtype or torch.float32).itemsize
    return max(16, STACK_BYTES // (entries * width * itemsize))
