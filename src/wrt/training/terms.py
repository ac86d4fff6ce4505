"""Loss terms from derivative specs: residuals, matches, labelled rows, objectives.

A term holds its points and what it reads at them (outputs and partials); it is
bound to a model when training starts (:meth:`Term.bind`: names checked, specs
parsed, points converted). Its loss is a scalar; :meth:`Term.pointwise` gives the
per-point quantity whose mean (or mean square) is the loss, so the NaN guard can
name the first bad point. Terms that share a point set share one batched
derivative computation per step (:mod:`wrt.training.fitting`).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from wrt.data import PointsLike, as_points
from wrt.errors import DataError, SpecError, UnboundedLossError
from wrt.model import Model
from wrt.spec import Partial, parse_spec
from wrt.training.expression import Expression

Values = Mapping[Partial, torch.Tensor]


@dataclass(eq=False)  # terms compare by identity (they hold tensors)
class Term(abc.ABC):
    """Base of every term: a name, a weight, points; see the module docstring."""

    points: Any
    weight: float = 1.0
    name: str = ""
    #: the points as a tensor (N, n_in); empty until :meth:`bind`
    x: torch.Tensor = field(
        default_factory=lambda: torch.empty(0, 0), init=False, repr=False
    )

    @abc.abstractmethod
    def needs(self) -> list[Partial]:
        """The outputs (order 0) and partials the term reads at its points."""

    def bind(self, model: Model) -> None:
        """Check the term against the model and convert its points."""
        self.x = as_points(
            self.points, model.inputs, dtype=model.dtype or torch.float32
        )
        if self.x.shape[0] == 0:
            raise DataError(f"Term {self.name!r} has no points.")
        if not (isinstance(self.weight, (int, float)) and self.weight >= 0):
            raise DataError(
                f"Term {self.name!r}: weight must be >= 0, not {self.weight!r}."
            )

    @abc.abstractmethod
    def pointwise(self, values: Values, model: Model) -> torch.Tensor:
        """The per-point quantity, (N,)."""

    def loss(self, values: Values, model: Model) -> torch.Tensor:
        """Mean square of :meth:`pointwise` (objectives: its mean)."""
        return self.pointwise(values, model).pow(2).mean()


@dataclass(eq=False)  # terms compare by identity (they hold tensors)
class Residual(Term):
    """A residual expression (or a callable of the partials) driven to zero."""

    expr: str | Callable[[Values], torch.Tensor] = ""
    reads: tuple[str, ...] = ()
    _expression: Expression | None = field(default=None, init=False, repr=False)
    _reads: list[Partial] = field(default_factory=list, init=False, repr=False)

    def bind(self, model: Model) -> None:
        """Parse the expression (or a callable's ``reads``) with the model's names."""
        super().bind(model)
        if callable(self.expr):
            if not self.reads:
                raise SpecError(
                    f"Term {self.name!r}: a callable residual needs reads=[specs...] "
                    "naming the outputs and partials it uses."
                )
            self._reads = [
                Partial(r, {})
                if r in model.outputs
                else parse_spec(r, model.inputs, model.outputs)
                for r in self.reads
            ]
            return
        self._expression = Expression(self.expr, model.inputs, model.outputs)
        self._reads = self._expression.partials()

    def needs(self) -> list[Partial]:
        """What the expression reads."""
        return list(self._reads)

    def pointwise(self, values: Values, model: Model) -> torch.Tensor:
        """The residual at every point."""
        if self._expression is None:
            result = self.expr(values)  # type: ignore[operator]
        else:
            coordinates = {n: self.x[:, i] for i, n in enumerate(model.inputs)}
            result = self._expression.evaluate(values, coordinates)
        return torch.as_tensor(result).expand(self.x.shape[0])


@dataclass(eq=False)  # terms compare by identity (they hold tensors)
class Objective(Residual):
    """An expression minimised as it is (its mean over the points)."""

    allow_unbounded: bool = False

    def bind(self, model: Model) -> None:
        """Refuse an objective that is not provably bounded below."""
        super().bind(model)
        if self._expression is None or self.allow_unbounded:
            return
        if not self._expression.bounded_below():
            raise UnboundedLossError(
                f"The objective {self.expr!r} is not provably bounded below: "
                "minimising it can run off to minus infinity (a raw derivative or "
                "output can be made as negative as the optimiser likes), which is how "
                "such a loss ends in NaN. To make the expression vanish, train its "
                f"squared residual instead: wrt.residual({self.expr!r}, points) "
                f"(or wrt.objective('({self.expr})^2', points)). Pass "
                "allow_unbounded=True if the model is constrained some other way."
            )

    def loss(self, values: Values, model: Model) -> torch.Tensor:
        """The mean of the expression."""
        return self.pointwise(values, model).mean()


@dataclass(eq=False)  # terms compare by identity (they hold tensors)
class Match(Term):
    """An output or partial matched to given values at the points."""

    target: str | Partial = ""
    values: Any = None
    _partial: Partial | None = field(default=None, init=False, repr=False)
    _y: torch.Tensor = field(
        default_factory=lambda: torch.empty(0), init=False, repr=False
    )

    def bind(self, model: Model) -> None:
        """Parse the target and check the values' shape and finiteness."""
        super().bind(model)
        target = self.target
        if isinstance(target, str) and target in model.outputs:
            self._partial = Partial(target, {})
        else:
            self._partial = parse_spec(target, model.inputs, model.outputs)
        if isinstance(self.values, torch.Tensor):
            y = self.values.detach().to(torch.float64).reshape(-1).clone()
        else:
            y = torch.tensor(np.array(self.values, dtype=np.float64)).reshape(-1)
        if y.shape[0] != self.x.shape[0]:
            raise DataError(
                f"Term {self.name!r}: {y.shape[0]} values for {self.x.shape[0]} "
                "points; give one value per point."
            )
        bad = ~torch.isfinite(y)
        if bad.any():
            raise DataError(
                f"Term {self.name!r}: value {int(torch.nonzero(bad)[0])} is NaN or Inf."
            )
        self._y = y.to(self.x.dtype)

    def needs(self) -> list[Partial]:
        """The matched output or partial."""
        return [self._target()]

    def pointwise(self, values: Values, model: Model) -> torch.Tensor:
        """Model minus target at every point."""
        return values[self._target()] - self._y

    def _target(self) -> Partial:
        if self._partial is None:
            raise DataError(
                f"Term {self.name!r} is not bound to a model yet: wrt.fit binds it."
            )
        return self._partial


def residual(
    expr: str | Callable[[Values], torch.Tensor],
    points: PointsLike,
    weight: float = 1.0,
    *,
    name: str | None = None,
    reads: Sequence[str] = (),
) -> Residual:
    """A residual term: the mean square of ``expr`` over ``points``.

    Args:
        expr: e.g. ``"du/dt + u*du/dx - 0.01/pi*d2u/dx^2"``, or a callable receiving
            the partials (a mapping Partial -> tensor) and returning the residual.
        points: (N, n_in) or a table with a column per input.
        weight: the term's weight in the total loss.
        name: shown in the history (default: the expression).
        reads: for a callable, the specs it reads.

    Returns:
        The term, for :func:`wrt.fit`; its loss is ``weight * mean(expr^2)`` over
        the points, in the squared units of the expression.

    Raises:
        ExpressionError: ``expr`` does not parse (raised by :func:`wrt.fit`, which
            binds the term to the model; the message points at the bad token).
        SpecError: a spec or name in ``expr`` that the model does not have (at
            :func:`wrt.fit`).
        DataError: ``points`` that do not fit the model's inputs, or hold NaN /
            Inf (at :func:`wrt.fit`).
    """
    label = name or (expr if isinstance(expr, str) else "residual")
    return Residual(points, weight, label, expr=expr, reads=tuple(reads))


def objective(
    expr: str,
    points: PointsLike,
    weight: float = 1.0,
    *,
    allow_unbounded: bool = False,
    name: str | None = None,
) -> Objective:
    """An expression minimised as it is (its mean); refused unless bounded below.

    Minimising ``du/dx + d2u/dy^2`` itself runs to minus infinity; wrt proves an
    objective bounded below (sums of even powers, ``abs``, ``exp``, ``sqrt``,
    non-negative constants times those) before training, and refuses the rest.

    Args:
        expr: the expression, e.g. ``"(du/dx)^2 + 0.1*u^2"``; wrt's own parser,
            never ``eval``.
        points: (N, n_in) or a table with a column per input.
        weight: the term's weight in the total loss.
        allow_unbounded: skip the bounded-below proof (the caller knows better).
        name: shown in the history (default: the expression).

    Returns:
        The term, for :func:`wrt.fit`; its loss is ``weight * mean(expr)``.

    Raises:
        ExpressionError: ``expr`` does not parse (raised by :func:`wrt.fit`, which
            binds the term to the model; the message points at the bad token).
        SpecError: a spec or name in ``expr`` that the model does not have (at
            :func:`wrt.fit`).
        DataError: ``points`` that do not fit the model's inputs, or hold NaN /
            Inf (at :func:`wrt.fit`).
        UnboundedLossError: the objective is not provably bounded below (at
            :func:`wrt.fit`; the message gives the squared-residual form).
    """
    return Objective(
        points, weight, name or expr, expr=expr, allow_unbounded=allow_unbounded
    )


def match(
    target: str,
    points: PointsLike,
    values: Any,
    weight: float = 1.0,
    *,
    name: str | None = None,
) -> Match:
    """Match an output (``"u"``) or a partial (``"du/dx"``) to values at points.

    Matching partials as well as values is Sobolev training (Czarnecki et al. 2017).

    Args:
        target: an output name or a spec, e.g. ``"u"`` or ``"du/dx"``.
        points: (N, n_in) or a table with a column per input.
        values: the target values, N of them (tensor, array or sequence), in the
            units of the target.
        weight: the term's weight in the total loss.
        name: shown in the history (default: ``"TARGET = data"``).

    Returns:
        The term, for :func:`wrt.fit`; its loss is ``weight * mean((target -
        values)^2)``.

    Raises:
        SpecError: a target the model does not have (at :func:`wrt.fit`).
        DataError: points or values that do not fit (count, NaN / Inf; at
            :func:`wrt.fit`).
    """
    return Match(
        points, weight, name or f"{target} = data", target=target, values=values
    )


def rows(
    table: pd.DataFrame,
    label_column: str = "label",
    value_column: str = "value",
    weight: float = 1.0,
    *,
    labels: Sequence[str] | None = None,
) -> list[Match]:
    """Terms from one table of rows labelled with an output or a partial.

    Two layouts:

    - long: columns for the inputs, ``label`` (``y``, ``dy/dx1``, ...) and
      ``value``: one term per distinct label;
    - wide: columns for the inputs and one column per label (``y``, ``dy/dx1``,
      ...), NaN where a row is not labelled with it (seed 004's data).

    Args:
        table: the rows.
        label_column: the label column of the long layout.
        value_column: the value column of the long layout.
        weight: the weight of each term.
        labels: for the wide layout, the label columns (default: the columns
            named like a derivative spec (with a ``/``), the outputs those specs
            name (``y`` for ``dy/dx1``), and any column with a NaN).

    Rows labelled with partials train a network on its derivatives as well as
    its values: Sobolev training (Czarnecki et al. 2017).

    Returns:
        One :func:`match` term per label, in the table's order.

    Raises:
        DataError: a long table without its value column, or a wide one without
            label columns.
    """
    frame = pd.DataFrame(table)
    if label_column in frame.columns:
        if value_column not in frame.columns:
            raise DataError(
                f"The table has {label_column!r} but no {value_column!r} column."
            )
        terms = []
        for label, group in frame.groupby(label_column, sort=False):
            points = group.drop(columns=[label_column, value_column])
            terms.append(
                match(str(label), points, group[value_column].to_numpy(), weight)
            )
        return terms
    chosen = list(labels) if labels is not None else _label_columns(frame)
    if not chosen:
        raise DataError(
            "No label columns found: give a long table with 'label' and 'value' "
            "columns, or wide label columns with NaN where a row is unlabelled "
            "(or name them with labels=[...])."
        )
    inputs = frame.drop(columns=chosen)
    terms = []
    for label in chosen:
        mask = frame[label].notna().to_numpy()
        if mask.any():
            points = pd.DataFrame(inputs[mask])
            values = frame.loc[mask, label].to_numpy()
            terms.append(match(str(label), points, values, weight))
    return terms


_SPEC_OUTPUT = re.compile(r"^d\d*([^\W\d]\w*?)/d")


def _label_columns(frame: pd.DataFrame) -> list[str]:
    """Wide layout: the spec columns, the outputs they name, columns with NaN."""
    specs = [str(c) for c in frame.columns if "/" in str(c)]
    outputs = set()
    for spec in specs:
        found = _SPEC_OUTPUT.match(spec)
        if found:
            outputs.add(found.group(1))
    return [
        c
        for c in frame.columns
        if str(c) in specs or str(c) in outputs or bool(frame[c].isna().any())
    ]
