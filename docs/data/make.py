"""Write the small data files the documentation's examples read (numpy only).

``python docs/data/make.py`` from the repository root rewrites them identically.

- ``train.csv``: the seed problem's training data, 200 rows on the line
  ``x2 = 1.5 x1`` (``x1 = linspace(0, 6 pi, 200)``), ``y = sin(x1) + cos(x2)``: the
  data ``tests/fixtures/seed000.keras`` was trained on, thinned.
- ``points.csv``: 36 points of a 6 x 6 grid over ``[0, 6 pi] x [0, 9 pi]``, where the
  seed's partials are asked (most of them far from the line).
- ``xt.csv``: 50 points ``(x, t)`` in ``[-1, 1] x [0, 1]``, for models of ``u(x, t)``.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def write(name: str, header: list[str], rows: np.ndarray) -> None:
    """One CSV, values in the shortest form that reads back exactly."""
    lines = [",".join(header)]
    lines += [",".join(repr(float(v)) for v in row) for row in rows]
    (HERE / name).write_text("\n".join(lines) + "\n")


x1 = np.linspace(0.0, 6 * np.pi, 200)
x2 = 1.5 * x1
write("train.csv", ["x1", "x2", "y"], np.stack([x1, x2, np.sin(x1) + np.cos(x2)], 1))
g1, g2 = np.meshgrid(np.linspace(0.0, 6 * np.pi, 6), np.linspace(0.0, 9 * np.pi, 6))
write("points.csv", ["x1", "x2"], np.stack([g1.ravel(), g2.ravel()], 1))
rng = np.random.default_rng(0)
xt = np.stack([rng.uniform(-1.0, 1.0, 50), rng.uniform(0.0, 1.0, 50)], 1)
write("xt.csv", ["x", "t"], xt.round(6))
