"""Does the training data determine a partial? Identifiability and coverage.

A network trained on data learns how its output changes *along* the directions
the data spans. Where the data around a point lies on a line (seed 000: every row
has ``x2 = 1.5 x1``), the slope along the line is learned and the slopes along
``x1`` and ``x2`` separately are not: they are whatever the network does off the
line. Both checks work in standardized coordinates (each input divided by its
standard deviation in the data), so units do not matter:

- *not identifiable*: the k nearest training rows of a query point are centred and
  decomposed (SVD); a direction is determined when the data's spread along it is at
  least ``rel_spread`` of the largest spread. A partial along ``x_i`` is
  meaningful only when ``e_i`` lies in the span of the determined directions (up
  to ``angle_tol``, the sine of the angle between them). Otherwise the direction
  the data *does* determine closest to ``e_i`` is reported, with the model's
  directional derivative along it (per unit length of the inputs), which is
  meaningful.
- *far from data*: a query point whose distance to its k-th nearest training row
  exceeds ``far_factor`` times the 95th percentile of the same distance among the
  training rows themselves (leave-one-out) is outside the region the data covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

Tensor = torch.Tensor


@dataclass(frozen=True)
class Neighbourhoods:
    """The data's scale and each query point's nearest training rows.

    Attributes:
        mean: per-input mean of the data, (n_in,).
        scale: per-input standard deviation of the data (1 where constant), (n_in,).
        constant: inputs that never vary in the data, (n_in,) bool.
        distance: standardized distance to the k nearest rows, (N, k), ascending.
        index: their row numbers in the data, (N, k).
    """

    mean: Tensor
    scale: Tensor
    constant: Tensor
    distance: Tensor
    index: Tensor


def neighbourhoods(data: Tensor, points: Tensor, k: int) -> Neighbourhoods:
    """Standardize by the data's spread and find each point's k nearest rows.

    Args:
        data: training inputs (M, n_in), float64.
        points: query points (N, n_in), float64.
        k: neighbours per point (capped at M).
    """
    mean = data.mean(0)
    spread = data.std(0) if data.shape[0] > 1 else torch.zeros_like(mean)
    constant = spread <= 1e-12 * (1 + mean.abs())
    scale = torch.where(constant, torch.ones_like(spread), spread)
    dz = (data - mean) / scale
    qz = (points - mean) / scale
    distance, index = _nearest(dz, qz, min(k, data.shape[0]))
    return Neighbourhoods(mean, scale, constant, distance, index)


def _nearest(data: Tensor, points: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k nearest rows of ``data`` for each point, in blocks (bounded memory)."""
    block = max(1, 2**24 // max(1, data.shape[0]))
    distances, indices = [], []
    for start in range(0, points.shape[0], block):
        d = torch.cdist(points[start : start + block], data)
        dist, idx = d.topk(k, dim=1, largest=False)
        distances.append(dist)
        indices.append(idx)
    return torch.cat(distances), torch.cat(indices)


def determined_projector(
    data: Tensor, near: Neighbourhoods, rel_spread: float
) -> tuple[Tensor, Tensor]:
    """Per point, the projector onto the directions the nearby data determines.

    Returns:
        ``projector`` (N, n_in, n_in), orthogonal in the inputs' own units, and
        ``rank`` (N,), the number of determined directions.
    """
    dz = (data - near.mean) / near.scale
    rows = dz[near.index]  # (N, k, n_in)
    centred = rows - rows.mean(1, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)  # s: (N, r)
    keep = s >= rel_spread * s[:, :1].clamp_min(1e-300)
    keep &= s > 1e-9 * near.scale.new_ones(()).clamp_min(1e-300)
    # determined directions back in input units: x = mean + scale * z
    basis = vh.transpose(1, 2) * keep.unsqueeze(1)  # (N, n_in, r), dropped -> 0
    basis = basis * near.scale.view(1, -1, 1)
    projector = basis @ torch.linalg.pinv(basis)
    return projector, keep.sum(1)


def leave_one_out_spacing(data: Tensor, near: Neighbourhoods, k: int) -> float:
    """The data's own spacing: 95th percentile of the distance to the k-th neighbour.

    Over (up to 2000) data rows, the distance to their k-th nearest *other* row, in
    standardized units.
    """
    dz = (data - near.mean) / near.scale
    if dz.shape[0] > 2000:
        generator = torch.Generator().manual_seed(0)
        sample = dz[torch.randperm(dz.shape[0], generator=generator)[:2000]]
    else:
        sample = dz
    kk = min(k + 1, dz.shape[0])
    distance, _ = _nearest(dz, sample, kk)
    return float(torch.quantile(distance[:, -1], 0.95))
