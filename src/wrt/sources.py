"""Points files read for streaming: checked first, then in chunks of exact size.

:func:`source_columns` checks a CSV or Parquet source before anything is computed
(not empty, has a column per input, has rows); :func:`read_chunks` yields it in
chunks of exactly ``size`` rows whatever the Parquet row groups (CSV as pandas
DataFrames, Parquet as Arrow tables of the inputs' columns: no pandas round trip).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wrt.data import check_csv_rows, csv_header
from wrt.errors import DataError


def count_rows(source: str | Path) -> int | None:
    """Rows of a Parquet file from its footer (None for CSV: unknown without a scan)."""
    source = Path(source)
    if source.suffix.lower() in (".parquet", ".pq"):
        return pq.ParquetFile(source).metadata.num_rows
    return None


def source_columns(source: Path, inputs: Sequence[str]) -> list[str]:
    """The source's columns, checked before anything is computed.

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
        raise DataError(f"Cannot read {source} as {kind}: {exc}.") from exc
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
    source: Path, size: int, inputs: Sequence[str]
) -> Generator[pd.DataFrame | pa.Table, None, None]:
    """The source in chunks of exactly ``size`` rows (the last may be shorter).

    A CSV file yields pandas DataFrames (every column, as pandas read them); a
    Parquet file yields Arrow tables of the inputs' columns only, zero-copy slices
    of the record batches where a chunk lies within one.

    Raises:
        DataError: the file cannot be read as CSV / Parquet, or a CSV row holds
            more values than the header has names.
    """
    if source.suffix.lower() == ".csv":
        yield from _csv_chunks(source, size)
    else:
        yield from _parquet_chunks(source, size, inputs)


def _csv_chunks(source: Path, size: int) -> Iterator[pd.DataFrame]:
    try:
        with pd.read_csv(source, chunksize=size) as reader:  # closed on any exit
            for number, chunk in enumerate(reader):
                check_csv_rows(chunk, source, number * size)
                yield chunk
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read {source} as CSV: {exc}.") from exc


def _parquet_chunks(
    source: Path, size: int, inputs: Sequence[str]
) -> Iterator[pa.Table]:
    try:
        file = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"Cannot read {source} as Parquet: {exc}.") from exc
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
        raise DataError(f"Cannot read {source} as Parquet: {exc}.") from exc
