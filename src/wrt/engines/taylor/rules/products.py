"""Rules for matrix products and convolutions: one GEMM on the whole stack.

A product of a jet with a constant is linear in the jet; a product of two jets adds
the truncated cross terms (:func:`~wrt.engines.taylor.jet.product`).
"""

from __future__ import annotations

from typing import Any

import torch

from wrt.engines.taylor import jet as J
from wrt.engines.taylor.jet import Jet
from wrt.engines.taylor.rules.arithmetic import _add
from wrt.engines.taylor.rules.registry import RULES, _is, aten, rule
from wrt.errors import UnsupportedOpError


def _matmul_like(op: Any, a: Any, b: Any) -> Jet:
    """Mm, bmm and matmul: torch.matmul broadcasts over the stack's leading dim.

    A jet on the left is a stack of matrices (or of row vectors, which matmul reads
    as matrices: the same product); a 1-D jet on the right must be turned into
    columns first, or matmul would read the stack itself as the matrix.
    """
    if _is(a) and _is(b):
        if len(a.shape) < 2 or len(b.shape) < 2:
            raise UnsupportedOpError("no Taylor rule for a product of two 1-D jets")
        return J.product(a, b, torch.matmul)
    if _is(a):
        return a.same(torch.matmul(a.stack, b))
    if len(b.shape) == 1:
        return b.same(torch.matmul(a, b.stack.unsqueeze(-1)).squeeze(-1))
    return b.same(torch.matmul(a, b.stack))


RULES[aten.mm] = _matmul_like
RULES[aten.bmm] = _matmul_like
RULES[aten.matmul] = _matmul_like


@rule(aten.addmm)
def _addmm(
    op: Any, bias: Any, a: Any, b: Any, *, beta: float = 1, alpha: float = 1
) -> Jet:
    if not _is(a) and not _is(b):  # only the bias is a jet
        return _add(op, bias.same(beta * bias.stack), alpha * torch.mm(a, b))
    product = _matmul_like(op, a, b)
    if alpha != 1:
        product = product.same(alpha * product.stack)
    if _is(bias):
        return J.add(product, bias, beta)
    stack = product.stack
    stack[0] += beta * bias if beta != 1 else bias  # fresh GEMM output: in place
    return product


@rule(aten.baddbmm)
def _baddbmm(
    op: Any, bias: Any, a: Any, b: Any, *, beta: float = 1, alpha: float = 1
) -> Jet:
    """Beta bias + alpha (a @ b), batched."""
    if not _is(a) and not _is(b):
        product: Any = alpha * torch.bmm(a, b)
    else:
        product = _matmul_like(op, a, b)
        product = product.same(alpha * product.stack) if alpha != 1 else product
    scaled = bias.same(beta * bias.stack) if _is(bias) and beta != 1 else bias
    if not _is(scaled):
        scaled = beta * scaled if beta != 1 else scaled
    return _add(op, product, scaled)


@rule(aten.convolution)
def _convolution(
    op: Any,
    x: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    transposed: bool,
    output_padding: Any,
    groups: int,
) -> Jet:
    """Convolution is linear in its input: the entries go through as extra batch rows.

    The bias is added to the value only.
    """
    if not _is(x) or _is(weight) or _is(bias):
        raise UnsupportedOpError(
            "no Taylor rule for a convolution whose weights depend on the inputs"
        )
    m, shape = x.stack.shape[0], x.shape
    flat = x.stack.reshape(m * shape[0], *shape[1:])
    out = op(
        flat,
        weight,
        None,
        stride,
        padding,
        dilation,
        transposed,
        output_padding,
        groups,
    )
    stack = out.reshape(m, shape[0], *out.shape[1:])
    if bias is not None:
        stack[0] += bias.view(1, -1, *[1] * (stack.dim() - 3))
    return x.same(stack)


@rule(aten._convolution)
def _convolution_internal(
    op: Any,
    x: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    transposed: bool,
    output_padding: Any,
    groups: int,
    *backend_flags: Any,
) -> Jet:
    """The form TorchScript calls (backend flags after ``groups``): as above."""
    return _convolution(
        aten.convolution.default, x, weight, bias, stride, padding, dilation,
        transposed, output_padding, groups,
    )  # fmt: skip
