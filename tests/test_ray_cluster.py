"""Ray on a simulated cluster of two nodes (``ray.cluster_utils.Cluster``) on this
machine: the workers write the Parquet folder, and it equals the local run row by
row, matched through the row ids."""

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import wrt
from models import mlp, save_torchscript
from wrt.cli.app import app

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

SPECS = ["dy/dx", "d2y/dxdt"]


@pytest.fixture(scope="module")
def two_nodes():
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        cluster.shutdown()


def _points(path, n=4000):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=n), "t": rng.normal(size=n)})
    frame.to_parquet(path)
    return frame


_DRIVER = """
import sys
from wrt import distributed

address, points, model, out = sys.argv[1:5]
with distributed.session(address):
    import ray

    alive = [node for node in ray.nodes() if node["Alive"]]
    assert len(alive) == 2, alive
    dataset = distributed.partials(
        distributed.read(points).repartition(8),
        model,
        ["dy/dx", "d2y/dxdt"],
        batch_size=300,
        concurrency=2,
        load_options={"inputs": ["x", "t"]},
    )
    print("ROWS", distributed.write_folder(dataset, out))
"""


def _driver(*args):
    """A fresh driver process joins the cluster (as a user's script would); one
    that ran Ray before in this process would carry Ray's state over."""
    return subprocess.run(
        [sys.executable, "-c", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def test_workers_on_two_nodes_write_the_same_table_as_a_local_run(two_nodes, tmp_path):
    model = save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    frame = _points(tmp_path / "in.parquet")
    done = _driver(
        _DRIVER, two_nodes.address, str(tmp_path / "in.parquet"), str(model),
        str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = re.search(r"^ROWS (\d+)$", done.stdout, re.M)  # Ray prints too
    assert rows is not None and int(rows.group(1)) == len(frame), done.stdout
    parts = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert parts == [f"part-{i:06d}.parquet" for i in range(len(parts))]
    assert len(parts) > 1  # written by the workers, a file per task
    written = pd.read_parquet(tmp_path / "out")
    assert list(written.columns) == ["row", "x", "t", *SPECS]
    local = wrt.partials(wrt.load(model, inputs=["x", "t"]), frame, SPECS).to_frame()
    # row by row through the row ids, whatever order the rows came in: each
    # written row is the input row it names, with the local run's numbers
    row = written["row"].to_numpy()
    np.testing.assert_array_equal(np.sort(row), np.arange(len(frame)))
    np.testing.assert_array_equal(written[["x", "t"]].to_numpy(), frame.to_numpy()[row])
    np.testing.assert_array_equal(written[SPECS].to_numpy(), local.to_numpy()[row])
    np.testing.assert_array_equal(row, np.arange(len(frame)))  # and in order
    assert not list(tmp_path.glob(".out.*"))  # no temporary folder left


def test_the_cli_writes_a_folder_from_the_workers(two_nodes, tmp_path):
    model = save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    frame = _points(tmp_path / "in.parquet", n=1500)
    args = ["partials", str(model), str(tmp_path / "in.parquet"), "-d", SPECS[0],
            "--inputs", "x,t", "--ray-address", two_nodes.address]  # fmt: skip
    cli = "import sys; from wrt.cli.app import main; sys.argv[0] = 'wrt'; main()"
    done = _driver(cli, *args, "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr[-3000:]
    written = pd.read_parquet(tmp_path / "out")
    assert list(written.columns) == ["row", "x", "t", SPECS[0]]
    np.testing.assert_array_equal(written["row"].to_numpy(), np.arange(len(frame)))
    np.testing.assert_array_equal(written["x"].to_numpy(), frame["x"].to_numpy())
    # a folder that holds files is never written into
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    refused = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "mine")])
    assert refused.exit_code == 2
    assert "folder with files in it" in refused.output
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
