"""Points in, tables out: tensors, arrays, DataFrames, CSV, Parquet and JSON.

Points become one tensor of shape (N, n_in) whose columns are in the model's input
order. Tables are matched by column name, so their column order does not matter.
NaN and Inf are rejected with the row and column where they first appear.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from wrt.errors import DataError, PrecisionWarning, caller_level, one_line
from wrt.names import did_you_mean, listing

PointsLike = (
    torch.Tensor | np.ndarray | pd.DataFrame | Mapping[str, Any] | Sequence | str | Path
)

TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".json")

#: How messages name the table formats, by suffix.
_FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet", ".json": "JSON"}

_READ_HINTS = {
    ".csv": "A CSV of points has a header row of column names, then one row per "
    "point, separated by commas.",
    ".parquet": "Write the points with pandas (DataFrame.to_parquet) or pyarrow.",
    ".pq": "Write the points with pandas (DataFrame.to_parquet) or pyarrow.",
    ".json": 'A JSON table is an object of columns, {"x1": [...], "x2": [...]}, '
    "or a list of records, [{...}, ...].",
}

_COLUMNS_HINT = (
    "Points need one column per model input, named as the inputs (or name the "
    "inputs after the columns with --inputs a,b,c; see them with wrt inspect MODEL)."
)


def as_points(
    points: PointsLike,
    inputs: Sequence[str],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    first_row: int = 0,
) -> torch.Tensor:
    """Points as a tensor of shape (N, n_in), columns in ``inputs`` order.

    Args:
        points: a tensor or array (N, n_in) (or (N,) when there is one input), a
            DataFrame or mapping with a column per input name (extra columns are
            ignored), nested lists, or the path of a CSV / Parquet / JSON file.
        inputs: the model's input names.
        dtype: floating dtype of the result; None keeps a floating input's dtype
            (float64 for integers, float32 for float16 / bfloat16, with a
            PrecisionWarning).
        device: device of the result.
        first_row: the row of the whole table the first point is (a chunk of a
            file), so that messages name rows of the file, counted from 0.

    Returns:
        A tensor (N, n_in). It shares memory with a tensor input when nothing had to
        change.

    Raises:
        DataError: wrong shape, missing columns, non-numeric or complex values, NaN
            or Inf, an unreadable file.
    """
    if isinstance(points, (str, Path)):
        points = read_table(points)  # a CSV, Parquet or JSON file of points
    if isinstance(points, pd.DataFrame) or isinstance(points, Mapping):
        tensor = _from_columns(points, inputs, first_row)
    elif isinstance(points, torch.Tensor):
        tensor = points.detach()
    else:
        try:
            array = np.asarray(points)
        except Exception as exc:
            raise DataError(f"Cannot read the points as an array: {exc}") from exc
        if array.dtype == object or not np.issubdtype(array.dtype, np.number):
            raise DataError(
                f"Points must be numbers; got an array of {array.dtype}. Pass a "
                "float array of shape (N, n_in) or a table with numeric columns."
            )
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    n_in = len(inputs)
    if tensor.dim() == 1 and n_in == 1:
        tensor = tensor.unsqueeze(1)
    if tensor.dim() != 2 or tensor.shape[1] != n_in:
        raise DataError(
            f"Points have shape {tuple(tensor.shape)}; the model needs (N, {n_in}) "
            f"with columns {listing(inputs)}. Pass one row per point and one column "
            "per input, or a table with named columns.",
            hint=_COLUMNS_HINT,
        )
    if tensor.is_complex():
        raise DataError(
            f"Points are complex ({tensor.dtype}); partials are taken with respect to "
            "real inputs. Pass the real parts (or real and imaginary parts as two "
            "inputs).",
        )
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    if dtype is None and tensor.dtype in (torch.float16, torch.bfloat16):
        # 3 significant digits: a 4th partial would be off in the 1st digit
        warnings.warn(
            f"Points in {tensor.dtype} are computed in float32: half precision "
            "keeps about 3 significant digits, too few for derivatives.",
            PrecisionWarning,
            stacklevel=caller_level(),
        )
        tensor = tensor.to(torch.float32)
    check_finite(tensor, inputs, first_row)  # as given: NaN / Inf in the data itself
    target = dtype or tensor.dtype
    converted = tensor.to(dtype=target, device=device or tensor.device)
    if converted is not tensor and not all_finite(converted):  # beyond the dtype
        bad = ~torch.isfinite(converted)
        row, col = (int(i) for i in bad.nonzero()[0])
        raise DataError(
            f"Row {first_row + row} (from 0), column {inputs[col]!r} is "
            f"{tensor[row, col].item():g}, a finite number beyond the range of "
            f"{str(target).removeprefix('torch.')} (the model's "
            f"dtype; largest {torch.finfo(target).max:.3g}); {int(bad.sum())} value(s) "
            "in all.",
            hint="Compute in float64: dtype='float64' (--dtype float64), or rescale "
            "the inputs.",
        )
    return converted


def _quoted(names: Iterable[str]) -> str:
    """Names as ``'x1', 'x 2'``: quoted, so that stray spaces show."""
    return ", ".join(repr(str(name)) for name in names)


def _from_columns(
    table: pd.DataFrame | Mapping[str, Any], inputs: Sequence[str], first_row: int = 0
):
    missing = [name for name in inputs if name not in table]
    if missing:
        have = _quoted(str(c) for c in table.keys())
        raise DataError(
            f"The points lack column(s) {_quoted(missing)}. The model's inputs are "
            f"{_quoted(inputs)}; the table has {have or 'no columns'}. Rename the "
            "columns, or name the model's inputs after them (inputs=[...]).",
            hint=_COLUMNS_HINT,
        )
    columns = []
    for name in inputs:
        column = table[name]
        if isinstance(column, torch.Tensor):
            column = column.detach().cpu().numpy()
        array = np.asarray(column)
        if array.ndim != 1:
            raise DataError(
                f"Column {name!r} has shape {array.shape}; each column must be 1-D."
            )
        if array.dtype == object or not np.issubdtype(array.dtype, np.number):
            raise DataError(
                f"Column {name!r} is not numeric (dtype {array.dtype})"
                f"{_first_text(array, first_row)}. Convert it to numbers first.",
                hint="Every input column must hold numbers only: fix or drop the "
                "rows with text in them.",
            )
        columns.append(array.astype(np.float64, copy=False))
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise DataError(f"Columns {listing(inputs)} have different lengths {lengths}.")
    return torch.from_numpy(np.stack(columns, axis=1))


def _first_text(array: np.ndarray, first_row: int) -> str:
    """``: row 3 (from 0) holds 'abc'``: the first cell that is not a number, if any.

    Rows are said as :func:`check_finite` says them: "row N (from 0)".
    """
    numbers = np.asarray(pd.to_numeric(pd.Series(array), errors="coerce"), float)
    bad = np.flatnonzero(np.isnan(numbers) & np.asarray(pd.notna(array)))
    if len(bad) == 0:
        return ""
    row = int(bad[0])
    return (
        f": row {first_row + row} (from 0) holds {array[row]!r}, its first cell "
        "that is not a number"
    )


def check_finite(
    points: torch.Tensor, columns: Sequence[str], first_row: int = 0
) -> None:
    """Raise :class:`DataError` naming the first row and column holding NaN or Inf.

    Args:
        points: shape (N, n).
        columns: the names of the n columns.
        first_row: the row of the whole table that ``points[0]`` is.
    """
    if all_finite(points):
        return
    bad = ~torch.isfinite(points)
    if bool(bad.any()):
        row, col = (int(i) for i in bad.nonzero()[0])
        count = int(bad.sum())
        raise DataError(
            f"Row {first_row + row} (from 0), column {columns[col]!r} is "
            f"{points[row, col].item()} "
            f"({count} non-finite value(s) in all). Remove or fill those rows first.",
            hint="Drop or fill the rows with missing values (e.g. pandas dropna) "
            "in that file or table, then run again.",
        )


def csv_header(path: Path) -> list[str]:
    """The names in the first line of a CSV file, as written (no renaming).

    Raises:
        DataError: a name appears twice (pandas would rename the second ``x1.1``
            and a model input would silently take the first).
    """
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as file:
        header = next(csv.reader(file), [])
    seen: set[str] = set()
    twice = [name for name in header if name in seen or seen.add(name)]
    if twice:
        raise DataError(
            f"{path} names the column {twice[0]!r} more than once (header: "
            f"{', '.join(repr(n) for n in header)}); which one is meant is "
            "ambiguous. Give each column its own name.",
            hint="Rename or remove the repeated column in the file's first line.",
        )
    return header


def check_csv_rows(frame: pd.DataFrame, path: Path, first_row: int = 0) -> None:
    """Refuse a chunk of a CSV whose rows hold more fields than the header names.

    pandas then silently takes the first column as the row index and shifts every
    value one column to the left; the plain row numbers as index show that it did
    not.

    Args:
        frame: the table pandas read (a chunk of it when streaming).
        path: the CSV file, scanned for the first row that is too long.
        first_row: the file row (0 = first data row) the chunk starts at.

    Raises:
        DataError: naming the first such row (1-based line number of the file).
    """
    if frame.index.equals(pd.RangeIndex(first_row, first_row + len(frame))):
        return
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as file:
        rows = csv.reader(file)
        header = next(rows, [])
        for number, row in enumerate(rows, start=2):
            if len(row) > len(header):
                raise DataError(
                    f"{path}, line {number}: {len(row)} values under a header of "
                    f"{len(header)} names ({', '.join(header)}); the values cannot "
                    "be matched to the columns.",
                    hint="Give every row as many values as the header has names.",
                )
    raise DataError(  # the index came from elsewhere (should not happen)
        f"{path}: rows from {first_row + 2} on do not match the header."
    )


def read_table(
    path: str | Path, rename: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Read a CSV, Parquet or JSON table of points.

    Args:
        path: the file.
        rename: old column name -> new name, for headers that are not names
            (``{"x 1": "x1"}``); see :func:`renamed`.

    Raises:
        DataError: unknown suffix, missing or unreadable file, a column named
            twice (in the file, or after ``rename``).
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a points file. Give the file.")
    if not path.is_file():
        raise DataError(f"No such points file: {path}. Check the path.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            table = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        elif suffix == ".json":
            table = pd.DataFrame(
                json.loads(path.read_text(), object_pairs_hook=_no_repeats(path))
            )
        else:
            table = None
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"Cannot read {path} as {_FORMATS.get(suffix, suffix[1:].upper())}: "
            f"{one_line(exc)}",
            hint=_READ_HINTS.get(suffix, "Check the file."),
        ) from exc
    if table is not None:
        if suffix == ".csv":
            csv_header(path)
            check_csv_rows(table, path)
        if rename:
            table.columns = renamed(list(table.columns), rename)
        if len(table) == 0:
            raise DataError(
                f"{path} holds no rows (header: "
                f"{listing(map(str, table.columns)) or 'none'}). Give at least one "
                "point.",
                hint="Write one row per point under the header.",
            )
        return table
    raise DataError(
        f"Cannot tell the format of {path} from its suffix {suffix!r}. Use one of "
        f"{listing(TABLE_SUFFIXES)}."
    )


def _no_repeats(path: Path):
    """A ``json`` hook refusing an object that names a key twice (a column)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        twice = [key for i, key in enumerate(keys) if key in keys[:i]]
        if twice:
            raise DataError(
                f"{path} names the column {twice[0]!r} more than once; which one is "
                "meant is ambiguous. Give each column its own name."
            )
        return dict(items)

    return pairs


def with_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with every NaN and +-Inf of its float columns as one missing value.

    A non-finite number in a result means "no value here"; written tables show it
    the same way in every format: an empty CSV cell, a Parquet null, a JSON null.

    Returns:
        A copy when something changed, else ``frame`` itself.
    """
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    infinite = [c for c in floats if np.isinf(frame[c].to_numpy()).any()]
    if not infinite:
        return frame
    frame = frame.copy()
    for column in infinite:
        values = frame[column].to_numpy(copy=True)
        values[np.isinf(values)] = np.nan
        frame[column] = values
    return frame


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV, Parquet or JSON (chosen by the suffix).

    JSON is column-oriented, ``{"column": [values...]}``, with every float written
    so that it reads back exactly. NaN and Inf are written as missing values (see
    :func:`with_missing`).

    Raises:
        DataError: unknown suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    frame = with_missing(frame)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    elif suffix == ".json":
        path.write_text(frame_to_json(frame))
    else:
        raise DataError(
            f"Cannot write {path}: unknown suffix {suffix!r}. Use one of "
            f"{listing(TABLE_SUFFIXES)}."
        )


def frame_to_json(frame: pd.DataFrame) -> str:
    """A table as column-oriented JSON text (floats round-trip exactly).

    NaN and Inf become ``null``: the text is always valid JSON (never a bare
    ``NaN``).
    """
    columns = {
        str(name): [_json_number(v) for v in frame[name].tolist()]
        for name in frame.columns
    }
    return json.dumps(columns, allow_nan=False)


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(value: Any, indent: int | None = None) -> str:
    """Any result as strictly valid JSON text: NaN and Inf become ``null``.

    Tensors and arrays become (nested) lists, numpy scalars Python numbers, other
    unknown objects (a spec, a path) their ``str``. The text never holds the bare
    ``NaN`` / ``Infinity`` that Python's ``json`` writes by default and that strict
    parsers reject.

    Args:
        value: dicts, lists, tuples, numbers, strings, tensors, arrays.
        indent: as for :func:`json.dumps`.
    """
    return json.dumps(_json_ready(value), indent=indent, allow_nan=False)


def _json_ready(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return str(value)


def all_finite(values: torch.Tensor) -> bool:
    """Whether every entry of ``values`` is finite, from one sum (a fast test).

    NaN and Inf propagate through a sum (Inf - Inf is NaN), so a finite sum means
    every entry is finite; a non-finite sum can also be an overflow of finite
    entries, so it falls back to ``torch.isfinite`` entry by entry. One thread,
    (2000, 64) float32: 8 us against 191 us for ``isfinite(values).all()``.
    """
    if values.numel() == 0 or not values.is_floating_point():
        return True
    if math.isfinite(float(values.sum())):
        return True
    return bool(torch.isfinite(values).all())


def kept_columns(
    columns: Sequence[str],
    inputs: Sequence[str],
    keep: str | Sequence[str] | None,
    option: str = "keep=",
) -> list[str]:
    """The pass-through columns ``keep`` asks for, in the file's column order.

    Args:
        columns: the table's columns, as in the file.
        inputs: the model's inputs (always written; never "kept").
        keep: comma-separated names or a sequence of them, ``"all"`` for every
            column that is not an input, or None / empty for none.
        option: how messages name the option (``--keep`` on the command line).

    Returns:
        The names, in ``columns`` order, inputs left out.

    Raises:
        DataError: a name that is not a column of the table.
    """
    if keep is None:
        return []
    asked = (
        [part.strip() for part in keep.split(",")] if isinstance(keep, str) else keep
    )
    asked = [str(name) for name in asked if str(name)]
    others = [str(c) for c in columns if str(c) not in inputs]
    if [name.lower() for name in asked] == ["all"] and "all" not in columns:
        return others
    unknown = [name for name in asked if name not in columns]
    if unknown:
        name = unknown[0]
        raise DataError(
            f"{option} names the column {name!r}, which the points do not have; "
            f"their columns are {', '.join(repr(str(c)) for c in columns)}."
            f"{did_you_mean(name, others)}",
            hint=f"{option} names columns of the points to copy into the output; "
            f"{option} all copies every column that is not an input.",
        )
    return [c for c in others if c in asked]


def renamed(
    columns: Sequence[str], rename: Mapping[str, str] | None, option: str = "rename="
) -> list[str]:
    """The table's column names after ``rename`` (old -> new), checked.

    Args:
        columns: the names as in the file.
        rename: old name -> new name; None or empty changes nothing.
        option: how messages name the option (``--rename`` on the command line).

    Raises:
        DataError: an old name that is not a column, or two columns that would
            end up with one name.
    """
    if not rename:
        return [str(c) for c in columns]
    have = [str(c) for c in columns]
    for old in rename:
        if old not in have:
            raise DataError(
                f"{option} names the column {old!r}, which the points do not have; "
                f"their columns are {_quoted(have)}.{did_you_mean(old, have)}",
                hint="Write the column's name exactly as in the file's header (on "
                "the command line quoted for the shell: --rename 'x 1=x1').",
            )
    out = [rename.get(c, c) for c in have]
    twice = sorted({c for c in out if out.count(c) > 1})
    if twice:
        raise DataError(
            f"After {option}, the column name {twice[0]!r} appears more than once "
            f"({_quoted(out)}). Give each column its own name."
        )
    return out
