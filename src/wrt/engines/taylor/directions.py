"""Mixed partials from directional derivatives: the exact interpolation weights.

The k-th derivative along an integer direction b is, for |g| = k over the inputs S
that a partial involves,

    D^k f[b] = sum_{|g| = k} (k! / g!) b^g d^g f.

Taking as directions every b over S with |b| = k (as many as there are unknowns g)
gives a square, invertible system (Griewank, Utke and Walther 2000); its inverse
expresses each mixed partial d^a f as a fixed combination of directional
derivatives. The weights are solved exactly in rational arithmetic; directions are
shared by every partial of a request that needs them.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction


def simplex(size: int, total: int) -> list[tuple[int, ...]]:
    """Every multi-index of ``size`` non-negative entries summing to ``total``."""
    out = []
    for cuts in itertools.combinations(range(total + size - 1), size - 1):
        bounds = (-1, *cuts, total + size - 1)
        out.append(tuple(bounds[i + 1] - bounds[i] - 1 for i in range(size)))
    return out


def weights(powers: tuple[int, ...]) -> list[tuple[tuple[int, ...], Fraction]]:
    """Directions (over the involved inputs) and weights giving d^powers f.

    Args:
        powers: the positive powers of the involved inputs, e.g. (2, 1) for
            d3/dx^2dt.

    Returns:
        (direction, weight) pairs with non-zero weights: d^powers f = sum of
        weight * D^k f[direction], k = sum(powers).

    Examples:
        >>> sorted((d, str(w)) for d, w in weights((1, 1)))
        [((0, 2), '-1/8'), ((1, 1), '1/2'), ((2, 0), '-1/8')]
    """
    k = sum(powers)
    if len(powers) == 1:
        return [((1,), Fraction(1))]  # the unit direction itself
    lattice = simplex(len(powers), k)
    # M[b][g] = k!/g! * prod b_i^g_i; solve M^T w = e_powers exactly.
    matrix = [
        [
            Fraction(math.factorial(k), math.prod(math.factorial(gi) for gi in g))
            * math.prod(bi**gi for bi, gi in zip(b, g, strict=True))
            for g in lattice
        ]
        for b in lattice
    ]
    n = len(lattice)
    # augmented system A w = e with A = M^T
    rows = [
        [matrix[b][g] for b in range(n)] + [Fraction(int(lattice[g] == powers))]
        for g in range(n)
    ]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        lead = rows[col][col]
        rows[col] = [v / lead for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [
                    a - factor * b for a, b in zip(rows[r], rows[col], strict=True)
                ]
    return [(lattice[b], rows[b][n]) for b in range(n) if rows[b][n] != 0]
