"""Points for Ray, read on the workers, each row tagged with its index in the input.

:func:`read` lists the input's pieces on the driver from metadata alone (a Parquet
file's row groups, with their row counts from the footer; a CSV file whole) and
hands each piece to a Ray task that reads it and adds the row-id column: the
row's index in the input (int64, counted from 0 over the files in name order).
The index travels with the row through any re-partitioning, so a folder of
results can be put back in the input's order by that column alone
(``table.sort_values("row")``), whatever order its files or blocks come in.

Only the driver's listing is serial, and it reads no data; the rows themselves
are read where Ray runs the tasks (on a cluster, from storage every node sees).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wrt.errors import DataError, RowIdError

#: The row-id column's default name.
ROW_ID = "row"
_PARQUET = (".parquet", ".pq")


@dataclass(frozen=True)
class Piece:
    """One unit of reading: a Parquet row group or a whole CSV file.

    Attributes:
        path: the file.
        group: the row group (Parquet), or -1 for a whole CSV file.
        offset: the index, in the whole input, of the piece's first row.
    """

    path: str
    group: int
    offset: int


def files(path: str | Path) -> list[Path]:
    """The input's files in name order: the file itself, or a folder's data files.

    Raises:
        DataError: no such file, or a folder with no .parquet/.csv file in it.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(
            p
            for p in path.iterdir()
            if p.is_file()
            and not p.name.startswith((".", "_"))
            and p.suffix.lower() in (*_PARQUET, ".csv")
        )
        if not found:
            raise DataError(
                f"{path} holds no .parquet or .csv file: give a file of points or "
                "a folder of them."
            )
        return found
    if not path.is_file():
        raise DataError(f"{path} does not exist: give a .parquet or .csv file.")
    return [path]


def pieces(paths: Sequence[Path]) -> list[Piece]:
    """Every file's pieces, in row order, with the offset of each piece's first row.

    Parquet offsets come from the footers. A CSV file's row count is known only
    after reading it, so CSV inputs of several files are counted here (a scan of
    each file but the last); a single CSV file needs no count.
    """
    import pyarrow.parquet as pq

    found: list[Piece] = []
    offset = 0
    for number, path in enumerate(paths):
        if path.suffix.lower() in _PARQUET:
            meta = pq.ParquetFile(path).metadata
            for group in range(meta.num_row_groups):
                found.append(Piece(str(path), group, offset))
                offset += meta.row_group(group).num_rows
        else:
            found.append(Piece(str(path), -1, offset))
            if number < len(paths) - 1:
                offset += _csv_rows(path)
    return found


def _csv_rows(path: Path) -> int:
    """Rows of a CSV file (a streamed scan; quoted line breaks counted right)."""
    import pyarrow.csv as pv

    rows = 0
    with pv.open_csv(path) as reader:
        for batch in reader:
            rows += batch.num_rows
    return rows


def read_pieces(
    batch: Any, columns: Sequence[str] | None, row_id: str | None
) -> Iterator[Any]:
    """The rows of the pieces in ``batch`` (a Ray ``map_batches`` generator).

    Args:
        batch: a ``pyarrow.Table`` of piece records (columns ``path``, ``group``,
            ``offset``), one piece per batch as :func:`read` asks.
        columns: the columns to read (None: all of them).
        row_id: the name of the row-id column to add (None: none).

    Yields:
        One ``pyarrow.Table`` per piece: the columns asked for, then the row ids
        (int64).
    """
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    records = batch.to_pydict()
    for path, group, offset in zip(
        records["path"], records["group"], records["offset"], strict=True
    ):
        if group < 0:
            table = pv.read_csv(path)
            if columns is not None:
                table = table.select(list(columns))
        else:
            table = pq.ParquetFile(path).read_row_group(
                group, columns=None if columns is None else list(columns)
            )
        if row_id is not None:
            rows = np.arange(offset, offset + table.num_rows, dtype=np.int64)
            table = table.append_column(row_id, pa.array(rows))
        yield table


def check_row_id(
    row_id: str | None, columns: Sequence[str], *, of: str, option: str = "row_id"
) -> None:
    """Refuse a row-id name that is empty or already names a column.

    Args:
        row_id: the row-id column's name (None: no row ids, nothing to check).
        columns: the names it must not take.
        of: what those columns are, for the message (``"the points"``).
        option: the argument or CLI option that sets the name.

    Raises:
        RowIdError: ``row_id`` is empty or one of ``columns``.
    """
    if row_id is None:
        return
    if not row_id.strip():
        raise RowIdError(
            f"{option} is empty: give a column name for the row ids (default "
            f"{ROW_ID!r})."
        )
    if row_id in columns:
        raise RowIdError(
            f"The row-id column {row_id!r} would clash with the column {row_id!r} "
            f"of {of} ({', '.join(map(str, columns))}): wrt never overwrites or "
            f"renames your columns. Give {option} another name.",
            hint=f"Give {option} with a name that no column has.",
        )


def header(path: Path) -> list[str]:
    """A data file's column names, from its footer or first line."""
    if path.suffix.lower() in _PARQUET:
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    return [str(c) for c in pd.read_csv(path, nrows=0).columns]


def read(
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    row_id: str | None = ROW_ID,
) -> Any:
    """A Ray dataset of a Parquet or CSV file (or a folder of them), with row ids.

    The files are listed on the driver (Parquet row groups from the footers);
    every piece is read by a Ray task, which adds ``row_id``: the row's index in
    the input (0, 1, ... over the files in name order), int64. The dataset is
    lazy; nothing is read until it is consumed.

    Args:
        path: a ``.parquet``/``.csv`` file, or a folder of them (read in name
            order; names starting with ``.`` or ``_`` are skipped).
        columns: the columns to read (default: all).
        row_id: the row-id column's name; None for none.

    Returns:
        A ``ray.data.Dataset`` of the columns, then ``row_id``.

    Raises:
        DataError: no such file, or a folder without data files.
        RowIdError: ``row_id`` is empty or already a column of the points.
    """
    from wrt.distributed import _quiet, _ray

    paths = files(path)
    present = header(paths[0]) if columns is None else list(columns)
    check_row_id(row_id, present, of=f"the points in {path}")  # before Ray starts
    listed = pieces(paths)
    ray = _ray()
    records = [{"path": p.path, "group": p.group, "offset": p.offset} for p in listed]
    with _quiet():
        dataset = ray.data.from_items(records, override_num_blocks=len(records))
        return dataset.map_batches(
            functools.partial(read_pieces, columns=columns, row_id=row_id),
            batch_size=1,
            batch_format="pyarrow",
        )
