"""Jets: a value and its kept Taylor coefficients, stacked along one leading dimension.

A :class:`Jet` over an :class:`~wrt.engines.taylor.algebra.Algebra` of M entries is
one tensor of shape (M, *S): block 0 is the value (shape S), block i the
normalised coefficient of entry i. Stacking makes every operation that is linear
in its argument (views, sums, matrix products with weights) one ATen call on the
whole stack: a linear layer is one GEMM of M * N rows.

Nonlinear elementwise functions g are composed, not re-derived: with
``delta = u - u_0`` (no constant), ``g(u) = sum_j g^(j)(u_0) / j! * delta^j``, exact
on the kept entries, with ``delta^j`` vanishing below degree j. The scalar
derivative coefficients ``g^(j)(u_0) / j!`` come from the univariate Taylor rules in
:mod:`wrt.engines.taylor.series`, so each function is written once.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from wrt.engines.taylor.algebra import Algebra, Terms

Tensor = torch.Tensor


class Jet:
    """A stacked value-and-coefficients tensor (M, *S) over an algebra."""

    __slots__ = ("algebra", "stack")

    def __init__(self, stack: Tensor, algebra: Algebra) -> None:
        self.stack = stack
        self.algebra = algebra

    @property
    def value(self) -> Tensor:
        """Block 0: the value, shape S."""
        return self.stack[0]

    @property
    def shape(self) -> torch.Size:
        """S, the shape of the value."""
        return self.stack.shape[1:]

    def same(self, stack: Tensor) -> Jet:
        """A jet over the same algebra."""
        return Jet(stack, self.algebra)

    def __repr__(self) -> str:
        return f"Jet(M={len(self.algebra)}, shape={tuple(self.shape)})"


def lift(value: Tensor | float, like: Jet) -> Jet:
    """A constant as a jet: its value, then zeros."""
    value = torch.as_tensor(value, dtype=like.stack.dtype, device=like.stack.device)
    value = _with_dims(value, len(like.shape))
    stack = value.new_zeros((len(like.algebra), *value.shape))
    stack[0] = value
    return like.same(stack)


def _with_dims(value: Tensor, ndim: int) -> Tensor:
    """``value`` with leading 1s up to ``ndim`` dims, so stacks broadcast entrywise."""
    missing = ndim - value.dim()
    return value.reshape(*[1] * missing, *value.shape) if missing > 0 else value


def add_constant(x: Jet, constant: Tensor | float) -> Jet:
    """X + constant: only the value moves."""
    value = x.value + constant
    if value.shape == x.shape:
        stack = x.stack.clone()
        stack[0] = value
        return x.same(stack)
    rest = x.stack[1:]
    rest = rest.reshape(rest.shape[0], *[1] * (value.dim() - len(x.shape)), *x.shape)
    rest = rest.expand(len(x.algebra) - 1, *value.shape)
    return x.same(torch.cat([value.unsqueeze(0), rest]))


def add(a: Jet, b: Jet, alpha: float = 1.0) -> Jet:
    """A + alpha b."""
    return a.same(a.stack + alpha * b.stack if alpha != 1 else a.stack + b.stack)


def product(a: Jet, b: Jet, op: Callable[[Tensor, Tensor], Tensor] = torch.mul) -> Jet:
    """``op(a, b)`` for an op linear in each argument (mul, matmul): truncated.

    out_t = sum over splits t = l + r of op(a_l, b_r); terms with a constant factor
    are two broadcast ops, the rest are gathered once.
    """
    out = op(a.value, b.stack)  # a_0 * every entry of b
    out[1:] += op(a.stack[1:], b.value)
    cross = _cross(a.stack[1:], b.stack[1:], a.algebra.terms(1, *_where(a)), op)
    if cross is not None:
        out[1:] += cross
    return a.same(out)


def compose(u: Jet, derivatives: list[Tensor]) -> Jet:
    """G(u) from ``derivatives[j] = g^(j)(u_0) / j!``, j = 0..K (each shape S).

    ``g(u) = sum_j d_j delta^j``: one broadcast product gives ``d_1 delta`` for every
    entry at once; the value and the terms of the higher powers are written into
    it. A power ``delta^j`` is built as a stack only when a higher one needs it.
    """
    algebra = u.algebra
    delta = u.stack[1:]
    out = derivatives[1] * u.stack  # fresh: the writes below are safe for autograd
    out[0] = derivatives[0]
    body = out[1:]
    top = min(algebra.order, len(derivatives) - 1)
    power = delta
    for j in range(2, top + 1):
        terms = algebra.terms(j - 1, *_where(u), symmetric=j == 2)
        if not len(terms):
            break
        if terms.single_target is not None and j == top:
            body[terms.single_target] += derivatives[j] * _summed(power, delta, terms)
            break
        products = _products(power, delta, terms, torch.mul)
        body.index_add_(0, terms.target, derivatives[j] * products)
        if j < top:
            power = products.new_zeros(delta.shape).index_add_(
                0, terms.target, products
            )
    return u.same(out)


def _where(x: Jet) -> tuple[torch.device, torch.dtype]:
    return x.stack.device, x.stack.dtype


def _cross(
    a: Tensor, b: Tensor, terms: Terms, op: Callable[[Tensor, Tensor], Tensor]
) -> Tensor | None:
    """Sum of op(a[l], b[r]) * w into target slots (entries counted from 1)."""
    if not len(terms):
        return None
    if terms.single_target is not None and op is torch.mul:
        total = _summed(a, b, terms)
        out = total.new_zeros((a.shape[0], *total.shape))
        out[terms.single_target] = total
        return out
    products = _products(a, b, terms, op)
    out = products.new_zeros((a.shape[0], *products.shape[1:]))
    return out.index_add_(0, terms.target, products)


def _factors(a: Tensor, b: Tensor, terms: Terms) -> tuple[Tensor, Tensor]:
    """a[l] and b[r] for every term: views where the positions are consecutive."""
    left = a[terms.left_range] if terms.left_range else a.index_select(0, terms.left)
    if terms.right_range:
        right = b[terms.right_range]
    else:
        right = b.index_select(0, terms.right)
    return left, right


def _products(
    a: Tensor, b: Tensor, terms: Terms, op: Callable[[Tensor, Tensor], Tensor]
) -> Tensor:
    """op(a[l], b[r]) * w for every term, stacked (T, ...)."""
    left, right = _factors(a, b, terms)
    products = op(left, right)
    if terms.weight is not None:
        products = products * terms.weight.view(-1, *[1] * (products.dim() - 1))
    return products


def _summed(a: Tensor, b: Tensor, terms: Terms) -> Tensor:
    """Sum of a[l] * b[r] * w over the terms (a trace): one reduction, no stack."""
    left, right = _factors(a, b, terms)
    if terms.weight is None:
        squares = left.square() if terms.diagonal and a is b else left * right
        return squares.sum(0)
    return torch.einsum("t,t...,t...->...", terms.weight, left, right)
