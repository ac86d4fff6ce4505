"""The coverage table of the corpus (``docs/coverage.md``): cells, rendering, parsing.

``tests/test_corpus.py`` measures every corpus entry and hands the outcomes here;
this module turns them into the Markdown page, deterministically (rows and columns
in a fixed order, footnotes numbered in reading order, messages without local
paths), and reads a committed page back into cells, so that the cells an
environment cannot measure (a format whose optional package is missing) are kept
as committed rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

#: Rows first in the order the issue lists the architectures; others follow sorted.
ARCHITECTURES = (
    "mlp-tanh", "mlp-relu", "mlp-gelu", "mlp-silu", "mlp-softplus", "mlp-elu",
    "cnn-1d", "cnn-2d", "lstm", "gru", "simple-rnn", "transformer-encoder",
    "features", "energy-pairwise", "softmax-classifier", "scaler-mlp", "minmax-mlp",
    "mlp-classifier", "normalization", "batchnorm-dropout", "dict-io", "layernorm",
    "embedding", "two-args", "fixed-batch",
)  # fmt: skip

#: What a cell says, by the measured status of its entry.
LABELS = {
    "converted": "converted",
    "source": "source framework",
    "refused": "refused",
    "failed": "FAILS",
    "unavailable": "not measured",
}
TAYLOR = "converted · taylor"

HEADER = """# Coverage: model files made by other tools

Every cell is one file of the corpus in `tests/fixtures/corpus/`, made by the real
exporter (`make fixtures`, in the optional fixtures environment) with the source
framework's own values and gradients as its reference. `tests/test_corpus.py`
loads each through `wrt.load`, compares names, values and gradients with the
reference, and writes this page from what it measured (never from what an entry
expects):

- **converted · taylor**: converted to plain torch; float32 values and gradients
  match the source framework; float64 first partials agree with float32 and
  second partials with float64 central differences; the Taylor engine runs it and
  agrees with autograd to 1e-9.
- **converted**: the same, but the Taylor engine lacks a rule for an operation of
  the model (the footnote names it); `engine="auto"` uses autograd for it.
- **source framework**: runs through the source framework inside torch (float32
  only, no Taylor engine); values and gradients match.
- **refused**: `wrt.load` refuses the file with the footnote's message.
- **not measured**: the environment that wrote this page lacked the format's
  optional packages.

Regenerate after changing the corpus or the converters:
`WRT_WRITE_COVERAGE=1 python -m pytest tests/test_corpus.py`.
"""


@dataclass(frozen=True)
class Cell:
    """What one (architecture, format) cell shows: a label and its footnotes."""

    label: str
    notes: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What measuring one corpus entry found.

    Attributes:
        stem: the reference's stem.
        architecture: the row.
        format: the column.
        expect: what the entry's generator expects.
        status: converted, source, refused, failed or unavailable.
        taylor: True when the Taylor engine agreed with autograd, else the ops
            (or message) it stopped at; None when not tried.
        note: the refusal message, or why the entry was not measured.
        failures: every check that did not hold, one line each.
        warnings: wrt warnings issued while loading and checking.
    """

    stem: str
    architecture: str
    format: str
    expect: str
    status: str = "failed"
    taylor: bool | str | None = None
    note: str = ""
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def cell(self) -> Cell:
        """The table cell of this entry alone."""
        if self.status == "converted" and self.taylor is True and not self.failures:
            return Cell(TAYLOR)
        if self.failures:
            return Cell(LABELS["failed"], (self.failures[0],))
        if self.status == "converted":
            return Cell(LABELS["converted"], (f"Taylor engine: {self.taylor}",))
        if self.status in ("refused", "unavailable"):
            return Cell(LABELS[self.status], (self.note,))
        return Cell(LABELS[self.status])


def clean(message: str, limit: int = 240) -> str:
    """A message for a footnote: one line, no local folders, bounded length."""
    text = " ".join(str(message).split())
    # absolute folders (not a/b/c node names): the file name stays
    text = re.sub(r"(?<![\w.])(?:[A-Za-z]:)?[/\\](?:[^\s'\"`/\\]+[/\\])+", "", text)
    text = text.replace("|", "/")  # a table cell cannot hold a pipe
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def merge(cells: Sequence[Cell]) -> Cell:
    """One cell for several entries of the same architecture and format."""
    if len(cells) == 1:
        return cells[0]
    labels = sorted({c.label for c in cells})
    notes = sorted({n for c in cells for n in c.notes})
    return Cell(" / ".join(labels), tuple(notes))


def rows_and_columns(
    keys: Iterable[tuple[str, str]], formats: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Rows (architectures) and columns (formats present) in table order."""
    keys = list(keys)
    present = {a for a, _ in keys}
    rows = [a for a in ARCHITECTURES if a in present]
    rows += sorted(present - set(ARCHITECTURES))
    used = {f for _, f in keys}
    columns = [f for f in formats if f in used] + sorted(used - set(formats))
    return rows, columns


def render(cells: Mapping[tuple[str, str], Cell], formats: Sequence[str]) -> str:
    """The whole page: header, table, footnotes numbered in reading order."""
    rows, columns = rows_and_columns(cells, formats)
    numbers: dict[str, int] = {}
    lines = [
        "| architecture | " + " | ".join(f"`{c}`" for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for row in rows:
        shown = []
        for column in columns:
            cell = cells.get((row, column))
            if cell is None:
                shown.append("")
                continue
            marks = []
            for note in cell.notes:
                numbers.setdefault(note, len(numbers) + 1)
                marks.append(f"[^{numbers[note]}]")
            shown.append(cell.label + "".join(marks))
        lines.append(f"| {row} | " + " | ".join(shown) + " |")
    counts: dict[str, int] = {}
    for cell in cells.values():
        for label in cell.label.split(" / "):
            counts[label] = counts.get(label, 0) + 1
    summary = ", ".join(f"{label}: {counts[label]}" for label in sorted(counts))
    notes = [f"[^{n}]: {text}" for text, n in sorted(numbers.items(), key=_second)]
    parts = [HEADER, "\n".join(lines), f"Cells: {summary}."]
    if notes:
        parts.append("\n".join(notes))
    return "\n\n".join(parts) + "\n"


def _second(item: tuple[str, int]) -> int:
    return item[1]


def parse(text: str) -> dict[tuple[str, str], Cell]:
    """The cells of a page written by :func:`render` (footnotes resolved)."""
    notes = dict(re.findall(r"^\[\^(\d+)\]: (.*)$", text, flags=re.MULTILINE))
    table = [line for line in text.splitlines() if line.startswith("| ")]
    if not table:
        return {}
    header = [c.strip().strip("`") for c in table[0].strip("|").split("|")][1:]
    cells = {}
    for line in table[1:]:
        row, *shown = [c.strip() for c in line.strip("|").split("|")]
        for column, value in zip(header, shown, strict=True):
            if not value:
                continue
            label = re.sub(r"\[\^\d+\]", "", value)
            marks = re.findall(r"\[\^(\d+)\]", value)
            cells[(row, column)] = Cell(label, tuple(notes[m] for m in marks))
    return cells
