"""Layer and group norms: exact partials of order >= 3 (torch's fused ones are not)."""

import warnings

import pytest
import torch

import wrt
from models import save_torchscript
from tolerances import assert_engines_agree

SPECS = ["d3y/dx1^3", "d3y/dx1^2dx2", "d4y/dx1^2dx2^2"]


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 6), torch.nn.LayerNorm(6), torch.nn.Tanh(),
        torch.nn.Linear(6, 6), torch.nn.GroupNorm(2, 6), torch.nn.SiLU(),
        torch.nn.Linear(6, 1),
    ).double()  # fmt: skip


def _points():
    return torch.randn(
        7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )


def test_autograd_and_taylor_agree_and_match_finite_differences():
    model = wrt.wrap(_net())
    x = _points()
    assert_engines_agree(model, x, SPECS, engine="taylor")
    fd = wrt.partials(model, x, SPECS[:2], engine="finite_diff")
    exact = wrt.partials(model, x, SPECS[:2], engine="autograd")
    for spec in SPECS[:2]:
        bound = 10 * fd.errors[fd.key(spec)] + 1e-7 * float(fd[spec].abs().max())
        assert bool(((exact[spec] - fd[spec]).abs() <= bound).all()), spec


def test_a_compiled_model_with_fused_norms_warns_and_auto_takes_taylor(tmp_path):
    path = save_torchscript(_net(), tmp_path / "m.pt")
    model = wrt.load(path)
    x = _points()
    with pytest.warns(wrt.PrecisionWarning, match="175754"):
        wrt.partials(model, x, "d3y/dx1^3", engine="autograd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = wrt.partials(model, x, "d3y/dx1^3")
    assert result.engine == "taylor"
    reference = wrt.partials(wrt.wrap(_net()), x, "d3y/dx1^3", engine="autograd")
    torch.testing.assert_close(result["d3y/dx1^3"], reference["d3y/dx1^3"])
