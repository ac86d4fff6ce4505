"""Progress of long commands on stderr: a bar on a terminal, else periodic lines.

On a terminal a Rich bar redraws in place. When stderr is a file or a pipe (a
batch job, ``nohup``, CI) a bar would print nothing useful, so a line is written
every :data:`EVERY` seconds instead::

    wrt: partials: 131,072/1,000,000 points (13%), 52,431 points/s, ETA 17s

and a last line when the run ends, if any line was written. ``--quiet`` turns both
off.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from wrt.cli.command import verbosity

#: Seconds between two progress lines when stderr is not a terminal.
EVERY = 10.0


class Tracker:
    """Counts what is done and shows it (see the module).

    Args:
        label: what runs, e.g. ``"partials"``.
        total: how many units in all (None: unknown).
        unit: the unit's name, plural, e.g. ``"points"``.
        bar: the Rich bar on a terminal, or None for lines.
        clock: seconds, monotonic (for tests).
    """

    def __init__(
        self,
        label: str,
        total: int | None,
        unit: str,
        bar: Progress | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self.detail = ""
        self._bar = bar
        self._task = bar.add_task("", total=total) if bar is not None else None
        self._clock = clock
        self._start = self._last = clock()
        self._start_done = 0
        self.lines = 0

    def advance(self, n: int) -> None:
        """``n`` more units are done."""
        self.update(self.done + n)

    def update(self, done: int, detail: str = "") -> None:
        """``done`` units are done in all; ``detail`` (e.g. the loss) is shown too."""
        self.done, self.detail = done, detail
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, description=escape(detail))
            return
        now = self._clock()
        if now - self._last >= EVERY:
            self._last = now
            self._say(now)

    def finish(self) -> None:
        """The last line, when lines were written (a long run)."""
        if self._bar is None and self.lines:
            seconds = self._clock() - self._start
            rate = self._rate(seconds)
            print(
                f"wrt: {self.label}: {self.done:,} {self.unit} in "
                f"{_duration(seconds)}{rate}{self._detail()}",
                file=sys.stderr,
                flush=True,
            )

    def _say(self, now: float) -> None:
        self.lines += 1
        seconds = now - self._start
        of = f"/{self.total:,}" if self.total else ""
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        eta = ""
        per_second = (self.done - self._start_done) / seconds if seconds > 0 else 0
        if self.total and per_second > 0:
            eta = f", ETA {_duration((self.total - self.done) / per_second)}"
        print(
            f"wrt: {self.label}: {self.done:,}{of} {self.unit}{share}"
            f"{self._rate(seconds)}{eta}{self._detail()}",
            file=sys.stderr,
            flush=True,
        )

    def _rate(self, seconds: float) -> str:
        if seconds <= 0:
            return ""
        return f", {(self.done - self._start_done) / seconds:,.0f} {self.unit}/s"

    def _detail(self) -> str:
        return f", {self.detail}" if self.detail else ""


@contextmanager
def progress(
    context: typer.Context | None,
    label: str,
    total: int | None,
    unit: str,
    *,
    worth_a_bar: bool = True,
    start: int = 0,
) -> Iterator[Tracker]:
    """A :class:`Tracker` for a run: a bar, lines, or nothing (``--quiet``).

    Args:
        context: the command's context (for ``--quiet``).
        label: what runs, e.g. ``"partials"``.
        total: how many units in all (None: unknown).
        unit: the unit's name, plural.
        worth_a_bar: False for a run too short for a terminal bar (one chunk).
        start: units already done before this run (a resumed training).
    """
    console = Console(stderr=True)
    quiet = verbosity(context) < 0
    if console.is_terminal or quiet:
        bar = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
            disable=quiet or not worth_a_bar,
        )
        tracker = Tracker(label, total, unit, bar)
        tracker.done = tracker._start_done = start
        with bar:
            yield tracker
        return
    tracker = Tracker(label, total, unit, None)
    tracker.done = tracker._start_done = start
    yield tracker
    tracker.finish()  # after a finished run only


def _duration(seconds: float) -> str:
    """``45s``, ``3m05s``, ``2h04m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
