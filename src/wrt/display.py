"""HTML tables for Jupyter: Partials, CheckReport and Sensitivity in a notebook.

Jupyter calls an object's ``_repr_html_`` to display it; these functions build that
HTML. Every piece of text (names, specs, messages) is escaped, so a name such as
``a<b`` or ``x&y`` shows as written and never as markup. Long or wide results are
cut to a head and a tail with a note saying how much is hidden and how to get all
of it (``P.to_frame()``, ``S.table``, ``list(report)``). Plain strings only: no
scripts, no external styles (inline ``style`` attributes, which notebooks keep).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

#: Rows shown before a table is cut (the first and last half of these).
MAX_ROWS = 20
#: Value columns shown before a table is cut (the first of them).
MAX_COLUMNS = 12

#: Background and text colour of a finding's row, by severity.
SEVERITY_COLOURS = {
    "error": ("#fde7e9", "#a4000f"),
    "warning": ("#fff4ce", "#7a5300"),
    "info": ("#eef3fb", "#2b4a7a"),
}

_TABLE = 'style="border-collapse: collapse; text-align: right"'
_CELL = 'style="padding: 2px 8px; border-bottom: 1px solid #ddd"'


def text(value: Any) -> str:
    """``value`` as escaped HTML text."""
    return html.escape(str(value), quote=True)


def number(value: Any) -> str:
    """A number in at most 6 significant digits; NaN and Inf as written."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def head_tail(n: int, limit: int = MAX_ROWS) -> tuple[list[int], bool]:
    """Indices of the rows shown out of ``n``, and whether some are hidden."""
    if n <= limit:
        return list(range(n)), False
    half = limit // 2
    return [*range(half), *range(n - half, n)], True


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    gap_after: int | None = None,
    row_styles: Sequence[str] | None = None,
    caption: str = "",
) -> str:
    """An HTML table of cells that are already HTML (escape text with :func:`text`).

    Args:
        header: the column headers (HTML).
        rows: the cells of each row (HTML).
        gap_after: put a row of ellipses after this many rows (hidden rows).
        row_styles: an inline ``style`` (and ``class``) per row, or None.
        caption: a caption (HTML) above the table.

    Returns:
        The ``<table>`` element as text.
    """
    parts = [f"<table {_TABLE}>"]
    if caption:
        parts.append(f'<caption style="text-align: left">{caption}</caption>')
    head = "".join(f"<th {_CELL}>{cell}</th>" for cell in header)
    parts.append(f"<thead><tr>{head}</tr></thead><tbody>")
    for i, row in enumerate(rows):
        if gap_after is not None and i == gap_after:
            dots = "".join(f"<td {_CELL}>&hellip;</td>" for _ in header)
            parts.append(f"<tr>{dots}</tr>")
        style = f" {row_styles[i]}" if row_styles else ""
        cells = "".join(f"<td {_CELL}>{cell}</td>" for cell in row)
        parts.append(f"<tr{style}>{cells}</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def note(message: str) -> str:
    """A small grey paragraph of plain text (escaped)."""
    return f'<p style="color: #666; font-size: smaller">{text(message)}</p>'


def severity_style(severity: str) -> str:
    """The ``class`` and inline ``style`` of a row for a finding of ``severity``."""
    background, colour = SEVERITY_COLOURS[severity]
    return f'class="wrt-{severity}" style="background: {background}; color: {colour}"'
