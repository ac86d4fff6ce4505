"""Checks of a ``wrt train`` config, table by table, before anything runs.

Every table (``[model]``, ``[[terms]]`` and their ``points``, ``[train]``,
``[output]``) has a fixed set of keys, each with a rule for its value. An unknown
key is an error naming the table, the key, the closest valid key and every valid
key; a value of the wrong type or range is an error naming ``table.key``, the bad
value and what is valid. Terms are numbered from 1 (``terms[2]`` is the second
``[[terms]]`` table). Files the config names must exist.

:func:`check` raises :class:`~wrt.errors.ConfigError` on the first problem.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from wrt.errors import ConfigError
from wrt.training.networks import ACTIVATIONS
from wrt.training.samplers import METHODS

OPTIMIZERS = ("adam", "lbfgs", "adam+lbfgs", "pso", "cma")
DTYPES = ("float32", "float64")
KINDS = ("residual", "objective", "match", "rows")
_NAME = re.compile(r"^[^\W\d]\w*$")

Rule = Callable[[Any], str | None]  # None when valid, else what is valid


def _show(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def whole(least: int, most: int | None = None) -> Rule:
    """A whole number >= ``least`` (and <= ``most``); 5.7 and true are refused."""

    def rule(value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and value >= least:
            if most is None or value <= most:
                return None
        if most is not None:
            return f"must be a whole number from {least} to {most}"
        return f"must be a whole number >= {least}"

    return rule


def number(*, positive: bool) -> Rule:
    """A finite number > 0 (``positive``) or >= 0."""

    def rule(value: Any) -> str | None:
        if _is_number(value) and math.isfinite(value):
            if value > 0 or (value == 0 and not positive):
                return None
        return f"must be a finite number {'> 0' if positive else '>= 0'}"

    return rule


def text(value: Any) -> str | None:
    """A non-empty string."""
    if isinstance(value, str) and value.strip():
        return None
    return 'must be a non-empty string in quotes, e.g. "name"'


def flag(value: Any) -> str | None:
    """A boolean: true or false."""
    return None if isinstance(value, bool) else "must be true or false"


def choice(options: tuple[str, ...] | Mapping[str, Any]) -> Rule:
    """One of ``options`` (strings)."""
    names = tuple(options)

    def rule(value: Any) -> str | None:
        if isinstance(value, str) and value.strip().lower() in names:
            return None
        return f"must be one of {', '.join(repr(n) for n in names)}"

    return rule


def switch(value: Any) -> str | None:
    """``"auto"``, true or false (``train.compile``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    return 'must be "auto", true or false'


def names(value: Any) -> str | None:
    """A non-empty list of distinct identifiers."""
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, str) and _NAME.match(v) for v in value)
        and len(set(value)) == len(value)
    ):
        return None
    return 'must be a non-empty list of distinct names, e.g. ["x", "t"]'


def widths(value: Any) -> str | None:
    """A list of layer widths, whole numbers >= 1 (may be empty: no hidden layer)."""
    if isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value
    ):
        return None
    return "must be a list of layer widths, whole numbers >= 1, e.g. [32, 32]"


def values(value: Any) -> str | None:
    """A match's values: a number, an expression, or ``{ column = "u" }``."""
    if _is_number(value) and math.isfinite(value):
        return None
    if isinstance(value, str) and value.strip():
        return None
    if (
        isinstance(value, dict)
        and set(value) == {"column"}
        and not text(value["column"])
    ):
        return None
    return (
        'must be a finite number, an expression over the inputs ("-sin(pi*x)") '
        'or { column = "u" } with points from a file'
    )


MODEL: dict[str, Rule] = {
    "inputs": names,
    "outputs": names,
    "hidden": widths,
    "activation": choice(ACTIVATIONS),
    "dtype": choice(DTYPES),
    "seed": whole(0),
    "file": text,
}
TRAIN: dict[str, Rule] = {
    "optimizer": choice(OPTIMIZERS),
    "steps": whole(1),  # a run of 0 steps trains and writes nothing
    "lr": number(positive=True),
    "lbfgs_steps": whole(0),
    "seed": whole(0),
    "checkpoint_every": whole(0),
    "population": whole(2),
    "compile": switch,
}
OUTPUT: dict[str, Rule] = {"folder": text}
_COMMON: dict[str, Rule] = {
    "kind": choice(KINDS),
    "weight": number(positive=False),
    "name": text,
}
TERMS: dict[str, dict[str, Rule]] = {
    "residual": {**_COMMON, "expr": text, "points": lambda v: None},
    "objective": {
        **_COMMON,
        "expr": text,
        "points": lambda v: None,
        "allow_unbounded": flag,
    },
    "match": {**_COMMON, "target": text, "values": values, "points": lambda v: None},
    "rows": {
        "kind": _COMMON["kind"],
        "weight": _COMMON["weight"],
        "file": text,
        "label_column": text,
        "value_column": text,
    },
}
REQUIRED = {
    "residual": ("expr", "points"),
    "objective": ("expr", "points"),
    "match": ("target", "values", "points"),
    "rows": ("file",),
}
SAMPLED: dict[str, Rule] = {
    "sampler": choice(METHODS),
    # collocation points are one batch held in memory (with their derivatives)
    "n": whole(1, most=10**7),
    "seed": whole(0),
    "box": lambda v: None,  # checked by _box
    "boundary": flag,
    "faces": lambda v: None if names(v) is None else "must be a list of input names",
}
READ: dict[str, Rule] = {"file": text}
SECTIONS = ("model", "terms", "train", "output")


def check(data: dict[str, Any], base: Path) -> None:
    """Check a parsed config; file paths are relative to ``base``.

    Raises:
        ConfigError: the first unknown key, bad value or missing file.
    """
    unknown(data, SECTIONS, "the config", "table")
    for section in ("model", "train", "output"):
        if section in data and not isinstance(data[section], dict):
            raise ConfigError(
                f"{section} = {_show(data[section])}: [{section}] must be a table "
                f"(a [{section}] header with keys under it)."
            )
    if "model" not in data:
        raise ConfigError("The config needs a [model] table (inputs = [...] or file).")
    model = data["model"]
    table(model, MODEL, "model")
    if "file" in model:
        for key in ("hidden", "activation", "dtype", "seed"):
            if key in model:
                raise ConfigError(
                    f"model.{key} = {_show(model[key])}: {key} shapes a new network; "
                    "a model read from model.file keeps its own. Remove one of them."
                )
    if "file" in model:
        exists(model["file"], base, "model.file", folder=True)
    elif "inputs" not in model:
        raise ConfigError(
            'model.inputs is missing: [model] needs inputs = ["x", ...] for a new '
            'network, or file = "model.pt2" to continue from a model file.'
        )
    train = data.get("train", {})
    table(train, TRAIN, "train")
    _ignored(train)
    table(data.get("output", {}), OUTPUT, "output")
    terms = data.get("terms")
    if not isinstance(terms, list) or not terms:
        raise ConfigError(
            "The config needs at least one [[terms]] table (with double brackets: "
            "an array of tables)."
        )
    inputs = model.get("inputs") if "file" not in model else None
    for i, term in enumerate(terms, start=1):
        _term(term, f"terms[{i}]", base, inputs)


def _ignored(train: dict[str, Any]) -> None:
    """Refuse settings that the chosen optimiser would silently ignore."""
    optimizer = str(train.get("optimizer", "adam")).strip().lower()
    uses = {
        "lbfgs_steps": ("adam+lbfgs",),
        "population": ("pso", "cma"),
        "lr": ("adam", "adam+lbfgs"),
        "compile": ("adam", "lbfgs", "adam+lbfgs"),
    }
    for key, optimizers in uses.items():
        if key in train and optimizer not in optimizers:
            raise ConfigError(
                f"train.{key} = {_show(train[key])}: {key} is used by optimizer = "
                f"{' or '.join(repr(o) for o in optimizers)}, not by "
                f"{optimizer!r}; remove it or change the optimizer."
            )


def _term(term: Any, where: str, base: Path, inputs: list[str] | None) -> None:
    if not isinstance(term, dict):
        raise ConfigError(f"{where} must be a [[terms]] table, not {_show(term)}.")
    kind = term.get("kind")
    if kind not in KINDS:
        raise ConfigError(
            f"{where}.kind = {_show(kind)}: kind must be one of "
            f"{', '.join(repr(k) for k in KINDS)}."
        )
    label = f"{where} ({kind})"
    table(term, TERMS[kind], where, label=label)
    for key in REQUIRED[kind]:
        if key not in term:
            raise ConfigError(f"{where}.{key} is missing: a {kind} term needs {key}.")
    if kind == "rows":
        exists(term["file"], base, f"{where}.file")
        return
    points = term["points"]
    if not isinstance(points, dict):
        raise ConfigError(
            f"{where}.points = {_show(points)}: points must be a table, "
            '{ sampler = "sobol", n = 100, box = { ... } } or { file = "p.csv" }.'
        )
    if "file" in points:
        table(points, READ, f"{where}.points")
        exists(points["file"], base, f"{where}.points.file")
    else:
        table(points, SAMPLED, f"{where}.points")
        for key in ("n", "box"):
            if key not in points:
                raise ConfigError(
                    f"{where}.points.{key} is missing: sampled points need n = ... "
                    'and box = { x = [lo, hi], ... } (or file = "points.csv").'
                )
        _box(points, f"{where}.points", inputs)
        if "faces" in points and not points.get("boundary", False):
            raise ConfigError(
                f"{where}.points.faces = {_show(points['faces'])}: faces are "
                "sampled with boundary = true; add it, or remove faces."
            )
    if isinstance(term.get("values"), dict) and "file" not in points:
        raise ConfigError(
            f"{where}.values = {_show(term['values'])}: values from a column need "
            'points read from a file (points = { file = "p.csv" }).'
        )


def _box(points: dict[str, Any], where: str, inputs: list[str] | None) -> None:
    box = points["box"]
    if not isinstance(box, dict) or not box:
        raise ConfigError(
            f"{where}.box = {_show(box)}: box must be a table of intervals, "
            "e.g. { x = [-1, 1], t = [0, 1] }."
        )
    for name, interval in box.items():
        if not (
            isinstance(interval, list)
            and len(interval) == 2
            and all(_is_number(v) and math.isfinite(v) for v in interval)
        ):
            raise ConfigError(
                f"{where}.box.{name} = {_show(interval)}: an interval must be two "
                "finite numbers [low, high]."
            )
        if interval[0] > interval[1]:
            raise ConfigError(
                f"{where}.box.{name} = {_show(interval)}: low must be <= high "
                "(an interval [a, a] fixes the input)."
            )
    if inputs is not None:
        missing = [n for n in inputs if n not in box]
        extra = [n for n in box if n not in inputs]
        if missing or extra:
            raise ConfigError(
                f"{where}.box must give an interval for every input of [model] "
                f"({', '.join(inputs)}); missing: {', '.join(missing) or 'none'}, "
                f"unknown: {', '.join(extra) or 'none'}."
            )
    for face in points.get("faces", []):
        if face not in box:
            raise ConfigError(
                f"{where}.faces: {face!r} is not an input of the box "
                f"({', '.join(box)})."
            )


def table(
    values_: Any, rules: Mapping[str, Rule], where: str, *, label: str | None = None
) -> None:
    """Unknown keys and values breaking their rules in one table."""
    unknown(values_, tuple(rules), f"[{label or where}]", "key")
    for key, value in values_.items():
        wrong = rules[key](value)
        if wrong is not None:
            raise ConfigError(f"{where}.{key} = {_show(value)}: {key} {wrong}.")


def unknown(values_: Mapping[str, Any], allowed: tuple[str, ...], where: str, what):
    """Refuse the first key not in ``allowed``, naming the closest valid one."""
    for key in values_:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"Unknown {what} {key!r} in {where}.{hint} Valid {what}s: "
                f"{', '.join(allowed)}."
            )


def exists(name: str, base: Path, where: str, *, folder: bool = False) -> Path:
    """The file ``name`` (relative to ``base``; a folder too when ``folder``).

    Raises:
        ConfigError: it is not there.
    """
    path = (base / name).resolve()
    if not (path.is_file() or (folder and path.is_dir())):
        state = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(
            f"{where} = {_show(name)}: {path} {state}; paths are relative to the "
            "config file's folder."
        )
    return path
