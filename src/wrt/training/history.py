"""The loss history of a training run, and the parameters it may fall back to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch


@dataclass
class History:
    """Loss per term per step.

    Attributes:
        frame: one row per step: ``step``, ``loss`` (weighted total) and one column
            per term name (its unweighted loss).
        optimizer: the optimiser's name.
        seconds: wall time of the training.
    """

    frame: pd.DataFrame
    optimizer: str
    seconds: float = 0.0

    @property
    def final(self) -> dict[str, float]:
        """The last row as a dict."""
        return {k: float(v) for k, v in self.frame.iloc[-1].items()}

    @property
    def steps(self) -> int:
        """Steps reached: the last row's step + 1 (L-BFGS writes a row per block)."""
        return int(self.frame["step"].iloc[-1]) + 1 if len(self.frame) else 0

    def to_csv(self, path) -> None:
        """Write the history as CSV."""
        self.frame.to_csv(path, index=False)


@dataclass
class Record:
    """The rows of a run so far, and the last parameters known to be good.

    ``kept`` is a vector of the parameters (see :func:`~wrt.training.problem.flatten`)
    whose loss was finite, and ``kept_rows`` the number of rows that go with them
    (None: every row so far). On an interrupt or a non-finite loss the model is set
    back to ``kept`` and the history cut to ``kept_rows``.
    """

    names: list[str]
    rows: list[list[float]] = field(default_factory=list)
    kept: torch.Tensor | None = None
    kept_rows: int | None = None

    def add(self, step: int, total: float, losses: Sequence[float]) -> None:
        """One row: step, weighted total, each term's loss."""
        self.rows.append([step, total, *losses])

    def keep(self, vector: torch.Tensor, rows: int | None) -> None:
        """Remember ``vector`` as the parameters to fall back to, with ``rows`` rows."""
        if self.kept is None or self.kept.shape != vector.shape:
            self.kept = vector.detach().clone()
        else:
            self.kept.copy_(vector)
        self.kept_rows = rows

    def cut(self) -> None:
        """Drop the rows after ``kept_rows``."""
        if self.kept_rows is not None:
            del self.rows[self.kept_rows :]

    def history(self, optimizer: str, seconds: float) -> History:
        """The rows as a :class:`History`."""
        frame = pd.DataFrame(self.rows, columns=["step", "loss", *self.names])
        frame["step"] = frame["step"].astype(int)
        return History(frame, optimizer, seconds)
