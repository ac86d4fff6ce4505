"""Points files read for streaming: checked first, then in chunks of exact size.

:func:`source_columns` checks a CSV or Parquet source before anything is computed
(not empty, has a column per input, has rows); :func:`read_chunks` yields it in
chunks of exactly ``size`` rows whatever the Parquet row groups (CSV as pandas
DataFrames, Parquet as Arrow tables of the inputs' columns: no pandas round trip).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wrt.data import check_csv_rows, csv_header, renamed
from wrt.errors import DataError


def count_rows(source: str | Path) -> int | None:
    """Rows of a Parquet file from its footer (None for CSV: unknown without a scan)."""
    source = Path(source)
    if source.suffix.lower() in (".parquet", ".pq"):
        return pq.ParquetFile(source).metadata.num_rows
    return None


def source_columns(
    source: Path, inputs: Sequence[str], rename: Mapping[str, str] | None = None
) -> list[str]:
    """The source's columns (after ``rename``), checked before anything is computed.

    Raises:
        DataError: the file is empty (no header), unreadable, has no rows, or
            lacks a column for some input.
    """
    suffix = source.suffix.lower()
    if source.stat().st_size == 0:
        raise DataError(
            f"{source} is empty (0 bytes): no header, no rows. Give a file with a "
            f"header naming the inputs ({', '.join(inputs)}) and one row per point."
        )
    try:
        if suffix == ".csv":
            csv_header(source)
            head = pd.read_csv(source, nrows=1)
            check_csv_rows(head, source)
            columns, rows = [str(c) for c in head.columns], len(head)
        else:
            meta = pq.ParquetFile(source)
            columns, rows = list(meta.schema_arrow.names), meta.metadata.num_rows
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            pa.ArrowInvalid, OSError) as exc:  # fmt: skip
        kind = "CSV" if suffix == ".csv" else "Parquet"
        raise DataError(f"Cannot read {source} as {kind}: {_sentence(exc)}") from exc
    columns = renamed(columns, rename)
    missing = [name for name in inputs if name not in columns]
    if missing:
        raise DataError(
            f"{source} has no column {', '.join(repr(m) for m in missing)}; its "
            f"columns are {', '.join(columns) or 'none'}. Name the columns after the "
            "model's inputs, or name the inputs after the columns (--inputs)."
        )
    if rows == 0:
        raise DataError(
            f"{source} has the columns but no rows: nothing to compute. Give a file "
            "with one row per point."
        )
    return columns


def read_chunks(
    source: Path,
    size: int,
    inputs: Sequence[str],
    keep: Sequence[str] = (),
    rename: Mapping[str, str] | None = None,
) -> Generator[pd.DataFrame | pa.Table, None, None]:
    """The source in chunks of exactly ``size`` rows (the last may be shorter).

    A CSV file yields pandas DataFrames (every column, as pandas read them; the
    ``keep`` columns as text, as written); a Parquet file yields Arrow tables of
    the inputs' and ``keep`` columns only, zero-copy slices of the record batches
    where a chunk lies within one. Column names are those after ``rename``
    (old -> new).

    Raises:
        DataError: the file cannot be read as CSV / Parquet, or a CSV row holds
            more values than the header has names.
    """
    back = {new: old for old, new in (rename or {}).items()}
    if source.suffix.lower() == ".csv":
        for chunk in _csv_chunks(source, size, [back.get(n, n) for n in keep]):
            yield chunk.rename(columns=dict(rename)) if rename else chunk
    else:
        wanted = [back.get(n, n) for n in [*inputs, *keep]]
        for table in _parquet_chunks(source, size, wanted):
            yield (
                table.rename_columns([rename.get(n, n) for n in table.column_names])
                if rename
                else table
            )


def _csv_chunks(
    source: Path, size: int, text: Sequence[str] = ()
) -> Iterator[pd.DataFrame]:
    as_text: dict[Any, Any] = dict.fromkeys(text, "str")
    try:
        with pd.read_csv(source, chunksize=size, dtype=as_text) as reader:
            for number, chunk in enumerate(reader):  # closed on any exit
                check_csv_rows(chunk, source, number * size)
                yield chunk
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read {source} as CSV: {_sentence(exc)}") from exc


def _parquet_chunks(
    source: Path, size: int, inputs: Sequence[str]
) -> Iterator[pa.Table]:
    try:
        file = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"Cannot read {source} as Parquet: {_sentence(exc)}") from exc
    names = file.schema_arrow.names
    columns = [name for name in inputs if name in names] or None
    pending: list[pa.RecordBatch] = []
    held = 0
    try:
        for batch in file.iter_batches(batch_size=size, columns=columns):
            pending.append(batch)
            held += batch.num_rows
            while held >= size:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, size)
                rest = table.slice(size)
                pending, held = rest.to_batches(), rest.num_rows
        if held:
            yield pa.Table.from_batches(pending)
    except (pa.ArrowInvalid, OSError) as exc:  # a corrupt page, met mid-file
        raise DataError(f"Cannot read {source} as Parquet: {_sentence(exc)}") from exc


def _sentence(exc: BaseException) -> str:
    """``exc``'s message ending with one period (Arrow's often end with one)."""
    return f"{str(exc).strip().rstrip('.')}."
