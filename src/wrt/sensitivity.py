"""Sensitivity of an output to each input, from its partials over a data set.

For each input x_i, over the N points given (a sample of the inputs' distribution):

- ``mean``, ``std`` and ``rms`` of dy/dx_i: NeuralSens' measures (Pizarroso,
  Portela and Munoz 2022). A mean near 0 with a large std says the effect changes
  sign over the data; ``rms`` ranks overall importance.
- ``dgsm``: the derivative-based global sensitivity measure
  ``nu_i = E[(dy/dx_i)^2]`` (Sobol' and Kucherenko 2009), i.e. ``rms^2``.
- ``sobol_total_bound``: where the input's distribution is known, ``nu_i`` bounds
  Sobol's total index, ``S_Ti <= C_i nu_i / Var(y)``, with the Poincare constant
  ``C_i = (b - a)^2 / pi^2`` for a uniform input on [a, b] (Lamboni et al. 2013) and
  ``C_i = sigma^2`` for a normal one. ``Var(y)`` is estimated from the same points.

With ``order=2`` the mean of ``|d2y/dx_i dx_j|`` over the points is added: a map
of interactions (the diagonal is curvature along each input).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from wrt import display
from wrt.data import PointsLike, as_points
from wrt.derivatives import ModelLike, _single_output, as_model, partials
from wrt.engines.base import Engine
from wrt.engines.compiling import CompileOption
from wrt.errors import DataError
from wrt.names import did_you_mean, listing
from wrt.spec import Partial


@dataclass
class Sensitivity:
    """Per-input sensitivity measures of one output.

    ``mean``, ``std`` and ``rms`` of dy/dx_i are NeuralSens' measures (Pizarroso et
    al. 2022); ``dgsm`` is ``mean((dy/dx_i)^2)``, the derivative-based global
    sensitivity measure, and ``sobol_total_bound`` its bound on the total Sobol'
    index, ``C_i * dgsm_i / Var(y)`` with the Poincare constant C_i of the input's
    distribution (Sobol' and Kucherenko 2009). Units: those of y per unit of x_i
    (squared for ``dgsm``); the bound has none.

    Attributes:
        output: the output's name.
        inputs: the input names.
        table: one row per input: ``mean``, ``std``, ``rms``, ``dgsm``,
            ``sobol_total_bound`` (NaN where the input's distribution is unknown).
        points: the points, (N, n_in).
        gradients: dy/dx_i at every point, (N, n_in).
        output_variance: the variance of the output over the points.
        interactions: mean |d2y/dx_i dx_j|, inputs x inputs, for ``order=2``.
    """

    output: str
    inputs: tuple[str, ...]
    table: pd.DataFrame
    points: torch.Tensor
    gradients: torch.Tensor
    output_variance: float
    interactions: pd.DataFrame | None = None

    def _repr_html_(self) -> str:
        """An HTML table for Jupyter: a row per input, and the interactions.

        Columns: mean, std, rms, DGSM and the Sobol' total-index bound (blank where
        the input's distribution was not given; a bound above 1 is marked, as the
        index itself never exceeds 1). With ``order=2`` a second table holds mean
        ``|d2y/dx_i dx_j|``. Long or wide tables are cut with a note.
        """
        n = int(self.points.shape[0])
        shown, cut = display.head_tail(len(self.table))
        rows, loose = [], False
        for i in shown:
            name, row = self.table.index[i], self.table.iloc[i]
            bound = float(row["sobol_total_bound"])
            loose = loose or bound > 1
            rows.append(
                [
                    f"<b>{display.text(name)}</b>",
                    *(display.number(row[c]) for c in ("mean", "std", "rms", "dgsm")),
                    ""
                    if math.isnan(bound)
                    else display.number(bound) + (" (&gt; 1)" if bound > 1 else ""),
                ]
            )
        caption = display.text(
            f"sensitivity of {self.output} over {n} points "
            f"(Var({self.output}) = {display.number(self.output_variance)})"
        )
        out = display.table(
            ["input", "mean", "std", "rms", "DGSM", "Sobol' total &le;"],
            rows,
            gap_after=len(shown) // 2 if cut else None,
            caption=caption,
        )
        notes = []
        if cut:
            notes.append(
                f"Not shown: {len(self.table) - len(shown)} of {len(self.table)} "
                "inputs; S.table has them all."
            )
        if loose:
            notes.append(
                "A bound above 1 says nothing: Sobol' total indices are at most 1 "
                "(the DGSM bound is loose for this input's distribution)."
            )
        out += "".join(display.note(text) for text in notes)
        if self.interactions is not None:
            out += _interactions_html(self.interactions, self.output)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: output, variance, per-input measures, interactions.

        Returns:
            Plain Python values (NaN as ``None``), as ``wrt sens --json`` prints.
        """
        measures = {
            name: {k: _number(v) for k, v in row.items()}
            for name, row in self.table.to_dict(orient="index").items()
        }
        out: dict[str, Any] = {
            "output": self.output,
            "points": int(self.points.shape[0]),
            "output_variance": self.output_variance,
            "inputs": measures,
        }
        if self.interactions is not None:
            out["interactions"] = {
                "inputs": list(self.inputs),
                "mean_abs_second_partials": self.interactions.to_numpy().tolist(),
            }
        return out


def sensitivity(
    model: ModelLike,
    points: PointsLike,
    *,
    order: int = 1,
    output: str | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    variances: Mapping[str, float] | None = None,
    engine: str | Engine = "auto",
    dtype: Any = None,
    compile: CompileOption = "auto",
) -> Sensitivity:
    """Sensitivity measures of ``output`` to each input over ``points``.

    Args:
        model: a Model, torch module or model file.
        points: a sample of the inputs, (N, n_in) or a table.
        order: 1 for the first-order measures, 2 to add interactions.
        output: output name; may be omitted for a single-output model.
        ranges: input -> (low, high) for inputs uniform on a range (Sobol bound).
        variances: input -> variance for normally distributed inputs (Sobol bound).
        engine: the engine computing the partials (name or engine object); the
            values, gradients and (order 2) Hessian come from one request.
        dtype: compute in this dtype (e.g. ``"float64"``).
        compile: see :func:`wrt.partials`.

    Returns:
        A :class:`Sensitivity`. The DGSM and its Sobol' bound follow Sobol' and
        Kucherenko 2009; the bound needs ``ranges`` (uniform inputs) or
        ``variances``.

    Raises:
        DataError: bad points, an ``order`` other than 1 or 2, or ``ranges`` /
            ``variances`` naming an unknown input or holding an empty interval,
            a bound or a variance that is not finite, or a variance <= 0.
        SpecError: an unknown ``output``.
        EngineError: unknown engine, or one that cannot compute the request.

    Examples:
        >>> import wrt
        >>> m = wrt.wrap(lambda x: 2 * x[:, 0] + x[:, 1] ** 2, inputs=["a", "b"])
        >>> X = torch.rand(10000, 2, dtype=torch.float64)
        >>> s = sensitivity(m, X, ranges={"a": (0, 1), "b": (0, 1)})
        >>> s.table.loc["a", ["mean", "std", "rms"]].round(3).tolist()
        [2.0, 0.0, 2.0]
    """
    if order not in (1, 2):
        raise DataError(f"order must be 1 or 2, not {order}.")
    model = as_model(model).converted(dtype)
    out = _single_output(model, output)
    x = as_points(points, model.inputs, dtype=model.dtype, device=model.device)
    if x.shape[0] < 2:
        raise DataError("Sensitivity needs at least 2 points to estimate spreads.")
    names = model.inputs
    firsts = [Partial(out, {name: 1}) for name in names]
    pairs = [(i, j) for i in range(len(names)) for j in range(i, len(names))]
    seconds = [Partial(out, [(names[i], 1), (names[j], 1)]) for i, j in pairs]
    specs = [Partial(out), *firsts, *(seconds if order == 2 else [])]
    values = partials(model, x, specs, engine=engine, compile=compile)
    g = torch.stack([values[p] for p in firsts], dim=1).detach()
    y = values[Partial(out)].detach().to(torch.float64)
    variance = float(y.var())
    g64 = g.to(torch.float64)
    table = pd.DataFrame(
        {
            "mean": g64.mean(0).tolist(),
            "std": g64.std(0).tolist(),
            "rms": g64.pow(2).mean(0).sqrt().tolist(),
            "dgsm": g64.pow(2).mean(0).tolist(),
        },
        index=pd.Index(model.inputs, name="input"),
    )
    constants = _poincare_constants(model.inputs, ranges, variances)
    table["sobol_total_bound"] = [
        constants[name] * table.loc[name, "dgsm"] / variance
        if name in constants and variance > 0
        else math.nan
        for name in model.inputs
    ]
    interactions = None
    if order == 2:
        h = g64.new_zeros(len(names), len(names))
        for (i, j), p in zip(pairs, seconds, strict=True):
            h[i, j] = h[j, i] = values[p].detach().to(torch.float64).abs().mean()
        interactions = pd.DataFrame(
            h.numpy(),
            index=pd.Index(model.inputs, name="input"),
            columns=list(model.inputs),
        )
    return Sensitivity(out, model.inputs, table, x.detach(), g, variance, interactions)


def _interactions_html(interactions: pd.DataFrame, output: str) -> str:
    """Mean |d2y/dx_i dx_j| as an HTML matrix, cut to the first inputs if wide."""
    names = list(interactions.index)
    keep = min(len(names), display.MAX_COLUMNS)
    values = interactions.to_numpy()
    rows = [
        [f"<b>{display.text(names[i])}</b>", *map(display.number, values[i, :keep])]
        for i in range(keep)
    ]
    out = display.table(
        ["", *(f"<b>{display.text(name)}</b>" for name in names[:keep])],
        rows,
        caption=display.text(f"mean |d2{output}/dx_i dx_j| over the points")
        + " (interactions; the diagonal is curvature along each input)",
    )
    if keep < len(names):
        out += display.note(
            f"Not shown: {len(names) - keep} of {len(names)} inputs; "
            "S.interactions has the whole matrix."
        )
    return out


def _poincare_constants(
    inputs: Sequence[str],
    ranges: Mapping[str, tuple[float, float]] | None,
    variances: Mapping[str, float] | None,
) -> dict[str, float]:
    constants: dict[str, float] = {}
    for name, (low, high) in (ranges or {}).items():
        _known(name, inputs, "ranges")
        if not (math.isfinite(low) and math.isfinite(high)):
            raise DataError(
                f"ranges[{name!r}] = ({low}, {high}): low and high must be finite "
                "numbers (a uniform input lies in a bounded interval)."
            )
        if not high > low:
            raise DataError(
                f"ranges[{name!r}] = ({low}, {high}): high must exceed low."
            )
        constants[name] = (high - low) ** 2 / math.pi**2
    for name, value in (variances or {}).items():
        _known(name, inputs, "variances")
        if not (value > 0 and math.isfinite(value)):
            raise DataError(
                f"variances[{name!r}] = {value}: it must be a finite, positive number."
            )
        if name in constants:
            raise DataError(f"{name!r} has both a range and a variance; give one.")
        constants[name] = float(value)
    return constants


def _known(name: str, inputs: Sequence[str], where: str) -> None:
    if name not in inputs:
        raise DataError(
            f"Unknown input {name!r} in {where}=. The model's inputs are "
            f"{listing(inputs)}.{did_you_mean(name, inputs)}"
        )


def _number(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
