"""Derivative specs in Leibniz notation, parsed into canonical :class:`Partial` keys.

Grammar (whitespace is ignored, ``∂`` may stand for ``d``)::

    spec        := output                       the value itself (order 0)
                 | numerator "/" denominator
    numerator   := "d" ["^"] [order] output     order omitted means 1
    denominator := factor+
    factor      := "d" input [("^" | "**") power]

``dy/dx1``, ``d2y/dx1^2``, ``d2y/dx1dx2``, ``d3u/dx^2dt``, ``d4u/dx^4``. The order
after the first ``d`` must equal the sum of the powers. Names are split with the
model's own input names (every split is tried, so ``dx1dx2`` is unambiguous), and a
split that is not unique is an error. Mixed partials are symmetric: ``d2y/dx2dx1``
and ``d2y/dx1dx2`` are the same :class:`Partial`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import cast

from wrt.errors import SpecError
from wrt.names import did_you_mean, listing

_NUMERATOR = re.compile(r"d\^?(\d*)([^\W\d]\w*)\Z")
_POWER = re.compile(r"(?:\^|\*\*)(\d+)")
# Without known names, a name runs up to the next "d", "^" or "*" (so it cannot
# contain a "d"; pass the model's names to parse such inputs).
_LOOSE_FACTOR = re.compile(r"d([^\W\d]\w*?)(?:(?:\^|\*\*)(\d+))?(?=d|\Z)")
_IDENT = re.compile(r"[^\W\d]\w*\Z")


class Partial:
    """One partial derivative: an output and a power per input; hashable, symmetric.

    Args:
        output: the output's name, e.g. ``"y"``.
        orders: input name -> power (a positive integer), or (name, power) pairs;
            repeated names add up and zero powers are dropped. Their order is the
            order in which :func:`format_spec` writes them; it does not take part in
            equality, so ``Partial("y", {"x1": 1, "x2": 1}) == Partial("y",
            {"x2": 1, "x1": 1})``.

    Examples:
        >>> p = Partial("y", {"x1": 2, "x2": 1})
        >>> p.order, str(p)
        (3, 'd3y/dx1^2dx2')
    """

    __slots__ = ("output", "orders", "order", "_key")

    def __init__(
        self, output: str, orders: Mapping[str, int] | Iterable[tuple[str, int]] = ()
    ) -> None:
        pairs = cast(
            Iterable[tuple[str, int]],
            orders.items() if isinstance(orders, Mapping) else orders,
        )
        merged: dict[str, int] = {}
        for name, power in pairs:
            if isinstance(power, bool) or not isinstance(power, int) or power < 0:
                raise SpecError(
                    f"Power {power!r} of {name!r} is not a non-negative integer."
                )
            if power:
                merged[name] = merged.get(name, 0) + power
        self.output = output
        self.orders: tuple[tuple[str, int], ...] = tuple(merged.items())
        #: Total order: the sum of the powers (0 for the value itself).
        self.order: int = sum(merged.values())
        self._key = (output, frozenset(self.orders))

    @property
    def variables(self) -> tuple[str, ...]:
        """The inputs differentiated along, in written order."""
        return tuple(name for name, _ in self.orders)

    def multi_index(self, inputs: Sequence[str]) -> tuple[int, ...]:
        """The powers as a tuple aligned with ``inputs``.

        Args:
            inputs: the model's input names.

        Returns:
            One power per input, 0 for an input the partial does not involve.

        Raises:
            SpecError: the partial names an input not in ``inputs``.
        """
        self.check(inputs)
        powers = dict(self.orders)
        return tuple(powers.get(name, 0) for name in inputs)

    def check(
        self, inputs: Sequence[str], outputs: Sequence[str] | None = None
    ) -> None:
        """Raise :class:`SpecError` if the partial names something the model lacks.

        Args:
            inputs: the model's input names.
            outputs: the model's output names (None: the output is not checked).

        Raises:
            SpecError: an input (or output) the model does not have, with the
                closest valid name.
        """
        for name in self.variables:
            if name not in inputs:
                raise SpecError(
                    f"Unknown input {name!r} in {str(self)!r}. The model's inputs are "
                    f"{listing(inputs)}.{did_you_mean(name, inputs)}"
                )
        if outputs is not None and self.output not in outputs:
            raise SpecError(
                f"Unknown output {self.output!r} in {str(self)!r}. The model's outputs "
                f"are {listing(outputs)}.{did_you_mean(self.output, outputs)}"
            )

    def in_order(self, inputs: Sequence[str]) -> Partial:
        """The same partial with its factors written in the model's input order.

        Args:
            inputs: the model's input names.

        Returns:
            An equal :class:`Partial` (same key) whose text follows ``inputs``.

        Raises:
            SpecError: the partial names an input not in ``inputs``.
        """
        self.check(inputs)
        if len(self.orders) < 2:  # nothing to reorder
            return self
        powers = dict(self.orders)
        return Partial(self.output, [(n, powers[n]) for n in inputs if n in powers])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Partial):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __str__(self) -> str:
        return format_spec(self)

    def __repr__(self) -> str:
        return f"Partial({format_spec(self)!r})"


def format_spec(partial: Partial) -> str:
    """Write a partial in Leibniz notation: ``d3u/dx^2dt``; order 0 is the output name.

    Args:
        partial: the partial (from :func:`parse_spec` or a :class:`Partials` key).

    Returns:
        The spec text, inputs in the partial's canonical order; it parses back to
        ``partial`` with the model's names.

    Examples:
        >>> format_spec(Partial("u", [("x", 2), ("t", 1)]))
        'd3u/dx^2dt'
    """
    if partial.order == 0:
        return partial.output
    head = "d" if partial.order == 1 else f"d{partial.order}"
    factors = "".join(
        f"d{name}" if power == 1 else f"d{name}^{power}"
        for name, power in partial.orders
    )
    return f"{head}{partial.output}/{factors}"


def parse_spec(
    spec: str | Partial,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
) -> Partial:
    """Parse a Leibniz spec into a :class:`Partial`.

    Args:
        spec: e.g. ``"d2y/dx1dx2"``; a :class:`Partial` is checked and returned.
        inputs: the model's input names. With them, names are split exactly and
            unknown names get a "did you mean"; the factors come back in this order.
            Without them, a name runs up to the next ``d``.
        outputs: the model's output names, checked when given.

    Returns:
        The canonical partial.

    Raises:
        SpecError: malformed spec, unknown or ambiguous name, or a stated order that
            does not match the powers.

    Examples:
        >>> parse_spec("d2y/dx2dx1", inputs=["x1", "x2"]) == parse_spec("d2y/dx1dx2")
        True
        >>> str(parse_spec("d3u/dtdx^2", inputs=["x", "t"]))
        'd3u/dx^2dt'
    """
    if isinstance(spec, Partial):
        partial = spec
    else:
        partial = _parse_text(spec, inputs, outputs)
    if inputs is not None:
        partial = partial.in_order(inputs)
    if outputs is not None:
        partial.check(inputs or partial.variables, outputs)
    return partial


def _parse_text(
    spec: str, inputs: Sequence[str] | None, outputs: Sequence[str] | None
) -> Partial:
    if not isinstance(spec, str):
        raise SpecError(
            f"A derivative spec must be a string such as 'dy/dx1', not {spec!r}."
        )
    text = re.sub(r"\s+", "", spec).replace("∂", "d")
    if not text:
        raise SpecError("Empty derivative spec. Write one such as 'dy/dx1'.")
    if "/" not in text:
        return _parse_value(spec, text, outputs)
    if text.count("/") > 1:
        raise SpecError(
            f"{spec!r} has more than one '/'. A spec has one numerator and one "
            "denominator, e.g. 'd2y/dx1dx2'."
        )
    numerator, denominator = text.split("/")
    match = _NUMERATOR.match(numerator)
    if match is None:
        raise SpecError(
            f"Cannot read the numerator {numerator!r} of {spec!r}. It is 'd', an "
            "optional order and the output name, e.g. 'dy' or 'd2y'."
        )
    stated, output = match.groups()
    if outputs is not None and output not in outputs:
        raise SpecError(
            f"Unknown output {output!r} in {spec!r}. The model's outputs are "
            f"{listing(outputs)}.{did_you_mean(output, outputs)}"
        )
    if not denominator:
        raise SpecError(
            f"{spec!r} has nothing after '/'. Name the inputs, e.g. 'dy/dx1'."
        )
    factors = (
        _split_known(spec, denominator, inputs)
        if inputs is not None
        else _split_loose(spec, denominator)
    )
    partial = Partial(output, factors)
    written = " ".join(f"{n}^{p}" if p > 1 else n for n, p in factors)
    if stated:
        order = int(stated)
        if order != partial.order:
            raise SpecError(
                f"{spec!r} states order {order} but its powers add up to "
                f"{partial.order} ({written}). Write {format_spec(partial)!r}, or "
                "change the powers."
            )
    elif partial.order != 1:
        raise SpecError(
            f"{spec!r} has total order {partial.order} ({written}) but no order after "
            f"the first 'd'. Write {format_spec(partial)!r}."
        )
    return partial


def _parse_value(spec: str, text: str, outputs: Sequence[str] | None) -> Partial:
    if outputs is not None and text in outputs:
        return Partial(text)
    if outputs is None and _IDENT.match(text):
        return Partial(text)
    valid = f" The model's outputs are {listing(outputs)}." if outputs else ""
    raise SpecError(
        f"Cannot read {spec!r} as a derivative. Write it as 'dy/dx1', 'd2y/dx1^2' "
        f"or 'd2y/dx1dx2', or give an output name for the value itself.{valid}"
    )


def _split_loose(spec: str, denominator: str) -> list[tuple[str, int]]:
    factors: list[tuple[str, int]] = []
    pos = 0
    while pos < len(denominator):
        match = _LOOSE_FACTOR.match(denominator, pos)
        if match is None:
            raise SpecError(
                f"Cannot read {denominator[pos:]!r} in {spec!r}. Each factor is 'd', "
                "an input name and an optional power, e.g. 'dx1' or 'dx1^2'."
            )
        name, power = match.groups()
        factors.append((name, _power(spec, name, power)))
        pos = match.end()
    return factors


def _power(spec: str, name: str, text: str | None) -> int:
    if text is None:
        return 1
    power = int(text)
    if power < 1:
        raise SpecError(
            f"Power {power} of {name!r} in {spec!r} must be at least 1; drop the "
            "factor instead."
        )
    return power


def _split_known(
    spec: str, denominator: str, inputs: Sequence[str]
) -> list[tuple[str, int]]:
    """Split ``denominator`` into factors using the known input names.

    Every split is tried (names may contain 'd' or prefix each other); exactly one
    must cover the whole denominator.
    """
    by_length = sorted(inputs, key=len, reverse=True)
    splits = list(itertools.islice(_splits(denominator, 0, by_length), 2))
    if len(splits) == 1:
        return [(name, _power(spec, name, power)) for name, power in splits[0]]
    if len(splits) > 1:
        shown = " or as ".join(_reading(split) for split in splits)
        raise SpecError(
            f"{spec!r} can be read in more than one way: as {shown}. Rename the "
            "inputs so that no name is 'd' plus another name."
        )
    raise SpecError(_unknown_input_message(spec, denominator, inputs))


def _reading(split: list[tuple[str, str | None]]) -> str:
    """One reading of a denominator, factor by factor: ``da·dda (inputs a, da)``."""
    factors = "·".join(f"d{n}" + (f"^{p}" if p else "") for n, p in split)
    names = ", ".join(n for n, _ in split)
    return f"{factors} (input{'s' if len(split) > 1 else ''} {names})"


def _splits(
    text: str, pos: int, names: Sequence[str]
) -> Iterator[list[tuple[str, str | None]]]:
    if pos == len(text):
        yield []
        return
    if text[pos] != "d":
        return
    for name in names:
        if text.startswith(name, pos + 1):
            end = pos + 1 + len(name)
            power_match = _POWER.match(text, end)
            power = power_match.group(1) if power_match else None
            nxt = power_match.end() if power_match else end
            for rest in _splits(text, nxt, names):
                yield [(name, power), *rest]


def _unknown_input_message(spec: str, denominator: str, inputs: Sequence[str]) -> str:
    loose = _LOOSE_FACTOR.match(denominator)
    pieces = []
    pos = 0
    while loose is not None:
        pieces.append(loose.group(1))
        pos = loose.end()
        loose = (
            _LOOSE_FACTOR.match(denominator, pos) if pos < len(denominator) else None
        )
    unknown = [name for name in pieces if name not in inputs]
    valid = f"The model's inputs are {listing(inputs)}."
    if unknown and pos == len(denominator):
        bad = unknown[0]
        return f"Unknown input {bad!r} in {spec!r}. {valid}{did_you_mean(bad, inputs)}"
    return (
        f"Cannot split {denominator!r} in {spec!r} into 'd<input>' factors. {valid} "
        "Write e.g. 'd2y/dx1dx2' or 'd2y/dx1^2'."
    )


#: Most partials --order may ask for at once (each is a column of the output).
MAX_PARTIALS = 1000


def partials_up_to(
    order: int, inputs: Sequence[str], outputs: Sequence[str]
) -> list[Partial]:
    """Every partial of total order 1..``order`` of every output, graded order.

    Examples:
        >>> [str(p) for p in partials_up_to(2, ["x", "t"], ["u"])]
        ['du/dx', 'du/dt', 'd2u/dx^2', 'd2u/dxdt', 'd2u/dt^2']
    """
    if order < 1:
        raise SpecError(f"--order must be at least 1, not {order}.")
    count = len(outputs) * (math.comb(len(inputs) + order, order) - 1)
    if count > MAX_PARTIALS:
        raise SpecError(
            f"--order {order} asks for {count} partials ({len(inputs)} inputs, "
            f"{len(outputs)} output(s)); more than {MAX_PARTIALS} is refused, as "
            "the nested graphs would not fit in memory or time. Name the partials "
            "you need with -d, or lower --order."
        )
    result = []
    for output in outputs:
        for k in range(1, order + 1):
            for combo in itertools.combinations_with_replacement(inputs, k):
                result.append(Partial(output, [(name, 1) for name in combo]))
    return result
