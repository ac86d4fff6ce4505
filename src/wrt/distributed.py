"""Partials over a Ray dataset: the same job on many machines (optional: ``wrt[ray]``).

:func:`partials` maps a pool of actors over the dataset's batches: each actor
builds the model once (from a file path it loads itself, or from the model object
Ray ships to it) and computes the partials of every batch it is given
(``map_batches``); the result is a Ray dataset with the input columns and one
column per spec, in the input's order (``preserve_order``), so a run on a cluster
writes the same file as a local one.

:func:`write` streams the result into one Parquet or CSV file through the driver;
:func:`write_folder` has the workers write a folder of Parquet files themselves
(``part-000000.parquet``, ``part-000001.parquet``, ... in row order), so no batch
travels through the driver: on a cluster the folder must be on storage that every
node sees (a shared file system).

Without an address, :func:`connect` starts a local Ray instance (what the tests and
``wrt partials --ray`` on one machine use). On a cluster, start Ray there
(``ray start --head`` on one node, ``ray start --address=HEAD:6379`` on the
others) and pass the head's address (``--ray-address HEAD:6379`` or
``connect("HEAD:6379")``); the workers must have wrt installed and see the model
file at the same path (or be given the model object).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pandas as pd

from wrt import distributed_read
from wrt.distributed_read import ROW_ID, check_row_id
from wrt.errors import DataError, OutputPathError
from wrt.outputs import atomic_write


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Ray's own deprecation and resource notices are not the user's business."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="ray")
        yield


def _ray():
    try:
        with _quiet():
            import ray
            import ray.data  # noqa: F401 - Ray Data, not only the core
    except ImportError:
        raise DataError(
            "Ray is not installed: pip install 'wrt[ray]' (or pip install 'ray[data]')."
        ) from None
    return ray


def connect(
    address: str | None = None, num_cpus: int | None = None, verbose: bool = True
) -> None:
    """Join the Ray cluster at ``address``, or start a local one (once per process).

    Ray stays up, for the process, until ``ray.shutdown()``; :func:`session` is the
    scoped form, which also undoes what Ray changes in the process.

    Args:
        address: the head's address (``HEAD:6379``); None starts a local instance.
        num_cpus: CPUs of a local instance (None: all).
        verbose: False keeps Ray's Python loggers quiet: only their errors, none
            of their INFO lines (lines of its C++ core are Ray's to control).
    """
    ray = _ray()
    if ray.is_initialized():
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if not verbose:
        options["logging_level"] = logging.ERROR
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)
    with _quiet():
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=num_cpus, **options)


@contextlib.contextmanager
def session(
    address: str | None = None, num_cpus: int | None = None, verbose: bool = True
) -> Iterator[None]:
    """Ray for the length of a ``with`` block, leaving the process as it found it.

    Joins the cluster at ``address`` (or starts a local instance) unless Ray is
    already initialised; on leaving, shuts down what it started and restores what
    Ray changes in the process: environment variables (Ray sets some, e.g.
    ``RAY_USAGE_STATS_ENABLED``, ``PYTHONBREAKPOINT``) and the handlers, levels and
    propagation of the ``ray`` loggers and the root logger. ``wrt partials --ray``
    runs in one (quiet unless ``--verbose``).

    Args:
        address: the head of a running cluster, ``"HOST:6379"``; None starts a
            local instance.
        num_cpus: CPUs of the local instance (default: all); ignored with
            ``address``.
        verbose: as for :func:`connect`.

    Yields:
        Nothing: Ray is up inside the block.
    """
    environment = dict(os.environ)
    loggers = _logger_state()
    ray = _ray()
    started = not ray.is_initialized()
    try:
        connect(address, num_cpus, verbose)
        yield
    finally:
        if started and ray.is_initialized():
            with _quiet():
                ray.shutdown()
        _restore_loggers(loggers)
        for key in [k for k in os.environ if k not in environment]:
            del os.environ[key]
        for key, value in environment.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


_LoggerState = tuple[list[logging.Handler], int, bool]


def _ray_loggers() -> list[str]:
    names = logging.root.manager.loggerDict
    return ["", *(n for n in names if n == "ray" or n.startswith("ray."))]


def _logger_state() -> dict[str, _LoggerState]:
    state = {}
    for name in _ray_loggers():
        logger = logging.getLogger(name)
        state[name] = (list(logger.handlers), logger.level, logger.propagate)
    return state


def _restore_loggers(saved: dict[str, _LoggerState]) -> None:
    default: _LoggerState = ([], logging.NOTSET, True)
    for name in _ray_loggers():
        logger = logging.getLogger(name)
        handlers, level, propagate = saved.get(name, default)
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
            handler.close()
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


class _Worker:
    """One actor: the model, built once; partials of each batch."""

    def __init__(self, model: Any, specs: Sequence[str], options: dict) -> None:
        import torch

        from wrt.derivatives import as_model

        torch.set_num_threads(options.pop("threads", 1))
        load = options.pop("load", {})
        if isinstance(model, (str, Path)):
            from wrt.importers import load as load_file

            model = load_file(model, **load)
        self.model = as_model(model).converted(options.pop("dtype", None))
        self.row_id = options.pop("row_id", None)
        self.specs = list(specs)
        self.options = options

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from wrt.derivatives import partials

        inputs = _numpy_columns(cast(pd.DataFrame, batch[list(self.model.inputs)]))
        result = partials(self.model, inputs, self.specs, **self.options)
        parts = [inputs, result.to_frame()]
        if self.row_id is not None and self.row_id in batch.columns:
            rows = batch[self.row_id].to_numpy().astype("int64", copy=False)
            parts.insert(0, pd.DataFrame({self.row_id: rows}))
        return pd.concat(parts, axis=1)


def partials(
    dataset: Any,
    model: Any,
    specs: Sequence[str],
    *,
    batch_size: int = 65536,
    concurrency: int | None = None,
    num_cpus: float = 1.0,
    engine: str = "auto",
    dtype: Any = None,
    load_options: dict | None = None,
    row_id: str | None = ROW_ID,
) -> Any:
    """The partials of every row of a Ray dataset, as a Ray dataset (lazy).

    Args:
        dataset: a ``ray.data.Dataset`` with a column per model input, or the
            path of a Parquet/CSV file or folder (read by :func:`read`, which
            adds the row ids).
        model: a model file path (each actor loads it) or a Model / module.
        specs: the partials, as in :func:`wrt.partials`.
        batch_size: rows per batch given to an actor.
        concurrency: actors in the pool (default: the cluster's CPUs less one,
            at least one: reading the files needs a CPU too, or the pipeline
            stalls with every CPU held by an idle actor).
        num_cpus: CPUs each actor reserves (and torch threads it uses); below 1
            packs several actors on a core.
        engine: see :func:`wrt.partials`.
        dtype: see :func:`wrt.partials`.
        load_options: for a path: ``inputs``, ``outputs``, ``module``, ...
        row_id: the row-id column: a dataset column of this name (as
            :func:`read` adds) is carried to the result, first; None drops it.

    Returns:
        A dataset with the row ids (when the input has them), the input columns
        and one column per spec, in row order.

    Raises:
        RowIdError: ``row_id`` is empty or the name of a spec.
    """
    ray = _ray()
    check_row_id(row_id, list(specs), of="the specs")
    if isinstance(dataset, (str, Path)):
        dataset = read(dataset, row_id=row_id)
    with _quiet():
        # the options go on a copy of the dataset's own context: neither Ray's
        # process-wide context nor the caller's dataset is changed
        dataset = ray.data.Dataset.copy(dataset, _deep_copy=True)
        dataset.context.execution_options.preserve_order = True
        dataset.context.enable_progress_bars = False
        cpus = int(ray.cluster_resources().get("CPU", 1))
        workers = concurrency or max(1, cpus - 1)
        options = {
            "engine": engine,
            "dtype": dtype,
            "load": dict(load_options or {}),
            "threads": max(1, int(num_cpus)),
            "row_id": row_id,
        }
        return dataset.map_batches(
            _Worker,
            fn_constructor_args=(model, list(specs), options),
            batch_size=batch_size,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=num_cpus,
        )


def write_partials(
    model: Any,
    points: str | Path,
    specs: Sequence[str],
    output: str | Path,
    *,
    address: str | None = None,
    row_id: str | None = ROW_ID,
    verbose: bool = False,
    **options: Any,
) -> int:
    """Read, compute and write on Ray in one call; the number of rows written.

    The job of ``wrt partials MODEL POINTS -d ... -o OUTPUT --ray``: joins the
    cluster at ``address`` (or starts a local Ray instance) for the length of the
    call, reads ``points`` with row ids (:func:`read`), maps the actors over it
    (:func:`partials`) and writes ``output``: a folder (a name without a suffix,
    or an existing folder) is written by the workers (:func:`write_folder`); a
    ``.parquet``/``.csv`` file goes through the driver (:func:`write`).

    Args:
        model: a model file path (each actor loads it) or a Model / module.
        points: a Parquet/CSV file or folder of them.
        specs: the partials, as in :func:`wrt.partials`.
        output: a folder, or a ``.parquet``/``.csv`` file.
        address: the Ray cluster's head (``HEAD:6379``); None: a local instance
            (or the Ray session already started in this process).
        row_id: the row-id column's name in the output (int64, the row's index in
            ``points``); None for none. Drop it when reading back with
            ``pandas.read_parquet(output).drop(columns="row")``.
        verbose: let Ray's INFO lines through (as for :func:`connect`).
        **options: for :func:`partials` (``batch_size``, ``concurrency``,
            ``num_cpus``, ``engine``, ``dtype``, ``load_options``).

    Returns:
        The number of rows written.

    Raises:
        OutputPathError: ``output`` is a folder with files in it.
        RowIdError: ``row_id`` is empty or the name of an input or spec.
        DataError: ``points`` is missing, or Ray is not installed.
    """
    output = Path(output)
    with session(address, verbose=verbose):
        dataset = partials(read(points, row_id=row_id), model, specs, row_id=row_id,
                           **options)  # fmt: skip
        if output.is_dir() or output.suffix == "":
            return write_folder(dataset, output)
        return write(dataset, output, batch_size=options.get("batch_size", 65536))


def read(
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    row_id: str | None = ROW_ID,
) -> Any:
    """A Ray dataset of a Parquet or CSV file (or folder of them), with row ids.

    See :func:`wrt.distributed_read.read`: the pieces are read by Ray tasks, each
    row tagged with its index in the input (``row_id``, int64; None for none).

    Args:
        path: a ``.csv`` file, or a Parquet file or folder (or a folder of CSVs).
        columns: the columns to read (None: all).
        row_id: the row-id column's name; None for none.

    Returns:
        A lazy ``ray.data.Dataset``.

    Raises:
        DataError: no such file, a folder without data files, or Ray missing.
        RowIdError: ``row_id`` is empty or already a column of the input.
    """
    return distributed_read.read(path, columns=columns, row_id=row_id)


def write(dataset: Any, sink: str | Path, batch_size: int = 65536) -> int:
    """Stream a dataset into one Parquet or CSV file, in order; the number of rows.

    Args:
        dataset: a Ray dataset (e.g. from :func:`partials`).
        sink: the file; ``.csv`` writes CSV, anything else Parquet. Written under a
            temporary name and renamed, so a failure leaves no partial file.
        batch_size: rows per batch pulled through the driver.

    Returns:
        The number of rows written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = Path(sink)
    rows = 0

    def write_all(temporary: Path) -> None:
        nonlocal rows
        writer = None
        first = True
        with _quiet():
            batches = list_batches(dataset, batch_size)
        try:
            for batch in batches:
                batch = _numpy_columns(batch)
                rows += len(batch)
                if sink.suffix.lower() == ".csv":
                    batch.to_csv(
                        temporary,
                        index=False,
                        mode="w" if first else "a",
                        header=first,
                    )
                else:
                    table = pa.Table.from_pandas(batch, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(temporary, table.schema)
                    writer.write_table(table)
                first = False
        finally:
            if writer is not None:
                writer.close()

    atomic_write(sink, write_all)
    return rows


def write_folder(dataset: Any, folder: str | Path) -> int:
    """The workers write the dataset as a folder of Parquet files; the row count.

    Each write task writes ``part-<task>.parquet`` (six digits); with the order
    kept (:func:`partials` keeps it), the files in name order hold the rows in the
    input's order, so ``pandas.read_parquet(folder)`` or any Parquet reader gives
    the same table as a local run. The files are written into a temporary folder
    beside ``folder`` and moved into place when all are written: an interrupted
    run leaves no partial folder.

    Args:
        dataset: a Ray dataset (e.g. from :func:`partials`).
        folder: the output folder; it must not exist or be empty. On a cluster, a
            path every node can write to.

    Returns:
        The number of rows written.

    Raises:
        OutputPathError: ``folder`` is a file or a folder with files in it.
    """
    import pyarrow.parquet as pq

    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "a folder with files in it" if folder.is_dir() else "a file"
        raise OutputPathError(
            f"{folder} is {what}; the Parquet files go into a new or empty folder. "
            "Give another name."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    try:
        from ray.data import SaveMode

        with _quiet():  # the temporary folder is wrt's own: OVERWRITE replaces nothing
            dataset.write_parquet(
                str(temporary), filename_provider=_parts(), mode=SaveMode.OVERWRITE
            )
        parts = sorted(temporary.glob("part-*.parquet"), key=_part_number)
        rows = sum(pq.ParquetFile(part).metadata.num_rows for part in parts)
        for number, part in enumerate(parts):  # Ray adds -<file> per task: renumber
            part.rename(temporary / f".part-{number:06d}.parquet")
        for number in range(len(parts)):
            hidden = temporary / f".part-{number:06d}.parquet"
            hidden.rename(temporary / f"part-{number:06d}.parquet")
        if folder.exists():
            folder.rmdir()  # empty: checked above
        os.replace(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return rows


def _part_number(path: Path) -> tuple[int, ...]:
    """``part-000003-1.parquet`` -> (3, 1): files in the order Ray wrote them."""
    return tuple(int(n) for n in path.stem.removeprefix("part-").split("-"))


def _parts() -> Any:
    """Ray's file names for :func:`write_folder`: ``part-<task index>.parquet``."""
    from ray.data.datasource import FilenameProvider

    class Parts(FilenameProvider):
        def get_filename_for_task(self, write_uuid: str, task_index: int) -> str:
            return f"part-{task_index:06d}.parquet"

    return Parts()


def _numpy_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain numpy columns (Ray hands out Arrow-backed ones), a fresh index."""
    return pd.DataFrame({c: frame[c].to_numpy() for c in frame.columns})


def list_batches(dataset: Any, batch_size: int) -> Iterator[pd.DataFrame]:
    """The dataset's batches as pandas frames, in order (streamed).

    Args:
        dataset: a Ray dataset.
        batch_size: rows per frame (the last may be shorter).

    Yields:
        One ``pandas.DataFrame`` per batch.
    """
    yield from dataset.iter_batches(batch_size=batch_size, batch_format="pandas")
