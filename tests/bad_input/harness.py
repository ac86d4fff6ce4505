"""Cases of bad or unusual input, and the files they start from.

Each area of wrt has a module ``cases_<area>.py`` beside this one with a list
``CASES`` of :class:`Cli` and :class:`Api` cases; ``tests/test_bad_input.py`` runs
them all as one parametrised table. A case builds what it needs in an empty folder
(its own ``tmp_path``), then the runner checks, for every case:

- the exit code (CLI) or the exception class (API);
- that the message names the problem (a regular expression, case-insensitive);
- that no traceback reaches the user;
- that every file that was in the folder before is byte-for-byte unchanged, and,
  when the run is refused (exit code != 0 or an exception), that it left no new
  file behind (no ``.parts`` / ``.tmp`` litter), unless the case allows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models import mlp, save_torchscript


@dataclass(frozen=True)
class Cli:
    """``wrt ARGV``: exits with ``code`` and says ``says`` on stderr.

    Attributes:
        id: a short unique name, shown by pytest.
        argv: builds the case's files in the folder and returns the arguments
            after ``wrt`` (strings).
        code: the expected exit code (0 ok, 1 check error, 2 bad input, 3 internal).
        says: regular expression the error output must match (case-insensitive).
        new_files: a refused run may leave new files (rare; say why in the case).
    """

    id: str
    argv: Callable[[Path], list[str]]
    code: int
    says: str
    new_files: bool = False


@dataclass(frozen=True)
class Api:
    """A Python call that raises ``raises`` with a message matching ``says``."""

    id: str
    call: Callable[[Path], object]
    raises: type[BaseException]
    says: str
    new_files: bool = False


Case = Cli | Api


def model_file(folder: Path, n_in: int = 2, name: str = "model.pt") -> Path:
    """A TorchScript tanh MLP (float64) with ``n_in`` inputs and one output."""
    return save_torchscript(mlp(n_in, 1), folder / name)


def points_file(
    folder: Path,
    columns: tuple[str, ...] = ("x1", "x2"),
    rows: int = 5,
    name: str = "points.csv",
) -> Path:
    """A CSV of ``rows`` random points with the given columns."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(rows, len(columns))), columns=list(columns))
    path = folder / name
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


def write(folder: Path, name: str, text: str) -> Path:
    """A text file ``name`` in the folder holding ``text``."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
