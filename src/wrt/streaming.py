"""Partials of tables larger than memory: read in chunks, write as you go, resume.

:func:`partials_stream` reads the source (Parquet by record batches, CSV by
pandas chunks) in chunks of exactly ``chunk_size`` rows, computes the partials of
each chunk, and writes each chunk's output as its own part file, atomically (a
temporary name, then a rename), into ``<sink>.parts/``, and appends it, in order,
to the joined file growing beside them; when every chunk is done the joined file
is renamed to the sink and the folder is removed. Reading runs ahead in one
thread and writing behind in another (:mod:`wrt.pipeline`), overlapped with the
compute; memory stays bounded by a few chunks whatever the number of rows.

Before anything is computed, the sink is checked (:mod:`wrt.outputs`: never the
source, a writable file) and so is the source (not empty, has the inputs' columns,
has rows). An interrupted run (Ctrl-C, a kill, a crash) leaves its finished parts
and a manifest (:mod:`wrt.manifest`: the model's content hash, names, source,
specs, every option). ``resume=True`` checks the manifest against the new call,
skips the rows of the finished parts, and carries on; the joined file is
identical, byte for byte, to that of an uninterrupted run, because each part
depends only on its rows. A run refused for bad data removes the parts it
created; a new run never deletes an earlier run's parts unless ``overwrite``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wrt.chunks import Chunk, Part, Profile, Work, points, table
from wrt.data import kept_columns, with_missing
from wrt.derivatives import ModelLike, as_model
from wrt.engines.compiling import CompileOption
from wrt.errors import DataError, WrtError
from wrt.manifest import first_missing, model_hash, prepare_parts
from wrt.model import DTypeLike
from wrt.outputs import output_file
from wrt.pipeline import ReadAhead, WriteBehind
from wrt.sources import count_rows as count_rows  # re-exported: wrt.cli.partials
from wrt.sources import read_chunks, source_columns

STREAM_SUFFIXES = (".parquet", ".pq", ".csv")
COMPUTE_CHUNK = 16384


@dataclass(frozen=True)
class OptionNames:
    """How messages name the options: Python arguments, or the CLI's options."""

    sink: str = "sink"
    resume: str = "resume=True"
    restart: str = "overwrite=True (and resume=False)"


CLI_NAMES = OptionNames(sink="-o", resume="--resume", restart="--overwrite")


@dataclass(frozen=True)
class StreamSummary:
    """What a streaming run did.

    Attributes:
        rows: rows written in all.
        computed: rows computed by this call (fewer than ``rows`` when resumed).
        chunks: chunks in all.
        seconds: wall time of this call.
        sink: the output file.
        phases: seconds per phase, summed over the chunks: ``"read: decode"``,
            ``"read: to arrays"``, ``"check: NaN / Inf"`` (reader thread),
            ``"compute"``, ``"screen: NaN outputs"`` (main thread), ``"write"``
            (writer thread), ``"join"``. The threads overlap, so the phases may
            add up to more than ``seconds``.
        engine: the engine that computed the chunks (``"taylor (compiled)"``
            when compiled).
    """

    rows: int
    computed: int
    chunks: int
    seconds: float
    sink: Path
    phases: dict[str, float] = field(default_factory=dict)
    engine: str = ""


def partials_stream(
    model: ModelLike,
    source: str | Path,
    specs: Sequence[str],
    sink: str | Path,
    *,
    chunk_size: int = 65536,
    engine: str = "auto",
    dtype: DTypeLike = None,
    resume: bool = False,
    overwrite: bool = False,
    on_chunk: Callable[[int], None] | None = None,
    names: OptionNames = OptionNames(),
    keep: Sequence[str] = (),
    rename: Mapping[str, str] | None = None,
    compile: CompileOption = "auto",
) -> StreamSummary:
    """Compute ``specs`` at every row of ``source``; write them to ``sink`` in order.

    Args:
        model: a Model, torch module or model file.
        source: a Parquet or CSV file with a column per input (other columns are
            ignored).
        specs: the partials, as in :func:`wrt.partials`.
        sink: the output, ``.parquet`` or ``.csv``: the input columns, then one
            column per spec as written. Never the source, by any path.
        chunk_size: rows per chunk: bounds memory (and is part of the resume
            manifest: resume with the same value).
        engine: see :func:`wrt.partials`.
        dtype: see :func:`wrt.partials`.
        resume: continue an interrupted run from its finished parts; refused
            (:class:`~wrt.errors.ResumeError`) unless the model (content hash),
            names, source, specs and every option are those of the interrupted run.
        overwrite: whether an existing ``sink``, or the parts of an earlier
            interrupted run, may be replaced by a new run; False by default (an
            existing file is never lost unless asked), like ``wrt partials``'s
            ``--overwrite``.
        on_chunk: called with the rows of each finished chunk (progress).
        names: how messages name the options (``wrt partials`` passes
            :data:`CLI_NAMES`).
        keep: columns of the source copied into the sink after the inputs, row
            for row (ids, labels); from a CSV they are copied as text, as written.
        rename: old column name -> new name for the source's header (names are
            those after it: ``inputs``, ``keep``).
        compile: see :func:`wrt.partials`; with ``"auto"`` a long stream whose
            engine is Taylor compiles it once (its chunks all have one shape).

    Returns:
        A :class:`StreamSummary`.

    Raises:
        DataError: unknown suffixes, an empty source or one without the model's
            inputs, a ``keep`` name that is not a column of the source, NaN
            or Inf in a row (named with its row number in the whole file).
        ResumeError: a resume whose manifest does not match, or nothing to resume.
        OutputPathError: ``sink`` is the source, a folder, under a file, not
            writable, or exists and ``overwrite`` is False.
    """
    start = time.perf_counter()
    model = as_model(model).converted(dtype)
    source, sink = Path(source), Path(sink)
    for path, role in ((source, "input"), (sink, "output")):
        if path.suffix.lower() not in STREAM_SUFFIXES:
            raise DataError(
                f"Cannot stream {role} {path}: use .parquet or .csv (JSON is read and "
                "written whole; use wrt.partials for it)."
            )
    if chunk_size < 1:
        raise DataError(
            f"chunk_size must be a positive number of rows, not {chunk_size}."
        )
    if not source.is_file():
        raise DataError(f"No such points file: {source}. Check the path.")
    output_file(
        sink,
        option=names.sink,
        inputs=[source, _model_file(model)],
        overwrite=overwrite or resume,
        how_to_replace=names.restart,
    )
    columns = source_columns(source, model.inputs, rename)
    keep = kept_columns(columns, model.inputs, list(keep)) if keep else []
    specs = list(dict.fromkeys(specs))
    work = Work(
        model, specs, engine, count_rows(source), compile
    )  # bad specs: nothing made
    parts = parts_folder(sink)
    manifest = {
        "model": model_hash(model),
        "inputs": list(model.inputs),
        "outputs": list(model.outputs),
        "source": str(source.resolve()),
        "source_bytes": source.stat().st_size,
        "source_mtime_ns": source.stat().st_mtime_ns,
        "source_columns": columns,
        "chunk_size": chunk_size,
        "specs": specs,
        "engine": str(engine),
        "dtype": str(model.dtype),
        "format": sink.suffix.lower(),
        **({"keep": list(keep)} if keep else {}),
        **({"rename": dict(rename)} if rename else {}),
        "wrt_version": _version(),
    }
    new_folder = first_missing(sink.parent)
    done, created = prepare_parts(
        parts, sink, manifest, resume, overwrite, names.resume, names.restart
    )
    # computing a chunk holds the nested graphs of every layer; sub-chunks of 16384
    # rows cap that (measured, seed network, 2nd order: 985 -> 629 MiB peak RSS at
    # the same speed) while the files are still read and written in big chunks
    compute_chunk = min(chunk_size, work.compute_chunk or COMPUTE_CHUNK)
    profile = Profile()
    written = _Parts(parts, sink.suffix.lower(), done, on_chunk, profile)
    writer: WriteBehind[Part] = WriteBehind(written)
    reader: ReadAhead[Chunk | None] = ReadAhead(
        _chunks(source, chunk_size, model, done, profile, keep, rename)
    )
    computed = 0
    chunks = 0
    try:
        for index, chunk in enumerate(reader):
            chunks += 1
            if chunk is None:  # finished by the interrupted run
                continue
            part = work.compute(chunk, compute_chunk, profile)
            name = f"part-{index:08d}{sink.suffix.lower()}"
            writer.submit(part._replace(path=parts / name))
            computed += chunk.rows
        writer.finish()
        with profile.timed("join"):
            rows = written.close()
            _publish(written.joined, sink)
    except WrtError:
        # bad data or a bad request: the parts cannot be resumed to a result
        reader.close()
        writer.close()
        if created:
            shutil.rmtree(new_folder or parts, ignore_errors=True)
        raise
    finally:  # an interruption keeps the finished parts, never a half-written one
        reader.close()
        writer.close()
        written.abort()
        written.joined.unlink(missing_ok=True)
        for stale in parts.glob("*.tmp"):
            stale.unlink(missing_ok=True)
    shutil.rmtree(parts)
    seconds = time.perf_counter() - start
    return StreamSummary(
        rows, computed, chunks, seconds, sink, profile.seconds(), work.described()
    )


def parts_folder(sink: str | Path) -> Path:
    """The folder where a streamed run into ``sink`` keeps its finished parts."""
    sink = Path(sink)
    return sink.with_name(sink.name + ".parts")


def kept(sink: str | Path) -> tuple[int, int]:
    """What an interrupted run into ``sink`` kept: (finished parts, their rows)."""
    parts = parts_folder(sink)
    files = sorted(p for p in parts.glob("part-*") if not p.name.endswith(".tmp"))
    rows = 0
    for file in files:
        if file.suffix == ".csv":
            with file.open("rb") as handle:
                rows += max(sum(1 for _ in handle) - 1, 0)
        else:
            rows += pq.ParquetFile(file).metadata.num_rows
    return len(files), rows


def _model_file(model) -> Path | None:
    source = Path(str(model.source))
    return source if model.source not in ("module", "") and source.is_file() else None


def _version() -> str:
    from wrt import __version__

    return __version__


def _chunks(
    source: Path,
    size: int,
    model,
    done: int,
    profile: Profile,
    keep: Sequence[str] = (),
    rename: Mapping[str, str] | None = None,
) -> Iterator[Chunk | None]:
    """The source's chunks, read and checked; None for the first ``done`` ones."""
    reading = read_chunks(source, size, model.inputs, keep, rename)
    try:
        for index in itertools.count():
            with profile.timed("read: decode"):
                chunk = next(reading, None)
            if chunk is None:
                return
            if index < done:  # its part is kept: not converted, not checked
                yield None
            else:
                yield points(
                    chunk, model.inputs, model, index * size, profile, keep, source
                )
    finally:
        reading.close()


class _Parts:
    """The writer thread's work: each part's file, the joined file, ``on_chunk``.

    The joined file grows in the parts folder (``joining<suffix>``) as the parts
    are written, in order, so no pass at the end reads them again; it becomes the
    sink by one rename (:func:`_publish`). A resumed run first appends the parts
    the interrupted run kept (it starts the joined file afresh). Ctrl-C or an
    error removes it; after a kill it stays in the parts folder until the next
    run replaces it.

    Args:
        parts: the parts folder.
        suffix: ``.parquet`` / ``.pq`` or ``.csv``.
        kept: parts the interrupted run finished (numbered from 0).
        on_chunk: called with each part's rows once it is written.
        profile: where ``write`` and ``join`` are timed.
    """

    def __init__(
        self,
        parts: Path,
        suffix: str,
        kept: int,
        on_chunk: Callable[[int], None] | None,
        profile: Profile,
    ) -> None:
        self.parts, self.suffix = parts, suffix
        self.joined = parts / f"joining{suffix}"
        self.kept = kept
        self.on_chunk = on_chunk
        self.profile = profile
        self.schema: pa.Schema | None = None
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._csv: BinaryIO | None = None
        self._started = False

    def __call__(self, part: Part) -> None:
        self._start()
        rows = len(next(iter(part.columns.values())))
        arrow = None
        with self.profile.timed("write"):
            if self.suffix == ".csv":
                _write_part(pd.DataFrame(part.columns), part.path)
            else:
                arrow = table(part, self.schema)
                self.schema = arrow.schema
                _write_part(arrow, part.path)
        with self.profile.timed("join"):
            if arrow is None:
                self._append_csv(part.path)
            else:
                self._append_parquet(arrow)
        if self.on_chunk is not None:
            self.on_chunk(rows)

    def _start(self) -> None:
        """Open the joined file and append the kept parts (once)."""
        if self._started:
            return
        self._started = True
        if self.suffix == ".csv":
            self._csv = self.joined.open("wb")
        with self.profile.timed("join"):
            for number in range(self.kept):
                path = self.parts / f"part-{number:08d}{self.suffix}"
                if self.suffix == ".csv":
                    self._append_csv(path)
                else:
                    self._append_parquet(pq.read_table(path))

    def _append_parquet(self, arrow: pa.Table) -> None:
        if self._parquet is None:  # pyarrow's defaults, as the sink always had
            self._parquet = pq.ParquetWriter(self.joined, arrow.schema)
        self._parquet.write_table(arrow)
        self.rows += arrow.num_rows

    def _append_csv(self, path: Path) -> None:
        assert self._csv is not None
        with path.open("rb") as part:
            header = part.readline()
            if not self._csv.tell():
                self._csv.write(header)  # the header, written once
            for line in part:
                self._csv.write(line)
                self.rows += 1

    def close(self) -> int:
        """Finish the joined file (after the last part); its rows."""
        self._start()  # a resume with every part kept: only the kept ones
        self.abort()
        return self.rows

    def abort(self) -> None:
        """Close the joined file where it stands (the caller removes it)."""
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._csv is not None:
            self._csv.close()
            self._csv = None


def _publish(joined: Path, sink: Path) -> None:
    """The joined file becomes the sink: one atomic rename, the old sink replaced."""
    os.replace(joined, sink)


def _write_part(part: pd.DataFrame | pa.Table, path: Path) -> None:
    """Write one part atomically: a temporary file, then a rename.

    A CSV part is a DataFrame (NaN and Inf written as empty cells); a Parquet part
    an Arrow table (nulls already in place), written uncompressed and without
    dictionaries: parts are read once, by the join, which writes the sink with
    pyarrow's defaults.
    """
    temporary = path.with_name(path.name + ".tmp")
    if isinstance(part, pd.DataFrame):
        with_missing(part).to_csv(temporary, index=False)
    else:
        pq.write_table(part, temporary, compression="none", use_dictionary=False)
    os.replace(temporary, path)
