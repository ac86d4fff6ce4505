"""The training data, standardized and indexed once per check for neighbour queries.

:class:`DataIndex` standardizes the training inputs (each input divided by its
standard deviation, so units do not matter), drops repeated rows and builds a
k-d tree (``scipy.spatial.KDTree``, the compiled cKDTree) over them. The
identifiability check, the coverage check and the data's own spacing all query
the same index, built once per :func:`wrt.check` call and dropped with it (no
cache outlives the call).

For neighbourhoods at coarser scales the index also keeps *levels*: nested random
subsets of the rows (a quarter of the previous level each, from one seeded
permutation), each with its own tree. The k nearest rows among a quarter of the
data reach about twice as far in a plane and four times as far along a curve, so
a few small neighbourhoods per level cover every scale from the data's spacing up
to its whole extent at a cost that grows with log(M), not M.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import KDTree
from torch import Tensor

from wrt.errors import DataError

#: Each coarser level keeps this fraction of the previous level's rows.
LEVEL_SHRINK = 4


#: Largest standardized coordinate a query keeps (see DataIndex.standardize).
_FAR = 1e100


class DataIndex:
    """Standardized, de-duplicated training rows and their k-d trees.

    Attributes:
        mean: per-input mean of the data, (n_in,) float64.
        scale: per-input standard deviation (1 where the input is constant), (n_in,).
        constant: inputs that never vary in the data, (n_in,) bool.
        rows: the distinct standardized rows, (M, n_in) float64 numpy array.
        rows_given: the number of rows before repeated rows were dropped.
    """

    def __init__(self, data: Tensor, seed: int = 0) -> None:
        """Index ``data`` (M, n_in) float64.

        Raises:
            DataError: fewer than 2 distinct rows.
        """
        data = data.detach().to(torch.float64).cpu()
        if data.shape[0] == 0:
            raise DataError(
                "The training data (data=...) has no rows; the checks compare the "
                "points with the training rows. Pass the training inputs."
            )
        self.rows_given = int(data.shape[0])
        self.mean = data.mean(0)
        spread = data.std(0) if data.shape[0] > 1 else torch.zeros_like(self.mean)
        self.constant = spread <= 1e-12 * (1 + self.mean.abs())
        self.scale = torch.where(self.constant, torch.ones_like(spread), spread)
        standard = ((data - self.mean) / self.scale).numpy()
        self.rows = np.unique(standard, axis=0)
        if self.rows.shape[0] < 2:
            raise DataError(
                f"The training data (data=...) has {self.rows_given} row(s) but only "
                f"{self.rows.shape[0]} distinct one; a single point determines no "
                "direction. Pass at least 2 distinct training rows."
            )
        order = np.random.default_rng(seed).permutation(self.rows.shape[0])
        self._order = order
        self._trees: dict[int, KDTree] = {}
        self._levels: dict[int, np.ndarray] = {}

    @property
    def size(self) -> int:
        """The number of distinct rows."""
        return int(self.rows.shape[0])

    def standardize(self, points: Tensor) -> np.ndarray:
        """Points (N, n_in) in the data's standardized units, as a numpy array.

        Coordinates are clipped to +-1e100 standard deviations: a point that far
        (1e300 in a column) is far from the data either way, and its squared
        distances must stay finite for the tree (an infinite one has no neighbour).
        """
        z = (points.detach().to(torch.float64).cpu() - self.mean) / self.scale
        return z.clamp(-_FAR, _FAR).numpy()

    def level_size(self, level: int) -> int:
        """Rows at a level: all of them at level 0, a quarter more at each next one."""
        return -(-self.size // LEVEL_SHRINK**level)

    def level_rows(self, level: int) -> np.ndarray:
        """The standardized rows of a level, (M_level, n_in)."""
        if level == 0:
            return self.rows
        if level not in self._levels:
            self._levels[level] = self.rows[self._order[: self.level_size(level)]]
        return self._levels[level]

    def nearest(
        self, z: np.ndarray, k: int, level: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest rows of a level to each standardized point.

        Args:
            z: standardized points (N, n_in).
            k: neighbours per point (at most the level's size).
            level: 0 for all rows, or a coarser level.

        Returns:
            ``distance`` (N, k) ascending and ``index`` (N, k) into
            :meth:`level_rows`.
        """
        tree = self._trees.get(level)
        if tree is None:
            tree = KDTree(self.level_rows(level), balanced_tree=False)
            self._trees[level] = tree
        distance, index = tree.query(z, k=k, workers=-1)
        shape = (z.shape[0], k)  # k == 1 gives (N,)
        distance = np.asarray(distance, dtype=np.float64).reshape(shape)
        return distance, np.asarray(index).reshape(shape)

    def spacing(self, k: int, sample: int = 2000) -> float:
        """The data's own spacing: 95th percentile of the distance to the k-th row.

        Over (a seeded sample of up to ``sample``) rows, the distance to their k-th
        nearest *other* row, in standardized units.
        """
        rows = self.rows[self._order[:sample]]
        kk = min(k + 1, self.size)
        distance, _ = self.nearest(rows, kk)
        return float(np.quantile(distance[:, -1], 0.95))


def sample_points(count: int, limit: int, seed: int = 0) -> np.ndarray | None:
    """A seeded random sample of ``limit`` of ``count`` point indices, sorted.

    None when every point is checked (``count <= limit``).
    """
    if count <= limit:
        return None
    chosen = np.random.default_rng(seed).choice(count, size=limit, replace=False)
    return np.sort(chosen)
