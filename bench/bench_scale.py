"""Scale: streaming 10^7 points on one machine, and the Ray path with 1 and 2 workers.

Streaming: ``wrt partials`` runs as a child process on a generated Parquet file of
10^7 points (the seed network's two inputs), first order (dy/dx1, dy/dx2) and
second order (the three Hessian entries); its peak resident memory is read from
outside (``getrusage(RUSAGE_CHILDREN)``, the child's high-water mark) and its
throughput is rows over wall time, reading and writing included.

Ray: the same job through ``wrt partials --ray`` on 10^6 points with 1 and 2
actors (each actor reserves half a CPU so that reading can proceed on 2 cores).

Usage::

    python bench/bench_scale.py [--rows 10000000] [--write docs/benchmarks_scale.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from wrt.demo import seed_network

FIRST = ["dy/dx1", "dy/dx2"]
SECOND = ["d2y/dx1^2", "d2y/dx1dx2", "d2y/dx2^2"]


def make_inputs(folder: Path, rows: int) -> tuple[Path, Path]:
    """The seed network (TorchScript-free: a state_dict needs --module, so .pt2) and
    a Parquet file of ``rows`` points, written in row groups of 10^6."""
    torch.manual_seed(0)
    net = seed_network(torch.zeros(2), torch.ones(2)).eval()
    example = torch.zeros(4, 2)
    program = torch.export.export(
        net, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    model = folder / "seed.pt2"
    torch.export.save(program, model)
    points = folder / "points.parquet"
    rng = np.random.default_rng(0)
    writer = None
    for start in range(0, rows, 1_000_000):
        n = min(1_000_000, rows - start)
        x1 = rng.uniform(0, 6 * np.pi, n)
        table = pa.table({"x1": x1, "x2": 1.5 * x1 + rng.normal(0, 0.1, n)})
        writer = writer or pq.ParquetWriter(points, table.schema)
        writer.write_table(table)
    writer.close()
    return model, points


def child(args: list[str]) -> tuple[float, float]:
    """Run ``python -m wrt ARGS``; (wall seconds, peak RSS of the child in MiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "wrt", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss is the largest child so far (KiB on Linux): fresh children grow it
    return seconds, max(peak, before) / 1024


def main(argv: list[str] | None = None) -> None:
    """Measure; print the tables; optionally write the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--ray-rows", type=int, default=1_000_000)
    parser.add_argument("--write", help="write the markdown page here")
    args = parser.parse_args(argv)
    lines = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        model, points = make_inputs(folder, args.rows)
        lines += [
            "| job | rows | wall s | rows / s | peak RSS MiB |",
            "|---|--:|--:|--:|--:|",
        ]
        for name, specs in (
            ("first order (2 partials)", FIRST),
            ("second order (3 partials)", SECOND),
        ):
            out = folder / "out.parquet"
            command = [
                "partials",
                str(model),
                str(points),
                "-o",
                str(out),
                "--chunk-size",
                "65536",
            ]
            for spec in specs:
                command += ["-d", spec]
            seconds, peak = child(command)
            lines.append(
                f"| stream {name} | {args.rows:,} | {seconds:.1f} | "
                f"{args.rows / seconds:,.0f} | {peak:.0f} |"
            )
            out.unlink()
        small = folder / "small.parquet"
        # row groups of 2^17 rows: Ray reads them as blocks the actors share
        pq.write_table(
            pq.read_table(points).slice(0, args.ray_rows), small, row_group_size=2**17
        )
        local, _ = child(
            [
                "partials",
                str(model),
                str(small),
                "-o",
                str(folder / "l.parquet"),
                *sum((["-d", s] for s in FIRST), []),
            ]
        )
        lines.append(
            f"| local, first order | {args.ray_rows:,} | {local:.1f} | "
            f"{args.ray_rows / local:,.0f} | |"
        )
        ray_lines = ray_throughput(model, small, args.ray_rows)
        lines += ray_lines
    text = "\n".join(lines)
    print(text)
    if args.write:
        now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        page = PAGE.format(
            now=now,
            torch=torch.__version__,
            python=platform.python_version(),
            cpus=os.cpu_count(),
            table=text,
            command=" ".join(["python", *sys.argv]),
        )
        Path(args.write).write_text(page, encoding="utf-8")


def ray_throughput(model: Path, points: Path, rows: int) -> list[str]:
    """The Ray path with 1 and 2 actors (in this process; Ray started once)."""
    from wrt import distributed

    distributed.connect(num_cpus=os.cpu_count())
    lines = []
    for workers in (1, 2):
        start = time.perf_counter()
        dataset = distributed.partials(
            distributed.read(points),
            str(model),
            FIRST,
            batch_size=65536,
            concurrency=workers,
            num_cpus=0.5,
        )
        distributed.write(dataset, points.with_name(f"ray{workers}.parquet"))
        seconds = time.perf_counter() - start
        lines.append(
            f"| Ray, {workers} actor(s), first order | {rows:,} | "
            f"{seconds:.1f} | {rows / seconds:,.0f} | |"
        )
    return lines


PAGE = """# Benchmark: streaming and the Ray path

Generated by `{command}` on {now}; torch {torch}, Python {python}, {cpus} CPUs.

The seed network (2 inputs, tanh 64-64-32-32-16-16-8, float32) exported as a
`torch.export` program; points from a generated Parquet file. Streaming rows are
the whole `wrt partials` command as a child process (start-up, reading, computing,
writing the parts and joining them); its peak RSS is the child's high-water mark
read from outside.

{table}

## How it should scale

Streaming is bounded by one chunk: peak memory is the interpreter and libraries
(about 400-500 MiB here) plus a few times `--chunk-size` x (inputs + specs) x 8
bytes, whatever the number of rows; time is linear in the rows.

On a cluster the Ray path is data-parallel with no communication between actors:
with W actors of c cores each, throughput should approach W times that of one
process with c cores (per-actor rows per second as in the local row above),
until reading and writing the files or the driver, which collects the batches in
order to write one file, become the limit (writing to one file runs at the
driver's disk speed; `dataset.write_parquet` of the returned dataset writes a
folder of files in parallel instead). On this 2-core machine the actors share the
cores with Ray's own processes, so the 1- and 2-actor rows measure overhead, not
scaling.
"""


if __name__ == "__main__":
    main()
