"""Does the training data determine a partial? The data's local dimension, at scales.

A network trained on data learns how its output changes *along* the set the data
lies on. Where the data around a point lies on a line (seed 000: every row has
``x2 = 1.5 x1``), on a curve (a parabola ``x2 = x1^2``; angle features
``(cos t, sin t)`` on a circle) or on a surface (a sphere in 3-D), the slopes
along the set are learned and the slope across it is whatever the network does off
the data. Inputs are standardized by their spread in the data, so units do not
matter.

How the local dimension is decided (per query point; design after multiscale
local PCA, Little, Maggioni & Rosasco, "Multiscale geometric methods for data sets
I: Multiscale SVD, noise and curvature", Appl. Comput. Harmon. Anal. 43 (2017),
and local quadratic / algebraic-surface fits, Taubin, "Estimation of planar curves,
surfaces and nonplanar space curves defined by implicit equations", IEEE PAMI 13
(1991)):

1. *Neighbourhoods at several scales*: the k nearest distinct training rows for a
   few k, among all rows and among nested random quarters of them (see
   :mod:`wrt.checks.neighbours`), so the scales run from the data's spacing to
   its whole extent. A sparse curve is flat enough at a small scale; a noisy dense
   curve is thin enough at a large one.
2. *Is the neighbourhood a d-dimensional set?* For d = 1 .., n - 1, three models
   of a d-dimensional set are fitted, each residual measured across the set: a
   flat one (the top d principal directions; the residual is the spread along the
   others), a curved one (the other coordinates as a quadratic function of the top
   d), and, for d = n - 1, an implicit quadric (circle, ellipse, parabola, sphere;
   Sampson distances). The neighbourhood is d-dimensional when the residual's
   spread, as an upper confidence bound (chi-square, level 1e-4, over the fit's
   degrees of freedom, so a handful of points from a thin full cloud is not taken
   for a curve), is below ``rel_spread`` of the spread along the set; exact
   degeneracy (a spread below 1e-9) always counts. A curved claim needs its
   neighbourhood to be one piece: the distance to the k-th row at most 4 times that
   to the k/2-th (two clusters are not a line).
3. The point's rank is the smallest d found at any scale; its determined
   directions are the set's tangent space at the point (the first scale that gives
   that rank), from the fitted model's derivative there.

A partial along ``x_i`` is meaningful only when ``e_i`` lies in the span of the
determined directions (up to ``angle_tol``; see :func:`wrt.checks.run.identifiability`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import chi2
from torch import Tensor

from wrt.checks.neighbours import DataIndex

#: Fewest degrees of freedom left to a curved fit for it to count.
MIN_DOF = 5
#: Level of the one-sided chi-square bound on the residual spread.
ALPHA = 1e-4
#: A curved claim needs distance(k-th row) <= GAP * distance(k/2-th row).
GAP = 4.0
#: Spreads below this (standardized units) are exact degeneracy.
EXACT = 1e-9
#: Numbers per block of points in the fits (neighbours times quadratic terms).
CHUNK = 1 << 22


@dataclass(frozen=True)
class Geometry:
    """The directions the data determines near each query point.

    Attributes:
        projector: orthogonal projector onto them, in the inputs' own units,
            (N, n_in, n_in) float64.
        rank: how many there are, (N,) int64.
        neighbours: the neighbourhood size that decided the rank, (N,) int64.
    """

    projector: Tensor
    rank: Tensor
    neighbours: Tensor


def default_neighbours(n_in: int) -> int:
    """The k of coverage and of the base scale: ``max(2 n_in + 2, 16)``."""
    return max(2 * n_in + 2, 16)


def smallest_neighbourhood(n_in: int) -> int:
    """The finest scale's k: room for a quadric fit with MIN_DOF to spare (<= 32)."""
    return min(max(n_in + 5, _quadratic_size(n_in) - 1 + MIN_DOF), 32)


def scales(
    index: DataIndex, n_in: int, neighbours: int | None
) -> list[tuple[int, int]]:
    """The (level, k) neighbourhoods to look at, finest first.

    With ``neighbours`` given, that one size among all rows. Otherwise, with
    ``k0`` from :func:`smallest_neighbourhood`: k in ``k0, 2 k0, 4 k0, 8 k0``
    and the base size among all rows (sparse data), then ``4 k0, 16 k0`` at each
    coarser level until a level's rows fit in one neighbourhood (each level's
    rows reach about twice as far along a surface, four times along a curve; the
    larger sizes leave a noisy set's fit the degrees of freedom to tell noise
    from spread).
    """
    if neighbours is not None:
        return [(0, min(neighbours, index.size))]
    k0 = smallest_neighbourhood(n_in)
    plan: list[tuple[int, int]] = []
    level = 0
    while True:
        size = index.level_size(level)
        sizes = (k0, 2 * k0, 4 * k0, 8 * k0) if level == 0 else (4 * k0, 16 * k0)
        ks = {k for k in sizes if k < size}
        if level == 0:
            ks.add(min(default_neighbours(n_in), size))
        if size <= sizes[-1]:
            ks.add(size)
        plan += [(level, k) for k in sorted(ks)]
        if size <= sizes[-1]:
            return plan
        level += 1


def local_geometry(
    index: DataIndex, points: Tensor, rel_spread: float, neighbours: int | None
) -> Geometry:
    """Per query point, the directions the nearby training data determines.

    Args:
        index: the training data, indexed.
        points: query points (N, n_in), any float dtype.
        rel_spread: a spread across the set below this fraction of the spread along
            it is no spread.
        neighbours: one neighbourhood size, or None for every scale.

    Returns:
        A :class:`Geometry`.

    The fits are many operations on small tensors, which torch's thread pool
    slows down several times over on a busy CPU: they run on one thread for the
    duration of the call (``torch.set_num_threads(1)``, the caller's setting
    restored on return, also on error).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # restored below; see the docstring
    try:
        return _local_geometry(index, points, rel_spread, neighbours)
    finally:
        torch.set_num_threads(threads)


def _local_geometry(
    index: DataIndex, points: Tensor, rel_spread: float, neighbours: int | None
) -> Geometry:
    z = torch.from_numpy(index.standardize(points))
    count, n = z.shape
    rank = torch.full((count,), n, dtype=torch.int64)
    decided = torch.zeros(count, dtype=torch.int64)
    basis = torch.eye(n, dtype=torch.float64).expand(count, n, n).clone()
    plan = scales(index, n, neighbours) if n > 1 and count else []
    for level, k in plan:
        distance, rows = index.nearest(z.numpy(), k, level)
        gap = _one_piece(torch.from_numpy(distance))
        r = torch.empty_like(rank)
        b = torch.empty_like(basis)
        # blocks of points: bounded memory for many points and large k
        step = max(1, CHUNK // (k * _quadratic_size(n)))
        for start in range(0, count, step):
            part = slice(start, start + step)
            neighbourhood = torch.from_numpy(index.level_rows(level)[rows[part]])
            r[part], b[part] = _scale_rank(
                neighbourhood, z[part], rel_spread, gap[part]
            )
        better = r < rank
        rank = torch.where(better, r, rank)
        decided = torch.where(better, torch.full_like(decided, k), decided)
        basis[better] = b[better]
    # determined directions back in input units: x = mean + scale * z
    spans = basis * index.scale.view(1, -1, 1)
    keep = torch.arange(n).view(1, 1, -1) < rank.view(-1, 1, 1)
    spans = spans * keep
    projector = spans @ torch.linalg.pinv(spans)
    return Geometry(projector, rank, decided)


def _one_piece(distance: Tensor) -> Tensor:
    """Neighbourhoods that do not straddle a gap: d_k <= GAP * d_{ceil(k/2)}, (N,)."""
    k = distance.shape[1]
    half = distance[:, max(0, math.ceil(k / 2) - 1)]
    return distance[:, -1] <= GAP * half


def _scale_rank(
    rows: Tensor, z: Tensor, rel_spread: float, gap: Tensor
) -> tuple[Tensor, Tensor]:
    """Rank and tangent basis at one scale.

    Args:
        rows: each point's neighbourhood, (N, k, n) standardized.
        z: the points, (N, n) standardized.
        rel_spread: see :func:`local_geometry`.
        gap: which neighbourhoods are one piece, (N,) bool.

    Returns:
        ``rank`` (N,) and ``basis`` (N, n, n): its first ``rank`` columns are an
        orthonormal basis of the tangent space (standardized units), the rest 0.
    """
    count, k, n = rows.shape
    mean = rows.mean(1, keepdim=True)
    centred = rows - mean
    values, vectors = torch.linalg.eigh(centred.transpose(1, 2) @ centred)
    values = values.flip(-1).clamp_min(0)  # descending sums of squares
    vectors = vectors.flip(-1)
    along = (values[:, 0] / k).sqrt()  # RMS spread along the leading direction
    query = (z.unsqueeze(1) - mean).squeeze(1)  # (N, n)
    rank = torch.full((count,), n, dtype=torch.int64)
    basis = torch.zeros(count, n, n, dtype=torch.float64)
    open_ = torch.ones(count, dtype=torch.bool)
    for d in range(1, n):
        # curved first (their tangent is the set's own at the point), flat last
        fits = []
        if d == n - 1 and k - (_quadratic_size(n) - 1) >= MIN_DOF:
            fits.append(lambda c, q, v, a: _quadric_fit(c, q, a, rel_spread))
        if k - _quadratic_size(d) >= MIN_DOF:
            fits.append(lambda c, q, v, a, d=d: _graph_fit(c, q, v, d, a, rel_spread))
        for fit in fits:
            where = torch.nonzero(open_ & gap).flatten()
            if not len(where):
                break
            ok, tangent = fit(
                centred[where], query[where], vectors[where], along[where]
            )
            where = where[ok]
            rank[where] = d
            basis[where, :, :d] = tangent
            open_[where] = False
        # flat: the spread along the other principal directions
        flat = open_ & (values[:, d] <= EXACT**2)
        if k - 1 - d >= 1:
            flat |= open_ & gap & _thin(values[:, d], k - 1 - d, along, rel_spread)
        rank[flat] = d
        basis[flat, :, :d] = vectors[flat, :, :d]
        open_ &= ~flat
    return rank, basis


def _thin(rss: Tensor, dof: int, along: Tensor, rel_spread: float) -> Tensor:
    """Whether a residual sum of squares is, with confidence, a thin spread.

    The upper confidence bound ``rss / chi2.ppf(ALPHA, dof)`` of the residual's
    variance against ``rel_spread**2`` times the variance along the set.
    """
    bound = rss / float(chi2.ppf(ALPHA, dof))
    return bound <= (rel_spread * along) ** 2


def _quadratic_size(d: int) -> int:
    """Terms of a quadratic in d variables: 1 + d + d(d + 1)/2."""
    return 1 + d + d * (d + 1) // 2


def _quadratic_terms(t: Tensor) -> Tensor:
    """``[1, t_i, t_i t_j (i <= j)]`` over the last axis, (..., d) -> (..., p)."""
    d = t.shape[-1]
    squares = [t[..., i : i + 1] * t[..., i:] for i in range(d)]  # row-major i <= j
    return torch.cat([torch.ones_like(t[..., :1]), t, *squares], -1)


def _symmetric(coefficients: Tensor, d: int) -> Tensor:
    """The symmetric matrix S of a quadratic form sum_{i<=j} c_ij t_i t_j = t'St/2.

    ``coefficients`` (..., d(d+1)/2) -> (..., d, d), with S = Q + Q' for the upper
    triangular Q, so that the form's gradient is S t.
    """
    i, j = torch.triu_indices(d, d)
    upper = coefficients.new_zeros(*coefficients.shape[:-1], d, d)
    upper[..., i, j] = coefficients
    return upper + upper.transpose(-1, -2)


def _graph_fit(
    centred: Tensor,
    query: Tensor,
    vectors: Tensor,
    d: int,
    along: Tensor,
    rel_spread: float,
) -> tuple[Tensor, Tensor]:
    """The other coordinates as a quadratic function of the top d: a curved set.

    Returns:
        ``ok`` (N,) and the tangent basis at the points that are ok, (N_ok, n, d)
        orthonormal.
    """
    k = centred.shape[1]
    unit = along.clamp_min(1e-300).view(-1, 1, 1)
    t = centred @ vectors[..., :d] / unit  # (N, k, d), O(1)
    normal = centred @ vectors[..., d:]  # (N, k, n - d)
    features = _quadratic_terms(t)
    fit = _least_squares(features, normal)  # (N, p, n - d)
    residual = normal - features @ fit
    rss = torch.linalg.eigvalsh(residual.transpose(1, 2) @ residual)[:, -1]
    ok = _thin(rss, k - features.shape[-1], along, rel_spread)
    t, fit, query, vectors, unit = t[ok], fit[ok], query[ok], vectors[ok], unit[ok]
    # tangent at the point's own coordinates, kept inside the neighbourhood
    tq = (query.unsqueeze(1) @ vectors[..., :d]).squeeze(1) / unit.view(-1, 1)
    tq = torch.maximum(torch.minimum(tq, t.amax(1)), t.amin(1))
    linear = fit[:, 1 : 1 + d, :].transpose(1, 2)  # (N, n - d, d)
    square = _symmetric(fit[:, 1 + d :, :].transpose(1, 2), d)  # (N, n-d, d, d)
    slope = linear + (square @ tq.view(-1, 1, d, 1)).squeeze(-1)
    directions = vectors[..., :d] + vectors[..., d:] @ slope / unit
    return ok, _orthonormal(directions)


def _least_squares(a: Tensor, b: Tensor) -> Tensor:
    """Batched least squares ``min |a x - b|`` through the normal equations.

    ``a`` (N, k, p) with columns of order one, ``b`` (N, k, c) -> (N, p, c). The
    pseudo-inverse of the Gram matrix (its eigenvalues below 1e-12 of the largest
    dropped) keeps it defined for repeated coordinates. Small symmetric
    eigenproblems, not batched SVD or QR: those are slow on many small matrices
    when the CPU is shared.
    """
    values, vectors = torch.linalg.eigh(a.transpose(1, 2) @ a)
    keep = values > 1e-12 * values[:, -1:].clamp_min(1e-300)
    inverse = torch.where(keep, 1 / values.clamp_min(1e-300), 0.0)
    pseudo = (vectors * inverse.unsqueeze(1)) @ vectors.transpose(1, 2)
    return pseudo @ (a.transpose(1, 2) @ b)


def _orthonormal(directions: Tensor) -> Tensor:
    """Orthonormal columns spanning ``directions`` (N, n, d): ``D (D'D)^(-1/2)``."""
    values, vectors = torch.linalg.eigh(directions.transpose(1, 2) @ directions)
    root = (
        vectors * values.clamp_min(1e-300).rsqrt().unsqueeze(1)
    ) @ vectors.transpose(1, 2)
    return directions @ root


def _quadric_fit(
    centred: Tensor, query: Tensor, along: Tensor, rel_spread: float
) -> tuple[Tensor, Tensor]:
    """An implicit quadric ``q(y) = 0`` through the neighbourhood: a hypersurface.

    Algebraic fit (the least singular vector of the column-scaled monomials),
    judged by Sampson distances ``q / |grad q|``; a degenerate quadric (a pair
    of planes: rank of its homogeneous matrix <= 2) or one of a family (several
    least singular values) does not count. Returns
    ``ok`` (N,) and the tangent basis at the points that are ok (N_ok, n, n - 1):
    the complement of ``grad q`` at the point moved onto the quadric (two Sampson
    steps), or at the nearest row when the gradient vanishes there.
    """
    count, k, n = centred.shape
    unit = along.clamp_min(1e-300).view(-1, 1, 1)
    y = centred / unit
    terms = _quadratic_terms(y)  # (N, k, m)
    size = terms.pow(2).mean(1, keepdim=True).sqrt().clamp_min(1e-12)
    scaled = terms / size
    gram = scaled.transpose(1, 2) @ scaled
    spectrum, basis = torch.linalg.eigh(gram)
    coefficients = basis[..., 0]  # the least singular vector
    # one quadric, not a family: points on a few lattice lines (a cube's edge)
    # lie on many quadrics, a sphere's points on one
    unique = spectrum[:, 1] > torch.maximum(
        100 * spectrum[:, 0], 1e-9 * spectrum[:, -1]
    )
    coefficients = coefficients / size.squeeze(1)  # (N, m)
    linear = coefficients[:, 1 : 1 + n]
    square = _symmetric(coefficients[:, 1 + n :], n)
    # a pair of planes (x1 (x1 - 1) = 0 on two layers of a grid) is no surface:
    # its homogeneous matrix [[c0, b'/2], [b/2, S/2]] has rank 2 or less
    homogeneous = torch.cat(
        [
            torch.cat([coefficients[:, :1], linear / 2], 1).unsqueeze(1),
            torch.cat([linear.unsqueeze(2) / 2, square / 2], 2),
        ],
        1,
    )
    sizes = torch.linalg.eigvalsh(homogeneous).abs().sort(-1, descending=True).values
    proper = sizes[:, 2] > 1e-3 * sizes[:, 0]

    def value_and_gradient(
        at: Tensor, c: Tensor, b: Tensor, q: Tensor
    ) -> tuple[Tensor, Tensor]:
        value = (_quadratic_terms(at) * c.unsqueeze(1)).sum(-1)
        return value, b.unsqueeze(1) + at @ q.transpose(1, 2)

    value, gradient = value_and_gradient(y, coefficients, linear, square)
    sampson = value / gradient.norm(dim=-1)
    rss = sampson.pow(2).sum(1)
    rss = torch.where(torch.isfinite(rss), rss, torch.full_like(rss, math.inf))
    ok = _thin(rss * unit.view(-1) ** 2, k - (terms.shape[-1] - 1), along, rel_spread)
    ok &= proper & unique
    form = coefficients[ok], linear[ok], square[ok]
    at = (query[ok] / unit[ok].view(-1, 1)).unsqueeze(1)
    for _ in range(2):
        v, g = value_and_gradient(at, *form)
        step = v.unsqueeze(-1) * g / g.pow(2).sum(-1, keepdim=True).clamp_min(1e-300)
        at = at - torch.nan_to_num(step)
    normal = value_and_gradient(at, *form)[1].squeeze(1)
    nearest = gradient[ok, 0, :]
    weak = ~(normal.norm(dim=-1) > 1e-6 * nearest.norm(dim=-1))
    normal = torch.where(weak.unsqueeze(1), nearest, normal)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    eye = torch.eye(n, dtype=centred.dtype)
    tangent = eye - normal.unsqueeze(2) * normal.unsqueeze(1)
    basis = torch.linalg.eigh(tangent)[1][..., 1:]  # eigenvalue 1: n - 1 of them
    return ok, basis


def coverage_distance(
    index: DataIndex, points: Tensor, k: int
) -> tuple[np.ndarray, float]:
    """Each point's distance to its k-th nearest row, and the data's own spacing.

    Returns:
        ``distance`` (N,) standardized, and the 95th percentile of the same
        distance among the training rows (leave-one-out).
    """
    k = min(k, index.size)
    distance, _ = index.nearest(index.standardize(points), k)
    return distance[:, -1], index.spacing(k)
