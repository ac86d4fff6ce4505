"""Optional peer: jet-for-pytorch 1.0.0 (Taylor mode for PyTorch; ``import jet``).

Installed only in the bench environment (``make bench-peers``), never as a wrt
dependency. Used the way its authors benchmark it (jet/exp/exp01_benchmark_laplacian):
the jet function is captured once into an FX graph with ``jet.capture_graph``, then
``jet.common_subexpression_elimination`` and dead-code elimination run on it, and it
is called under ``torch.no_grad()`` (nothing is differentiated backwards). Capture
happens before timing, as wrt's own trace does.

- Laplacian: ``jet.laplacian(f, (x0,))``, collapsed Taylor mode (the default), on
  the single-point function, vmapped over the points (the paper's
  ``jet_simplified``); and the same collapsed jet applied to the batched network
  directly, which skips vmap (faster on small networks).
- Other tasks: standard ``jet.jet(net, ...)`` on the batched network, with one
  copy of the points per direction stacked along the batch, and the directions
  combined as in :func:`problems.recipe`. jet's coefficients are derivatives
  (``f_k = d^k/dt^k f(x0 + t v)`` for a jet ``(x0, v, 0, ..., 0)``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from problems import JET, Method, Problem, recipe

try:
    import jet
    from jet import capture_graph, common_subexpression_elimination
except Exception as exc:  # not installed, or not importable on this Python
    jet = None
    WHY = f"{type(exc).__name__}: {exc}"
else:
    WHY = ""


def available() -> bool:
    """Whether jet-for-pytorch imports here."""
    return jet is not None


def version() -> str:
    """The installed jet-for-pytorch version."""
    from importlib.metadata import version as dist_version

    return dist_version("jet-for-pytorch")


def _simplified(fn: Callable, mocks: tuple[torch.Tensor, ...]) -> torch.fx.GraphModule:
    """``fn`` captured into a graph, with common subexpressions eliminated.

    Each mock is cloned: one tensor passed as two arguments would be traced as
    one input (and the graph would read the points where the tangent belongs).
    """
    graph, _ = capture_graph(fn, tuple(m.clone() for m in mocks))
    common_subexpression_elimination(graph.graph)
    graph.graph.eliminate_dead_code()
    graph.recompile()
    return graph


def laplacian(p: Problem) -> Callable[[], torch.Tensor]:
    """jet.laplacian on one point, captured + CSE, vmapped over the points."""
    x0 = p.X[0]
    with torch.no_grad():  # the network maps one point (D,) to (1,) as it is
        lap = jet.laplacian(p.net, (x0,))
        graph = _simplified(lap, (x0,))
    batched = torch.func.vmap(graph)

    def run() -> torch.Tensor:
        with torch.no_grad():
            return batched(p.X)[:, 0]

    return run


def laplacian_batched(p: Problem) -> Callable[[], torch.Tensor]:
    """Collapsed ``jet.jet`` on the batched network: no vmap, same arithmetic.

    The first coefficients are the D unit directions at every point, shape
    (D, N, D); the second is collapsed (summed over directions), shape (N, D), so
    the output's second coefficient is the Laplacian.
    """
    n, D = p.X.shape
    collapsed = jet.jet(p.net, (p.X,), collapsed=True)

    def propagate(x: torch.Tensor, v: torch.Tensor, zero: torch.Tensor):
        return collapsed((x, v, zero))

    def directions() -> torch.Tensor:
        eye = torch.eye(D, dtype=p.X.dtype)
        return eye[:, None, :].expand(D, n, D).contiguous()

    with torch.no_grad():
        graph = _simplified(propagate, (p.X, directions(), p.X))

    def run() -> torch.Tensor:
        with torch.no_grad():
            return graph(p.X, directions(), torch.zeros_like(p.X))[2][:, 0]

    return run


def directional(p: Problem, task: str) -> Callable[[], torch.Tensor] | None:
    """A standard jet along the task's directions, stacked along the batch."""
    plan = recipe(task, p.X.shape[1])
    if plan is None:
        return None
    n, R, K = p.X.shape[0], len(plan.directions), plan.order
    V = torch.tensor(plan.directions, dtype=p.X.dtype)
    jet_net = jet.jet(p.net, (p.X.repeat(R, 1),))

    def propagate(x: torch.Tensor, v: torch.Tensor, *zeros: torch.Tensor):
        return jet_net((x, v, *zeros))

    mock = p.X.repeat(R, 1)
    with torch.no_grad():
        graph = _simplified(propagate, (mock,) * (K + 1))

    def run() -> torch.Tensor:
        with torch.no_grad():
            points = p.X.repeat(R, 1)
            tangent = V.repeat_interleave(n, dim=0)
            zeros = torch.zeros_like(points)
            out = graph(points, tangent, *(zeros,) * (K - 1))
            c = [o[:, 0].reshape(R, n) for o in out]
            columns = plan.combine(c)
        if task == "hessian":
            D = p.X.shape[1]
            return torch.stack(columns, dim=1).reshape(n, D, D)
        return columns[0] if len(columns) == 1 else torch.stack(columns, dim=1)

    return run


def methods(task: str, p: Problem) -> list[Method]:
    """jet's rows for ``task`` on ``p`` (none where it has no natural method)."""
    if jet is None:
        return []
    if task == "laplacian":
        return [
            Method("jet.laplacian (collapsed, CSE), vmap", JET, laplacian(p)),
            Method("jet.jet collapsed, on the batch (CSE)", JET, laplacian_batched(p)),
        ]
    run = directional(p, task)
    if run is None:
        return []
    plan = recipe(task, p.X.shape[1])
    R, K = len(plan.directions), plan.order
    where = "1 direction" if R == 1 else f"{R} directions"
    return [Method(f"jet.jet, K={K}, {where} (CSE)", JET, run)]
