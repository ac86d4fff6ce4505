"""Ray scale-out: per-worker throughput, 1 and 2 actors, and the driver's share.

The job is ``wt.distributed.write_partials``, the one behind ``wrt partials MODEL
POINTS -d ... --ray -o FOLDER``: Ray tasks read the Parquet row groups (adding
the row ids), a pool of actors computes the partials, and the workers write the
folder. The seed network's first partials (dy/dx1, dy/dx2) on ``--rows`` points,
float32, in a local Ray instance of ``--cpus`` CPUs.

Measured, each in the same run:

- **one actor's compute rate**: ``wrt.partials`` on one batch in this process
  with one torch thread (what an actor does per batch, without Ray);
- **read** and **write** rates: pyarrow reading the points' row groups and
  writing a result table of the same shape (what the read and write tasks do);
- **end to end on Ray** with 1 and 2 actors (each reserving one CPU): rows/s of
  the whole job, per actor, and the driver's CPU seconds (its share of the work:
  listing the row groups, scheduling, collecting the row counts);
- **the fixed cost** of a job: the same run on one batch (the actor pool starting,
  each actor loading the model); the rate beyond it is
  ``(rows - batch) / (seconds - fixed seconds)``.

Usage::

    python bench/bench_ray.py [--rows 1000000] [--cpus 3] [--batch 65536]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

import wrt
from wrt import distributed
from wrt.demo import seed_network

SPECS = ["dy/dx1", "dy/dx2"]


def inputs(folder: Path, rows: int, group: int) -> tuple[Path, Path]:
    """The seed network as TorchScript, and ``rows`` points in row groups."""
    torch.manual_seed(0)
    net = seed_network(torch.zeros(2), torch.ones(2)).eval()
    model = folder / "seed.pt"
    torch.jit.trace(net, torch.zeros(4, 2)).save(str(model))
    rng = np.random.default_rng(0)
    x1 = rng.uniform(0, 6 * np.pi, rows).astype(np.float32)
    table = pa.table({"x1": x1, "x2": 1.5 * x1 + rng.normal(0, 0.1, rows)})
    points = folder / "points.parquet"
    pq.write_table(table.cast(pa.schema([("x1", pa.float32()), ("x2", pa.float32())])),
                   points, row_group_size=group)  # fmt: skip
    return model, points


def cpu_seconds() -> float:
    """This process's user + system CPU time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def actor_rate(model: Path, points: Path, batch: int) -> float:
    """Rows/s of one actor's work on one batch (one torch thread), best of 3."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        loaded = wrt.load(model, inputs=["x1", "x2"])
        x = pq.read_table(points).slice(0, batch).to_pandas()
        wrt.partials(loaded, x, SPECS)  # warm-up: the engine's first trace
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            wrt.partials(loaded, x, SPECS)
            best = min(best, time.perf_counter() - start)
        return len(x) / best
    finally:
        torch.set_num_threads(threads)


def io_rates(points: Path, folder: Path) -> tuple[float, float]:
    """Rows/s reading the points' row groups, and writing a result of that size."""
    start = time.perf_counter()
    file = pq.ParquetFile(points)
    tables = [file.read_row_group(g) for g in range(file.num_row_groups)]
    read = time.perf_counter() - start
    table = pa.concat_tables(tables)
    rows = table.num_rows
    result = table.append_column("row", pa.array(np.arange(rows, dtype=np.int64)))
    for spec in SPECS:
        result = result.append_column(spec, table.column("x1"))
    start = time.perf_counter()
    pq.write_table(result, folder / "written.parquet")
    write = time.perf_counter() - start
    return rows / read, rows / write


def on_ray(model: Path, points: Path, folder: Path, actors: int, batch: int) -> dict:
    """One end-to-end run with ``actors`` actors: seconds, rows, driver CPU."""
    out = folder / f"out-{actors}"
    shutil.rmtree(out, ignore_errors=True)
    before, start = cpu_seconds(), time.perf_counter()
    rows = distributed.write_partials(
        model, points, SPECS, out, batch_size=batch, concurrency=actors,
        num_cpus=1.0, load_options={"inputs": ["x1", "x2"]},
    )  # fmt: skip
    seconds = time.perf_counter() - start
    return {"rows": rows, "seconds": seconds, "driver_cpu": cpu_seconds() - before}


def main() -> None:
    """Command line; prints a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cpus", type=int, default=3, help="the local Ray's CPUs")
    parser.add_argument("--batch", type=int, default=65536, help="rows per batch")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model, points = inputs(folder, args.rows, group=args.batch)
        actor = actor_rate(model, points, args.batch)
        read, write = io_rates(points, folder)
        small = folder / "one-batch"
        small.mkdir()
        _, one_batch = inputs(small, args.batch, group=args.batch)
        runs, fixed = {}, {}
        with distributed.session(num_cpus=args.cpus):
            on_ray(model, points, folder, 1, args.batch)  # warm-up: Ray's workers
            for actors in (1, 2, 1, 2):  # interleaved, the second of each kept
                fixed[actors] = on_ray(model, one_batch, folder, actors, args.batch)
                runs[actors] = on_ray(model, points, folder, actors, args.batch)
    print(f"{args.rows} rows, seed network, {', '.join(SPECS)}, float32, batches of "
          f"{args.batch}; local Ray with {args.cpus} CPUs on {os.cpu_count()} cores; "
          f"load average {load:.1f} at the start")  # fmt: skip
    print()
    print("| stage | rows/s | note |")
    print("|---|---|---|")
    print(f"| one actor's compute (1 thread, no Ray) | {actor:,.0f} | per actor |")
    print(f"| reading the row groups (pyarrow) | {read:,.0f} | per read task |")
    print(f"| writing a result table (pyarrow) | {write:,.0f} | per write task |")
    for actors, run in fixed.items():
        print(
            f"| Ray, {actors} actor(s), one batch ({run['rows']} rows) | | fixed "
            f"cost {run['seconds']:.1f} s (actors start, load the model) |"
        )
    for actors, run in runs.items():
        rate = run["rows"] / run["seconds"]
        extra = run["seconds"] - fixed[actors]["seconds"]
        steady = (
            f"{(run['rows'] - fixed[actors]['rows']) / extra:,.0f} rows/s"
            if extra > 0.1 * run["seconds"]
            else "not measurable (the fixed cost's noise is larger)"
        )
        share = run["driver_cpu"] / run["seconds"]
        driver = f"{run['driver_cpu']:.1f} s ({100 * share:.0f}% of a core)"
        print(f"| Ray, {actors} actor(s), end to end | {rate:,.0f} | "
              f"{rate / actors:,.0f} per actor; {run['seconds']:.1f} s; driver CPU "
              f"{driver}; beyond the fixed cost: {steady} |")  # fmt: skip


if __name__ == "__main__":
    main()
