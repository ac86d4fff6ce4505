"""Partials: the answer of one request, a mapping from spec to a tensor (N,).

Keys are canonical :class:`~wrt.spec.Partial` objects; lookups also take spec text,
parsed with the model's names, so ``P["d2y/dx2dx1"]`` finds ``d2y/dx1dx2``.
``to_frame`` writes one column per spec exactly as the user wrote it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import pandas as pd
import torch

from wrt import display
from wrt.spec import Partial, parse_spec


class Partials(Mapping[Partial, torch.Tensor]):
    """Values of partial derivatives at N points.

    Attributes:
        inputs: the model's input names.
        outputs: the model's output names.
        points: the points, shape (N, n_in), in the model's input order.
        requested: (spec as written, partial) in the order asked; a partial asked
            twice in different spellings appears twice.
        engine: name of the engine that computed the values.
        errors: estimated absolute error per partial, shape (N,), when the engine
            estimates it (finite differences); otherwise empty. Keyed like the
            values: ``P.errors["d2y/dx2dx1"]`` finds ``d2y/dx1dx2``.
        compile_seconds: seconds this call spent compiling (``torch.compile``,
            :mod:`wrt.engines.compiling`); 0.0 when nothing was compiled.
    """

    def __init__(
        self,
        values: Mapping[Partial, torch.Tensor],
        *,
        inputs: Sequence[str],
        outputs: Sequence[str],
        points: torch.Tensor,
        requested: Sequence[tuple[str, Partial]],
        engine: str,
        errors: Mapping[Partial, torch.Tensor] | None = None,
        compile_seconds: float = 0.0,
    ) -> None:
        self._values = dict(values)
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.points = points
        self.requested = tuple(requested)
        self.engine = engine
        self.errors = Errors(errors or {}, self.key)
        self.compile_seconds = compile_seconds

    def key(self, spec: str | Partial) -> Partial:
        """The canonical partial for ``spec`` (text or Partial).

        Args:
            spec: e.g. ``"d2y/dx2dx1"``, in the model's names.

        Returns:
            The key under which its values are stored (``d2y/dx1dx2``).

        Raises:
            SpecError: a malformed spec or an unknown name.
        """
        return parse_spec(spec, self.inputs, self.outputs)

    def __getitem__(self, spec: str | Partial) -> torch.Tensor:
        return _lookup(self._values, spec, self.key, "computed in this request")

    def __iter__(self) -> Iterator[Partial]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        n = self.points.shape[0]
        specs = ", ".join(text for text, _ in self.requested)
        return f"Partials(N={n}, engine={self.engine!r}, specs=[{specs}])"

    def _repr_html_(self) -> str:
        """An HTML table for Jupyter: the inputs, then a column per spec as written.

        Error estimates (``engine="finite_diff"``) follow as ``± spec`` columns.
        More than :data:`wrt.display.MAX_ROWS` rows show as a head and a tail,
        more than :data:`wrt.display.MAX_COLUMNS` columns as the first ones, with a
        note of what is hidden; ``to_frame(with_inputs=True)`` has everything.
        """
        n = self.points.shape[0]
        values = [(text, self._values[p]) for text, p in self.requested]
        values += [
            (f"\u00b1 {text}", self.errors[p])
            for text, p in self.requested
            if p in self.errors
        ]
        n_in = min(len(self.inputs), max(3, display.MAX_COLUMNS - len(values)))
        n_val = min(len(values), max(3, display.MAX_COLUMNS - n_in))
        rows, cut = display.head_tail(n)
        index = torch.tensor(rows, dtype=torch.long, device=self.points.device)
        points = self.points.detach()[index, :n_in].cpu().tolist()
        columns = [v.detach()[index].cpu().tolist() for _, v in values[:n_val]]
        body = [
            [
                str(i),
                *map(display.number, points[k]),
                *(display.number(c[k]) for c in columns),
            ]
            for k, i in enumerate(rows)
        ]
        header = [
            "",
            *(f"<i>{display.text(name)}</i>" for name in self.inputs[:n_in]),
            *(f"<b>{display.text(name)}</b>" for name, _ in values[:n_val]),
        ]
        caption = display.text(
            f"Partials at {n} point{'s' if n != 1 else ''} "
            f"(engine {self.engine!r}; inputs in italics)"
        )
        out = display.table(
            header, body, gap_after=len(rows) // 2 if cut else None, caption=caption
        )
        hidden = []
        if cut:
            hidden.append(f"{n - len(rows)} of {n} rows")
        if n_in < len(self.inputs):
            hidden.append(f"{len(self.inputs) - n_in} of {len(self.inputs)} inputs")
        if n_val < len(values):
            hidden.append(f"{len(values) - n_val} of {len(values)} value columns")
        if hidden:
            out += display.note(
                f"Not shown: {', '.join(hidden)}. "
                "P.to_frame(with_inputs=True) has every row and column."
            )
        return out

    def to_frame(self, with_inputs: bool = False) -> pd.DataFrame:
        """A DataFrame with one column per spec as written (and the inputs first).

        Args:
            with_inputs: put the input columns, named as the inputs, first.

        Returns:
            N rows; float columns.
        """
        columns: dict[str, object] = {}
        if with_inputs:
            points = self.points.detach().cpu().numpy()
            for i, name in enumerate(self.inputs):
                columns[name] = points[:, i]
        for text, partial in self.requested:
            columns[text] = self._values[partial].detach().cpu().numpy()
        return pd.DataFrame(columns)


class Errors(Mapping[Partial, torch.Tensor]):
    """Error estimates of some partials, looked up like :class:`Partials`."""

    def __init__(
        self,
        errors: Mapping[Partial, torch.Tensor],
        key: Callable[[str | Partial], Partial],
    ) -> None:
        self._errors = dict(errors)
        self._key = key

    def __getitem__(self, spec: str | Partial) -> torch.Tensor:
        return _lookup(
            self._errors, spec, self._key, "given an error estimate by this engine"
        )

    def __iter__(self) -> Iterator[Partial]:
        return iter(self._errors)

    def __len__(self) -> int:
        return len(self._errors)

    def __repr__(self) -> str:
        return f"Errors({', '.join(str(p) for p in self._errors)})"


def _lookup(
    table: Mapping[Partial, torch.Tensor],
    spec: str | Partial,
    key: Callable[[str | Partial], Partial],
    what: str,
) -> torch.Tensor:
    if isinstance(spec, Partial) and spec in table:  # already canonical
        return table[spec]
    partial = key(spec)
    if partial not in table:
        have = ", ".join(str(p) for p in table) or "none"
        raise KeyError(
            f"{str(partial)!r} was not {what} (have: {have}). Add it to the specs "
            "of the call (errors come from engine='finite_diff')."
            if "error" in what
            else f"{str(partial)!r} was not {what} (computed: {have}). Add it to "
            "the specs of the call."
        )
    return table[partial]
