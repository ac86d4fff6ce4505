"""How Partials, CheckReport and Sensitivity show in Jupyter (``_repr_html_``).

The HTML is parsed back (stdlib parser) and read as a reader would: the cells of
each table, the notes, the row classes. Numbers are compared with the objects'
own values, text with what was given (escaped names read back as written).
"""

from __future__ import annotations

import math
from html.parser import HTMLParser

import pandas as pd
import pytest
import torch

import wrt
from wrt import display
from wrt.checks import CheckReport, Finding
from wrt.result import Partials
from wrt.sensitivity import Sensitivity
from wrt.spec import Partial


class _Tables(HTMLParser):
    """Tables (caption, header, rows of cell text, row attributes) and notes."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.notes: list[str] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in: str | None = None
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "table":
            self.tables.append({"caption": "", "header": [], "rows": [], "attrs": []})
        elif tag == "tr":
            self._row = []
            self._row_attrs = dict(attrs)
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("caption", "p"):
            self._in = tag
            self._text: list[str] = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            if not table["header"]:
                table["header"] = self._row
            else:
                table["rows"].append(self._row)
                table["attrs"].append(self._row_attrs)
            self._row = None
        elif tag == "caption":
            self.tables[-1]["caption"] = "".join(self._text)
            self._in = None
        elif tag == "p":
            self.notes.append("".join(self._text))
            self._in = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._in is not None:
            self._text.append(data)


def _partials(n: int, inputs: list[str], specs: list[str], *, errors: bool = False):
    """A Partials built by hand: value of spec k at point i is i + k / 8."""
    points = torch.arange(n * len(inputs), dtype=torch.float64).reshape(n, -1)
    requested = []
    values = {}
    for k, text in enumerate(specs):
        partial = Partial("y", {inputs[k % len(inputs)]: 1 + k // len(inputs)})
        requested.append((text, partial))
        values[partial] = torch.arange(n, dtype=torch.float64) + k / 8
    return Partials(
        values,
        inputs=inputs,
        outputs=["y"],
        points=points,
        requested=requested,
        engine="finite_diff" if errors else "autograd",
        errors={p: v * 1e-9 for p, v in values.items()} if errors else None,
    )


def test_partials_show_inputs_then_values_as_computed():
    model = wrt.wrap(lambda x: torch.sin(x[:, 0]) * x[:, 1], inputs=["x", "t"])
    X = torch.rand(7, 2, dtype=torch.float64)
    P = wrt.partials(model, X, ["dy/dx", "d2y/dtdx"])
    seen = _Tables(P._repr_html_())
    (table,) = seen.tables
    assert table["header"] == ["", "x", "t", "dy/dx", "d2y/dtdx"]
    assert "7 points" in table["caption"] and "autograd" in table["caption"]
    assert len(table["rows"]) == 7 and seen.notes == []
    for i, row in enumerate(table["rows"]):
        x, t = X[i].tolist()
        assert row[0] == str(i)
        assert [float(c) for c in row[1:3]] == pytest.approx([x, t], rel=1e-5)
        # closed forms: cos(x) t and cos(x)
        assert float(row[3]) == pytest.approx(math.cos(x) * t, rel=1e-5)
        assert float(row[4]) == pytest.approx(math.cos(x), rel=1e-5)


def test_partials_show_error_estimates_of_finite_differences():
    P = _partials(4, ["a", "b"], ["dy/da", "dy/db"], errors=True)
    (table,) = _Tables(P._repr_html_()).tables
    assert table["header"][-2:] == ["\u00b1 dy/da", "\u00b1 dy/db"]
    assert [float(r[-1]) for r in table["rows"]] == pytest.approx(
        [(i + 1 / 8) * 1e-9 for i in range(4)]
    )


@pytest.mark.parametrize("n", [21, 100, 10_000])
def test_long_partials_show_head_and_tail_with_a_note(n):
    P = _partials(n, ["a", "b"], ["dy/da"])
    seen = _Tables(P._repr_html_())
    rows = seen.tables[0]["rows"]
    half = display.MAX_ROWS // 2
    assert len(rows) == display.MAX_ROWS + 1  # and the row of ellipses
    assert [r[0] for r in rows[:half]] == [str(i) for i in range(half)]
    assert set(rows[half]) == {"\u2026"}
    assert [r[0] for r in rows[half + 1 :]] == [str(i) for i in range(n - half, n)]
    assert float(rows[-1][-1]) == n - 1
    (note,) = seen.notes
    assert f"{n - display.MAX_ROWS} of {n} rows" in note and "to_frame" in note


@pytest.mark.parametrize(("n_in", "n_specs"), [(2, 30), (50, 3), (40, 40)])
def test_wide_partials_keep_the_values_and_say_what_is_hidden(n_in, n_specs):
    inputs = [f"x{i}" for i in range(n_in)]
    specs = [f"spec{k}" for k in range(n_specs)]
    P = _partials(3, inputs, specs)
    seen = _Tables(P._repr_html_())
    header = seen.tables[0]["header"]
    shown_specs = [h for h in header if h.startswith("spec")]
    shown_inputs = [h for h in header if h.startswith("x")]
    assert len(header) - 1 <= display.MAX_COLUMNS
    assert len(shown_specs) >= 3 and len(shown_inputs) >= 2
    (note,) = seen.notes
    if len(shown_inputs) < n_in:
        assert f"{n_in - len(shown_inputs)} of {n_in} inputs" in note
    if len(shown_specs) < n_specs:
        assert f"{n_specs - len(shown_specs)} of {n_specs} value columns" in note


def test_partials_escape_names():
    P = _partials(2, ["a<b", "c&d"], ["<script>alert(1)</script>"])
    markup = P._repr_html_()
    assert "<script>" not in markup and "a<b" not in markup
    (table,) = _Tables(markup).tables
    assert table["header"][1:] == ["a<b", "c&d", "<script>alert(1)</script>"]


def _finding(code: str, message: str = "m", **kwargs) -> Finding:
    return Finding(code, message, kwargs.pop("hint", "h"), **kwargs)


def test_findings_are_rows_coloured_by_severity():
    report = CheckReport(
        [
            _finding("not-identifiable", specs=["dy/dx1"], points=[0, 4, 9]),
            _finding("far-from-data", points=list(range(12))),
            _finding("check-skipped"),
        ]
    )
    seen = _Tables(report._repr_html_())
    (table,) = seen.tables
    assert table["header"] == ["severity", "code", "specs", "message", "hint", "points"]
    assert [r[:3] for r in table["rows"]] == [
        ["error", "not-identifiable", "dy/dx1"],
        ["warning", "far-from-data", ""],
        ["info", "check-skipped", ""],
    ]
    assert table["rows"][0][5] == "3: 0, 4, 9"
    assert table["rows"][1][5] == "12: 0, 1, 2, 3, 4, ..."
    for attrs, severity in zip(
        table["attrs"], ("error", "warning", "info"), strict=True
    ):
        background, colour = display.SEVERITY_COLOURS[severity]
        assert attrs["class"] == f"wrt-{severity}"
        assert background in attrs["style"] and colour in attrs["style"]
    assert "1 error, 1 warning, 1 info" in table["caption"]
    # three different colours, one per severity
    assert len({a["style"] for a in table["attrs"]}) == 3


def test_findings_escape_their_text():
    message = "x < 1 & y > 2 <img src=x onerror=alert(1)>"
    report = CheckReport([_finding("nonfinite", message, hint="use <b>", specs=["a"])])
    markup = report._repr_html_()
    assert "<img" not in markup and "<b>use" not in markup
    row = _Tables(markup).tables[0]["rows"][0]
    assert row[3] == message and row[4] == "use <b>"


def test_no_findings_say_so():
    seen = _Tables(CheckReport()._repr_html_())
    assert seen.tables == [] and seen.notes == [
        "No findings: nothing suggests these partials are meaningless."
    ]


def test_many_findings_are_cut_with_a_note():
    report = CheckReport([_finding("far-from-data", f"m{i}") for i in range(45)])
    seen = _Tables(report._repr_html_())
    rows = seen.tables[0]["rows"]
    assert len(rows) == display.MAX_ROWS + 1
    assert rows[0][3] == "m0" and rows[-1][3] == "m44"
    assert "25 of 45 findings" in seen.notes[0]


def test_the_check_of_a_real_model_renders():
    # a ReLU network: wrt.check reports piecewise-linear (a warning)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)
    )
    model = wrt.wrap(net.double(), inputs=["x1", "x2"])
    X = torch.rand(40, 2, dtype=torch.float64)
    report = wrt.check(model, X, specs=["d2y/dx1^2"], verify=False)
    table = _Tables(report._repr_html_()).tables[0]
    assert [r[1] for r in table["rows"]] == report.codes()
    assert "piecewise-linear" in report.codes()


def test_sensitivity_table_matches_the_measures():
    # y = 2a + b^2 on [0, 1]^2: dy/da = 2 everywhere, dy/db = 2b
    model = wrt.wrap(lambda x: 2 * x[:, 0] + x[:, 1] ** 2, inputs=["a", "b"])
    X = torch.rand(
        500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    S = wrt.sensitivity(model, X, order=2, ranges={"a": (0, 1)})
    seen = _Tables(S._repr_html_())
    measures, interactions = seen.tables
    assert measures["header"][:5] == ["input", "mean", "std", "rms", "DGSM"]
    for row, (name, expected) in zip(measures["rows"], S.table.iterrows(), strict=True):
        assert row[0] == name
        assert [float(c) for c in row[1:5]] == pytest.approx(
            expected[["mean", "std", "rms", "dgsm"]].tolist(), rel=1e-5
        )
    assert measures["rows"][0][1] == "2" and measures["rows"][0][2] == "0"
    assert float(measures["rows"][0][5]) == pytest.approx(
        S.table.loc["a", "sobol_total_bound"], rel=1e-5
    )
    assert measures["rows"][1][5] == ""  # b's distribution not given
    assert "500 points" in measures["caption"]
    # interactions: |d2y/da2| = 0, |d2y/db2| = 2, mixed 0
    assert interactions["header"] == ["", "a", "b"]
    assert [[float(c) for c in r[1:]] for r in interactions["rows"]] == [
        [0.0, 0.0],
        [0.0, 2.0],
    ]


def _sensitivity(names: list[str], bounds: list[float]) -> Sensitivity:
    n = len(names)
    table = pd.DataFrame(
        {
            "mean": [1.0] * n,
            "std": [0.5] * n,
            "rms": [1.0] * n,
            "dgsm": [1.0] * n,
            "sobol_total_bound": bounds,
        },
        index=pd.Index(names, name="input"),
    )
    return Sensitivity(
        "u<v", tuple(names), table, torch.zeros(3, n), torch.zeros(3, n), 1.0
    )


def test_a_bound_above_one_is_flagged():
    seen = _Tables(_sensitivity(["a", "b"], [1.7, 0.3])._repr_html_())
    rows = seen.tables[0]["rows"]
    assert rows[0][5] == "1.7 (> 1)" and rows[1][5] == "0.3"
    assert any("above 1 says nothing" in n for n in seen.notes)
    assert _Tables(_sensitivity(["a"], [0.9])._repr_html_()).notes == []


def test_sensitivity_escapes_and_cuts():
    names = [f"x<{i}>" for i in range(30)]
    markup = _sensitivity(names, [math.nan] * 30)._repr_html_()
    assert "x<0>" not in markup and "u<v" not in markup
    seen = _Tables(markup)
    rows = seen.tables[0]["rows"]
    assert rows[0][0] == "x<0>" and rows[-1][0] == "x<29>"
    assert "sensitivity of u<v" in seen.tables[0]["caption"]
    assert any("10 of 30 inputs" in n for n in seen.notes)
