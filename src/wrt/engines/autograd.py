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
``tape.gradient(f, x[0][0])`` returns None).
"""

from __future__ import annotations

from collections import defaultdict

import torch

from wrt.engines.base import Request
from wrt.model import Model
from wrt.spec import Partial

Path = tuple[int, ...]


class AutogradEngine:
    """Batched nested ``torch.autograd.grad``; exact up to round-off for any order."""

    name = "autograd"

    def supports(self, model: Model, request: Request) -> bool | str:
        """Every differentiable torch model is supported."""
        return True

    def compute(
        self, model: Model, x: torch.Tensor, request: Request
    ) -> dict[Partial, torch.Tensor]:
        """Compute the requested partials; see the module docstring.

        Args:
            model: the model.
            x: points, shape (N, n_in).
            request: the partials.

        Returns:
            partial -> tensor (N,).
        """
        x = x.detach().requires_grad_(True)
        paths: dict[str, dict[Path, Partial]] = defaultdict(dict)
        for partial in request.partials:
            path = tuple(
                i
                for i, power in enumerate(partial.multi_index(model.inputs))
                for _ in range(power)
            )
            paths[partial.output][path] = partial
        with torch.enable_grad():
            y = model(x)
            results: dict[Partial, torch.Tensor] = {}
            for output, wanted in paths.items():
                root = y[:, model.outputs.index(output)]
                nodes = _walk_trie(root, x, set(wanted), request.differentiable)
                for path, partial in wanted.items():
                    results[partial] = nodes[path]
        if not request.differentiable:
            results = {p: v.detach() for p, v in results.items()}
        return results


def _walk_trie(
    root: torch.Tensor, x: torch.Tensor, wanted: set[Path], differentiable: bool
) -> dict[Path, torch.Tensor]:
    """Values (N,) of every prefix of the wanted paths, one backward per parent.

    Args:
        root: the output column, shape (N,), a function of ``x``.
        x: the points (N, n_in), requiring grad.
        wanted: paths of input indices, each sorted.
        differentiable: keep the graph of the leaves too.
    """
    prefixes = {path[:k] for path in wanted for k in range(len(path) + 1)}
    children: dict[Path, set[int]] = defaultdict(set)
    for prefix in prefixes:
        if prefix:
            children[prefix[:-1]].add(prefix[-1])
    depth = max((len(p) for p in prefixes), default=0)
    nodes: dict[Path, torch.Tensor] = {(): root}
    for level in range(depth):
        for parent in sorted(p for p in prefixes if len(p) == level):
            if parent not in children:
                continue
            # The graph is needed past this pass when a child has children itself,
            # or when the caller will backpropagate through the result.
            keep = differentiable or any(
                parent + (i,) in children for i in children[parent]
            )
            grad = _gradient(nodes[parent], x, keep)
            for i in children[parent]:
                nodes[parent + (i,)] = grad[:, i]
    return nodes


def _gradient(value: torch.Tensor, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """D value.sum() / dx, shape (N, n_in); exact zeros when value does not depend on x.

    A partial along an input that the output ignores is an exact zero tensor,
    never None (``materialize_grads``).
    """
    if not value.requires_grad:
        return torch.zeros_like(x)
    (grad,) = torch.autograd.grad(
        value.sum(),
        x,
        create_graph=create_graph,
        retain_graph=True,
        allow_unused=True,
        materialize_grads=True,
    )
    return grad
