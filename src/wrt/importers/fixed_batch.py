"""Model files that take a fixed number of rows per call, run on any number of points.

An ONNX file exported without a dynamic batch axis, a ``torch.export`` program
without a ``Dim`` for dimension 0, or a TorchScript trace whose example batch was
baked into a ``view(1, -1)`` computes each row from that row alone, but only
accepts calls of exactly B rows. :class:`RowBlocks` runs such a graph on points
(N, n_in) in blocks of B rows: the last block is padded with copies of its last
row (detached, so no gradient flows through the padding) and the padding rows are
dropped again. The result is exact, and differentiable to any order through
``torch.autograd``, since the rows do not interact.

The blocks go through one ``torch.vmap`` call when the graph allows it
(:func:`vectorises` checks that at load: values, gradients and second derivatives
agree with one call per block, and nothing warns), else through a Python loop over
the N / B blocks. The loader warns once with :class:`~wrt.errors.FixedBatchWarning`
and says how to re-export the file with a dynamic batch dimension.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from wrt.errors import FixedBatchWarning, ModelFormatError
from wrt.model import _converted_copy  # the copy wrap() makes of any module

#: How to give each exporter a dynamic batch dimension, by file format.
RE_EXPORT = {
    "onnx": "torch.onnx.export(..., dynamic_axes={'x': {0: 'N'}}) (legacy) or "
    "torch.onnx.export(..., dynamo=True, dynamic_shapes={'x': {0: "
    "torch.export.Dim('N')}}); with tf2onnx, an input_signature whose batch size "
    "is None (tf.TensorSpec((None, n_in)))",
    "torch-export": "torch.export.export(module, (x,), dynamic_shapes={'x': {0: "
    "torch.export.Dim('batch')}})",
    "torchscript": "torch.jit.script(module), or torch.jit.trace with shapes taken "
    "from the input in forward (x.view(x.shape[0], -1), not x.view(1, -1)), or "
    "torch.export with dynamic_shapes={'x': {0: torch.export.Dim('batch')}}",
}
# rows per probe block when checking that vmap reproduces the loop: two blocks
_PROBE_BLOCKS = 2


class RowBlocks(nn.Module):
    """A graph that takes between ``low`` and ``high`` rows per call, on any N rows.

    Larger inputs go through in blocks of ``high`` rows, smaller ones are padded
    to ``low`` rows with copies of their last row; with ``low == high`` (a fixed
    batch B) every call gets exactly B rows.

    Args:
        inner: maps points (B, n_in) to outputs (B, ...), rows independent.
        rows: ``(low, high)``, the smallest and largest batch the graph takes;
            ``high`` None for no limit.
        vectorise: run the blocks of a fixed batch through one ``torch.vmap``
            call (see :func:`vectorises`) instead of a loop.
    """

    def __init__(
        self, inner: nn.Module, rows: tuple[int, int | None], *, vectorise: bool
    ) -> None:
        super().__init__()
        self.inner = inner
        self.rows = rows
        self.vectorise = vectorise

    def converted_to(self, dtype: torch.dtype) -> RowBlocks:
        """A copy in ``dtype`` (:func:`wrt.model.wrap` converts through this)."""
        return RowBlocks(
            _converted_copy(self.inner, dtype), self.rows, vectorise=self.vectorise
        )

    @property
    def fixed(self) -> int | None:
        """The batch size when it is fixed, else None."""
        low, high = self.rows
        return low if low == high else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the graph on all rows.

        Args:
            x: points, shape (N, n_in).

        Returns:
            Outputs, shape (N, ...) as the graph gives them per row.
        """
        n = x.shape[0]
        if n == 0:  # no row to pad with: run one zero row for the output's shape
            return self(x.new_zeros(1, *x.shape[1:]))[:0]
        low, high = self.rows
        size = self.fixed
        if size is None:
            if high is not None and n > high:
                return torch.cat([self(block) for block in x.split(high)])
            return self.inner(_padded(x, max(low, n)))[:n]
        x = _padded(x, size * math.ceil(n / size))
        if self.vectorise:
            blocks = x.reshape(-1, size, *x.shape[1:])
            y = torch.vmap(self.inner)(blocks)
            y = y.reshape(-1, *y.shape[2:])
        else:
            y = torch.cat([self.inner(block) for block in x.split(size)])
        return y[:n]


def _padded(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``x`` with copies of its last row (detached) appended up to ``rows``."""
    missing = rows - x.shape[0]
    if missing <= 0:
        return x
    return torch.cat([x, x[-1:].detach().expand(missing, *x.shape[1:])])


def vectorises(inner: nn.Module, size: int, x: torch.Tensor) -> bool:
    """Whether ``torch.vmap`` over blocks of ``size`` rows reproduces the loop.

    Both ways run on two blocks (built from the probe points ``x``, shape (n,
    n_in)); values, gradients and second derivatives of a mix of the outputs
    must agree up to round-off, and vmap must not warn (a missing batching rule
    falls back to a slow loop with a warning).

    Args:
        inner: the graph, taking exactly ``size`` rows.
        size: the fixed batch.
        x: probe points, shape (n, n_in), n >= 1.

    Returns:
        True when the vmap path can be used.
    """
    rows = size * _PROBE_BLOCKS
    points = x.repeat(math.ceil(rows / x.shape[0]), 1)[:rows].detach()
    # blocks that differ, so that a vmap mixing them up cannot pass
    block = torch.arange(rows, device=x.device) // size
    points = points + 0.05 * block.to(points.dtype)[:, None]
    looped = RowBlocks(inner, (size, size), vectorise=False)
    mapped = RowBlocks(inner, (size, size), vectorise=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with torch.random.fork_rng(devices=[]), torch.enable_grad():
                want = _value_and_derivatives(looped, points)
                got = _value_and_derivatives(mapped, points)
    except Exception:  # no batching rule, data-dependent control flow, ...
        return False
    if caught:
        return False
    return all(agree(a, b) for a, b in zip(got, want, strict=True))


def _value_and_derivatives(
    module: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Outputs, and first and second derivatives of a fixed mix of them."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    y = y.reshape(y.shape[0], -1)
    mix = torch.linspace(0.5, 1.5, y.shape[1], dtype=y.dtype, device=y.device)
    (first,) = torch.autograd.grad((y * mix).sum(), x, create_graph=True)
    second = torch.zeros_like(x)
    if first.requires_grad:  # an affine graph has no second derivative graph
        (second,) = torch.autograd.grad(first[:, 0].sum(), x, allow_unused=True)
        second = torch.zeros_like(x) if second is None else second
    return y.detach(), first.detach(), second.detach()


def agree(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to round-off (e.g. batched kernels under vmap); NaN equals NaN."""
    if a.shape != b.shape:
        return False
    tol = 100 * torch.finfo(a.dtype).eps
    close = (a - b).abs() <= tol * (1 + b.abs())
    return bool((close | (torch.isnan(a) & torch.isnan(b))).all())


def declared_batch(sizes: list[int | None], source: str) -> int | None:
    """The one fixed batch that a file's inputs declare, or None when dynamic.

    Args:
        sizes: per input, its fixed batch size, or None for a dynamic one.
        source: the file, for the message.

    Raises:
        ModelFormatError: inputs declare different fixed sizes.
    """
    fixed = sorted({size for size in sizes if size is not None})
    if len(fixed) > 1:
        raise ModelFormatError(
            f"{source}: the inputs declare different fixed batch sizes "
            f"({', '.join(map(str, fixed))}); wrt feeds every input the same rows. "
            "Re-export the model with one (dynamic) batch dimension for all inputs."
        )
    return fixed[0] if fixed else None


def blocks(
    inner: nn.Module,
    size: int,
    x: torch.Tensor,
    source: str,
    kind: str,
    stacklevel: int,
    *,
    when_needed: bool = False,
) -> nn.Module:
    """Run a graph fixed to ``size`` rows in blocks, and warn once that it does.

    With ``when_needed``: a file may declare a fixed batch although its graph does
    not depend on it (an MLP of Gemm nodes exported with batch 1), and converted
    it runs on any number of rows. It is then kept as it is, without a warning,
    when a call on 2B + 1 rows succeeds and agrees with the blocks.

    Args:
        inner: the graph, mapping (B, n_in) to (B, ...).
        size: the fixed batch B.
        x: probe points (n, n_in), n >= 1, in the graph's dtype.
        source: the file, for the message.
        kind: its format, a key of :data:`RE_EXPORT`.
        stacklevel: of the warning, counted from this function (that of the
            user's ``wrt.load`` call).
        when_needed: return ``inner`` itself when it runs on any rows.

    Returns:
        A :class:`RowBlocks` of the graph (or, see ``when_needed``, ``inner``).

    Warns:
        FixedBatchWarning: once, when blocks are used.
    """
    if when_needed and _runs_on_any_rows(inner, size, x):
        return inner
    vectorise = vectorises(inner, size, x)
    how = (
        "the blocks go through one vectorised call (torch.vmap), so it is slower "
        "only by the padding"
        if vectorise
        else "one call per block, slower than one call for all points"
    )
    warnings.warn(
        f"{source} was exported for exactly {size} row(s) per call, so wrt "
        f"evaluates it in blocks of {size} row(s), the last one padded: {how}. "
        "The results are exact. To run it in one call, re-export it with a dynamic "
        f"batch dimension: {RE_EXPORT[kind]}.",
        FixedBatchWarning,
        stacklevel=stacklevel,
    )
    return RowBlocks(inner, (size, size), vectorise=vectorise)


def _runs_on_any_rows(inner: nn.Module, size: int, x: torch.Tensor) -> bool:
    """Whether a call on 2B + 1 rows succeeds and agrees with blocks of B rows."""
    rows = 2 * size + 1
    points = x.repeat(math.ceil(rows / x.shape[0]), 1)[:rows]
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            direct = inner(points)
            blocked = RowBlocks(inner, (size, size), vectorise=False)(points)
    except Exception:  # the graph needs its batch size
        return False
    return agree(direct, blocked)
