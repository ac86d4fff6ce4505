"""The Ray Data path: same rows, same order, same numbers as the local run."""

import logging
import os
import warnings

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
def local_ray():
    from wrt import distributed

    with distributed.session(num_cpus=2):  # ray is in the dev extra: it must start
        yield


def _process_state():
    """What Ray could change in the process: environment, loggers, Data context."""
    names = ["", *(n for n in logging.root.manager.loggerDict if n.startswith("ray"))]
    loggers = {
        name: (
            list(logging.getLogger(name).handlers),
            logging.getLogger(name).level,
            logging.getLogger(name).propagate,
        )
        for name in names
    }
    with warnings.catch_warnings():  # Ray's own deprecations, made at creation
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ray.data.DataContext.get_current()
    options = (context.execution_options.preserve_order, context.enable_progress_bars)
    return dict(os.environ), loggers, options


def test_a_ray_run_leaves_the_process_as_it_found_it(tmp_path):
    """Runs first (no fixture): the CLI starts Ray, then must undo all of it."""
    if ray.is_initialized():
        pytest.skip("Ray was started by an earlier test; nothing to undo here")
    model = save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    pd.DataFrame({"x": np.linspace(0, 1, 50), "t": np.ones(50)}).to_csv(
        tmp_path / "in.csv", index=False
    )
    environment, loggers, options = _process_state()
    runner_ok(["partials", str(model), str(tmp_path / "in.csv"), "-d", "dy/dx",
               "--inputs", "x,t", "-o", str(tmp_path / "o.csv"), "--ray"])  # fmt: skip
    assert not ray.is_initialized()
    after_environment, after_loggers, after_options = _process_state()
    assert after_environment == environment
    assert after_options == options
    for name, state in loggers.items():
        assert after_loggers[name] == state, name
    for name in set(after_loggers) - set(loggers):  # created by Ray: no handlers
        assert after_loggers[name][0] == [], name
    assert len(pd.read_csv(tmp_path / "o.csv")) == 50


def test_ray_cli_output_equals_the_local_one(local_ray, tmp_path):
    model = save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=3000), "t": rng.normal(size=3000)}).to_parquet(
        tmp_path / "in.parquet"
    )
    common = [str(model), str(tmp_path / "in.parquet"), "-d", SPECS[0], "-d", SPECS[1],
              "--inputs", "x,t", "--chunk-size", "700"]  # fmt: skip
    local = runner_ok(["partials", *common, "-o", str(tmp_path / "local.parquet")])
    on_ray = runner_ok(
        ["partials", *common, "-o", str(tmp_path / "ray.parquet"), "--ray"]
    )
    assert local.exit_code == on_ray.exit_code == 0
    a = pd.read_parquet(tmp_path / "local.parquet")
    b = pd.read_parquet(tmp_path / "ray.parquet")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_ray_dataset_api_keeps_order_and_model_objects(local_ray):
    from wrt import distributed

    model = wrt.wrap(mlp(2, 1), inputs=["x", "t"])
    frame = pd.DataFrame({"x": np.linspace(-1, 1, 500), "t": np.linspace(2, 3, 500)})
    dataset = ray.data.from_pandas(frame)
    before = dataset.context.execution_options.preserve_order
    _, _, options = _process_state()
    with warnings.catch_warnings():  # Ray's advice on block counts, not ours
        warnings.simplefilter("ignore", UserWarning)
        out = _run(distributed, dataset, model)
    # the order is kept on wrt's own copy of the context, not the caller's
    assert dataset.context.execution_options.preserve_order == before
    assert _process_state()[2] == options
    expected = wrt.partials(model, frame, SPECS).to_frame()
    np.testing.assert_array_equal(out["x"].to_numpy(float), frame["x"].to_numpy())
    np.testing.assert_allclose(
        out[SPECS].to_numpy(float), expected.to_numpy(), rtol=1e-15
    )


def _run(distributed, dataset, model):
    return distributed.partials(
        dataset,
        model,
        SPECS,
        batch_size=64,
        concurrency=2,
        num_cpus=0.5,
    ).to_pandas()


def runner_ok(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def _pieces(folder):
    """Points in three files: a Parquet file of three row groups, a second
    Parquet file, and the same rows as two CSV files; the whole table."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=420), "t": rng.normal(size=420)})
    (folder / "pq").mkdir()
    (folder / "csv").mkdir()
    frame[:250].to_parquet(folder / "pq" / "a.parquet", row_group_size=100)
    frame[250:].to_parquet(folder / "pq" / "b.parquet")
    (folder / "pq" / "_SUCCESS").write_text("")  # not data: skipped
    frame[:130].to_csv(folder / "csv" / "a.csv", index=False)
    frame[130:].to_csv(folder / "csv" / "b.csv", index=False)
    return frame


@pytest.mark.parametrize("kind", ["pq", "csv"])
def test_read_tags_every_row_with_its_index_in_the_input(local_ray, tmp_path, kind):
    from wrt import distributed

    frame = _pieces(tmp_path)
    dataset = distributed.read(tmp_path / kind)
    with warnings.catch_warnings():  # Ray's (and pandas' inside Ray's), not ours
        warnings.simplefilter("ignore")
        shuffled = dataset.random_shuffle(seed=1).repartition(3).to_pandas()
    assert shuffled["row"].to_numpy().dtype == np.int64
    assert not shuffled["row"].is_monotonic_increasing  # the shuffle did shuffle
    back = shuffled.sort_values("row").reset_index(drop=True)
    np.testing.assert_array_equal(back["row"].to_numpy(), np.arange(len(frame)))
    np.testing.assert_array_equal(back[["x", "t"]].to_numpy(), frame.to_numpy())


def test_a_folder_from_python_keeps_its_order_through_repartitioning(
    local_ray, tmp_path
):
    from wrt import distributed

    model = save_torchscript(mlp(2, 1), tmp_path / "model.pt")
    frame = _pieces(tmp_path)
    rows = distributed.write_partials(
        model, tmp_path / "pq", SPECS, tmp_path / "out",
        batch_size=64, concurrency=2, num_cpus=0.5,
        load_options={"inputs": ["x", "t"]},
    )  # fmt: skip
    assert rows == len(frame)
    written = pd.read_parquet(tmp_path / "out")
    assert list(written.columns) == ["row", "x", "t", *SPECS]
    np.testing.assert_array_equal(written["row"].to_numpy(), np.arange(len(frame)))
    # anyone may re-partition the folder: the row ids put it back in order
    with warnings.catch_warnings():  # Ray's (and pandas' inside Ray's), not ours
        warnings.simplefilter("ignore")
        mixed = distributed.read(tmp_path / "out", row_id=None).random_shuffle(seed=2)
        mixed.repartition(5).write_parquet(str(tmp_path / "mixed"))
    again = pd.read_parquet(tmp_path / "mixed").sort_values("row")
    local = wrt.partials(wrt.load(model, inputs=["x", "t"]), frame, SPECS).to_frame()
    np.testing.assert_array_equal(again[["x", "t"]].to_numpy(), frame.to_numpy())
    np.testing.assert_allclose(again[SPECS].to_numpy(), local.to_numpy(), rtol=1e-15)
    # a name that a spec has is refused, naming the Python argument
    with pytest.raises(wrt.errors.RowIdError, match="Give row_id another name"):
        distributed.partials(tmp_path / "pq", model, ["dy/dx"], row_id="dy/dx")
