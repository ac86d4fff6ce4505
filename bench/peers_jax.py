"""Optional peers: JAX (jit-compiled) and folx, its forward Laplacian.

Installed only in the bench environment (``make bench-peers``). The torch network's
weights are copied into an equivalent JAX function (standardisation, affine layers,
tanh), so every peer differentiates the same function at the same points. Every
method is ``jax.jit``-compiled; compilation happens in the untimed cross-check,
and each timed call ends with ``block_until_ready()``. These rows are XLA code
fused ahead of time, not eager PyTorch: they show what a compiler buys, they are
not the PyTorch peers of the targets.

- gradient, Hessian: ``vmap(grad(f))``, ``vmap(hessian(f))``.
- Laplacian: ``vmap(folx.forward_laplacian(f))`` and ``vmap(hessian(f))`` traced.
- Hessian, higher orders and the Burgers set: ``jax.experimental.jet`` on the batched
  function along the directions of :func:`problems.recipe` (JAX's jet series are
  derivatives, like jet-for-pytorch's), and nested ``jvp`` / ``jvp(grad)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from problems import JAX, Method, Problem, recipe
from torch import nn

try:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental import jet as jax_jet

    jax.config.update("jax_enable_x64", True)  # float64 runs; float32 stays float32
except Exception as exc:  # not installed
    jax = None
    WHY = f"{type(exc).__name__}: {exc}"
else:
    WHY = ""

try:
    import folx
except Exception as exc:
    folx = None
    FOLX_WHY = f"{type(exc).__name__}: {exc}"
else:
    FOLX_WHY = ""


def available() -> bool:
    """Whether JAX imports here."""
    return jax is not None


def versions() -> str:
    """E.g. ``jax 0.10.2, folx 0.2.30``."""
    text = f"jax {jax.__version__}"
    return text + (f", folx {folx.__version__}" if folx is not None else "")


def to_torch(value: Any) -> torch.Tensor:
    """A JAX array as a torch tensor (a copy), for the cross-check."""
    return torch.from_numpy(np.array(value))


def _layers(net: nn.Module) -> list[tuple[str, tuple[Any, ...]]]:
    """The network as (kind, arrays) steps; only the layer kinds the problems use."""
    steps = []
    for module in net.modules():
        if isinstance(module, nn.Sequential):
            continue
        if isinstance(module, nn.Linear):
            w = jnp.asarray(module.weight.detach().numpy().T)
            steps.append(("linear", (w, jnp.asarray(module.bias.detach().numpy()))))
        elif isinstance(module, nn.Tanh):
            steps.append(("tanh", ()))
        elif type(module).__name__ == "Standardize":
            mean, std = (jnp.asarray(t.numpy()) for t in (module.mean, module.std))
            steps.append(("standardize", (mean, std)))
        else:
            raise TypeError(f"no JAX translation for {type(module).__name__}")
    return steps


def jax_function(net: nn.Module) -> Callable[[Any], Any]:
    """``x (..., D) -> y (...)``: the network in JAX, for one point or a batch."""
    steps = _layers(net)

    def f(x):
        for kind, arrays in steps:
            if kind == "linear":
                x = x @ arrays[0] + arrays[1]
            elif kind == "tanh":
                x = jnp.tanh(x)
            else:
                x = (x - arrays[0]) / arrays[1]
        return x[..., 0]

    return f


def _timed(fn: Callable[[Any], Any], X: Any) -> Callable[[], Any]:
    compiled = jax.jit(fn)
    return lambda: compiled(X).block_until_ready()


def _along(g: Callable, v: Any) -> Callable:
    return lambda row: jax.jvp(g, (row,), (v,))[1]


def _nested_jvp(f: Callable, dirs: list[Any]) -> Callable:
    for v in reversed(dirs):
        f = _along(f, v)
    return jax.vmap(f)


def _jet(f: Callable, task: str, n_inputs: int, dtype: Any) -> Callable | None:
    plan = recipe(task, n_inputs)
    if plan is None:
        return None
    R, K = len(plan.directions), plan.order
    V = jnp.asarray(plan.directions, dtype=dtype)

    def run(X):
        n = X.shape[0]
        points = jnp.tile(X, (R, 1))
        tangent = jnp.repeat(V, n, axis=0)
        zeros = jnp.zeros_like(points)
        _, series = jax_jet.jet(f, (points,), ((tangent, *(zeros,) * (K - 1)),))
        c = [None] + [s.reshape(R, n) for s in series]
        columns = plan.combine(c)
        if task == "hessian":
            return jnp.stack(columns, axis=1).reshape(n, n_inputs, n_inputs)
        return columns[0] if len(columns) == 1 else jnp.stack(columns, axis=1)

    return run


def methods(task: str, p: Problem) -> list[Method]:
    """JAX's rows for ``task`` on ``p``."""
    if jax is None:
        return []
    f = jax_function(p.net)
    X = jnp.asarray(p.X.numpy())
    D = p.X.shape[1]
    unit = [jnp.zeros(D, X.dtype).at[i].set(1) for i in range(D)]
    out: list[Method] = []

    def add(name: str, fn: Callable[[Any], Any]) -> None:
        out.append(Method(f"JAX {name}", JAX, _timed(fn, X), torch_memory=False))

    if task == "grad":
        add("vmap(grad(f))", jax.vmap(jax.grad(f)))
    elif task == "hessian":
        add("vmap(hessian(f))", jax.vmap(jax.hessian(f)))
    elif task == "laplacian":
        if folx is not None:
            lap = folx.forward_laplacian(f, sparsity_threshold=0)
            add("vmap(folx.forward_laplacian(f))", jax.vmap(lambda x: lap(x).laplacian))
        add(
            "vmap(hessian(f)), trace",
            jax.vmap(lambda x: jnp.trace(jax.hessian(f)(x))),
        )
    elif task == "burgers":

        def burgers(x):  # the gradient and H e_x in one forward-over-reverse pass
            g, h = jax.jvp(jax.grad(f), (x,), (unit[0],))
            return jnp.stack([g[1], g[0], h[0]])

        add("vmap(jvp(grad(f)) along e_x)", jax.vmap(burgers))
    elif task in ("d3_mixed", "d4", "d5"):
        inputs = {"d3_mixed": [0, 0, 1], "d4": [0] * 4, "d5": [0] * 5}[task]
        add(
            f"vmap(jvp^{len(inputs)})",
            _nested_jvp(f, [unit[i] for i in inputs]),
        )
    # jet along all D unit directions is no Laplacian method (folx is); skip it
    run = _jet(f, task, D, X.dtype) if task not in ("grad", "laplacian") else None
    if run is not None:
        plan = recipe(task, D)
        R = len(plan.directions)
        where = "1 direction" if R == 1 else f"{R} directions"
        add(f"jax.experimental.jet, K={plan.order}, {where}", run)
    return out
