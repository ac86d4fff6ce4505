"""Streaming partials: chunked reading and writing, order, interruption and --resume."""

import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import wrt
from models import mlp, save_torchscript
from wrt import streaming
from wrt.cli.app import app
from wrt.errors import OutputPathError, ResumeError
from wrt.manifest import model_hash
from wrt.streaming import partials_stream

SPECS = ["dy/dx", "d2y/dxdt"]


@pytest.fixture
def setup(tmp_path):
    model = wrt.wrap(mlp(2, 1), inputs=["x", "t"])
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": np.arange(1000), "t": rng.normal(size=1000),
                          "x": rng.normal(size=1000)})  # fmt: skip
    # several small row groups: chunks cross their boundaries
    pq.write_table(
        pa.Table.from_pandas(frame), tmp_path / "in.parquet", row_group_size=70
    )
    frame.to_csv(tmp_path / "in.csv", index=False)
    return model, frame, tmp_path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_stream_equals_the_in_memory_result_in_row_order(setup, suffix):
    model, frame, tmp = setup
    out = tmp / f"out{suffix}"
    summary = partials_stream(model, tmp / f"in{suffix}", SPECS, out, chunk_size=128)
    assert (summary.rows, summary.chunks, summary.computed) == (1000, 8, 1000)
    got = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    expected = wrt.partials(model, frame[["x", "t"]], SPECS).to_frame()
    assert list(got.columns) == ["x", "t", *SPECS]
    np.testing.assert_allclose(got[["x", "t"]].to_numpy(), frame[["x", "t"]].to_numpy())
    np.testing.assert_allclose(got[SPECS].to_numpy(), expected.to_numpy(), rtol=1e-15)
    assert not (tmp / f"out{suffix}.parts").exists()


class Stop(Exception):
    pass


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_an_interrupted_run_resumes_to_an_identical_file(setup, suffix):
    model, _, tmp = setup
    source = tmp / f"in{suffix}"
    whole = tmp / f"whole{suffix}"
    partials_stream(model, source, SPECS, whole, chunk_size=100)
    resumed = tmp / f"resumed{suffix}"
    seen = []

    def stop_after_three(n):
        seen.append(n)
        if len(seen) == 3:
            raise Stop

    with pytest.raises(Stop):
        partials_stream(
            model, source, SPECS, resumed, chunk_size=100, on_chunk=stop_after_three
        )
    summary = partials_stream(
        model, source, SPECS, resumed, chunk_size=100, resume=True
    )
    assert summary.computed == 700 and summary.rows == 1000
    assert resumed.read_bytes() == whole.read_bytes()


def test_resume_refuses_a_changed_request(setup):
    model, _, tmp = setup
    source, out = tmp / "in.parquet", tmp / "out.parquet"
    with pytest.raises(Stop):
        partials_stream(model, source, SPECS, out, chunk_size=100,
                        on_chunk=lambda n: (_ for _ in ()).throw(Stop))  # fmt: skip
    with pytest.raises(ResumeError, match="chunk_size changed"):
        partials_stream(model, source, SPECS, out, chunk_size=50, resume=True)


def test_a_nan_row_is_named_by_its_row_in_the_file(tmp_path):
    model = wrt.wrap(mlp(2, 1), inputs=["x", "t"])
    frame = pd.DataFrame({"x": np.zeros(300), "t": np.zeros(300)})
    frame.loc[257, "t"] = np.nan
    frame.to_parquet(tmp_path / "in.parquet")
    with pytest.raises(
        wrt.DataError, match=r"in\.parquet: Row 257 \(from 0\), column 't'"
    ):
        partials_stream(model, tmp_path / "in.parquet", SPECS, tmp_path / "o.parquet",
                        chunk_size=100)  # fmt: skip


# a real SIGKILL, at a chosen chunk: the child kills itself right after writing
# its Nth part (no timed sleep, so a loaded machine cannot make it race)
KILLER = """
import os, signal, sys
import wrt.streaming as streaming
from wrt.cli.app import app

write, written = streaming._write_part, []

def write_then_die(frame, path):
    write(frame, path)
    written.append(path)
    if len(written) == int(os.environ["WRT_TEST_KILL_AFTER"]):
        os.kill(os.getpid(), signal.SIGKILL)

streaming._write_part = write_then_die
app(sys.argv[1:], prog_name="wrt")
"""


@pytest.mark.parametrize(("suffix", "kill_after"), [(".parquet", 3), (".csv", 1)])
def test_a_killed_cli_run_resumes_to_an_identical_file(tmp_path, suffix, kill_after):
    model = save_torchscript(mlp(2, 1, width=16), tmp_path / "model.pt")
    rng = np.random.default_rng(1)
    n = 20_000
    frame = pd.DataFrame({"x": rng.normal(size=n), "t": rng.normal(size=n)})
    source = tmp_path / f"big{suffix}"
    if suffix == ".csv":
        frame.to_csv(source, index=False)
    else:
        frame.to_parquet(source, row_group_size=3000)
    args = [str(model), str(source), "-d", "dy/dx", "-d", "d2y/dx^2",
            "--inputs", "x,t", "--chunk-size", "2000"]  # fmt: skip
    whole, out = tmp_path / f"whole{suffix}", tmp_path / f"out{suffix}"
    cli = [sys.executable, "-m", "wrt", "partials", *args]
    subprocess.run([*cli, "-o", str(whole)], check=True, capture_output=True)
    env = {**os.environ, "WRT_TEST_KILL_AFTER": str(kill_after)}
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, "partials", *args, "-o", str(out)],
        env=env,
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    parts = tmp_path / f"out{suffix}.parts"
    assert not out.exists()
    assert len(list(parts.glob(f"part-*{suffix}"))) == kill_after
    assert not list(parts.glob("*.tmp"))
    subprocess.run([*cli, "-o", str(out), "--resume"], check=True, capture_output=True)
    assert out.read_bytes() == whole.read_bytes()
    assert not parts.exists()
    sample = frame.iloc[::997]
    direct = wrt.partials(
        wrt.load(model, inputs=["x", "t"]), sample[["x", "t"]], ["d2y/dx^2"]
    )
    got = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    torch.testing.assert_close(
        torch.tensor(got["d2y/dx^2"].to_numpy()[::997]),
        direct["d2y/dx^2"],
        rtol=1e-12,
        atol=0,
    )


def _interrupt_at(chunk: int, error: type[BaseException] = Stop):
    """An on_chunk callback that raises ``error`` after its ``chunk``-th chunk."""
    seen = []

    def on_chunk(rows: int) -> None:
        seen.append(rows)
        if len(seen) == chunk:
            raise error

    return on_chunk


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    rows=st.integers(1, 40),
    chunk_size=st.integers(1, 12),
    suffix=st.sampled_from([".csv", ".parquet"]),
    stops=st.lists(st.integers(1, 4), max_size=3),
    group=st.integers(1, 9),
)
def test_any_chunking_and_interruptions_resume_to_the_one_shot_bytes(
    rows, chunk_size, suffix, stops, group
):
    """Interrupted at random chunks, again and again: the same file, byte for byte."""
    model = wrt.wrap(mlp(2, 1, width=4), inputs=["x", "t"])
    rng = np.random.default_rng(rows)
    frame = pd.DataFrame({"t": rng.normal(size=rows), "x": rng.normal(size=rows)})
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        source = tmp / f"in{suffix}"
        if suffix == ".csv":
            frame.to_csv(source, index=False)
        else:
            frame.to_parquet(source, row_group_size=group)
        whole, out = tmp / f"whole{suffix}", tmp / f"out{suffix}"
        partials_stream(model, source, SPECS, whole, chunk_size=chunk_size)
        computed = 0
        for attempt, stop in enumerate(stops):
            try:
                summary = partials_stream(
                    model, source, SPECS, out, chunk_size=chunk_size,
                    resume=attempt > 0, on_chunk=_interrupt_at(stop),
                )  # fmt: skip
            except Stop:
                computed += stop * chunk_size
                continue
            break
        else:
            summary = partials_stream(
                model, source, SPECS, out, chunk_size=chunk_size, resume=bool(stops)
            )
        assert out.read_bytes() == whole.read_bytes()
        assert summary.rows == rows
        assert not (tmp / f"out{suffix}.parts").exists()
        expected = wrt.partials(model, frame[["x", "t"]], SPECS).to_frame()
        got = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        np.testing.assert_allclose(got[SPECS].to_numpy(), expected.to_numpy(),
                                   rtol=1e-13, atol=1e-15)  # fmt: skip


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_ctrl_c_keeps_the_parts_and_prints_the_resume_command(
    setup, suffix, monkeypatch
):
    model, _, tmp = setup
    path = save_torchscript(mlp(2, 1), tmp / "model.pt")
    source = tmp / f"in{suffix}"
    args = ["partials", str(path), str(source), "-d", SPECS[0], "-d", SPECS[1],
            "--inputs", "x,t", "--chunk-size", "100", "-e", "autograd"]  # fmt: skip
    whole, out = tmp / f"whole{suffix}", tmp / f"out{suffix}"
    assert CliRunner().invoke(app, [*args, "-o", str(whole)]).exit_code == 0
    write, written = streaming._write_part, []

    def write_then_ctrl_c(frame, part):
        write(frame, part)
        written.append(part)
        if len(written) == 4:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(streaming, "_write_part", write_then_ctrl_c)
        result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 130, result.output
    said = result.stderr
    assert "Traceback" not in result.output
    assert re.search(
        r"interrupted: 400 rows in 4 finished parts kept in .*\.parts", said
    )
    command = re.search(r"continue with: (.*)", said).group(1)
    words = shlex.split(command)
    assert words[:2] == ["wrt", "partials"] and words[-1] == "--resume"
    assert not out.exists()
    resumed = CliRunner().invoke(app, words[1:])
    assert resumed.exit_code == 0, resumed.output
    assert out.read_bytes() == whole.read_bytes()


def test_an_api_interrupted_run_resumes_from_the_cli(setup):
    """The manifest of the API and of the CLI agree for the same request."""
    _, _, tmp = setup
    path = save_torchscript(mlp(2, 1), tmp / "model.pt")
    source, out = tmp / "in.parquet", tmp / "out.parquet"
    with pytest.raises(Stop):
        partials_stream(wrt.load(path, inputs=["x", "t"]), source, SPECS, out,
                        chunk_size=300, on_chunk=_interrupt_at(2))  # fmt: skip
    args = ["partials", str(path), str(source), "-d", SPECS[0], "-d", SPECS[1],
            "--inputs", "x,t", "--chunk-size", "300", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    expected = wrt.partials(wrt.load(path, inputs=["x", "t"]),
                            pd.read_parquet(source)[["x", "t"]], SPECS)  # fmt: skip
    got = pd.read_parquet(out)
    np.testing.assert_array_equal(got[SPECS].to_numpy(), expected.to_frame().to_numpy())


def _change(field, model, tmp):
    """The kwargs of a resume that differs from the interrupted run in ``field``."""
    same = {"model": model, "specs": SPECS, "chunk_size": 100}
    if field == "model":
        return {**same, "model": wrt.wrap(mlp(2, 1, seed=3), inputs=["x", "t"])}
    if field == "inputs":
        return {**same, "model": wrt.wrap(model.module, inputs=["t", "x"])}
    if field == "outputs":
        out = wrt.wrap(model.module, inputs=["x", "t"], outputs=["u"])
        return {**same, "model": out, "specs": ["du/dx", "d2u/dxdt"]}
    if field == "specs":
        return {**same, "specs": ["dy/dt"]}
    if field == "chunk_size":
        return {**same, "chunk_size": 50}
    if field == "engine":
        return {**same, "engine": "taylor"}
    if field == "dtype":
        return {**same, "dtype": "float32"}
    if field == "source_mtime_ns":
        source = tmp / "in.parquet"
        os.utime(source, ns=(1, source.stat().st_mtime_ns + 10**9))
        return same
    raise AssertionError(field)


@pytest.mark.parametrize(
    "field",
    ["model", "inputs", "outputs", "specs", "chunk_size", "engine", "dtype",
     "source_mtime_ns"],
)  # fmt: skip
def test_a_resume_that_differs_in_any_field_is_refused_and_keeps_the_parts(
    setup, field
):
    model, _, tmp = setup
    source, out = tmp / "in.parquet", tmp / "out.parquet"
    with pytest.raises(Stop):
        partials_stream(model, source, SPECS, out, chunk_size=100,
                        on_chunk=_interrupt_at(2))  # fmt: skip
    parts = tmp / "out.parquet.parts"
    before = {p.name: p.read_bytes() for p in parts.iterdir()}
    options = _change(field, model, tmp)
    with pytest.raises(ResumeError, match=rf"{field}.* changed .*overwrite=True"):
        partials_stream(
            options.pop("model"), source, options.pop("specs"), out, resume=True,
            **options,
        )  # fmt: skip
    assert {p.name: p.read_bytes() for p in parts.iterdir()} == before
    assert not out.exists()


def test_a_new_wrt_version_is_not_resumed(setup, monkeypatch):
    model, _, tmp = setup
    source, out = tmp / "in.csv", tmp / "out.csv"
    with pytest.raises(Stop):
        partials_stream(model, source, SPECS, out, chunk_size=100,
                        on_chunk=_interrupt_at(1))  # fmt: skip
    monkeypatch.setattr(wrt, "__version__", "99.0")
    with pytest.raises(ResumeError, match="wrt_version"):
        partials_stream(model, source, SPECS, out, chunk_size=100, resume=True)


def test_the_model_hash_sees_weights_activations_and_names():
    base = mlp(2, 1)
    other_activation = mlp(2, 1)
    other_activation[1] = torch.nn.Sigmoid()
    nudged = mlp(2, 1)
    with torch.no_grad():
        nudged[0].weight[0, 0] += 1e-15
    hashes = [
        model_hash(wrt.wrap(base, inputs=["x", "t"])),
        model_hash(wrt.wrap(other_activation, inputs=["x", "t"])),
        model_hash(wrt.wrap(nudged, inputs=["x", "t"])),
        model_hash(wrt.wrap(base, inputs=["t", "x"])),
        model_hash(wrt.wrap(base, inputs=["x", "t"], outputs=["u"])),
    ]
    assert len(set(hashes)) == len(hashes)
    assert model_hash(wrt.wrap(mlp(2, 1), inputs=["x", "t"])) == hashes[0]


def test_bad_data_mid_run_leaves_no_parts_but_a_resume_keeps_its_own(tmp_path):
    model = wrt.wrap(mlp(2, 1), inputs=["x", "t"])
    frame = pd.DataFrame({"x": np.zeros(1000), "t": np.zeros(1000)})
    frame.to_csv(tmp_path / "ok.csv", index=False)
    # far enough down that an interrupt at the first chunk surely comes first (the
    # reader runs at most a few chunks ahead of the writer)
    frame.loc[857, "t"] = np.inf
    frame.to_csv(tmp_path / "bad.csv", index=False)
    for sink in (tmp_path / "o.csv", tmp_path / "new" / "deeper" / "o.parquet"):
        with pytest.raises(
            wrt.DataError, match=r"bad\.csv: Row 857 \(from 0\), column 't'"
        ):
            partials_stream(model, tmp_path / "bad.csv", SPECS, sink, chunk_size=100)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "ok.csv"]
    out = tmp_path / "o.csv"
    with pytest.raises(Stop):  # stopped before the bad row
        partials_stream(model, tmp_path / "bad.csv", SPECS, out, chunk_size=100,
                        on_chunk=_interrupt_at(1))  # fmt: skip
    parts = tmp_path / "o.csv.parts"
    before = {p.name: p.read_bytes() for p in parts.glob("part-*")}
    assert before
    # met on resuming
    with pytest.raises(
        wrt.DataError, match=r"bad\.csv: Row 857 \(from 0\), column 't'"
    ):
        partials_stream(model, tmp_path / "bad.csv", SPECS, out, chunk_size=100,
                        resume=True)  # fmt: skip
    # the parts were there before this call: they are the user's, kept
    after = {p.name: p.read_bytes() for p in parts.glob("part-*")}
    assert all(after.get(name) == data for name, data in before.items())


def test_an_interrupted_join_keeps_the_parts_and_no_half_file(setup, monkeypatch):
    model, _, tmp = setup
    source, out = tmp / "in.parquet", tmp / "out.parquet"
    whole = tmp / "whole.parquet"
    partials_stream(model, source, SPECS, whole, chunk_size=300)

    def ctrl_c(joined, sink):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(streaming, "_publish", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            partials_stream(model, source, SPECS, out, chunk_size=300)
    assert not out.exists()
    assert len(list((tmp / "out.parquet.parts").glob("part-*"))) == 4
    assert not list((tmp / "out.parquet.parts").glob("joining*"))
    summary = partials_stream(model, source, SPECS, out, chunk_size=300, resume=True)
    assert summary.computed == 0 and out.read_bytes() == whole.read_bytes()


def test_overwrite_decides_over_an_earlier_run(setup):
    model, _, tmp = setup
    source, out = tmp / "in.csv", tmp / "out.csv"
    with pytest.raises(Stop):
        partials_stream(model, source, SPECS, out, chunk_size=100,
                        on_chunk=_interrupt_at(1))  # fmt: skip
    with pytest.raises(ResumeError, match="interrupted run.*resume=True"):
        partials_stream(model, source, SPECS, out, chunk_size=100)  # the default
    summary = partials_stream(model, source, SPECS, out, chunk_size=100,
                              overwrite=True)  # fmt: skip
    assert summary.computed == 1000  # overwrite=True: afresh
    with pytest.raises(OutputPathError, match="exists.*overwrite=True"):
        partials_stream(model, source, SPECS, out, chunk_size=100)  # the default
    with pytest.raises(ResumeError, match="Nothing to resume"):
        partials_stream(model, source, SPECS, out, chunk_size=100, resume=True)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_chunks_whose_cells_read_as_integers_then_floats_join(tmp_path, suffix):
    # A CSV column of whole numbers reads as int64 in one chunk and float64 in the
    # next; the parts must still share one schema (Parquet refused to join them).
    module = mlp(2, 1)
    rows = [(i, 2 * i) for i in range(5)] + [(i + 0.5, i - 0.25) for i in range(5)]
    source = tmp_path / "points.csv"
    pd.DataFrame(rows, columns=["x1", "x2"]).to_csv(source, index=False)
    sink = tmp_path / f"out{suffix}"
    partials_stream(wrt.wrap(module), source, ["dy/dx1"], sink, chunk_size=5)
    got = pd.read_parquet(sink) if suffix == ".parquet" else pd.read_csv(sink)
    x = torch.tensor(rows, dtype=torch.float64)
    expected = wrt.partials(wrt.wrap(module), x, "dy/dx1")["dy/dx1"].numpy()
    np.testing.assert_array_equal(got[["x1", "x2"]].to_numpy(), x.numpy())
    np.testing.assert_allclose(got["dy/dx1"].to_numpy(), expected, rtol=1e-15)


# -- issue 14: the threaded pipeline, the Arrow route, the engine choice --------


def _sqrt_model():
    """NaN output where x < 0, an infinite partial at x = 0: nulls in the parts."""
    return wrt.wrap(lambda p: torch.sqrt(p[:, 0]) + p[:, 1] ** 2, inputs=["x", "t"])


def _pandas_route(model, frame, specs, chunk_size, sink):
    """The sink as the pandas route wrote it (wrt before issue 14), chunk by chunk."""
    pieces = []
    for start in range(0, len(frame), chunk_size):
        chunk = frame.iloc[start : start + chunk_size]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wrt.NonFiniteWarning)
            result = wrt.partials(model, chunk[["x", "t"]], specs, first_row=start)
        piece = pd.concat(
            [chunk[["x", "t"]].astype("float64").reset_index(drop=True),
             result.to_frame()], axis=1,
        )  # fmt: skip
        pieces.append(wrt.data.with_missing(piece))
    if sink.suffix == ".csv":
        text = "".join(
            p.to_csv(index=False, header=not i) for i, p in enumerate(pieces)
        )
        sink.write_text(text)
        return
    tables = [pa.Table.from_pandas(p, preserve_index=False) for p in pieces]
    with pq.ParquetWriter(sink, tables[0].schema) as writer:
        for table in tables:
            writer.write_table(table)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_sink_is_byte_for_byte_what_the_pandas_route_wrote(tmp_path, suffix, dtype):
    """Arrow -> NumPy -> torch and back, with NaN and Inf to null, float32 columns."""
    model = _sqrt_model()
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"t": rng.normal(size=500), "x": rng.normal(size=500)})
    frame.loc[[0, 3, 411], "x"] = 0.0  # d/dx sqrt(x) = inf: a null
    source = tmp_path / "in.parquet"
    frame.astype({"x": "float32"}).to_parquet(source, row_group_size=77)
    frame = pd.read_parquet(source)
    specs = ["dy/dx", "d2y/dt^2", "y"]
    model = model.converted(dtype)
    expected, got = tmp_path / f"expected{suffix}", tmp_path / f"got{suffix}"
    _pandas_route(model, frame, specs, 128, expected)
    with pytest.warns(wrt.NonFiniteWarning) as caught:
        partials_stream(model, source, specs, got, chunk_size=128)
    assert "first: row 0," in str(caught[0].message)  # dy/dx at x = 0
    assert got.read_bytes() == expected.read_bytes()
    table = pq.read_table(got) if suffix == ".parquet" else None
    if table is not None:  # the partials in the model's dtype, the inputs float64
        assert table.schema.field("x").type == pa.float64()
        wanted = pa.float32() if dtype == torch.float32 else pa.float64()
        assert table.schema.field("dy/dx").type == wanted
        assert table.column("dy/dx").null_count == (frame["x"] <= 0).sum()


def test_a_writer_failure_is_raised_as_is_and_no_thread_is_left(setup, monkeypatch):
    import errno
    import threading

    model, _, tmp = setup
    written = []

    def full_disk(part, path):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(path)
        streaming.pq.write_table(part, path)

    monkeypatch.setattr(streaming, "_write_part", full_disk)
    with pytest.raises(OSError, match="No space left"):
        partials_stream(model, tmp / "in.parquet", SPECS, tmp / "o.parquet",
                        chunk_size=50)  # fmt: skip
    assert not [t for t in threading.enumerate() if t.name.startswith("wrt-")]
    parts = tmp / "o.parquet.parts"
    assert [p.name for p in parts.glob("part-*")] == ["part-00000000.parquet"]
    assert not list(parts.glob("*.tmp"))


@pytest.mark.parametrize("where", ["reader", "compute"])
def test_a_failure_in_either_thread_reaches_the_caller(setup, monkeypatch, where):
    import threading

    model, _, tmp = setup
    seen = []

    class Broken(RuntimeError):
        pass

    def fail_third(function):
        def wrapped(*args, **kwargs):
            seen.append(1)
            if len(seen) == 3:
                raise Broken("third chunk")
            return function(*args, **kwargs)

        return wrapped

    if where == "reader":
        monkeypatch.setattr(streaming, "points", fail_third(streaming.points))
    else:
        monkeypatch.setattr(
            streaming.Work, "compute", fail_third(streaming.Work.compute)
        )
    with pytest.raises(Broken, match="third chunk"):
        partials_stream(model, tmp / "in.csv", SPECS, tmp / "o.csv", chunk_size=100)
    assert not [t for t in threading.enumerate() if t.name.startswith("wrt-")]
    # not a refusal of the data: the finished parts stay, to resume (how many were
    # written before the failure stopped the writer depends on the threads' timing)
    finished, rows = streaming.kept(tmp / "o.csv")
    assert 1 <= finished <= 2 and rows == 100 * finished
    summary = partials_stream(model, tmp / "in.csv", SPECS, tmp / "o.csv",
                              chunk_size=100, resume=True)  # fmt: skip
    assert summary.computed == 1000 - 100 * finished
    whole = tmp / "whole.csv"
    partials_stream(model, tmp / "in.csv", SPECS, whole, chunk_size=100)
    assert (tmp / "o.csv").read_bytes() == whole.read_bytes()


def test_a_parquet_file_broken_mid_way_is_a_data_error_and_leaves_nothing(tmp_path):
    from bad_input.cases_stream14 import broken_parquet

    model = wrt.wrap(mlp(2, 1), inputs=["x1", "x2"])
    source = broken_parquet(tmp_path)
    with pytest.raises(wrt.DataError, match=r"Cannot read .* as Parquet"):
        partials_stream(model, source, ["dy/dx1"], tmp_path / "o.parquet",
                        chunk_size=128)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points.parquet"]


def test_the_phases_are_timed(setup):
    model, _, tmp = setup
    summary = partials_stream(model, tmp / "in.parquet", SPECS, tmp / "o.parquet",
                              chunk_size=100)  # fmt: skip
    assert set(summary.phases) == {"read: decode", "read: to arrays",
                                   "check: NaN / Inf", "compute",
                                   "screen: NaN outputs", "write", "join"}  # fmt: skip
    assert all(s >= 0 for s in summary.phases.values())
    assert summary.phases["compute"] <= summary.seconds


class _Recording(wrt.TaylorEngine):
    """The Taylor engine, recording the rows of every call."""

    def __init__(self, compile=False):
        super().__init__(compile=compile)
        self.rows = []

    def compute(self, model, x, request):
        self.rows.append(x.shape[0])
        return super().compute(model, x, request)


@pytest.mark.parametrize(("rows", "chunk_size"), [(300, 128), (40, 5), (7, 100)])
def test_a_fixed_shape_engine_sees_one_shape_and_the_padding_is_cut(
    tmp_path, monkeypatch, rows, chunk_size
):
    from wrt import chunks

    engine = _Recording()
    monkeypatch.setattr(chunks, "stream_engine", lambda *args: (engine, 16))
    model = wrt.wrap(mlp(2, 1), inputs=["x", "t"])
    rng = np.random.default_rng(rows)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "t": rng.normal(size=rows)})
    frame.to_parquet(tmp_path / "in.parquet", row_group_size=33)
    specs = ["dy/dx", "d3y/dx^2dt"]
    partials_stream(model, tmp_path / "in.parquet", specs, tmp_path / "o.parquet",
                    chunk_size=chunk_size)  # fmt: skip
    assert set(engine.rows) == {min(chunk_size, 16)}
    got = pd.read_parquet(tmp_path / "o.parquet")
    assert len(got) == rows
    x = torch.tensor(frame[["x", "t"]].to_numpy())
    closed = wrt.partials(model, x, specs, engine="autograd")
    for spec in specs:
        np.testing.assert_allclose(got[spec], closed[spec].numpy(), rtol=1e-12,
                                   atol=1e-14)  # fmt: skip


def test_auto_compiles_the_taylor_engine_for_a_big_file_only(monkeypatch):
    from wrt import chunks
    from wrt.engines.base import Request
    from wrt.spec import parse_spec

    model = wrt.wrap(mlp(2, 1), inputs=["x", "t"])
    third = Request((parse_spec("d3y/dx^3", model.inputs, model.outputs),))
    first = Request((parse_spec("dy/dx", model.inputs, model.outputs),))
    big = chunks.COMPILE_ROWS
    engine, fixed = chunks.stream_engine("auto", model, third, big)
    assert isinstance(engine, wrt.TaylorEngine) and engine.compile and fixed
    engine, fixed = chunks.stream_engine("taylor", model, third, big)
    assert isinstance(engine, wrt.TaylorEngine) and engine.compile == "on" and fixed
    engine, fixed = chunks.stream_engine("auto", model, third, big - 1, True)
    assert isinstance(engine, wrt.TaylorEngine) and engine.compile == "on" and fixed
    for args in [("auto", third, big - 1), ("auto", third, None),
                 ("auto", first, big)]:  # fmt: skip
        engine, fixed = chunks.stream_engine(args[0], model, args[1], args[2])
        assert fixed is None and getattr(engine, "compile", "off") != "on", args
    engine, fixed = chunks.stream_engine("auto", model, third, big, False)
    assert fixed is None and engine.compile == "off"


def test_a_compiled_stream_agrees_with_autograd_and_a_failed_compile_falls_back(
    tmp_path, monkeypatch
):
    """Really compiled (inductor), float32: within float32 round-off of autograd."""
    from wrt import chunks

    monkeypatch.setattr(chunks, "COMPILE_ROWS", 100)
    monkeypatch.setattr(chunks, "COMPILE_CHUNK", 64)
    model = wrt.wrap(mlp(2, 1, width=8), inputs=["x", "t"]).converted("float32")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=300), "t": rng.normal(size=300)})
    frame.to_parquet(tmp_path / "in.parquet")
    specs = ["d3y/dx^3", "d4y/dx^4"]  # auto: the Taylor engine
    expected = wrt.partials(model, frame[["x", "t"]], specs, engine="autograd")
    summary = partials_stream(model, tmp_path / "in.parquet", specs,
                              tmp_path / "c.parquet", chunk_size=100)  # fmt: skip
    got = pd.read_parquet(tmp_path / "c.parquet")
    for spec in specs:
        scale = float(expected[spec].abs().max())
        np.testing.assert_allclose(got[spec], expected[spec].numpy(), rtol=1e-4,
                                   atol=1e-5 * scale)  # fmt: skip
    assert summary.rows == 300 and summary.engine == "taylor (compiled)"

    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C compiler found")

    monkeypatch.setattr(torch, "compile", no_compiler)
    other = wrt.wrap(mlp(2, 1, width=8, seed=1), inputs=["x", "t"])  # not cached
    with pytest.warns(wrt.CompileWarning, match="no C compiler.*without compiling"):
        summary = partials_stream(other, tmp_path / "in.parquet", specs,
                                  tmp_path / "e.parquet", chunk_size=100)  # fmt: skip
    assert summary.engine == "taylor"
    eager = wrt.partials(other, frame[["x", "t"]], specs, engine="taylor")
    got = pd.read_parquet(tmp_path / "e.parquet")
    for spec in specs:
        np.testing.assert_array_equal(got[spec], eager[spec].numpy())


@pytest.mark.parametrize(
    ("specs", "engine", "error"),
    [(["dz/dx"], "auto", wrt.SpecError), (["dy/dx"], "warp", wrt.EngineError)],
)
def test_a_bad_request_is_refused_before_any_part_is_made(setup, specs, engine, error):
    model, _, tmp = setup
    before = sorted(p.name for p in tmp.iterdir())
    with pytest.raises(error):
        partials_stream(model, tmp / "in.parquet", specs, tmp / "new" / "o.parquet",
                        engine=engine)  # fmt: skip
    assert sorted(p.name for p in tmp.iterdir()) == before
