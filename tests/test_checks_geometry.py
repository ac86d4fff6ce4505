"""not-identifiable on curved and flat low-dimensional data, and never on data that
fill the space (wrt.checks.support, wrt.checks.neighbours)."""

import math

import numpy as np
import pytest
import torch

import wrt
from wrt.checks import inputs, run, support
from wrt.checks.neighbours import DataIndex

D = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _rotation(n, seed):
    return torch.linalg.qr(torch.randn(n, n, generator=_gen(seed), dtype=D)).Q


# curves: (points, unit tangent at each point)
def _parabola(m, seed=0):
    x = torch.rand(m, generator=_gen(seed), dtype=D) * 2 - 1
    tangent = torch.stack([torch.ones_like(x), 2 * x], 1)
    return torch.stack([x, x**2], 1), tangent / tangent.norm(dim=1, keepdim=True)


def _circle(m, seed=0):
    t = torch.rand(m, generator=_gen(seed), dtype=D) * 2 * math.pi
    return torch.stack([t.cos(), t.sin()], 1), torch.stack([-t.sin(), t.cos()], 1)


def _helix(m, seed=0):
    t = torch.rand(m, generator=_gen(seed), dtype=D) * 4 * math.pi
    points = torch.stack([t.cos(), t.sin(), 0.3 * t], 1)
    tangent = torch.stack([-t.sin(), t.cos(), torch.full_like(t, 0.3)], 1)
    return points, tangent / tangent.norm(dim=1, keepdim=True)


def _circle_in_3d(m, seed=0):
    points, tangent = _circle(m, seed)
    frame = _rotation(3, seed + 1)[:2]
    return points @ frame, tangent @ frame


def _geometry(data, points=None):
    return support.local_geometry(
        DataIndex(data), data if points is None else points, 0.05, None
    )


def _along(geometry, data, tangent):
    """|P u| / |u| for the tangent u in input units: 1 when u is determined."""
    # the projector acts on input units; the test's curves are in input units
    projected = geometry.projector @ tangent.unsqueeze(-1)
    return projected.squeeze(-1).norm(dim=1) / tangent.norm(dim=1)


@pytest.mark.parametrize("rows", [30, 42, 100, 250, 1000])
@pytest.mark.parametrize("curve", [_parabola, _circle], ids=["parabola", "circle"])
def test_a_curve_in_the_plane_is_one_dimensional_at_any_density(curve, rows):
    data, tangent = curve(rows)
    geometry = _geometry(data)
    assert geometry.rank.tolist() == [1] * rows
    # the determined direction is the curve's own tangent at each point
    assert _along(geometry, data, tangent).min() > 0.999


@pytest.mark.parametrize(
    "curve, rows", [(_helix, 300), (_circle_in_3d, 300), (_helix, 1000)]
)
def test_a_curve_in_space_is_one_dimensional(curve, rows):
    data, tangent = curve(rows)
    geometry = _geometry(data)
    assert geometry.rank.tolist() == [1] * rows
    assert _along(geometry, data, tangent).min() > 0.99


def test_a_sphere_and_a_tilted_plane_in_3d_are_two_dimensional():
    v = torch.randn(200, 3, generator=_gen(0), dtype=D)
    sphere = v / v.norm(dim=1, keepdim=True)
    geometry = _geometry(sphere)
    assert geometry.rank.tolist() == [2] * 200
    # the normal (the point itself) is not determined, every tangent is
    assert _along(geometry, sphere, sphere).max() < 0.05
    frame = _rotation(3, 5)
    plane = torch.rand(200, 2, generator=_gen(1), dtype=D) @ frame[:2]
    geometry = _geometry(plane)
    assert geometry.rank.tolist() == [2] * 200
    normal = frame[2].expand(200, 3)
    assert _along(geometry, plane, normal).max() < 1e-6
    assert _along(geometry, plane, frame[0].expand(200, 3)).min() > 1 - 1e-9


@pytest.mark.parametrize(
    "noise, make",
    [
        (0.005, _circle),
        (0.01, _circle),
        (0.005, _parabola),
        (0.01, lambda m: _line_with_tangent(m)),
    ],
    ids=["circle-0.5%", "circle-1%", "parabola-0.5%", "line-1%"],
)
def test_a_noisy_curve_is_still_a_curve(noise, make):
    data, tangent = make(1000)
    data = data + noise * torch.randn(1000, 2, generator=_gen(9), dtype=D)
    geometry = _geometry(data)
    assert geometry.rank.tolist() == [1] * 1000
    assert _along(geometry, data, tangent).median() > 0.99


def _line_with_tangent(m):
    t = torch.rand(m, 1, generator=_gen(2), dtype=D) * 2 - 1
    u = torch.tensor([[1.0, 1.5]], dtype=D)
    return t * u, (u / u.norm()).expand(m, 2)


def _latin_hypercube(m, n, seed):
    generator = np.random.default_rng(seed)
    cells = np.stack([generator.permutation(m) for _ in range(n)], 1)
    return torch.from_numpy((cells + generator.random((m, n))) / m)


def _full_rank_cases():
    cases = []
    for n in (2, 3):
        for rows in (30, 42, 100, 1000):
            for seed in (0, 1):
                cases.append(
                    (
                        f"uniform-{n}d-{rows}-{seed}",
                        lambda r=rows, n=n, s=seed: torch.rand(
                            r, n, generator=_gen(s), dtype=D
                        ),
                    )
                )
    a = torch.linspace(-1, 1, 20, dtype=D)
    b = torch.linspace(-1, 1, 8, dtype=D)
    cases += [
        ("grid-2d", lambda: torch.cartesian_prod(a, a * 3)),
        ("grid-3d", lambda: torch.cartesian_prod(b, b, b)),
        ("latin-2d", lambda: _latin_hypercube(100, 2, 0)),
        ("latin-3d", lambda: _latin_hypercube(200, 3, 1)),
        ("gauss-2d", lambda: torch.randn(500, 2, generator=_gen(3), dtype=D)),
        ("gauss-3d", lambda: torch.randn(500, 3, generator=_gen(4), dtype=D)),
        (
            "gauss-2d-correlated-0.9",
            lambda: (
                torch.randn(500, 2, generator=_gen(5), dtype=D)
                @ torch.tensor([[1.0, 0.9], [0.0, 0.436]], dtype=D)
            ),
        ),
        (
            "gauss-3d-stretched-rotated",
            lambda: (
                torch.randn(400, 3, generator=_gen(6), dtype=D)
                @ torch.diag(torch.tensor([1.0, 0.3, 0.15], dtype=D))
                @ _rotation(3, 7)
            ),
        ),
        (
            "two-far-clusters",
            lambda: (
                torch.randn(400, 2, generator=_gen(8), dtype=D) * 0.05
                + torch.tensor([[1.0, 0.0]], dtype=D)
                * (torch.arange(400) % 2).view(-1, 1)
            ),
        ),
        (
            "repeated-rows",
            lambda: torch.rand(100, 2, generator=_gen(10), dtype=D).repeat(5, 1),
        ),
    ]
    return cases


@pytest.mark.parametrize(
    "make", [c[1] for c in _full_rank_cases()], ids=[c[0] for c in _full_rank_cases()]
)
def test_data_that_fill_the_space_determine_every_direction(make):
    data = make()
    geometry = _geometry(data)
    assert geometry.rank.tolist() == [data.shape[1]] * data.shape[0]


def _model():
    # y = sin(x1) + x2^2 / 2 + x1 x2: gradient in closed form
    return wrt.wrap(
        lambda z: torch.sin(z[:, 0]) + 0.5 * z[:, 1] ** 2 + z[:, 0] * z[:, 1],
        inputs=["x1", "x2"],
    )


def _gradient(x):
    return torch.stack([torch.cos(x[:, 0]) + x[:, 1], x[:, 1] + x[:, 0]], 1)


@pytest.mark.parametrize("curve", [_parabola, _circle], ids=["parabola", "circle"])
def test_check_flags_sparse_curves_with_the_tangent_derivative(curve):
    data, tangent = curve(42)
    report = wrt.check(_model(), data, data=data, verify=False)
    flagged = report.by_code("not-identifiable")
    assert sorted(s for f in flagged for s in f.specs) == ["dy/dx1", "dy/dx2"]
    for finding in flagged:
        assert finding.severity == "error"
        # flagged where the axis is off the tangent (sine of the angle > 0.1)
        axis = 0 if finding.specs == ["dy/dx1"] else 1
        off = (1 - tangent[:, axis] ** 2).clamp_min(0).sqrt()
        assert set(torch.nonzero(off > 0.12).flatten().tolist()) <= set(finding.points)
        assert set(finding.points) <= set(torch.nonzero(off > 0.08).flatten().tolist())
        direction = finding.directions
        # the reported direction is the tangent (up to sign), per point
        assert (direction * tangent).sum(1).abs().min() > 0.999
        exact = (_gradient(data) * direction).sum(1)
        torch.testing.assert_close(
            finding.directional_derivative, exact, rtol=1e-10, atol=1e-12
        )
    assert report.has_errors


def test_a_sphere_flags_every_first_partial_but_not_its_tangent_derivatives():
    v = torch.randn(120, 3, generator=_gen(11), dtype=D)
    sphere = v / v.norm(dim=1, keepdim=True)
    model = wrt.wrap(lambda z: z[:, 0] * z[:, 1] + z[:, 2], inputs=["a", "b", "c"])
    report = wrt.check(model, sphere, data=sphere, verify=False)
    flagged = report.by_code("not-identifiable")
    assert sorted(s for f in flagged for s in f.specs) == ["dy/da", "dy/db", "dy/dc"]
    for finding in flagged:
        # every reported direction is tangent to the sphere
        assert (finding.directions * sphere).sum(1).abs().max() < 0.05
        assert finding.data_rank.tolist() == [2] * 120


def test_many_points_are_checked_at_a_stated_seeded_sample(monkeypatch):
    monkeypatch.setattr(run, "MAX_POINTS", 40)
    data, _ = _circle(300)
    reports = [wrt.check(_model(), data, data=data, verify=False) for _ in range(2)]
    for report in reports:
        (note,) = report.by_code("check-skipped")
        assert note.checked == 40 and note.of == 300
        assert "random sample of 40 of the 300 points" in note.message
        flagged = report.by_code("not-identifiable")
        # the circle's tangent is along x1 or x2 at a few points: not flagged there
        assert flagged and all(30 < f.count <= 40 for f in flagged)
        (first, *_) = flagged
        assert set(first.points) <= set(first.checked.tolist())
        assert len(first.directional_derivative) == 40
        # the per-point arrays follow the sampled points
        exact = (_gradient(data[first.checked]) * first.directions).sum(1)
        torch.testing.assert_close(first.directional_derivative, exact)
    assert reports[0].findings[0].points == reports[1].findings[0].points


def test_the_data_is_indexed_once_per_check(monkeypatch):
    built = []

    class Counting(DataIndex):
        def __init__(self, data, seed=0):
            built.append(data.shape)
            super().__init__(data, seed)

    monkeypatch.setattr(inputs, "DataIndex", Counting)
    monkeypatch.setattr(run, "DataIndex", Counting)
    data, _ = _circle(100)
    report = wrt.check(_model(), data, data=data, verify=False)
    assert report.by_code("not-identifiable") and len(built) == 1


def test_a_fixed_neighbourhood_size_is_one_scale():
    data, _ = _circle(42)
    index = DataIndex(data)
    assert support.scales(index, 2, 12) == [(0, 12)]
    plan = support.scales(index, 2, None)
    assert plan[0] == (0, 10) and plan[-1] == (0, 42)
    big = DataIndex(torch.rand(5000, 2, generator=_gen(0), dtype=D))
    levels = [level for level, _ in support.scales(big, 2, None)]
    assert levels == sorted(levels) and max(levels) >= 3
    assert all(k <= big.level_size(level) for level, k in support.scales(big, 2, None))


def test_the_callers_thread_setting_is_restored(monkeypatch):
    before = torch.get_num_threads()
    data, _ = _circle(50)
    support.local_geometry(DataIndex(data), data, 0.05, None)
    assert torch.get_num_threads() == before

    def broken(*args):
        raise RuntimeError("inside")

    monkeypatch.setattr(support, "_scale_rank", broken)
    with pytest.raises(RuntimeError, match="inside"):
        support.local_geometry(DataIndex(data), data, 0.05, None)
    assert torch.get_num_threads() == before


def test_more_inputs_a_line_a_torus_and_a_full_cloud():
    generator = _gen(12)
    t = torch.rand(300, 1, generator=generator, dtype=D)
    line = t * torch.arange(1.0, 6.0, dtype=D)
    assert _geometry(line).rank.tolist() == [1] * 300
    # the flat torus (cos a, sin a, cos b, sin b): a surface in 4-D
    a, b = torch.rand(2, 400, generator=generator, dtype=D) * 2 * math.pi
    torus = torch.stack([a.cos(), a.sin(), b.cos(), b.sin()], 1)
    ranks = _geometry(torus).rank
    assert (ranks <= 3).all() and (ranks == 2).float().mean() > 0.95
    cloud = torch.rand(300, 5, generator=generator, dtype=D)
    assert _geometry(cloud).rank.tolist() == [5] * 300
