"""PyTorch peers: torch.func transforms and hand-written nested torch.autograd.grad.

The ``[floor]`` and "by hand" rows are bare ``torch.autograd.grad`` code with no
checks (the DeepXDE way of writing PDE residuals): the cost wrt would have with
zero overhead. ``f`` is the single-point function ``row -> net(row[None])[0, 0]``
that torch.func needs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from problems import TORCH, Method, Problem
from torch.func import hessian, jacfwd, jacrev, jvp, vmap


def _leaf(X: torch.Tensor) -> torch.Tensor:
    return X.detach().requires_grad_(True)


def _d(
    value: torch.Tensor, x: torch.Tensor, keep: bool = True, retain: bool = False
) -> torch.Tensor:
    """Batched gradient of ``value.sum()`` w.r.t. ``x`` (the DeepXDE building block).

    ``keep`` builds the graph of the result (for a further derivative); ``retain``
    keeps the graph of ``value`` for another pass through it.
    """
    (g,) = torch.autograd.grad(
        value.sum(), x, create_graph=keep, retain_graph=keep or retain
    )
    return g


def _along(g: Callable, v: torch.Tensor) -> Callable:
    """``row -> D_v g(row)``: one forward-mode directional derivative."""
    return lambda row: jvp(g, (row,), (v,))[1]


def _unit(p: Problem, i: int) -> torch.Tensor:
    e = torch.zeros_like(p.X[0])
    e[i] = 1
    return e


# ------------------------------------------------------------------------- methods


def grad_floor(p: Problem) -> torch.Tensor:
    x = _leaf(p.X)
    return _d(p.net(x), x, keep=False)


def hessian_by_hand(p: Problem) -> torch.Tensor:
    x = _leaf(p.X)
    g = _d(p.net(x), x)
    D = x.shape[1]
    rows = [_d(g[:, i], x, keep=False, retain=i < D - 1) for i in range(D)]
    return torch.stack(rows, dim=1)


def laplacian_by_hand(p: Problem) -> torch.Tensor:
    x = _leaf(p.X)
    g = _d(p.net(x), x)
    D = x.shape[1]
    return sum(_d(g[:, i], x, keep=False, retain=i < D - 1)[:, i] for i in range(D))


def laplacian_hessian_trace(p: Problem) -> torch.Tensor:
    return vmap(hessian(p.f))(p.X).diagonal(dim1=1, dim2=2).sum(1)


def nested(p: Problem, inputs: list[int]) -> torch.Tensor:
    """d^k y / dx_{inputs[0]} ... dx_{inputs[-1]} by nested autograd.grad."""
    x = _leaf(p.X)
    value = p.net(x)[:, 0]
    for k, i in enumerate(inputs):
        value = _d(value, x, keep=k < len(inputs) - 1)[:, i]
    return value


def nested_jvp(p: Problem, inputs: list[int]) -> torch.Tensor:
    """The same partial by nested jvp along unit vectors (forward mode only)."""
    g = p.f
    for i in reversed(inputs):
        g = _along(g, _unit(p, i))
    return vmap(g)(p.X)


def _chain(p: Problem, jac: Callable) -> torch.Tensor:
    """dy/dx1, d2y/dx1^2, d3y/dx1^2dx2 in one composed call (lower orders as aux)."""

    def d1(row):
        g = jac(p.f)(row)[0]
        return g, g

    def d2(row):
        h, first = jac(d1, has_aux=True)(row)
        return h[0], (first, h[0])

    def d3(row):
        t, (first, second) = jac(d2, has_aux=True)(row)
        return torch.stack([first, second, t[1]])

    return vmap(d3)(p.X)


def set3_by_hand(p: Problem) -> torch.Tensor:
    x = _leaf(p.X)
    d1 = _d(p.net(x), x)[:, 0]
    d2 = _d(d1, x)[:, 0]
    d3 = _d(d2, x, False)[:, 1]
    return torch.stack([d1, d2, d3], dim=1)


def burgers_by_hand(p: Problem) -> torch.Tensor:
    """u_t, u_x, u_xx as a DeepXDE Burgers residual builds them: two passes."""
    x = _leaf(p.X)
    g = _d(p.net(x), x)
    u_xx = _d(g[:, 0], x, keep=False)[:, 0]
    return torch.stack([g[:, 1], g[:, 0], u_xx], dim=1)


def burgers_fwd_over_rev(p: Problem) -> torch.Tensor:
    """One jvp of the gradient along e_x: the gradient and the column H e_x."""
    e_x = _unit(p, 0)

    def point(row):
        g, h = jvp(jacrev(p.f), (row,), (e_x,))
        return torch.stack([g[1], g[0], h[0]])

    return vmap(point)(p.X)


# -------------------------------------------------------------------- the catalogue


def methods(task: str, p: Problem) -> list[Method]:
    """The torch peers of ``task`` on ``p``."""

    def m(name: str, fn: Callable[[Problem], torch.Tensor], slow=False) -> Method:
        return Method(name, TORCH, lambda: fn(p), slow=slow)

    if task == "grad":
        return [
            m("vmap(jacrev(f))", lambda p: vmap(jacrev(p.f))(p.X)),
            m("autograd.grad(y.sum(), x) [floor]", grad_floor),
        ]
    if task == "hessian":
        return [
            m("vmap(hessian(f))", lambda p: vmap(hessian(p.f))(p.X)),
            m(
                "vmap(jacfwd(jacfwd(f)))",
                lambda p: vmap(jacfwd(jacfwd(p.f)))(p.X),
                slow=True,
            ),
            m("nested autograd.grad, by hand", hessian_by_hand),
        ]
    if task == "laplacian":
        return [
            m("vmap(hessian(f)), trace", laplacian_hessian_trace),
            m("nested autograd.grad, by hand", laplacian_by_hand),
        ]
    if task == "d3_mixed":
        return [
            m("vmap(jvp^3 along e1, e1, e2)", lambda p: nested_jvp(p, [0, 0, 1])),
            m("nested autograd.grad (DeepXDE way)", lambda p: nested(p, [0, 0, 1])),
        ]
    if task == "d4":
        return [
            m(
                "vmap(jacfwd^4(f))[0,0,0,0]",
                lambda p: vmap(jacfwd(jacfwd(jacfwd(jacfwd(p.f)))))(p.X)[:, 0, 0, 0, 0],
                slow=True,
            ),
            m("vmap(jvp^4 along e1)", lambda p: nested_jvp(p, [0] * 4), slow=True),
            m("nested autograd.grad (DeepXDE way)", lambda p: nested(p, [0] * 4)),
        ]
    if task == "d5":
        return [
            m("vmap(jvp^5 along e1)", lambda p: nested_jvp(p, [0] * 5), slow=True),
            m("nested autograd.grad (DeepXDE way)", lambda p: nested(p, [0] * 5)),
        ]
    if task == "set3":
        return [
            m("vmap(jacfwd chain, has_aux)", lambda p: _chain(p, jacfwd), slow=True),
            m("vmap(jacrev chain, has_aux)", lambda p: _chain(p, jacrev)),
            m("nested autograd.grad, by hand", set3_by_hand),
        ]
    if task == "burgers":
        return [
            m("vmap(jvp(jacrev(f)) along e_x)", burgers_fwd_over_rev),
            m("nested autograd.grad (DeepXDE way)", burgers_by_hand),
        ]
    raise ValueError(f"unknown task {task!r}")
