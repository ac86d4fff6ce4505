"""The loss history of a training run, and the parameters it may fall back to."""

from __future__ import annotations

import copy
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
        seconds: wall time of the training (compiling included).
        compile_seconds: of ``seconds``, the time spent compiling the training
            step (0 when it ran eagerly).
        compiled: whether the steps ran compiled (from the step the compiled
            loss was ready; ``compile="auto"`` runs two eager steps first).
    """

    frame: pd.DataFrame
    optimizer: str
    seconds: float = 0.0
    compile_seconds: float = 0.0
    compiled: bool = False

    @property
    def final(self) -> dict[str, float]:
        """The last row as a dict."""
        return {k: float(v) for k, v in self.frame.iloc[-1].items()}

    @property
    def steps(self) -> int:
        """Steps reached: the last row's step + 1 (L-BFGS writes a row per block)."""
        return int(self.frame["step"].iloc[-1]) + 1 if len(self.frame) else 0

    def to_csv(self, path) -> None:
        """Write the history as CSV.

        Args:
            path (str | os.PathLike): the file; one row per step, the columns of
                :attr:`frame`.
        """
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


@dataclass
class OptimizerState:
    """The optimisers' own state in one run (Adam's moments, L-BFGS's pairs).

    For an exact ``--resume``: ``wrt.fit(..., state=s)`` loads ``s.saved[name]``
    into its optimiser ``name`` (``"adam"``, ``"lbfgs"``) when present (keeping the
    learning rate given now) and holds the optimisers it runs, so that
    :meth:`snapshot` can copy their state at a step boundary for a checkpoint.
    ``kept`` is the state that goes with the parameters an interrupt falls back
    to (Adam: the last step's; L-BFGS: the start of the block). The
    object lives for one run; nothing is stored on the model. The gradient-free
    optimisers keep no state here: they restart their population.
    """

    saved: dict[str, dict] = field(default_factory=dict)
    live: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    kept: dict[str, dict] | None = None

    def attach(self, name: str, optimizer: torch.optim.Optimizer) -> None:
        """Load the saved state of ``name`` into ``optimizer``; hold it."""
        if name in self.saved:
            lrs = [group["lr"] for group in optimizer.param_groups]
            optimizer.load_state_dict(self.saved[name])
            for group, lr in zip(optimizer.param_groups, lrs, strict=True):
                group["lr"] = lr
        self.live[name] = optimizer

    def snapshot(self) -> dict[str, dict]:
        """A copy of every optimiser's state, for a checkpoint."""
        copies = {name: copy.deepcopy(o.state_dict()) for name, o in self.live.items()}
        return {**self.saved, **copies}

    def remember(self, name: str) -> None:
        """The state of ``name`` now goes with the kept parameters."""
        self.kept = {name: copy.deepcopy(self.live[name].state_dict())}
