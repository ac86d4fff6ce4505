"""wrt.sensitivity against closed forms, its figures, and the report."""

import math

import pytest
import torch
from matplotlib.figure import Figure

import wrt
from wrt import plots
from wrt.report import build_report

A, B = 2.0, -3.0


def _analytic():
    # y = a x1 + b x2^2
    return wrt.wrap(lambda z: A * z[:, 0] + B * z[:, 1] ** 2, inputs=["x1", "x2"])


def _uniform(n=200_000, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=generator, dtype=torch.float64)


def test_first_order_measures_match_the_closed_forms():
    s = wrt.sensitivity(_analytic(), _uniform(), ranges={"x1": (0, 1), "x2": (0, 1)})
    t = s.table
    # dy/dx1 = a everywhere
    assert t.loc["x1", "mean"] == pytest.approx(A, rel=1e-12)
    assert t.loc["x1", "std"] == pytest.approx(0.0, abs=1e-12)
    assert t.loc["x1", "dgsm"] == pytest.approx(A**2, rel=1e-12)
    # dy/dx2 = 2 b x2, x2 ~ U(0, 1): mean b, rms 2|b|/sqrt(3), std |b|/sqrt(3)
    assert t.loc["x2", "mean"] == pytest.approx(B, rel=5e-3)
    assert t.loc["x2", "rms"] == pytest.approx(2 * abs(B) / math.sqrt(3), rel=5e-3)
    assert t.loc["x2", "std"] == pytest.approx(abs(B) / math.sqrt(3), rel=5e-3)
    assert t.loc["x2", "dgsm"] == pytest.approx(4 * B**2 / 3, rel=5e-3)
    # Var(y) = a^2/12 + b^2 (1/5 - 1/9); the bound is above the true total index
    variance = A**2 / 12 + B**2 * (1 / 5 - 1 / 9)
    assert s.output_variance == pytest.approx(variance, rel=5e-3)
    true_total = {"x1": A**2 / 12 / variance, "x2": B**2 * 4 / 45 / variance}
    for name, total in true_total.items():
        bound = t.loc[name, "sobol_total_bound"]
        assert total <= bound
    assert t.loc["x1", "sobol_total_bound"] == pytest.approx(
        A**2 / math.pi**2 / variance, rel=5e-3
    )


def test_second_order_interactions_and_unknown_distributions():
    model = wrt.wrap(lambda z: z[:, 0] * z[:, 1] + z[:, 1] ** 3, inputs=["a", "b"])
    x = _uniform(20_000)
    s = wrt.sensitivity(model, x, order=2, variances={"a": 1 / 12})
    h = s.interactions
    assert h.loc["a", "b"] == pytest.approx(1.0, rel=1e-12)  # d2y/dadb = 1
    assert h.loc["b", "b"] == pytest.approx(3.0, rel=2e-2)  # mean |6 b| = 3
    assert h.loc["a", "a"] == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(s.table.loc["b", "sobol_total_bound"])  # no distribution given
    assert s.to_dict()["inputs"]["b"]["sobol_total_bound"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ranges": {"x9": (0, 1)}}, "x9"),
        ({"ranges": {"x1": (1, 0)}}, "high must exceed low"),
        ({"variances": {"x1": -1.0}}, "positive"),
        ({"order": 3}, "order must be 1 or 2"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(wrt.DataError, match=message):
        wrt.sensitivity(_analytic(), _uniform(10), **kwargs)


def test_figures_are_returned_never_shown():
    s = wrt.sensitivity(_analytic(), _uniform(500), order=2)
    for make in (
        plots.importance_bars,
        plots.mean_sd_scatter,
        plots.derivative_vs_input,
        plots.interaction_heatmap,
    ):
        assert isinstance(make(s), Figure)
    with pytest.raises(ValueError, match="order=2"):
        plots.interaction_heatmap(wrt.sensitivity(_analytic(), _uniform(50)))


def test_report_embeds_findings_tables_and_figures(tmp_path):
    line = torch.linspace(-1, 1, 200, dtype=torch.float64).unsqueeze(1)
    data = line * torch.tensor([[1.0, 1.5]], dtype=torch.float64)
    report = build_report(_analytic(), data, title="collinear <test>")
    html = report.write(tmp_path / "r.html").read_text()
    assert "not-identifiable" in html and "collinear &lt;test&gt;" in html
    assert html.count("data:image/png;base64,") == 4
    md_path = report.write(tmp_path / "md" / "r.md", format="md")
    text = md_path.read_text()
    assert "| error | not-identifiable |" in text
    assert len(list((tmp_path / "md").glob("r-figure*.png"))) == 4
    with pytest.raises(wrt.DataError, match="html or md"):
        report.write(tmp_path / "r.pdf", format="pdf")
