"""The cheap per-call checks of first order decide exactly as the full ones did.

Issue 14 made the fixed per-call cost of ``wrt.grad`` smaller: the accurate-tail
range check of :mod:`wrt.engines.saturating` reads two reductions instead of
building full-size temporaries, and the finiteness tests of the points and of the
results read one sum (NaN and Inf propagate through it) before looking entry by
entry. Each fast test is compared here with the entry-by-entry one it stands for,
on the cases where they could part: NaN entries, sums that overflow with finite
entries, Inf and -Inf together, negative softplus beta.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import wrt
from wrt.data import all_finite, as_points
from wrt.engines import saturating
from wrt.errors import DataError, NonFiniteWarning
from wrt.nonfinite import screen
from wrt.spec import Partial


def _needs_reference(u, limit, func, args, kwargs):
    """The former check, entry by entry (full-size temporaries)."""
    if not isinstance(u, torch.Tensor) or not u.requires_grad:
        return False
    if not u.is_floating_point() or u.numel() == 0:
        return False
    with torch.no_grad():
        if func is F.softplus:
            named = dict(zip(("beta", "threshold"), args[1:], strict=False))
            named.update(kwargs)
            scaled = u * float(named.get("beta", 1.0))
            threshold = float(named.get("threshold", 20.0))
            return bool(((scaled.abs() > limit) | (scaled > threshold)).any())
        return bool((u.abs() > limit).any())


def _cases():
    gen = torch.Generator().manual_seed(0)
    for scale in (0.5, 3.0, 6.0, 30.0):
        for shift in (-8.0, 0.0, 8.0):
            yield torch.randn(50, 7, generator=gen, dtype=torch.float64) * scale + shift
    nan = torch.full((4, 3), 1.0, dtype=torch.float64)
    nan[1, 1] = math.nan
    yield nan
    beyond = nan.clone()
    beyond[3, 2] = -9.0  # beyond every limit, next to a NaN
    yield beyond
    yield torch.full((2, 2), math.nan, dtype=torch.float64)
    yield torch.tensor([[math.inf, 0.0]], dtype=torch.float64)
    yield torch.tensor([[-math.inf, 0.0]], dtype=torch.float32)
    yield torch.tensor([[3.9, -3.9]], dtype=torch.float32)  # just inside tanh's 4


@pytest.mark.parametrize(
    ("func", "args", "kwargs"),
    [
        (torch.tanh, (), {}),
        (torch.sigmoid, (), {}),
        (F.gelu, (), {}),
        (F.softplus, (), {}),
        (F.softplus, (2.0,), {}),
        (F.softplus, (-1.5, 5.0), {}),
        (F.softplus, (), {"beta": -0.5, "threshold": 3.0}),
    ],
)
def test_range_check_decides_as_the_entry_by_entry_check(func, args, kwargs):
    limit = saturating._REPLACED[func][1]
    for u in _cases():
        u = u.clone().requires_grad_(True)
        got = saturating._needs(u, limit, func, (u, *args), kwargs)
        assert got == _needs_reference(u, limit, func, (u, *args), kwargs), u


def test_range_check_skips_tensors_that_need_no_gradient():
    u = torch.full((3, 3), 50.0)
    assert not saturating._needs(u, 4.0, torch.tanh, (u,), {})
    empty = torch.zeros(0, 3, requires_grad=True)
    assert not saturating._needs(empty, 4.0, torch.tanh, (empty,), {})


class _NanBesideTail(torch.nn.Module):
    """y = tanh(x1 + log(x2)): NaN where x2 < 0, far in the tail where x2 = 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x[:, 0] + torch.log(x[:, 1]))


def test_a_nan_row_does_not_hide_another_row_s_tail():
    # row 0 makes the activation's input NaN; row 1 is at u = 20, where torch's
    # own 1 - tanh^2 is exactly 0 but tanh'(20) = 1.70e-17
    model = wrt.wrap(_NanBesideTail(), inputs=["x1", "x2"])
    x = torch.tensor([[0.5, -1.0], [20.0, 1.0], [0.3, 1.0]], dtype=torch.float64)
    with pytest.warns(NonFiniteWarning):
        g = wrt.grad(model, x, engine="autograd")
    exact = 4 * math.exp(-40.0) / (1 + math.exp(-40.0)) ** 2
    assert g[1, 0].item() == pytest.approx(exact, rel=1e-12)
    assert g[2, 0].item() == pytest.approx(1 - math.tanh(0.3) ** 2, rel=1e-12)
    assert torch.isnan(g[0]).all()


def test_all_finite_agrees_with_isfinite_everywhere():
    big = torch.finfo(torch.float32).max
    cases = [
        torch.zeros(0, 2),
        torch.ones(3, 2),
        torch.full((4, 2), big),  # the sum overflows, every entry is finite
        torch.tensor([[big, -big], [1.0, 2.0]]),
        torch.tensor([[math.inf, 1.0]]),
        torch.tensor([[math.inf, -math.inf]]),  # the sum is NaN
        torch.tensor([[1.0, math.nan]]),
        torch.tensor([[1e308, 1e308]], dtype=torch.float64),
        torch.tensor([[1, 2]]),  # integers: always finite
    ]
    for t in cases:
        expected = bool(torch.isfinite(t).all()) if t.numel() else True
        assert all_finite(t) is expected, t


def test_points_whose_sum_overflows_are_accepted_and_a_late_inf_is_named():
    big = torch.finfo(torch.float32).max
    x = torch.full((5, 2), big)
    got = as_points(x, ["a", "b"])  # nothing refused, nothing copied
    assert got.data_ptr() == x.data_ptr() and torch.equal(got, x)
    x[4, 1] = math.inf
    with pytest.raises(DataError, match=r"Row 4 \(from 0\), column 'b'"):
        as_points(x, ["a", "b"])


def test_screen_with_overflowing_sums_finds_no_gap_and_changes_nothing():
    big = torch.finfo(torch.float32).max
    y = torch.full((6,), big)
    dy = torch.full((6,), -big)
    p = Partial("y", {"x": 1})
    points = torch.zeros(6, 1)
    values, gaps = screen({p: dy}, {"y": y}, points, ["x"])
    assert gaps == [] and values[p] is dy


def test_screen_mixed_dtypes_still_finds_the_gap():
    p = Partial("y", {"x": 1})
    dy = torch.tensor([1.0, math.inf, 2.0], dtype=torch.float64)
    y = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float32)
    values, gaps = screen({p: dy}, {"y": y}, torch.zeros(3, 1), ["x"])
    assert [g.first for g in gaps] == [1]
    assert values[p] is dy  # the output is finite: nothing masked
