"""The Ray Data path: same rows, same order, same numbers as the local run."""

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

    distributed.connect(num_cpus=2)  # ray is in the dev extra: it must start
    yield
    ray.shutdown()


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
    with warnings.catch_warnings():  # Ray's advice on block counts, not ours
        warnings.simplefilter("ignore", UserWarning)
        out = _run(distributed, frame, model)
    expected = wrt.partials(model, frame, SPECS).to_frame()
    np.testing.assert_array_equal(out["x"].to_numpy(float), frame["x"].to_numpy())
    np.testing.assert_allclose(
        out[SPECS].to_numpy(float), expected.to_numpy(), rtol=1e-15
    )


def _run(distributed, frame, model):
    return distributed.partials(
        ray.data.from_pandas(frame),
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
