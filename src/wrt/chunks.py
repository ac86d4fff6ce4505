"""One streamed chunk: its points read and checked, its partials computed, its part.

:func:`wrt.partials_stream` moves each chunk through three steps, each timed in a
:class:`Profile`:

- :func:`points` (reader thread): the chunk's input columns as float64 NumPy
  columns and the model's points tensor. Float Parquet columns without nulls go
  Arrow -> NumPy -> torch without pandas, checked for NaN / Inf with one fused
  reduction; anything else (a CSV chunk, integer or null cells, a failed check)
  goes through :func:`wrt.data.as_points`, which gives today's messages.
- :meth:`Work.compute` (main thread): the engine layer (:func:`wrt.engines.run`)
  on the chunk, the request parsed and the engine chosen once per run; the
  outputs' values screen the partials as in :func:`wrt.partials` (one fused
  finiteness check first: :func:`wrt.nonfinite.screen` runs only when something
  is NaN or Inf).
- :func:`table` (writer thread): the part, as an Arrow table (Parquet) or a
  DataFrame (CSV) with the same columns, types and missing values as the frame
  :func:`wrt.partials` and pandas would give.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from wrt.data import as_points
from wrt.derivatives import _parse_all
from wrt.engines.base import Engine, Request
from wrt.engines.choose import resolve
from wrt.engines.compiling import CompileOption, compile_mode, refuse_ignored
from wrt.engines.run import run
from wrt.engines.taylor.engine import TaylorEngine
from wrt.errors import (
    CompileWarning,
    DataError,
    NonFiniteWarning,
    WrtError,
    caller_level,
)
from wrt.model import Model
from wrt.nonfinite import screen, warning_text
from wrt.spec import Partial

#: A streamed run compiles its engine (``engine="auto"``) from this many rows on;
#: below, the compile time (seconds) is not repaid.
COMPILE_ROWS = 2_000_000


class Chunk(NamedTuple):
    """One chunk of the source, read and checked.

    Attributes:
        first_row: its first row in the whole file (0-based).
        columns: the input columns as read, float64, (rows,) each.
        x: the points for the model, (rows, n_in), the model's dtype and device.
        kept: the pass-through columns (``keep``), as pandas Series (index 0..).
    """

    first_row: int
    columns: list[np.ndarray]
    x: torch.Tensor
    kept: dict[str, pd.Series] = {}

    @property
    def rows(self) -> int:
        """Rows in the chunk."""
        return int(self.x.shape[0])


class Part(NamedTuple):
    """One computed chunk on its way to its part file.

    Attributes:
        columns: the input columns (float64), the pass-through columns (pandas
            Series), then one per spec as written.
        path: the part file.
    """

    columns: dict[str, Any]
    path: Path


class Profile:
    """Seconds spent in each phase of a streamed run, summed over the chunks.

    Phases run in different threads (reading and checking in the reader, compute
    in the main thread, writing in the writer), so they overlap: their sum may
    exceed the wall time.
    """

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the wall time of the block to ``phase``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            with self._lock:
                self._seconds[phase] = self._seconds.get(phase, 0.0) + spent

    def seconds(self) -> dict[str, float]:
        """Phase -> seconds, in the order the phases were first met."""
        with self._lock:
            return dict(self._seconds)


def points(
    chunk: pd.DataFrame | pa.Table,
    inputs: Sequence[str],
    model: Model,
    first_row: int,
    profile: Profile,
    keep: Sequence[str] = (),
    source: Path | None = None,
) -> Chunk:
    """The chunk's input columns and points, checked (see the module's text).

    ``keep`` columns ride along (from a CSV as text); ``source`` names the file in
    messages.

    Raises:
        DataError: a non-numeric column, NaN or Inf, a value beyond the model's
            dtype; named with its row in the whole file.
    """
    with profile.timed("read: to arrays"):
        columns = _float_columns(chunk, inputs)
        kept = _kept(chunk, keep)
    if columns is not None:
        with profile.timed("check: NaN / Inf"):
            x = torch.from_numpy(np.stack(columns, axis=1)).to(
                dtype=model.dtype or torch.float64, device=model.device
            )
            if bool(torch.isfinite(x).all()):  # one fused pass, both checks
                return Chunk(first_row, columns, x, kept)
    # the general route: today's messages (and conversions) for everything else
    frame = chunk.to_pandas() if isinstance(chunk, pa.Table) else chunk
    try:  # rows named as rows of the file, not of the chunk
        x = as_points(
            frame,
            inputs,
            dtype=model.dtype,
            device=model.device,
            first_row=first_row,
        )
    except DataError as exc:
        where = f"{source}: " if source is not None else ""
        raise DataError(f"{where}{exc}", hint=exc.hint) from exc
    # every part has one schema: inputs as the float64 values evaluated at
    return Chunk(
        first_row,
        [frame[name].to_numpy(dtype=np.float64) for name in inputs],
        x,
        kept,
    )


def _kept(chunk: pd.DataFrame | pa.Table, keep: Sequence[str]) -> dict[str, pd.Series]:
    """The pass-through columns of a chunk: a CSV's as text, a Parquet's typed.

    Text gives every chunk of a CSV one schema whatever its cells; a Parquet
    source's types are its schema's already.
    """
    if isinstance(chunk, pa.Table):
        return {n: chunk.column(n).to_pandas().reset_index(drop=True) for n in keep}
    return {
        n: cast(pd.Series, chunk[n]).astype("string").reset_index(drop=True)
        for n in keep
    }


def _float_columns(
    chunk: pd.DataFrame | pa.Table, inputs: Sequence[str]
) -> list[np.ndarray] | None:
    """Float64 columns of an Arrow chunk of float columns without nulls; else None."""
    if not isinstance(chunk, pa.Table):
        return None
    arrays = [chunk.column(name) for name in inputs]
    if any(not pa.types.is_floating(a.type) or a.null_count for a in arrays):
        return None
    return [a.to_numpy().astype(np.float64, copy=False) for a in arrays]


class Work:
    """The request of a streamed run, parsed once, and the engine that computes it.

    Args:
        model: the model (already converted to its dtype).
        specs: the partials, as written.
        engine: as given to :func:`wrt.partials_stream`.
        rows: rows in the source (None when unknown: a CSV file).
        compile: the compile option, as given to :func:`wrt.partials_stream`.
    """

    def __init__(
        self,
        model: Model,
        specs: Sequence[str],
        engine: str,
        rows: int | None,
        compile: CompileOption = "auto",
    ) -> None:
        self.model = model
        self.requested = _parse_all(list(specs), model)
        asked = tuple(dict.fromkeys(p for _, p in self.requested))
        values_of = tuple(Partial(o) for o in model.outputs)
        self.asked = asked
        self.request = Request(tuple(dict.fromkeys(asked + values_of)))
        self.given = engine
        self.compile = compile_mode(compile)  # EngineError: a bad value
        self.engine, self.compute_chunk = stream_engine(
            engine, model, self.request, rows, self.compile
        )
        self.fixed = self.compute_chunk is not None

    def compute(self, chunk: Chunk, size: int, profile: Profile) -> Part:
        """The chunk's partials (screened) as a :class:`Part` (its path unset).

        With a compiled engine every call has ``size`` rows (the last chunk is
        padded with copies of its last row, cut off again), so it compiles once.
        """
        x, n = chunk.x, chunk.rows
        if self.fixed and n % size:
            x = torch.cat([x, x[-1:].expand(size - n % size, -1)])
        with profile.timed("compute"):
            try:
                computed = run(self.engine, self.model, x, self.request, size)
            except (WrtError, KeyboardInterrupt):
                raise
            except Exception as exc:  # a compiler failure: eager, and say so
                if not self.fixed:
                    raise
                self._eager(exc)
                return self.compute(chunk, size, profile)
        with profile.timed("screen: NaN outputs"):
            values = {p: computed.values[p][:n] for p in self.request.partials}
            outputs = {o: values[Partial(o)] for o in self.model.outputs}
            asked = {p: values[p] for p in self.asked}
            masked, gaps = asked, []
            if not bool(torch.isfinite(torch.stack(list(values.values()))).all()):
                masked, gaps = screen(
                    asked, outputs, chunk.x, self.model.inputs, chunk.first_row
                )
            if gaps:
                warnings.warn(
                    warning_text(gaps), NonFiniteWarning, stacklevel=caller_level()
                )
            columns: dict[str, Any] = dict(
                zip(self.model.inputs, chunk.columns, strict=True)
            )
            columns.update(chunk.kept)
            for text, partial in self.requested:
                columns[text] = masked[partial].detach().cpu().numpy()
        return Part(columns, Path())

    def described(self) -> str:
        """The engine's name, and whether it is compiled."""
        from wrt.engines.compiling import Program

        programs = self.model.cache.programs.values()
        compiled = getattr(self.engine, "compile", "off") != "off" and any(
            isinstance(program, Program) for program in programs
        )
        return self.engine.name + (" (compiled)" if compiled else "")

    def _eager(self, exc: Exception) -> None:
        warnings.warn(
            f"Compiling the {self.engine.name} engine failed "
            f"({type(exc).__name__}: {_first_line(exc)}); "
            "the stream continues uncompiled.",
            CompileWarning,
            stacklevel=caller_level(),
        )
        self.engine = resolve(self.given, self.model, self.request, compile=False)
        self.fixed, self.compute_chunk = False, None


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else "no message"


# THE STREAM'S ENGINE CHOICE: the one place a streamed run picks its engine and
# whether it is compiled.
def stream_engine(
    engine: str | Engine,
    model: Model,
    request: Request,
    rows: int | None,
    compile: CompileOption = "auto",
) -> tuple[Engine, int | None]:
    """The engine of a streamed run, and its fixed rows per call (None: any).

    ``engine="auto"`` on a source of at least :data:`COMPILE_ROWS` rows for which
    ``auto`` takes the Taylor engine (third and higher orders on most models)
    takes it compiled (:class:`~wrt.engines.taylor.engine.TaylorEngine` with
    ``compile=True``): the stream's chunks all have one shape, so it compiles
    once. Where ``auto`` takes reverse mode (first and second order), it stays:
    measured on the seed network (CPU seconds per row, one thread), the compiled
    Taylor engine costs 2.3 us against autograd's 1.4 us at first order and 4.6
    us against 3.8 us at second order. ``compile=True`` compiles the Taylor
    engine whatever the rows; ``compile=False`` never compiles. Anything else is
    resolved as :func:`wrt.partials` does (a Taylor engine with ``"auto"`` then
    compiles by its own rule, :mod:`wrt.engines.compiling`).
    """
    compile = refuse_ignored(engine, compile)
    chosen = resolve(engine, model, request, compile)
    long_enough = compile == "on" or (rows is not None and rows >= COMPILE_ROWS)
    if (
        engine in ("auto", "taylor")
        and compile != "off"
        and long_enough
        and isinstance(chosen, TaylorEngine)
        and model.device.type == "cpu"
    ):
        return TaylorEngine(compile=True), COMPILE_CHUNK
    return chosen, None


#: Rows per compiled call (one shape: compiled once).
COMPILE_CHUNK = 8192


def table(part: Part, schema: pa.Schema | None) -> pa.Table:
    """The part as an Arrow table; NaN and Inf as nulls (:func:`wrt.data.with_missing`).

    Args:
        part: the part.
        schema: the schema of every part (the one pandas gives the first part's
            frame, metadata included); None: the first part, inferred.
    """
    if schema is None:
        schema = pa.Schema.from_pandas(
            pd.DataFrame({k: v[:0] for k, v in part.columns.items()}),
            preserve_index=False,
        )
    arrays = []
    fields = list(schema)  # type: ignore[arg-type]
    for field, values in zip(fields, part.columns.values(), strict=True):
        if isinstance(values, pd.Series):  # a pass-through column, as typed
            arrays.append(pa.Array.from_pandas(values).cast(field.type))
            continue
        bad = ~np.isfinite(values)
        arrays.append(pa.array(values, mask=bad if bad.any() else None))
    return pa.Table.from_arrays(arrays, schema=schema)
