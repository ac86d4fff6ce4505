"""Figures of sensitivities and partials: each function returns a matplotlib Figure.

Figures are built with :class:`matplotlib.figure.Figure` directly, never pyplot:
nothing is shown, no GUI backend is needed, and a figure is freed with its last
reference. Save one with ``fig.savefig("name.png", dpi=150)``.

NaN and Inf (a model undefined at some points) never break a figure: points with
a non-finite coordinate are left out, a measure that is not finite is drawn as a
labelled gap, and axis limits come from the finite values.
"""

from __future__ import annotations

import numpy as _np
from matplotlib.figure import Figure

from wrt.sensitivity import Sensitivity

__all__ = [
    "derivative_vs_input",
    "importance_bars",
    "interaction_heatmap",
    "mean_sd_scatter",
]


def importance_bars(s: Sensitivity) -> Figure:
    """Root-mean-square of dy/dx_i per input, largest first (NeuralSens' ranking).

    Args:
        s: from :func:`wrt.sensitivity`.

    Returns:
        A matplotlib Figure (not shown); ``fig.savefig("name.png")`` writes it.
    """
    table = s.table.sort_values("rms", ascending=True, na_position="first")
    fig = Figure(figsize=(6, 0.5 + 0.4 * len(table)), layout="constrained")
    ax = fig.add_subplot()
    rms = table["rms"].to_numpy(dtype=float)
    finite = _np.isfinite(rms)
    ax.barh(list(table.index), _np.where(finite, rms, 0.0), color="#3b6ea8")
    for row in _np.flatnonzero(~finite):
        ax.text(
            0.0, float(row), " not finite (NaN or Inf)", va="center", color="#b02a37"
        )
    ax.set_xlabel(f"rms of d{s.output}/dx over the points")
    ax.set_title(f"Importance of each input for {s.output}")
    return fig


def mean_sd_scatter(s: Sensitivity) -> Figure:
    """Mean against standard deviation of dy/dx_i: linear, non-linear, sign-changing.

    Points near the x axis have a constant slope (linear effect); far above it, the
    slope varies over the data; a mean near 0 with a large std changes sign.

    Args:
        s: from :func:`wrt.sensitivity`.

    Returns:
        A matplotlib Figure (not shown); ``fig.savefig("name.png")`` writes it.
    """
    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.add_subplot()
    mean = s.table["mean"].to_numpy(dtype=float)
    std = s.table["std"].to_numpy(dtype=float)
    shown = _np.isfinite(mean) & _np.isfinite(std)
    ax.scatter(mean[shown], std[shown], color="#3b6ea8")
    for (name, row), ok in zip(s.table.iterrows(), shown, strict=True):
        if not ok:
            continue
        ax.annotate(
            str(name),
            (row["mean"], row["std"]),
            textcoords="offset points",
            xytext=(4, 4),
        )
    ax.axvline(0.0, color="grey", lw=0.8)
    reach = 1.15 * _finite_max(_np.abs(mean[shown]))
    ax.set_xlim(-reach, reach)  # the sign of each mean at a glance
    ax.set_ylim(0.0, 1.15 * _finite_max(std[shown]))
    if not shown.all():
        left_out = ", ".join(
            str(n) for n, ok in zip(s.inputs, shown, strict=True) if not ok
        )
        ax.text(0.02, 0.97, f"not finite: {left_out}", transform=ax.transAxes, va="top")
    ax.set_xlabel(f"mean of d{s.output}/dx")
    ax.set_ylabel(f"std of d{s.output}/dx")
    ax.set_title("Mean and spread of each partial")
    return fig


def derivative_vs_input(s: Sensitivity, bins: int = 40) -> Figure:
    """Dy/dx_i against x_i, one panel per input, coloured by the density of points.

    Args:
        s: from :func:`wrt.sensitivity`.
        bins: histogram cells per axis for the density colouring.

    Returns:
        A matplotlib Figure (not shown); ``fig.savefig("name.png")`` writes it.
    """
    n = len(s.inputs)
    columns = min(n, 3)
    rows = -(-n // columns)
    fig = Figure(figsize=(4 * columns, 3.2 * rows), layout="constrained")
    x = s.points.detach().cpu().double().numpy()
    g = s.gradients.detach().cpu().double().numpy()
    for i, name in enumerate(s.inputs):
        ax = fig.add_subplot(rows, columns, i + 1)
        finite = _np.isfinite(x[:, i]) & _np.isfinite(g[:, i])
        xi, gi = x[finite, i], g[finite, i]
        if xi.size:
            density = _density(xi, gi, bins)
            order = _np.argsort(density)
            ax.scatter(xi[order], gi[order], c=density[order], s=6, cmap="viridis")
        if not finite.all():
            ax.set_title(f"{int((~finite).sum())} non-finite left out", fontsize=8)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel(name)
        ax.set_ylabel(f"d{s.output}/d{name}")
    fig.suptitle("Each partial over its input (colour: density of points)")
    return fig


def interaction_heatmap(s: Sensitivity) -> Figure:
    """Mean |d2y/dx_i dx_j|: the second-order interactions (needs ``order=2``).

    Args:
        s: from :func:`wrt.sensitivity`.

    Returns:
        A matplotlib Figure (not shown); ``fig.savefig("name.png")`` writes it.

    Raises:
        ValueError: ``s`` has no interactions (computed with ``order=1``).
    """
    if s.interactions is None:
        raise ValueError("No second partials: compute wrt.sensitivity(..., order=2).")
    values = s.interactions.to_numpy(dtype=float)
    n = len(s.inputs)
    fig = Figure(figsize=(3.6 + 0.7 * n, 2.8 + 0.6 * n), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(_np.ma.masked_invalid(values), cmap="magma_r")
    half = _finite_max(values) / 2
    ax.set_xticks(range(n), s.inputs)
    ax.set_yticks(range(n), s.inputs)
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{values[i, j]:.2g}",
                ha="center",
                va="center",
                color="white" if values[i, j] > half else "black",
            )
    fig.colorbar(image, ax=ax, label=f"mean |d2{s.output}/dxi dxj|")
    ax.set_title("Second-order interactions")
    return fig


def _finite_max(values: _np.ndarray, floor: float = 1e-12) -> float:
    """The largest finite value (at least ``floor``): a safe axis limit."""
    finite = values[_np.isfinite(values)]
    return max(float(finite.max()), floor) if finite.size else 1.0


def _density(a: _np.ndarray, b: _np.ndarray, bins: int) -> _np.ndarray:
    """Points per 2-D histogram cell, looked up for each point."""
    counts, xe, ye = _np.histogram2d(a, b, bins=bins)
    i = _np.clip(_np.searchsorted(xe, a, side="right") - 1, 0, bins - 1)
    j = _np.clip(_np.searchsorted(ye, b, side="right") - 1, 0, bins - 1)
    return counts[i, j]
