"""Terms bound to a model and grouped by point set; the parameters as one vector.

:class:`Problem` evaluates every term's loss: the terms are grouped by point set and
each group's outputs and partials come from one batched, differentiable call of
:func:`wrt.partials` (shared lower orders are computed once: ``u``, ``du/dx`` and
``d2u/dx^2`` of a Burgers residual cost one forward pass and two backward passes
together). With several processes each keeps a shard of every term's points.

:func:`flatten` and :func:`assign` read and write the trainable parameters as one
vector. Unlike ``torch.nn.utils.parameters_to_vector`` they accept non-contiguous
parameters (a transposed view made a Parameter, weights imported from Keras) and
write in place, so a parameter never ends up aliasing the vector it was set from.
"""

from __future__ import annotations

import functools
import operator
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import distributed as dist

from wrt.derivatives import partials
from wrt.errors import (
    CompileWarning,
    DataError,
    NonFiniteWarning,
    caller_level,
    one_line,
)
from wrt.model import Model
from wrt.training.terms import Match, Term


def world() -> tuple[int, int]:
    """(rank, world size) of the process group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def parameters(model: Model) -> list[torch.nn.Parameter]:
    """The model's trainable parameters (DataError when it has none)."""
    params = [p for p in model.module.parameters() if p.requires_grad]
    if not params:
        raise DataError("The model has no trainable parameters.")
    return params


def flatten(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """A detached copy of the parameters as one vector, (sum of numel,)."""
    return torch.cat([p.detach().reshape(-1) for p in params]).clone()


def assign(vector: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
    """Copy ``vector`` (from :func:`flatten`) into the parameters, in place."""
    offset = 0
    with torch.no_grad():
        for p in params:
            size = p.numel()
            chunk = vector[offset : offset + size].reshape(p.shape)
            p.copy_(chunk.to(device=p.device, dtype=p.dtype))
            offset += size


def contiguous_gradients(params: Sequence[torch.Tensor]) -> None:
    """Make every gradient contiguous (L-BFGS flattens them with ``view``)."""
    for p in params:
        if p.grad is not None and not p.grad.is_contiguous():
            p.grad = p.grad.contiguous()


def name_terms(terms: Sequence[Term]) -> list[str]:
    """Give every term a distinct name (``term3``, ``u = data (2)``); the names."""
    names: list[str] = []
    for i, term in enumerate(terms):
        term.name = term.name or f"term{i + 1}"
        base, k = term.name, 2
        while term.name in names:
            term.name, k = f"{base} ({k})", k + 1
        names.append(term.name)
    return names


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
        self.names = name_terms(self.terms)
        for term in self.terms:
            term.bind(model)
        self.rank, self.world = world()
        self.scales = [1.0] * len(self.terms)
        if self.world > 1:
            self._shard()
        self.groups = _group_by_points(self.terms)
        #: the compiled loss (:mod:`wrt.training.compiled`), set by ``fit``
        self.compiled: Callable[[], tuple[torch.Tensor, list[torch.Tensor]]] | None
        self.compiled = None

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
            if isinstance(term, Match):
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
        params = parameters(self.model)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for p in params:
            size = p.numel()
            p.grad = flat[offset : offset + size].reshape(p.shape).clone()
            offset += size

    def losses(self) -> tuple[torch.Tensor, list[torch.Tensor], list[dict]]:
        """Weighted total, each term's loss, and each group's values (for the guard).

        With a compiled loss (and gradients on) the values are not returned: the
        compiled function gives the losses only. An error inside it warns
        (:class:`~wrt.errors.CompileWarning`) and the eager computation takes over.
        """
        if self.compiled is not None and torch.is_grad_enabled():
            try:
                total, losses = self.compiled()
                return total, losses, []
            except Exception as exc:  # a compiled kernel failing at run time
                self.compiled = None
                warnings.warn(
                    "The compiled training step failed, so training goes on "
                    f"eagerly: {one_line(exc)}. Pass compile=False to skip it.",
                    CompileWarning,
                    stacklevel=caller_level(),
                )
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
        weighted = [t.weight * v for t, v in zip(self.terms, losses, strict=True)]
        total = functools.reduce(operator.add, weighted)
        return total, losses, all_values

    def first_bad_point(self, index: int) -> int | None:
        """The first point where term ``index`` is not finite (None if none is)."""
        term = self.terms[index]
        with torch.no_grad(), warnings.catch_warnings():
            # the error names the point: no warning about the same NaN
            warnings.simplefilter("ignore", NonFiniteWarning)
            values = partials(self.model, term.x, term.needs(), engine=self.engine)
            pointwise = term.pointwise(values, self.model)
        bad = torch.nonzero(~torch.isfinite(pointwise)).flatten()
        first = int(bad[0]) * self.world + self.rank if bad.numel() else -1
        if self.world > 1:  # the smallest row over the processes, in the whole set
            found = torch.tensor([first if first >= 0 else 2**62])
            dist.all_reduce(found, op=dist.ReduceOp.MIN)
            first = int(found) if int(found) < 2**62 else -1
        return first if first >= 0 else None


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
