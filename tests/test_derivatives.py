"""The public API: partials and its compositions, against torch.func as reference."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch.func import hessian as func_hessian
from torch.func import jacrev, vmap

import wrt
from models import mlp


@pytest.fixture
def net():
    return mlp(3, 2)


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.randn(20, 3, dtype=torch.float64)


def test_jacobian_and_grad_match_vmap_jacrev(net, x):
    expected = vmap(jacrev(lambda row: net(row)))(x)  # (N, n_out, n_in)
    torch.testing.assert_close(wrt.jacobian(net, x), expected, rtol=1e-12, atol=1e-14)
    m = wrt.wrap(net, outputs=["u", "v"])
    torch.testing.assert_close(wrt.grad(m, x, output="v"), expected[:, 1])


def test_hessian_and_laplacian_match_torch_func(net, x):
    expected = vmap(func_hessian(lambda row: net(row)[1]))(x)
    m = wrt.wrap(net)
    torch.testing.assert_close(
        wrt.hessian(m, x, output="y2"), expected, rtol=1e-12, atol=1e-14
    )
    lap = wrt.laplacian(m, x, output="y2", over=["x1", "x3"])
    torch.testing.assert_close(lap, expected[:, 0, 0] + expected[:, 2, 2])


def test_single_output_required_when_ambiguous(net, x):
    with pytest.raises(wrt.SpecError, match="2 outputs"):
        wrt.grad(net, x)
    with pytest.raises(wrt.SpecError, match="Did you mean 'y1'"):
        wrt.hessian(net, x, output="y")
    with pytest.raises(wrt.SpecError, match="Unknown input 'z'"):
        wrt.laplacian(net, x, output="y1", over=["z"])


def test_chunks_give_the_same_numbers(net, x):
    specs = ["dy1/dx1", "d2y2/dx3dx1", "d3y1/dx2^3"]
    whole = wrt.partials(net, x, specs)
    seen = []
    chunked = wrt.partials(net, x, specs, chunk_size=7, on_chunk=seen.append)
    assert seen == [7, 7, 6]
    for spec in specs:
        # other batch sizes may sum in another order inside BLAS: equal to round-off
        torch.testing.assert_close(chunked[spec], whole[spec], rtol=1e-13, atol=0)
    with pytest.raises(wrt.DataError, match="chunk_size"):
        wrt.partials(net, x, specs, chunk_size=0)


def test_dtype_option_and_float32_default():
    net = mlp(2, 1).float()
    x = np.random.default_rng(0).normal(size=(5, 2))
    assert wrt.partials(net, x, "dy/dx1")["dy/dx1"].dtype == torch.float32
    for dtype in ("float64", torch.float64):
        value = wrt.partials(net, x, "dy/dx1", dtype=dtype)["dy/dx1"]
        assert value.dtype == torch.float64
    assert net[0].weight.dtype == torch.float32  # the user's module is untouched


def test_tables_and_result_mapping():
    m = wrt.wrap(mlp(2, 1), inputs=["x", "t"], outputs=["u"])
    frame = pd.DataFrame({"t": [0.1, 0.2], "x": [1.0, 2.0]})
    P = wrt.partials(m, frame, ["du/dx", "d2u/dtdx", "d2u/dxdt", "u"])
    assert len(P) == 3  # the two spellings of the mixed partial are one entry
    assert P["d2u/dxdt"] is P["d2u/dtdx"]
    table = P.to_frame()
    assert list(table.columns) == ["du/dx", "d2u/dtdx", "d2u/dxdt", "u"]
    assert list(P.to_frame(with_inputs=True).columns)[:2] == ["x", "t"]
    np.testing.assert_allclose(P.points.numpy(), frame[["x", "t"]].to_numpy())
    with pytest.raises(KeyError, match="not computed"):
        P["d2u/dx^2"]
    assert "N=2" in repr(P)


def test_bad_requests():
    m = wrt.wrap(mlp(2, 1))
    x = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(wrt.SpecError, match="No derivative"):
        wrt.partials(m, x, [])
    with pytest.raises(wrt.EngineError, match="Unknown engine 'taylr'"):
        wrt.partials(m, x, "dy/dx1", engine="taylr")
    with pytest.raises(wrt.ModelError, match="Expected a wrt Model"):
        wrt.partials(42, x, "dy/dx1")  # type: ignore[arg-type]
    with pytest.raises(wrt.DataError, match=r"Row 1 \(from 0\), column 'x2'"):
        wrt.partials(m, [[0.0, 0.0], [0.0, float("nan")]], "dy/dx1")


def test_no_points_gives_empty_results():
    m = wrt.wrap(mlp(2, 1))
    P = wrt.partials(m, torch.zeros(0, 2, dtype=torch.float64), ["dy/dx1", "d2y/dx2^2"])
    assert P["dy/dx1"].shape == (0,) and P["d2y/dx2^2"].shape == (0,)


def test_model_from_a_path(torchscript_file):
    x = torch.zeros(2, 2)
    assert wrt.partials(str(torchscript_file), x, "dy/dx1")["dy/dx1"].shape == (2,)
