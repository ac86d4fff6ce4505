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
