"""Streaming partials: chunked reading and writing, order, interruption and --resume."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import wrt
from models import mlp, save_torchscript
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
    with pytest.raises(wrt.DataError, match="chunk_size changed"):
        partials_stream(model, source, SPECS, out, chunk_size=50, resume=True)


def test_a_nan_row_is_named_by_its_row_in_the_file(tmp_path):
    model = wrt.wrap(mlp(2, 1), inputs=["x", "t"])
    frame = pd.DataFrame({"x": np.zeros(300), "t": np.zeros(300)})
    frame.loc[257, "t"] = np.nan
    frame.to_parquet(tmp_path / "in.parquet")
    with pytest.raises(wrt.DataError, match=r"rows 200\.\.299.*row 57"):
        partials_stream(model, tmp_path / "in.parquet", SPECS, tmp_path / "o.parquet",
                        chunk_size=100)  # fmt: skip


def test_a_killed_cli_run_resumes_to_an_identical_file(tmp_path):
    model = save_torchscript(mlp(2, 1, width=64), tmp_path / "model.pt")
    rng = np.random.default_rng(1)
    n = 400_000
    pd.DataFrame({"x": rng.normal(size=n), "t": rng.normal(size=n)}).to_parquet(
        tmp_path / "big.parquet", row_group_size=50_000
    )
    base = [sys.executable, "-m", "wrt", "partials", str(model),
            str(tmp_path / "big.parquet"), "-d", "dy/dx", "-d", "d2y/dx^2",
            "--inputs", "x,t", "--chunk-size", "20000"]  # fmt: skip
    whole = tmp_path / "whole.parquet"
    subprocess.run([*base, "-o", str(whole)], check=True, capture_output=True)
    out = tmp_path / "out.parquet"
    run = subprocess.Popen(
        [*base, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    parts = tmp_path / "out.parquet.parts"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(parts.glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert not out.exists() and len(list(parts.glob("part-*.parquet"))) < 20
    subprocess.run([*base, "-o", str(out), "--resume"], check=True, capture_output=True)
    assert out.read_bytes() == whole.read_bytes()
    sample = pd.read_parquet(whole).iloc[::9973]
    direct = wrt.partials(
        wrt.load(model, inputs=["x", "t"]), sample[["x", "t"]], ["dy/dx", "d2y/dx^2"]
    )
    torch.testing.assert_close(
        torch.tensor(sample["d2y/dx^2"].to_numpy()),
        direct["d2y/dx^2"],
        rtol=1e-12,
        atol=0,
    )
