"""One self-contained report: the model, the check findings, sensitivities, figures.

HTML (default) embeds every figure as a base64 PNG, so the file can be mailed or
archived alone; Markdown writes the page and its PNGs side by side. Every piece of
text from the model or the data is escaped.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from wrt import plots
from wrt.checks import CheckReport, check
from wrt.data import PointsLike
from wrt.derivatives import ModelLike, as_model
from wrt.describe import describe
from wrt.engines.compiling import CompileOption
from wrt.errors import DataError
from wrt.sensitivity import Sensitivity, sensitivity

FORMATS = ("html", "md")


@dataclass
class Report:
    """What a report shows, computed once, written as HTML or Markdown."""

    title: str
    model: dict
    findings: CheckReport
    sensitivities: list[Sensitivity]
    figures: dict[str, Figure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def write(self, path: str | Path, format: str = "html") -> Path:
        """Write to ``path``; Markdown's PNGs go beside it. Returns the path."""
        if format not in FORMATS:
            raise DataError(f"Unknown report format {format!r}; use html or md.")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if format == "html":
            path.write_text(self._html(), encoding="utf-8")
        else:
            path.write_text(self._markdown(path), encoding="utf-8")
        return path

    def _html(self) -> str:
        e = html.escape
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{e(self.title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{e(self.title)}</h1>",
            f"<p class='meta'>{e(_stamp())}</p>",
            *(f"<p>{e(note)}</p>" for note in self.notes),
            "<h2>Model</h2>",
            _html_table(_model_rows(self.model), header=False),
            "<h2>Checks</h2>",
        ]
        if self.findings.findings:
            rows = [["severity", "code", "specs", "what", "what to do"]] + [
                [f.severity, f.code, ", ".join(f.specs), f.message, f.hint]
                for f in self.findings
            ]
            parts.append(
                _html_table(rows, header=True, classes=_severity_classes(self.findings))
            )
        else:
            parts.append(
                "<p>No findings: nothing suggests these partials are meaningless.</p>"
            )
        for s in self.sensitivities:
            parts += [
                f"<h2>Sensitivity of {e(s.output)}</h2>",
                _html_table(_sens_rows(s), header=True),
            ]
        for name, fig in self.figures.items():
            data = base64.b64encode(_png(fig)).decode("ascii")
            parts.append(
                f"<figure><img alt='{e(name)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{e(name)}</figcaption></figure>"
            )
        parts.append("</body></html>")
        return "\n".join(parts)

    def _markdown(self, path: Path) -> str:
        lines = [f"# {self.title}", "", _stamp(), "", *self.notes, "", "## Model", ""]
        lines += _md_table(_model_rows(self.model), header=False)
        lines += ["", "## Checks", ""]
        if self.findings.findings:
            rows = [["severity", "code", "specs", "what", "what to do"]] + [
                [f.severity, f.code, ", ".join(f.specs), f.message, f.hint]
                for f in self.findings
            ]
            lines += _md_table(rows, header=True)
        else:
            lines.append(
                "No findings: nothing suggests these partials are meaningless."
            )
        for s in self.sensitivities:
            lines += ["", f"## Sensitivity of {s.output}", ""] + _md_table(
                _sens_rows(s), header=True
            )
        for i, (name, fig) in enumerate(self.figures.items()):
            png = path.with_name(f"{path.stem}-figure{i + 1}.png")
            png.write_bytes(_png(fig))
            lines += ["", f"![{name}]({png.name})"]
        return "\n".join(lines) + "\n"


def build_report(
    model: ModelLike,
    data: PointsLike,
    *,
    points: PointsLike | None = None,
    specs: Sequence[str] | None = None,
    order: int = 2,
    engine: str = "auto",
    ranges: Mapping[str, tuple[float, float]] | None = None,
    variances: Mapping[str, float] | None = None,
    compile: CompileOption = "auto",
    title: str | None = None,
    notes: Sequence[str] = (),
) -> Report:
    """Check the model at ``points`` (default: the data) and measure sensitivities.

    Args:
        model: a Model, torch module or model file.
        data: the training inputs (or a sample of the input distribution).
        points: where to check the partials (default: the data itself).
        specs: the partials to check (default: every first partial).
        order: 2 adds second-order interactions to the sensitivities.
        engine: the engine computing the partials.
        ranges: input -> (low, high) for inputs uniform on a range (gives the
            Sobol' bound column; see :func:`wrt.sensitivity`).
        variances: input -> variance for normally distributed inputs (likewise).
        compile: see :func:`wrt.partials`.
        title: the report's title.
        notes: paragraphs shown under the title.
    """
    model = as_model(model)
    findings = check(
        model,
        data if points is None else points,
        data=data,
        specs=specs,
        engine=engine,
        compile=compile,
    )
    sensitivities = [
        sensitivity(
            model,
            data if points is None else points,
            order=order,
            output=out,
            ranges=ranges,
            variances=variances,
            engine=engine,
            compile=compile,
        )
        for out in model.outputs
    ]
    if findings.by_code("nonfinite"):
        notes = [
            *notes,
            "The model's output or its partials are NaN or Inf at some points (see "
            "the nonfinite check): sensitivity measures that include those points "
            "show as nan or inf, and the figures leave those points out.",
        ]
    flagged = sorted({s for f in findings.by_code("not-identifiable") for s in f.specs})
    if flagged:
        notes = [
            *notes,
            f"The training data does not determine {', '.join(flagged)}: the "
            "sensitivities below describe what the network does off the data, not "
            "the data; see the checks.",
        ]
    figures: dict[str, Figure] = {}
    for s in sensitivities:
        figures[f"Importance of each input for {s.output}"] = plots.importance_bars(s)
        figures[f"Mean and spread of d{s.output}/dx"] = plots.mean_sd_scatter(s)
        figures[f"d{s.output}/dx over each input"] = plots.derivative_vs_input(s)
        if s.interactions is not None:
            figures[f"Second-order interactions of {s.output}"] = (
                plots.interaction_heatmap(s)
            )
    return Report(
        title or f"wrt report: {model.source or 'model'}",
        describe(model),
        findings,
        sensitivities,
        figures,
        list(notes),
    )


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _stamp() -> str:
    from wrt import __version__

    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return f"Written by wrt {__version__} on {now}."


def _model_rows(info: dict) -> list[list[str]]:
    return [
        ["format", str(info.get("format"))],
        ["source", str(info.get("source"))],
        ["inputs", ", ".join(info.get("inputs", []))],
        ["outputs", ", ".join(info.get("outputs", []))],
        ["dtype", str(info.get("dtype"))],
        ["parameters", f"{info.get('parameters', 0):,}"],
        ["activations", ", ".join(info.get("activations", [])) or "none found"],
    ]


def _sens_rows(s: Sensitivity) -> list[list[str]]:
    rows = [["input", "mean", "std", "rms", "DGSM", "Sobol total <="]]
    bounds = s.table["sobol_total_bound"].to_numpy(dtype=float)  # NaN: no ranges
    for (name, row), bound in zip(s.table.iterrows(), bounds, strict=True):
        rows.append(
            [str(name)]
            + [f"{row[c]:.4g}" for c in ("mean", "std", "rms", "dgsm")]
            + ["" if math.isnan(bound) else f"{bound:.3g}"]
        )
    return rows


def _severity_classes(findings: CheckReport) -> list[str]:
    return [""] + [f.severity for f in findings]


def _html_table(
    rows: list[list[str]], header: bool, classes: list[str] | None = None
) -> str:
    e = html.escape
    out = ["<table>"]
    for i, row in enumerate(rows):
        cell = "th" if header and i == 0 else "td"
        css = f" class='{classes[i]}'" if classes and classes[i] else ""
        out.append(
            f"<tr{css}>"
            + "".join(f"<{cell}>{e(str(c))}</{cell}>" for c in row)
            + "</tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def _md_table(rows: list[list[str]], header: bool) -> list[str]:
    def line(row: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"

    if not header:
        rows = [["", ""], *rows]
    return [line(rows[0]), "|" + "---|" * len(rows[0]), *(line(r) for r in rows[1:])]


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
.meta { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.92rem; }
td, th { border: 1px solid #ccc; padding: 0.3rem 0.5rem; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
tr.error td:first-child { background: #f8d7da; font-weight: bold; }
tr.warning td:first-child { background: #fff3cd; }
tr.info td:first-child { background: #e2e8f0; }
figure { margin: 1rem 0; } img { max-width: 100%; }
figcaption { color: #555; font-size: 0.9rem; }
"""
