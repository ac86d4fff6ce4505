"""Probe calls that find how a TorchScript module's ``forward`` takes points.

:class:`SplitProbe` calls the module on probe points split over its tensor
arguments (:class:`~wrt.importers.torch_arguments.ArgumentColumns`) to find how
many columns each argument takes and whether the module runs on any number of
rows or on a fixed batch only. Candidate splits come in tiers, likeliest first
(:meth:`SplitProbe.tiers`): the split the given names spell, the trace's example
shapes, the splits of the first weight matrix's width, then every pair of 1 .. 16
columns. A split fits when the call returns (N, n_out) or (N,); among fits, those
where every column changes the output count. A fixed batch B is a size at which
the module works while it fails on B + 1 (and, for B = 4, on 1 and 5 points),
with rows independent: a (B,) tensor taken for a point's features, or all rows of
a call reshaped into one sample, is not a batch.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from wrt.errors import ModelError
from wrt.importers.fixed_batch import agree
from wrt.importers.torch_arguments import (
    ArgumentColumns,
    Columns,
    column_names,
    spelled_split,
    width,
)
from wrt.names import default_inputs
from wrt.probe import first_weight_width

# rows of the first probe call; a dynamic batch also works on the other sizes
_PROBE_ROWS = 4
_OTHER_ROWS = (1, 5)
# fixed batch sizes tried when the module fails on _PROBE_ROWS rows: the small ones
# and the usual example batches of a trace
_BATCHES = (1, 2, 3, 5, 6, 7, 8, 10, 12, 16, 20, 24, 25, 32, 48, 50, 64, 100, 128)
_BATCHES += (200, 256, 500, 512, 1000, 1024)
# columns per argument tried without a weight matrix to go by
_WIDTHS = range(1, 17)
# the most splits tried per batch size (a sum of 32 over 4 arguments has 4495)
_MAX_SPLITS = 400


class SplitProbe:
    """Calls of a module of ``count`` tensor arguments on probe points.

    Args:
        module: the TorchScript module.
        count: its number of tensor arguments.
        traced: the split and batch of the example inputs of a trace, tried first.
    """

    def __init__(
        self, module: nn.Module, count: int, traced: tuple[Columns, int] | None
    ) -> None:
        self.module = module
        self.count = count
        self.traced = traced
        self.spelled: Columns | None = None  # the split the given names spell
        self.dtype = module_dtype(module)
        self.first = first_weight_width(module)
        self.coupled: list[int] = []  # fixed sizes where the rows are coupled
        # splits that all compute the same function (the module concatenates its
        # arguments): the file cannot say which is meant
        self.interchangeable: list[Columns] = []

    def layout(
        self, arguments: tuple[str, ...], given: tuple[str, ...] | None, source: str
    ) -> tuple[Columns, int | None]:
        """The split of the columns over the arguments, and a fixed batch if any.

        Raises:
            ModelError: no split fits, or several do and the names do not choose.
        """
        total = len(given) if given else None
        self.spelled = spelled_split(given, arguments) if given else None
        found = self.search(total)
        if found is None:
            raise ModelError(self._no_fit(arguments, total, source))
        fits, size, batch = found
        used = [columns for columns in fits if self.uses_every_column(columns, size)]
        matching = [c for c in fits if self.spelled and _split(c) == self.spelled]
        if matching:
            return matching[0], batch
        if self.traced is not None and self.traced[0] in fits:
            return self.traced[0], batch  # the shapes the trace was made with
        if given is not None:
            if self.same_function(used or fits, size):
                return (used or fits)[0], batch
        elif len({_split(c) for c in used}) == 1:
            # one split; its arguments as (N, 1) or (N,) both run: the same columns
            return used[0], batch
        elif used and self.same_function(used, size):
            self.interchangeable = used
            return used[0], batch
        raise ModelError(self._ambiguous(arguments, used or fits, source, bool(used)))

    def search(self, total: int | None) -> tuple[list[Columns], int, int | None] | None:
        """The splits that fit, the rows they fit at, and the fixed batch or None.

        Splits that work on :data:`_PROBE_ROWS` points and also on 1 or 5 take any
        batch (those keeping the rows independent first; a module coupling them
        is refused later, by :func:`wrt.probe.check_model`). Otherwise a split
        that works on B rows only, B from :data:`_PROBE_ROWS` and
        :data:`_BATCHES`, is a fixed batch, but only where changing one row
        leaves the others alone: a (B,) tensor taken for a point's features, or
        a Linear over all rows of a block, is not a batch.
        """
        self.coupled = []
        fits = self.fits(_PROBE_ROWS, total)
        dynamic = [c for c in fits if any(self.works(c, r) for r in _OTHER_ROWS)]
        if dynamic:
            independent = [c for c in dynamic if self.independent(c, _PROBE_ROWS)]
            return independent or dynamic, _PROBE_ROWS, None
        sizes = (_PROBE_ROWS, *([self.traced[1]] if self.traced else []), *_BATCHES)
        for size in dict.fromkeys(sizes):
            fits = self.fits(size, total) if size != _PROBE_ROWS else fits
            fixed = [c for c in fits if not self.works(c, size + 1)]
            independent = [c for c in fixed if self.independent(c, size)]
            if independent:
                return independent, size, size
            if fixed:
                self.coupled.append(size)
        return None

    def fits(self, rows: int, total: int | None) -> list[Columns]:
        """The splits on which a call of ``rows`` rows returns (rows, n_out).

        Candidates come in tiers (:meth:`tiers`); the first tier with a fit is
        the answer, so a split the trace recorded is not second-guessed.
        """
        for tier in self.tiers(total, grid=rows in (_PROBE_ROWS, 1)):
            found = [c for c in tier if self.works(c, rows)]
            if found:
                return found
        return []

    def tiers(self, total: int | None, grid: bool) -> list[list[Columns]]:
        """Candidate splits, likeliest first, at most :data:`_MAX_SPLITS` in all.

        The split the given names spell; the trace's example shapes; the splits
        of the named columns or of the first weight matrix's width (each
        argument (N, k), or (N,) for k = 1); then, with ``grid`` (the likely
        batch sizes only), every pair of 1 .. 16 columns or (N,) for two
        arguments, or every width for one.
        """
        seen: dict[Columns, None] = {}
        tiers: list[list[Columns]] = []

        def add(candidates: Iterator[Columns] | list[Columns]) -> None:
            tier = []
            for parts in candidates:
                if parts not in seen and len(seen) < _MAX_SPLITS:
                    seen[parts] = None
                    tier.append(parts)
            tiers.append(tier)

        if self.spelled:
            add([self.spelled, *_one_dimensional(self.spelled)])
        if self.traced and (total is None or width(self.traced[0]) == total):
            add([self.traced[0]])
        wanted = total or self.first
        if wanted:
            add(self._sums(wanted))
        if grid and (self.count == 1 or self.count == 2 and total is None):
            choices = [*_WIDTHS, None] if self.count > 1 else list(_WIDTHS)
            add(
                parts
                for parts in itertools.product(choices, repeat=self.count)
                if total is None or width(parts) == total
            )
        return tiers

    def _sums(self, wanted: int) -> Iterator[Columns]:
        for parts in itertools.islice(_compositions(wanted, self.count), 200):
            yield parts
            if self.count > 1:
                yield from _one_dimensional(parts)

    def works(self, columns: Columns, rows: int) -> bool:
        """Whether the call on ``rows`` points succeeds with a (rows, ...) output."""
        y = self.call(columns, probe_points(rows, width(columns), self.dtype))
        return (
            y is not None
            and y.is_floating_point()
            and y.dim() in (1, 2)
            and y.shape[0] == rows
            and (y.dim() == 1 or y.shape[1] > 0)
        )

    def independent(self, columns: Columns, rows: int) -> bool:
        """Whether moving the first point leaves the outputs at the others alone."""
        if rows == 1:
            return True
        x = probe_points(rows, width(columns), self.dtype)
        moved = x.clone()
        moved[0] += 0.37
        y, y_moved = self.call(columns, x), self.call(columns, moved)
        if y is None or y_moved is None:
            return False
        return agree(y_moved[1:], y[1:]) and not agree(y_moved[:1], y[:1])

    def uses_every_column(self, columns: Columns, rows: int) -> bool:
        """Whether moving each column by 1 changes the output at some point."""
        x = probe_points(rows, width(columns), self.dtype)
        y = self.call(columns, x)
        for j in range(x.shape[1]):
            moved = x.clone()
            moved[:, j] += 1.0
            y_moved = self.call(columns, moved)
            if y is None or y_moved is None or torch.equal(y_moved, y):
                return False
        return True

    def same_function(self, splits: list[Columns], rows: int) -> bool:
        """Whether splits of one total give the same outputs on the same points."""
        if len({width(c) for c in splits}) != 1:
            return False
        x = probe_points(rows, width(splits[0]), self.dtype)
        ys = [self.call(c, x) for c in splits]
        first = ys[0]
        return first is not None and all(
            y is not None and y.shape == first.shape and torch.equal(y, first)
            for y in ys
        )

    def call(self, columns: Columns, x: torch.Tensor) -> torch.Tensor | None:
        """The module on points ``x`` split by ``columns``; None if that fails.

        The user's random state is kept, and warnings of calls on shapes that are
        not the model's are dropped (they concern wrt's probe, not the user).
        """
        try:
            with (
                torch.random.fork_rng(devices=[]),
                torch.no_grad(),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore")
                y = ArgumentColumns(self.module, columns, unwrap=False)(x)
        except Exception:  # any failure of the user's code: not this split
            return None
        return y if isinstance(y, torch.Tensor) else None

    def coupled_text(self) -> str:
        """The sentence for a module that runs on B rows only, coupling them."""
        return (
            f"It runs on exactly {self.coupled[0]} points only, and changing one "
            "of them changes the outputs at the others: the rows of a call are "
            "not independent points (a reshape of all rows into one sample?), so "
            "wrt cannot evaluate it point by point."
        )

    def _no_fit(
        self, arguments: tuple[str, ...], total: int | None, source: str
    ) -> str:
        signature = f"forward({', '.join(arguments)})"
        if total:
            tried = f"splits of the {total} named columns"
        elif self.first:
            tried = f"splits of the {self.first} columns of its first weight matrix" + (
                ", and every pair of 1 to 16 columns" if self.count == 2 else ""
            )
        else:
            tried = "every pair of 1 to 16 columns"
        coupled = f" {self.coupled_text()}" if self.coupled else ""
        return (
            f"{source}: {signature} runs on none of the shapes wrt tried for its "
            f"arguments ({tried}, each argument (N, k) or (N,), on {_PROBE_ROWS} "
            f"points and on fixed batches of 1 to {_BATCHES[-1]}).{coupled} wrt calls "
            "forward with one tensor (N, k) per argument. Name the columns after the "
            f"arguments to give the split, e.g. inputs={_example(arguments)} in "
            "Python or --inputs on the command line, or save a module whose "
            "forward takes tensors of points."
        )

    def interchangeable_text(self, arguments: tuple[str, ...], source: str) -> str:
        """The warning for splits that compute the same function."""
        splits = self.interchangeable
        listed = "; ".join(_shown(arguments, c) for c in splits[:6])
        listed += "; ..." if len(splits) > 6 else ""
        example = splits[len(splits) // 2]
        return (
            f"{source}: forward({', '.join(arguments)}) computes the same function "
            f"for every split of its {width(splits[0])} columns over its arguments "
            f"({listed}: it concatenates them), and the file does not say which "
            f"is meant, so the columns are named "
            f"{', '.join(default_inputs(width(splits[0])))}; the partials are the "
            "same for every split. To name them after the arguments, pass the "
            f"names, e.g. for {_shown(arguments, example)}: "
            f"inputs={_example(arguments, example)} (--inputs on the command line)."
        )

    def _ambiguous(
        self, arguments: tuple[str, ...], splits: list[Columns], source: str, used: bool
    ) -> str:
        listed = "; ".join(_shown(arguments, c) for c in splits[:6])
        listed += "; ..." if len(splits) > 6 else ""
        why = (
            "each of these splits of the columns over its arguments fits (it "
            "concatenates them?)"
            if used
            else "no split of the columns over its arguments uses every column; "
            "these run"
        )
        example = splits[len(splits) // 2]
        shown = _shown(arguments, example)
        return (
            f"{source}: forward({', '.join(arguments)}): {why}: {listed}. The file "
            "does not say which is meant. Name the columns after the arguments to "
            f"choose, e.g. for {shown}: inputs={_example(arguments, example)} in "
            "Python or --inputs with the same names on the command line; or export "
            "the module with torch.export (.pt2), which records the shapes."
        )


def _compositions(total: int, parts: int) -> Iterator[Columns]:
    """Tuples of ``parts`` widths in 1 .. 16 adding up to ``total``."""
    if parts == 1:
        if 1 <= total <= _WIDTHS[-1]:
            yield (total,)
        return
    for first in range(1, min(total - parts + 1, _WIDTHS[-1]) + 1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


def _one_dimensional(parts: Columns) -> Iterator[Columns]:
    """The variants of a split with (N,) instead of (N, 1) arguments."""
    ones = [i for i, k in enumerate(parts) if k == 1]
    for chosen in range(1, len(ones) + 1):
        for subset in itertools.combinations(ones, chosen):
            yield tuple(None if i in subset else k for i, k in enumerate(parts))


def _split(columns: Columns) -> tuple[int, ...]:
    return tuple(1 if k is None else k for k in columns)


def _shown(arguments: Sequence[str], columns: Columns) -> str:
    """``obs (N, 3) + act (N, 2)``."""
    return " + ".join(
        f"{name} {'(N,)' if k is None else f'(N, {k})'}"
        for name, k in zip(arguments, columns, strict=True)
    )


def _example(arguments: Sequence[str], columns: Columns | None = None) -> str:
    """inputs=[...] names that spell a split (2 columns each when unknown)."""
    split = _split(columns) if columns else (2,) * len(arguments)
    names = column_names(arguments, tuple(split)) or ()
    return "[" + ", ".join(repr(n) for n in names) + "]"


def module_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of the module's first floating tensor, else the default."""
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def probe_points(rows: int, n: int, dtype: torch.dtype) -> torch.Tensor:
    """Probe points in (0.1, 0.9), from a fixed seed."""
    generator = torch.Generator().manual_seed(2024 + n)
    x = 0.1 + 0.8 * torch.rand(rows, n, generator=generator, dtype=torch.float64)
    return x.to(dtype)
