"""Names of a model's inputs and outputs: defaults, validation, "did you mean".

Inputs are addressed by name, never by integer index. A name is an identifier as
Python defines it (``str.isidentifier``: letters of any alphabet, digits and
underscores, not starting with a digit: ``x1``, ``u_t``, ``α``) so that a spec
such as ``d2u/dxdt`` can be split unambiguously into names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from wrt.errors import InvalidNameError


def default_inputs(n: int) -> tuple[str, ...]:
    """Names ``x1 .. xn`` for ``n`` inputs."""
    return tuple(f"x{i}" for i in range(1, n + 1))


def default_outputs(m: int) -> tuple[str, ...]:
    """``("y",)`` for one output, ``y1 .. ym`` for several."""
    return ("y",) if m == 1 else tuple(f"y{i}" for i in range(1, m + 1))


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name most similar to ``name``, or None when nothing is close."""
    best, best_ratio = None, 0.0
    for candidate in valid:
        ratio = difflib.SequenceMatcher(None, name, candidate).ratio()
        # under half the characters in common is no guess; ties keep the earlier
        # name (x1 before x2)
        if ratio >= 0.5 and ratio > best_ratio:
            best, best_ratio = candidate, ratio
    return best


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """A ``" Did you mean 'x2'?"`` suffix for messages, or an empty string."""
    best = closest(name, valid)
    return f" Did you mean '{best}'?" if best else ""


def listing(names: Iterable[str]) -> str:
    """Names joined for a message: ``x1, x2, t``."""
    return ", ".join(names)


def check_names(
    names: Sequence[str] | str, *, kind: str, expected: int | None = None
) -> tuple[str, ...]:
    """Validate user-given names and return them as a tuple.

    Args:
        names: the names; a comma-separated string is split (``"x,t"``).
        kind: ``"input"`` or ``"output"``, for messages.
        expected: how many names the model needs, if known.

    Returns:
        The names as a tuple of stripped strings.

    Raises:
        InvalidNameError: a name is not an identifier, is repeated, or the count is
            not ``expected``.
    """
    if isinstance(names, str):
        names = [part for part in names.split(",")]
    out = tuple(str(name).strip() for name in names)
    for name in out:
        if not name.isidentifier():
            raise InvalidNameError(
                f"Invalid {kind} name {name!r}. Names are identifiers: a letter (of "
                "any alphabet) or '_' followed by letters, digits or '_' (e.g. "
                "'x1', 'temp', 'u_t', 'α')."
            )
    repeated = sorted({name for name in out if out.count(name) > 1})
    if repeated:
        raise InvalidNameError(
            f"The {kind} name(s) {listing(repeated)} appear more than once in "
            f"{listing(out)}. Give each {kind} its own name."
        )
    if expected is not None and len(out) != expected:
        raise InvalidNameError(
            f"{len(out)} {kind} name(s) given ({listing(out)}) but the model has "
            f"{expected} {kind}(s). Give exactly {expected} names."
        )
    return out


def check_disjoint(inputs: Sequence[str], outputs: Sequence[str]) -> None:
    """Refuse a name used for both an input and an output (specs would be ambiguous).

    Raises:
        InvalidNameError: some name is both an input and an output.
    """
    both = sorted(set(inputs) & set(outputs))
    if both:
        raise InvalidNameError(
            f"The name(s) {listing(both)} are used for an input and an output. "
            "Rename one of them (e.g. outputs=['u'] / --outputs u)."
        )
