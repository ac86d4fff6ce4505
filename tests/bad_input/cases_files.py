"""Bad input of the files area: output paths, empty inputs, resumes of another run.

Every writing command checks where its results go before computing (a folder, a
path under a file, an unwritable place, an input of the run, an existing results
file); streaming refuses empty sources; ``--resume`` refuses parts written by a
different request, naming what differs. The runner checks that the user's files
(the points, the model, an interrupted run's parts) are untouched and that a
refusal leaves nothing new behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import wrt
from bad_input.harness import Api, Cli, model_file, points_file, write
from models import mlp, save_torchscript
from wrt.errors import DataError, OutputPathError, ResumeError
from wrt.streaming import partials_stream, parts_folder

UNWRITABLE = "/proc/wrt-cannot-write-here"  # root can chmod past anything else


class _Stop(Exception):
    pass


def _partials(folder: Path, *extra: str, points: str = "points.csv") -> list[str]:
    model = model_file(folder)
    source = points_file(folder, rows=5, name=points)
    return ["partials", str(model), str(source), "-d", "dy/dx1", *extra]


def _interrupted(folder: Path, points: str = "points.csv", **options) -> Path:
    """An interrupted streamed run into out.csv (1 of 3 chunks done); the sink."""
    model = wrt.load(model_file(folder))
    source = points_file(folder, rows=5, name=points)
    sink = folder / ("out" + Path(points).suffix)

    def stop(rows: int) -> None:
        raise _Stop

    try:
        partials_stream(
            model, source, ["dy/dx1"], sink, chunk_size=2, on_chunk=stop, **options
        )
    except _Stop:
        pass
    assert parts_folder(sink).is_dir()
    return sink


def _resume(folder: Path, *extra: str, points: str = "points.csv") -> list[str]:
    """A CLI resume of :func:`_interrupted` (same request unless ``extra`` says)."""
    sink = _interrupted(folder, points=points)
    base = ["partials", str(folder / "model.pt"), str(folder / points)]
    options = {"-d": "dy/dx1", "--chunk-size": "2"}
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        options[flag] = value
    return [*base, *(w for item in options.items() for w in item), "-o", str(sink),
            "--resume"]  # fmt: skip


def _other_model(folder: Path) -> list[str]:
    argv = _resume(folder)
    save_torchscript(mlp(2, 1, seed=7), folder / "model.pt")  # new weights, same name
    return argv


def _changed_points(folder: Path) -> list[str]:
    argv = _resume(folder)
    table = pd.read_csv(folder / "points.csv")
    # the same header over rows written in the other column order
    table = table.rename(columns={"x1": "x2", "x2": "x1"})[["x1", "x2"]]
    table.to_csv(folder / "points.csv", index=False)
    return argv


def _no_manifest(folder: Path) -> list[str]:
    argv = _resume(folder)
    (parts_folder(folder / "out.csv") / "manifest.json").unlink()
    return argv


def _report(folder: Path, *extra: str) -> list[str]:
    data = points_file(folder, rows=30, name="train.csv")
    return ["report", str(model_file(folder)), "--data", str(data), *extra]


def _sens(folder: Path, *extra: str) -> list[str]:
    data = points_file(folder, rows=30, name="data.csv")
    return ["sens", str(model_file(folder)), "--data", str(data), *extra]


def _train(folder: Path, output: str, occupied: str | None = None) -> list[str]:
    """``wrt train`` of a tiny config whose output folder is ``output``."""
    config = write(
        folder,
        "c.toml",
        '[model]\ninputs = ["x"]\noutputs = ["u"]\nhidden = [4]\n'
        '[[terms]]\nkind = "residual"\nexpr = "du/dx - 1"\n'
        'points = { sampler = "uniform", n = 8, box = { x = [0, 1] } }\n'
        f'[train]\nsteps = 2\n[output]\nfolder = "{output}"\n',
    )
    if occupied is not None:
        write(folder, occupied, "the user's file")
    return ["train", str(config)]


def _hardlink(folder: Path) -> list[str]:
    argv = _partials(folder)
    os.link(folder / "points.csv", folder / "same.csv")
    return [*argv, "-o", str(folder / "same.csv")]


def _symlink(folder: Path) -> list[str]:
    argv = _partials(folder)
    (folder / "alias.csv").symlink_to(folder / "points.csv")
    return [*argv, "-o", str(folder / "alias.csv")]


def _earlier_results(folder: Path, name: str) -> list[str]:
    argv = _partials(folder)
    write(folder, name, "x1,x2,dy/dx1\n1,2,3\n")  # an earlier run's table
    return [*argv, "-o", str(folder / name)]


def _streamed(folder: Path, name: str, text: str | None, out: str) -> list[str]:
    """``wrt partials`` of the points file ``name`` (``text``, or 0 rows as Parquet)."""
    if text is None:
        source = points_file(folder, rows=0, name=name)
    else:
        source = write(folder, name, text)
    model = model_file(folder)
    return [
        "partials",
        str(model),
        str(source),
        "-d",
        "dy/dx1",
        "-o",
        str(folder / out),
    ]


def _clean(
    build: Callable[[Path], Callable[[], object]],
) -> Callable[[Path], object]:
    """An API call that checks, itself, that a refusal changed no file it built.

    The runner snapshots the folder before the call, so files an API case builds
    count as new; this wrapper snapshots after building and compares after the
    call (the case then sets ``new_files=True``).
    """

    def call(folder: Path) -> object:
        run = build(folder)
        before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        try:
            return run()
        finally:
            after = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
            assert after == before, sorted(set(after) ^ set(before))

    return call


def _stream(folder: Path, source: str, sink: str, **options) -> Callable[[], object]:
    model = wrt.wrap(mlp(2, 1), inputs=["x1", "x2"])
    return lambda: partials_stream(
        model, folder / source, ["dy/dx1"], folder / sink, **options
    )


def _api_same_file(folder: Path) -> Callable[[], object]:
    points_file(folder, name="p.parquet")
    return _stream(folder, "p.parquet", "./p.parquet")


def _api_empty(folder: Path) -> Callable[[], object]:
    write(folder, "p.csv", "")
    return _stream(folder, "p.csv", "o.csv")


def _api_zero_rows(folder: Path) -> Callable[[], object]:
    pd.DataFrame({"x1": np.zeros(0), "x2": np.zeros(0)}).to_parquet(folder / "p.pq")
    return _stream(folder, "p.pq", "o.parquet")


def _api_resume_other_specs(folder: Path) -> Callable[[], object]:
    _interrupted(folder)
    model = wrt.load(folder / "model.pt")
    return lambda: partials_stream(
        model, folder / "points.csv", ["dy/dx2"], folder / "out.csv", chunk_size=2,
        resume=True,
    )  # fmt: skip


def _api_parts_no_overwrite(folder: Path) -> Callable[[], object]:
    _interrupted(folder)
    model = wrt.load(folder / "model.pt")
    return lambda: partials_stream(
        model, folder / "points.csv", ["dy/dx1"], folder / "out.csv", chunk_size=2,
        overwrite=False,
    )  # fmt: skip


def _api_sink_folder(folder: Path) -> Callable[[], object]:
    points_file(folder)
    (folder / "o.csv").mkdir()
    return _stream(folder, "points.csv", "o.csv")


CASES = [
    # -- partials -o: never an input, by any path -------------------------------
    Cli(
        "files-out-is-points",
        lambda f: _partials(f, "-o", str(f / "points.csv")),
        2,
        r"-o .*points\.csv is the input file",
    ),
    Cli(
        "files-out-is-points-dot-slash",
        lambda f: [*_partials(f), "-o", f"{f}/./points.csv"],
        2,
        r"input file",
    ),
    Cli(
        "files-out-is-points-via-dotdot",
        lambda f: [*_partials(f), "-o", f"{f}/../{f.name}/points.csv"],
        2,
        r"input file",
    ),
    Cli("files-out-is-points-symlink", _symlink, 2, r"alias\.csv is the input file"),
    Cli("files-out-is-points-hardlink", _hardlink, 2, r"same\.csv is the input file"),
    Cli(
        "files-out-is-streamed-parquet-points",
        lambda f: _partials(f, "-o", str(f / "p.parquet"), points="p.parquet"),
        2,
        r"-o .*p\.parquet is the input file",
    ),
    Cli(
        "files-out-is-the-model",
        lambda f: _partials(f, "-o", str(f / "model.pt")),
        2,
        r"-o .*model\.pt is the input file",
    ),
    # -- partials -o: where results cannot go -----------------------------------
    Cli(
        "files-out-is-a-folder",
        lambda f: _partials(f, "-o", str(f)),
        2,
        r"-o .* is a folder",
    ),
    Cli(
        "files-out-under-a-file",
        lambda f: _partials(f, "-o", str(f / "points.csv" / "o.json")),
        2,
        r"-o .*lies under .*points\.csv, which is a file",
    ),
    Cli(
        "files-out-streamed-under-a-file",
        lambda f: _partials(f, "-o", str(f / "points.csv" / "o.csv")),
        2,
        r"lies under",
    ),
    Cli(
        "files-out-unwritable",
        lambda f: _partials(f, "-o", UNWRITABLE + ".json"),
        2,
        r"-o .*cannot be written",
    ),
    Cli(
        "files-out-streamed-unwritable",
        lambda f: _partials(f, "-o", UNWRITABLE + ".csv"),
        2,
        r"cannot be written",
    ),
    Cli(
        "files-out-unknown-suffix",
        lambda f: _partials(f, "-o", str(f / "o.xlsx")),
        2,
        r"-o .*o\.xlsx.*\.csv, \.parquet",
    ),
    Cli(
        "files-out-replaces-earlier-results-csv",
        lambda f: _earlier_results(f, "results.csv"),
        2,
        r"exists.*--overwrite",
    ),
    Cli(
        "files-out-replaces-earlier-results-json",
        lambda f: _earlier_results(f, "results.json"),
        2,
        r"exists.*--overwrite",
    ),
    # -- streaming sources without rows ----------------------------------------
    Cli(
        "files-stream-zero-byte-csv",
        lambda f: _streamed(f, "e.csv", "", "o.csv"),
        2,
        r"e\.csv is empty \(0 bytes\)",
    ),
    Cli(
        "files-stream-header-only-csv",
        lambda f: _streamed(f, "h.csv", "x1,x2\n", "o.parquet"),
        2,
        r"h\.csv has the columns but no rows",
    ),
    Cli(
        "files-stream-wrong-columns-csv",
        lambda f: _streamed(f, "w.csv", "a,b\n1,2\n", "o.csv"),
        2,
        r"no column 'x1', 'x2'; its columns are a, b",
    ),
    Cli(
        "files-stream-zero-row-parquet",
        lambda f: _streamed(f, "z.parquet", None, "o.csv"),
        2,
        r"z\.parquet has the columns but no rows",
    ),
    Cli(
        "files-zero-byte-csv-to-json",
        lambda f: _streamed(f, "e.csv", "", "o.json"),
        2,
        r"e\.csv",
    ),
    # -- resume -----------------------------------------------------------------
    Cli(
        "files-resume-without-out",
        lambda f: _partials(f, "--resume"),
        2,
        r"--resume needs -o",
    ),
    Cli(
        "files-resume-into-json",
        lambda f: _partials(f, "--resume", "-o", str(f / "o.json")),
        2,
        r"--resume needs -o with a \.parquet or \.csv",
    ),
    Cli(
        "files-resume-nothing-to-resume",
        lambda f: [
            *_partials(f),
            "-o",
            str(write(f, "o.csv", "x1,x2,dy/dx1\n")),
            "--resume",
        ],
        2,
        r"nothing to resume .*complete",
    ),
    Cli(
        "files-parts-of-another-run-without-resume",
        lambda f: [*_resume(f)[:-1]],
        2,
        r"parts of an interrupted run.*--resume.*--overwrite",
    ),
    Cli(
        "files-resume-other-specs",
        lambda f: _resume(f, "-d", "dy/dx2"),
        2,
        r"specs changed.*dy/dx1.*dy/dx2",
    ),
    Cli("files-resume-other-model-weights", _other_model, 2, r"\bmodel\b.*changed"),
    Cli(
        "files-resume-swapped-input-names",
        lambda f: _resume(f, "--inputs", "x2,x1"),
        2,
        r"inputs.*changed",
    ),
    Cli(
        "files-resume-other-output-name",
        lambda f: _resume(f, "--outputs", "z", "-d", "dz/dx1"),
        2,
        r"outputs.*changed",
    ),
    Cli(
        "files-resume-other-chunk-size",
        lambda f: _resume(f, "--chunk-size", "3"),
        2,
        r"--chunk-size changed.*2 then, 3 now",
    ),
    Cli(
        "files-resume-other-dtype",
        lambda f: _resume(f, "--dtype", "float32"),
        2,
        r"dtype.*changed",
    ),
    Cli(
        "files-resume-other-engine",
        lambda f: _resume(f, "--engine", "taylor"),
        2,
        r"engine.*changed",
    ),
    Cli(
        "files-resume-rows-rewritten-in-other-order",
        _changed_points,
        2,
        r"the points file changed \((size|modification time)",
    ),
    Cli(
        "files-resume-parts-without-manifest",
        _no_manifest,
        2,
        r"manifest.*missing or damaged.*--overwrite",
    ),
    Cli(
        "files-resume-on-ray",
        lambda f: _partials(f, "--ray", "--resume", "-o", str(f / "o.parquet")),
        2,
        r"--resume.*--ray",
    ),
    # -- report -o, sens --plots, demo --out, train's folder ---------------------
    Cli(
        "files-report-out-is-a-folder",
        lambda f: _report(f, "-o", str(f)),
        2,
        r"-o .* is a folder",
    ),
    Cli(
        "files-report-out-under-a-file",
        lambda f: _report(f, "-o", str(f / "train.csv" / "r.html")),
        2,
        r"lies under .*train\.csv",
    ),
    Cli(
        "files-report-out-is-the-data",
        lambda f: _report(f, "-o", str(f / "train.csv")),
        2,
        r"train\.csv is the input file",
    ),
    Cli(
        "files-report-out-unwritable",
        lambda f: _report(f, "-o", UNWRITABLE + ".html"),
        2,
        r"cannot be written",
    ),
    Cli(
        "files-sens-plots-is-a-file",
        lambda f: _sens(f, "--plots", str(f / "data.csv")),
        2,
        r"--plots .*data\.csv is a file, not a folder",
    ),
    Cli(
        "files-sens-plots-under-a-file",
        lambda f: _sens(f, "--plots", str(f / "data.csv" / "figs")),
        2,
        r"--plots .*lies under",
    ),
    Cli(
        "files-sens-plots-unwritable",
        lambda f: _sens(f, "--plots", UNWRITABLE),
        2,
        r"--plots .*cannot be written",
    ),
    Cli(
        "files-demo-out-is-a-file",
        lambda f: ["demo", "--quick", "--out", str(write(f, "d", "mine"))],
        2,
        r"--out .* is a file",
    ),
    Cli(
        "files-demo-out-under-a-file",
        lambda f: ["demo", "--quick", "--out", str(write(f, "d", "mine") / "x")],
        2,
        r"--out .*lies under",
    ),
    Cli(
        "files-train-folder-is-a-file",
        lambda f: _train(f, "run", occupied="run"),
        2,
        r"\[output\] folder .*run is a file",
    ),
    Cli(
        "files-train-folder-under-a-file",
        lambda f: _train(f, "c.toml/run"),
        2,
        r"\[output\] folder .*lies under",
    ),
    # -- the Python API -----------------------------------------------------------
    Api(
        "files-api-sink-is-source",
        _clean(_api_same_file),
        OutputPathError,
        r"sink .*p\.parquet is the input file",
        new_files=True,
    ),
    Api(
        "files-api-sink-is-a-folder",
        _clean(_api_sink_folder),
        OutputPathError,
        r"sink .*o\.csv is a folder",
        new_files=True,
    ),
    Api(
        "files-api-empty-csv",
        _clean(_api_empty),
        DataError,
        r"empty \(0 bytes\)",
        new_files=True,
    ),
    Api(
        "files-api-zero-row-parquet",
        _clean(_api_zero_rows),
        DataError,
        r"no rows",
        new_files=True,
    ),
    Api(
        "files-api-resume-other-specs",
        _clean(_api_resume_other_specs),
        ResumeError,
        r"specs changed",
        new_files=True,
    ),
    Api(
        "files-api-parts-without-overwrite",
        _clean(_api_parts_no_overwrite),
        ResumeError,
        r"interrupted run",
        new_files=True,
    ),
]

CASES += [
    Cli("files-resume-and-overwrite",
        lambda f: _partials(f, "--resume", "--overwrite", "-o", str(f / "o.csv")), 2,
        r"--resume .* --overwrite .*one of them"),
    Cli("files-ray-zero-byte-csv",
        lambda f: _streamed(f, "e.csv", "", "o.csv") + ["--ray"], 2,
        r"e\.csv is empty"),
    Cli("files-ray-out-is-points",
        lambda f: _partials(f, "--ray", "-o", str(f / "points.csv")), 2,
        r"is the input file"),
    Cli("files-ray-header-only",
        lambda f: _streamed(f, "h.parquet", None, "o.parquet") + ["--ray"], 2,
        r"h\.parquet has the columns but no rows"),
]  # fmt: skip
