"""Truncated multivariate Taylor polynomials: which coefficients a request keeps.

A request's partials are multi-indices over the R directions it differentiates
along (the inputs involved). Keeping every coefficient of total degree <= K would
grow as C(R + K, K); the engine keeps only the *downward closure* of what was
asked: every multi-index below an asked one. That set is closed under the
truncated product (the coefficient at a of a product only reads coefficients at
b <= a), so products, and every function composed from them, are exact on it.

One more kind of entry collapses what a Laplacian needs: the *trace* entry holds
``sum_r w_r c_{2 e_r}``, the weighted sum of the normalised pure second
coefficients, without keeping them one by one (the forward Laplacian). Its product
rule reads the constant, itself, and the first-order entries only.

Coefficients are normalised: the entry at a multi-index a holds ``d^a f / a!``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

MultiIndex = tuple[int, ...]
TRACE = "trace"
Entry = MultiIndex | str


@dataclass(frozen=True)
class Terms:
    """The products ``a[left] * b[right] * weight`` that add into ``out[target]``.

    Positions count entries from 1 (the constant, position 0, is handled apart).
    """

    left: torch.Tensor
    right: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor | None  # None when every weight is 1
    single_target: int | None  # all terms add into one entry (a trace)
    left_range: slice | None = None  # left as a slice, when contiguous
    right_range: slice | None = None
    diagonal: bool = False  # left == right term by term (squares)

    def __len__(self) -> int:
        return int(self.left.numel())


@dataclass(frozen=True)
class Algebra:
    """The entries kept, their degrees, and the product's bookkeeping.

    Attributes:
        n_directions: R, the directions the multi-indices run over.
        entries: the kept entries, the constant ``(0,) * R`` first, then by degree.
        trace_weights: the weights w_r of the trace entry, or None without one.
    """

    n_directions: int
    entries: tuple[Entry, ...]
    trace_weights: tuple[float, ...] | None = None
    _position: dict[Entry, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_position", {e: i for i, e in enumerate(self.entries)}
        )

    @classmethod
    def closure(
        cls,
        n_directions: int,
        wanted: Iterable[MultiIndex],
        trace_weights: Sequence[float] | None = None,
    ) -> Algebra:
        """The smallest algebra holding ``wanted`` (and a trace entry if weighted).

        Examples:
            >>> Algebra.closure(2, [(2, 1)]).entries
            ((0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1))
            >>> Algebra.closure(2, [], trace_weights=[1.0, 1.0]).entries
            ((0, 0), (0, 1), (1, 0), 'trace')
        """
        zero = (0,) * n_directions
        kept: set[MultiIndex] = {zero}
        frontier = [tuple(a) for a in wanted]
        if trace_weights is not None:
            frontier += [_unit(r, n_directions) for r in range(n_directions)]
        while frontier:
            a = frontier.pop()
            if a in kept:
                continue
            kept.add(a)
            for i, power in enumerate(a):
                if power:
                    frontier.append(a[:i] + (power - 1,) + a[i + 1 :])
        ordered: list[MultiIndex] = sorted(kept, key=lambda a: (sum(a), a))
        entries: list[Entry] = list(ordered)
        if trace_weights is not None:
            entries.append(TRACE)
            trace_weights = tuple(float(w) for w in trace_weights)
        return cls(n_directions, tuple(entries), trace_weights)

    def __len__(self) -> int:
        return len(self.entries)

    def position(self, entry: Entry) -> int:
        """Where ``entry`` sits along the leading dimension of a jet."""
        return self._position[entry]

    def degree(self, entry: Entry) -> int:
        """Total degree (2 for the trace entry)."""
        return 2 if isinstance(entry, str) else sum(entry)

    @functools.cached_property
    def univariate(self) -> bool:
        """One direction and every degree up to K: the coefficients of a series."""
        return self.n_directions == 1 and self.trace_weights is None

    @functools.cached_property
    def order(self) -> int:
        """The highest degree kept, K."""
        return max(self.degree(e) for e in self.entries)

    def unit(self, r: int) -> int:
        """Position of the first-order entry of direction r."""
        return self.position(_unit(r, self.n_directions))

    def cross_terms(
        self, min_left: int = 1, min_target: int = 2, symmetric: bool = False
    ) -> list[tuple]:
        """(target, left, right, weight) with both factors non-constant.

        Only terms whose left factor has degree >= ``min_left`` and whose target has
        degree >= ``min_target`` are listed: powers of a series without constant
        vanish below their degree, so ``delta**j`` needs only these. ``symmetric``
        (for a square, where a_l b_r = a_r b_l) lists each unordered pair once, with
        weight 2 when l != r.
        """
        terms = []
        for t, target in enumerate(self.entries):
            if isinstance(target, str):  # the trace entry
                if self.degree(target) < min_target or min_left > 1:
                    continue
                units = sorted(
                    (self.unit(r), w) for r, w in enumerate(self.trace_weights or ())
                )
                terms += [(t, u, u, w) for u, w in units if w]
                continue
            if sum(target) < min_target:
                continue
            for left in self.entries:
                if isinstance(left, str) or not sum(left) or sum(left) < min_left:
                    continue
                if all(lp <= tp for lp, tp in zip(left, target, strict=True)):
                    right = tuple(tp - lp for lp, tp in zip(left, target, strict=True))
                    lft, rgt = self.position(left), self.position(right)
                    if not sum(right) or (symmetric and lft > rgt):
                        continue
                    weight = 2.0 if symmetric and lft != rgt else 1.0
                    terms.append((t, lft, rgt, weight))
        return terms

    @functools.lru_cache(maxsize=16)  # noqa: B019 - algebras are few and long-lived
    def terms(
        self,
        min_left: int,
        device: torch.device,
        dtype: torch.dtype,
        symmetric: bool = False,
    ) -> Terms:
        """:meth:`cross_terms` as index tensors, positions counted from 1."""
        listed = self.cross_terms(min_left, max(2, min_left + 1), symmetric)
        as_index = functools.partial(torch.tensor, dtype=torch.long, device=device)
        weights = [w for *_, w in listed]
        targets = {t for t, *_ in listed}
        return Terms(
            left=as_index([lft - 1 for _, lft, _, _ in listed]),
            right=as_index([r - 1 for _, _, r, _ in listed]),
            target=as_index([t - 1 for t, *_ in listed]),
            weight=None
            if all(w == 1.0 for w in weights)
            else torch.tensor(weights, dtype=dtype, device=device),
            single_target=(next(iter(targets)) - 1) if len(targets) == 1 else None,
            left_range=_as_range([lft - 1 for _, lft, _, _ in listed]),
            right_range=_as_range([r - 1 for _, _, r, _ in listed]),
            diagonal=all(lft == r for _, lft, r, _ in listed),
        )


def _as_range(positions: list[int]) -> slice | None:
    """``positions`` as a slice when they are consecutive, else None."""
    if positions and positions == list(range(positions[0], positions[-1] + 1)):
        return slice(positions[0], positions[-1] + 1)
    return None


def _unit(r: int, n: int) -> MultiIndex:
    return tuple(int(i == r) for i in range(n))
