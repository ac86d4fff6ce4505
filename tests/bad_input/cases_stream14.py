"""Bad input of streaming (issue 14): a Parquet file whose pages break mid-file.

The footer is intact, so the columns and rows check out before anything is
computed; the damage is met by the reader thread after some chunks are done. It
must reach the user as the same clear message as an unreadable file, never a
traceback or a hang, and the refused run leaves no parts behind (the API's
side is in tests/test_streaming.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bad_input.harness import Cli, model_file


def broken_parquet(folder: Path, rows: int = 1000, group: int = 100) -> Path:
    """A Parquet file of x1, x2 whose 7th row group's first page is zeroed."""
    rng = np.random.default_rng(0)
    table = pa.table({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})
    path = folder / "points.parquet"
    pq.write_table(table, path, row_group_size=group)
    column = pq.ParquetFile(path).metadata.row_group(6).column(0)
    data = bytearray(path.read_bytes())
    start, size = column.data_page_offset, column.total_compressed_size
    data[start + 20 : start + size - 4] = bytes(size - 24)
    path.write_bytes(bytes(data))
    return path


def _cli(folder: Path) -> list[str]:
    model, points = model_file(folder), broken_parquet(folder)
    return ["partials", str(model), str(points), "-d", "dy/dx1", "--chunk-size",
            "128", "-o", str(folder / "out.parquet")]  # fmt: skip


CASES = [
    Cli("stream-parquet-broken-mid-file", _cli, 2, r"Cannot read .* as Parquet"),
]
