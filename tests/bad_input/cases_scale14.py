"""Bad input to the Ray path's row ids (issue 14): a name that is empty or taken.

``wrt partials ... --ray -o FOLDER`` adds a row-id column (default ``row``), the
row's index in the points. A name that an input column or a spec already has is
refused before Ray starts (wrt never overwrites or renames a column of yours),
from the CLI naming ``--row-id`` and from Python naming ``row_id``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bad_input.harness import Api, Cli, model_file, points_file
from wrt.errors import RowIdError


def _row_points(folder):
    """Points with an extra column named ``row`` beside the inputs."""
    path = folder / "points.parquet"
    pd.DataFrame({"x1": np.ones(3), "x2": np.zeros(3), "row": [7, 8, 9]}).to_parquet(
        path
    )
    return path


def _cli(folder, points, *extra):
    model = str(model_file(folder))
    return ["partials", model, str(points), "-d", "dy/dx1", "--inputs", "x1,x2",
            "--ray", "-o", str(folder / "out"), *extra]  # fmt: skip


def _read(folder, **options):
    """Builds its points, then reads them: the one new file is the points (hence
    ``new_files=True``); the refusal itself writes nothing."""
    from wrt import distributed_read  # checks the name before Ray is imported

    points = _row_points(folder)
    try:
        return distributed_read.read(points, **options)
    finally:
        assert sorted(p.name for p in folder.iterdir()) == ["points.parquet"]


CASES = [
    Cli(
        "scale14-cli-row-id-taken-by-a-column",
        lambda f: _cli(f, _row_points(f)),
        2,
        r"row-id column 'row' would clash.*--row-id another name",
    ),
    Cli(
        "scale14-cli-row-id-taken-by-an-input",
        lambda f: _cli(
            f, points_file(f, ("x1", "x2"), name="p.parquet"), "--row-id", "x2"
        ),  # fmt: skip
        2,
        r"row-id column 'x2' would clash.*--row-id",
    ),
    Cli(
        "scale14-cli-row-id-empty",
        lambda f: _cli(
            f, points_file(f, ("x1", "x2"), name="p.parquet"), "--row-id", " "
        ),  # fmt: skip
        2,
        r"--row-id is empty",
    ),
    Api(
        "scale14-api-row-id-taken-by-a-column",
        _read,
        RowIdError,
        r"row-id column 'row' would clash.*give row_id another name",
        new_files=True,
    ),
    Api(
        "scale14-api-row-id-empty",
        lambda f: _read(f, row_id=""),
        RowIdError,
        r"row_id is empty",
        new_files=True,
    ),
]
