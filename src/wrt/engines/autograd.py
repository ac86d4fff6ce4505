"""Nested reverse mode on the whole batch: the reference engine, for every model.

Each partial is a path of inputs to differentiate along, e.g. ``d3y/dx1^2dx2`` is
(x1, x1, x2). The paths of one request form a trie whose nodes are partials of
increasing order; every node that has children costs one backward pass of
``node.sum()`` with respect to the whole input tensor (rows are independent, so
the sum's gradient holds each point's own derivative) and yields all n_in children
at once. Shared prefixes are therefore computed once: asking for ``dy/dx1``,
``d2y/dx1^2`` and ``d3y/dx1^2dx2`` costs three backward passes, the same as the
last one alone. Gradients are always taken on the full input tensor, never on a
slice of it (a slice is a new tensor the output does not depend on, which is why
``tape.gradient(f, x[0][0])`` returns None). From order 3 on (partials and
operators alike), layer and group norms run as plain compositions
(:mod:`wrt.engines.exact_norms`): torch's fused kernels give wrong third
derivatives.
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections import defaultdict

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from wrt.engines.base import (
    Computed,
    Directional,
    Hutchinson,
    Key,
    Request,
    WeightedTrace,
    rademacher,
)
from wrt.engines.exact_norms import ExactNorms, fused_norms
from wrt.engines.saturating import AccurateActivations
from wrt.errors import PrecisionWarning, UnsupportedOpError
from wrt.model import Model
from wrt.spec import Partial

Path = tuple[int, ...]


class AutogradEngine:
    """Batched nested ``torch.autograd.grad``; exact up to round-off for any order."""

    name = "autograd"

    def supports(self, model: Model, request: Request) -> bool | str:
        """Every differentiable torch model and every operator is supported."""
        return True

    def chunk_size(self, request: Request, model: Model | None = None) -> int:
        """Smaller batches for order >= 3, whose nested graphs outgrow the caches.

        Measured on the seed network (2 cores): d4y/dx1^4 at N = 100000 ran twice as
        fast in chunks of 8192 as in one batch; first and second order gain nothing
        from chunks below 65536. A Hutchinson estimate evaluates S copies of each
        point, so its chunks are S times smaller.
        """
        size = 8192 if request.max_order >= 3 else 65536
        samples = [op.samples for op in request.operators if isinstance(op, Hutchinson)]
        return max(16, size // max(samples, default=1))

    def compute(self, model: Model, x: torch.Tensor, request: Request) -> Computed:
        """Compute the requested partials and operators; see the module docstring.

        A weighted trace sums the second partials it needs (computed in the same
        trie as the partials); a directional derivative of order k takes k nested
        backward passes of ``<grad, v>``; a Hutchinson estimate takes two batched
        Hessian-vector products over S copies of the points.

        Args:
            model: the model.
            x: points, shape (N, n_in).
            request: the partials and operators.

        Returns:
            key -> tensor (N,); the Hutchinson standard error in ``errors``.
        """
        x = x.detach().requires_grad_(True)
        paths: dict[str, dict[Path, Partial]] = defaultdict(dict)
        index_of = model.index_of
        traces = [op for op in request.operators if isinstance(op, WeightedTrace)]
        for partial in (*request.partials, *_trace_partials(model, traces)):
            paths[partial.output][_path(partial, index_of)] = partial
        exact = contextlib.nullcontext()
        if request.max_order >= 3:  # fused norms are wrong at order >= 3 in torch
            exact = ExactNorms()
            _warn_if_fused(model)
        differentiable = request.differentiable
        values: dict[Key, torch.Tensor] = {}
        errors: dict[Key, torch.Tensor] = {}
        # torch's fused attention kernels (flash / memory-efficient) have no
        # double backward; the math kernel is the same function, differentiable
        # to any order.
        attention = contextlib.nullcontext()
        if request.max_order >= 2 or differentiable:
            attention = sdpa_kernel([SDPBackend.MATH])
        with torch.enable_grad(), attention, _named_missing_derivative(model):
            directional = [o for o in request.operators if isinstance(o, Directional)]
            y = x  # a Hutchinson-only request needs no forward pass on x itself
            if paths or directional:
                with exact, AccurateActivations():  # the forward only
                    y = model(x)
            nodes: dict[Partial, torch.Tensor] = {}
            for k, (output, wanted) in enumerate(paths.items()):
                root = y[:, model.outputs.index(output)]
                # The graph may be freed by the very last backward pass of the call,
                # unless the caller will backpropagate through the results.
                last = k == len(paths) - 1 and not differentiable and not directional
                walked = _walk_trie(
                    root, x, set(wanted), differentiable, free_at_end=last
                )
                for path, partial in wanted.items():
                    nodes[partial] = walked[path]
            for partial in request.partials:
                values[partial] = nodes[partial]
            for op in traces:
                values[op] = _weighted_sum(model, op, nodes, x)
            for op in directional:
                root = y[:, model.outputs.index(op.output)]
                values[op] = _directional(root, x, op, differentiable)
            for op in request.operators:
                if isinstance(op, Hutchinson):
                    with exact, AccurateActivations():
                        values[op], errors[op] = _hutchinson(
                            model, x, op, differentiable
                        )
        if not differentiable:
            values = {key: v.detach() for key, v in values.items()}
        return Computed(values, errors)


@contextlib.contextmanager
def _named_missing_derivative(model: Model):
    """Turn torch's "derivative for <op> is not implemented" into a wrt error."""
    try:
        yield
    except RuntimeError as exc:
        found = _MISSING_DERIVATIVE.search(str(exc))
        if found is None:
            raise
        raise UnsupportedOpError(
            f"The model from {model.source} calls {found.group(1)}, whose derivative "
            "torch does not implement, so autograd cannot differentiate it to the "
            "order asked. Use engine='finite_diff' (float64, with error estimates), "
            "or build the model from operations torch differentiates (for attention: "
            "torch.nn.functional.scaled_dot_product_attention, or softmax(q k^T) v "
            "written out)."
        ) from exc


_MISSING_DERIVATIVE = re.compile(r"derivative for (\S+) is not implemented")


def _trace_partials(model: Model, traces: list[WeightedTrace]) -> list[Partial]:
    names = model.inputs
    return [
        Partial(op.output, [(names[i], 1), (names[j], 1)])
        for op in traces
        for i, j, _ in op.pairs()
    ]


def _weighted_sum(
    model: Model,
    op: WeightedTrace,
    nodes: dict[Partial, torch.Tensor],
    x: torch.Tensor,
) -> torch.Tensor:
    names = model.inputs
    total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for i, j, weight in op.pairs():
        total = (
            total + weight * nodes[Partial(op.output, [(names[i], 1), (names[j], 1)])]
        )
    return total


def _directional(
    root: torch.Tensor, x: torch.Tensor, op: Directional, differentiable: bool
) -> torch.Tensor:
    """``g_{j+1} = <grad g_j, v>`` for j < k, rows independent: (N,)."""
    v = op.direction.to(x.dtype)
    g = root
    for j in range(op.order):
        keep = differentiable or j < op.order - 1
        grad = _gradient(g, x, create_graph=keep, retain_graph=True)
        g = (grad * v).sum(1)
    return g


def _hutchinson(
    model: Model, x: torch.Tensor, op: Hutchinson, differentiable: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of v^T H v over the vectors, and its standard error, each (N,)."""
    v = rademacher(op, model.n_inputs, x.dtype, x.device)  # (S, n_in)
    n, samples = x.shape[0], op.samples
    rows = x.detach().repeat(samples, 1).requires_grad_(True)  # (S N, n_in)
    directions = v.repeat_interleave(n, dim=0)
    y = model(rows)[:, model.outputs.index(op.output)]
    g = _gradient(y, rows, create_graph=True, retain_graph=True)
    hv = _gradient(
        (g * directions).sum(1),
        rows,
        create_graph=differentiable,
        retain_graph=differentiable,
    )
    quadratic = (hv * directions).sum(1).reshape(samples, n)
    estimate = quadratic.mean(0)
    spread = quadratic.std(0) if samples > 1 else torch.full_like(estimate, math.inf)
    return estimate, spread.detach() / math.sqrt(samples)


def _path(partial: Partial, index_of: dict[str, int]) -> Path:
    """The inputs to differentiate along, as sorted column indices: (0, 0, 1)."""
    return tuple(
        sorted(index_of[name] for name, power in partial.orders for _ in range(power))
    )


def _warn_if_fused(model: Model) -> None:
    fused = fused_norms(model)
    if fused:
        warnings.warn(
            f"The model calls torch's fused {', '.join(fused)} directly (a compiled "
            "or exported graph); nested autograd gets its derivatives of order >= 3 "
            "wrong (pytorch issues #175754, #186256). Use engine='taylor' (exact), "
            "or load the model as Python modules.",
            PrecisionWarning,
            stacklevel=5,
        )


def backward_passes(request: Request, inputs: tuple[str, ...]) -> list[int]:
    """The backward passes :class:`AutogradEngine` makes for ``request``, by depth.

    One per node of the trie of paths that has children (the distinct proper
    prefixes of the paths, per output); a pass at depth d differentiates a graph
    that d earlier passes have grown, so its cost roughly doubles with d.

    Returns:
        The depth (0 for the first derivative) of every pass.
    """
    index_of = {name: i for i, name in enumerate(inputs)}
    prefixes = set()
    for partial in request.partials:
        path = _path(partial, index_of)
        prefixes.update((partial.output, path[:k]) for k in range(len(path)))
    return [len(prefix) for _, prefix in prefixes]


def _walk_trie(
    root: torch.Tensor,
    x: torch.Tensor,
    wanted: set[Path],
    differentiable: bool,
    *,
    free_at_end: bool,
) -> dict[Path, torch.Tensor]:
    """Values (N,) of every prefix of the wanted paths, one backward per parent.

    Args:
        root: the output column, shape (N,), a function of ``x``.
        x: the points (N, n_in), requiring grad.
        wanted: paths of input indices, each sorted.
        differentiable: keep the graph of the leaves too.
        free_at_end: the last backward pass may free the graph (saves memory and
            about a tenth of the time of a long chain).
    """
    prefixes = {path[:k] for path in wanted for k in range(len(path) + 1)}
    children: dict[Path, set[int]] = defaultdict(set)
    for prefix in prefixes:
        if prefix:
            children[prefix[:-1]].add(prefix[-1])
    parents = sorted(children, key=lambda p: (len(p), p))  # parents before children
    nodes: dict[Path, torch.Tensor] = {(): root}
    for number, parent in enumerate(parents):
        # The graph is needed past this pass when a child has children itself,
        # or when the caller will backpropagate through the result.
        keep = differentiable or any(
            parent + (i,) in children for i in children[parent]
        )
        retain = not (free_at_end and number == len(parents) - 1)
        grad = _gradient(nodes[parent], x, create_graph=keep, retain_graph=retain)
        for i in children[parent]:
            nodes[parent + (i,)] = grad[:, i]
    return nodes


def _gradient(
    value: torch.Tensor, x: torch.Tensor, *, create_graph: bool, retain_graph: bool
) -> torch.Tensor:
    """Row-wise gradient of ``value`` (N,) with respect to ``x``: shape (N, n_in).

    Rows are independent, so the vector-Jacobian product with ones gives each row's
    own gradient. A value that does not depend on ``x`` has an exact zero gradient,
    never None (``materialize_grads``).
    """
    if not value.requires_grad:
        return torch.zeros_like(x)
    (grad,) = torch.autograd.grad(
        value,
        x,
        grad_outputs=torch.ones_like(value),
        create_graph=create_graph,
        retain_graph=retain_graph,
        allow_unused=True,
        materialize_grads=True,
    )
    if grad._is_zerotensor():
        # autograd's lazy zeros (e.g. the second derivative of abs) cannot be read
        # by numpy or written in place; hand back an ordinary tensor of zeros.
        return torch.zeros_like(x)
    return grad
