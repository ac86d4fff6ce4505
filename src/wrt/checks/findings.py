"""Findings and the report that holds them: what a check says, in plain language.

A :class:`Finding` has a severity (``error``: the number is wrong or meaningless;
``warning``: it may mislead; ``info``: worth knowing), a stable ``code`` that
scripts can rely on, a ``message`` saying what was found, a ``hint`` saying what to
do, and the specs and point indices it concerns. Some findings carry numbers
(``details``), e.g. the directional derivative that *is* meaningful.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from wrt import display
from wrt.data import json_text

SEVERITIES = ("error", "warning", "info")

#: Every code a check may report, with its severity.
CODES = {
    "not-identifiable": "error",
    "fd-disagreement": "error",
    "nonfinite": "error",
    "far-from-data": "warning",
    "piecewise-linear": "warning",
    "float32-roundoff": "warning",
    "check-skipped": "info",
}


@dataclass
class Finding:
    """One thing a check found.

    Attributes:
        code: a key of :data:`CODES`.
        message: what was found, in plain language.
        hint: what to do about it.
        specs: the derivative specs it concerns (as written).
        points: indices of the query points it concerns (empty: all or none).
        details: numbers that go with it (lists or scalars, JSON-ready).
    """

    code: str
    message: str
    hint: str
    specs: list[str] = field(default_factory=list)
    points: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # specs as text: a check may hand over parsed Partial objects
        self.specs = [str(s) for s in self.specs]

    @property
    def severity(self) -> str:
        """``error``, ``warning`` or ``info``, fixed by the code."""
        return CODES[self.code]

    def __getattr__(self, name: str) -> Any:
        """Details read as attributes: ``finding.directional_derivative``."""
        details = self.__dict__.get("details", {})
        if name in details:
            return details[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: severity, code, message, hint, specs, points and details.

        Returns:
            Plain Python values (tensors and arrays as lists).
        """
        out = {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "specs": list(self.specs),
            "points": [int(p) for p in self.points],
        }
        out.update({k: _plain(v) for k, v in self.details.items()})
        return out


@dataclass
class CheckReport:
    """The findings of :func:`wrt.check`, errors first."""

    findings: list[Finding] = field(default_factory=list)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    @property
    def has_errors(self) -> bool:
        """True when any finding is an error (``wrt check`` then exits with 1)."""
        return any(f.severity == "error" for f in self.findings)

    def codes(self) -> list[str]:
        """The codes found, in order.

        Returns:
            One code per finding (repeated when several findings share one).
        """
        return [f.code for f in self.findings]

    def by_code(self, code: str) -> list[Finding]:
        """The findings with one code.

        Args:
            code: e.g. ``"not-identifiable"``.

        Returns:
            Those findings, in the report's order (empty when there are none).
        """
        return [f for f in self.findings if f.code == code]

    def sorted(self) -> CheckReport:
        """Errors first, then warnings, then info (stable otherwise).

        Returns:
            A new report; this one is unchanged.
        """
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        return CheckReport(sorted(self.findings, key=lambda f: rank[f.severity]))

    def to_dict(self) -> dict[str, Any]:
        """``{"findings": [...]}``, as ``wrt check --json`` prints it.

        Returns:
            Plain Python values: each finding's :meth:`Finding.to_dict`.
        """
        return {"findings": [f.to_dict() for f in self.findings]}

    def to_json(self) -> str:
        """:meth:`to_dict` as strictly valid JSON text (NaN and Inf as ``null``).

        Returns:
            The JSON text, indented by 2.
        """
        return json_text(self.to_dict(), indent=2)

    def _repr_html_(self) -> str:
        """An HTML table for Jupyter: a row per finding, coloured by severity.

        Columns: severity, code, specs, message, hint, and the points concerned
        (their count and the first few indices). Errors show red, warnings amber,
        info blue; every text is escaped. More than :data:`wrt.display.MAX_ROWS`
        findings show as a head and a tail with a note (``list(report)`` has all).
        """
        if not self.findings:
            return (
                '<p class="wrt-none" style="color: #1b6e20"><b>No findings</b>: '
                "nothing suggests these partials are meaningless.</p>"
            )
        shown, cut = display.head_tail(len(self.findings))
        findings = [self.findings[i] for i in shown]
        rows = [
            [
                f"<b>{display.text(f.severity)}</b>",
                f"<code>{display.text(f.code)}</code>",
                display.text(", ".join(f.specs)),
                display.text(f.message),
                display.text(f.hint),
                display.text(_points_text(f.points)),
            ]
            for f in findings
        ]
        counts = {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}
        said = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items())
        out = display.table(
            ["severity", "code", "specs", "message", "hint", "points"],
            rows,
            gap_after=len(shown) // 2 if cut else None,
            row_styles=[display.severity_style(f.severity) for f in findings],
            caption=display.text(f"wrt check: {said}"),
        )
        if cut:
            out += display.note(
                f"Not shown: {len(self.findings) - len(shown)} of "
                f"{len(self.findings)} findings; list(report) has them all."
            )
        return out

    def __str__(self) -> str:
        if not self.findings:
            return "No findings: nothing suggests these partials are meaningless."
        lines = []
        for f in self.findings:
            where = f" [{', '.join(f.specs)}]" if f.specs else ""
            lines.append(f"{f.severity.upper()} {f.code}{where}: {f.message}")
            lines.append(f"  hint: {f.hint}")
        return "\n".join(lines)


def _points_text(points: list[int], first: int = 5) -> str:
    """``""`` (all or none), or the count and the first indices: ``3: 0, 4, 9``."""
    if not points:
        return ""
    head = ", ".join(str(int(p)) for p in points[:first])
    more = ", ..." if len(points) > first else ""
    return f"{len(points)}: {head}{more}"


def _plain(value: Any) -> Any:
    """Tensors and arrays as lists, numpy scalars as Python numbers."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
