"""Options shared by several commands, declared once.

Nothing here imports torch: the CLI's modules are imported for ``wrt --help``, so
each command imports the heavy parts of wrt inside its function.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from wrt.errors import DataError, DeprecatedOptionWarning

if TYPE_CHECKING:
    import pandas as pd

    from wrt.model import Model

#: The values of --engine, as :data:`wrt.engines.choose.ENGINE_NAMES` has them
#: (written out so that --help does not import the engines; a test keeps the two
#: the same).
ENGINE_NAMES = ("auto", "autograd", "taylor", "finite_diff")

ModelPath = Annotated[
    str,
    typer.Argument(
        help="Model file: .keras/.h5, ONNX, .pt2, TorchScript, state_dict, .npz "
        "(the format is read from the content)."
    ),
]
Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        "-e",
        metavar="ENGINE",
        help=f"Engine: {', '.join(ENGINE_NAMES)}.",
        show_default=True,
    ),
]
DType = Annotated[
    str | None,
    typer.Option(
        "--dtype",
        metavar="DTYPE",
        help="Compute in float32 or float64 (a converted copy).",
    ),
]


class CompileChoice(StrEnum):
    """The values of ``--compile``."""

    auto = "auto"
    on = "on"
    off = "off"


Compile = Annotated[
    CompileChoice,
    typer.Option(
        "--compile",
        help="Compile the Taylor engine's work with torch.compile: auto (once "
        "repeated work repays the compile time), on, off. Compiled code is cached "
        "on disk ($WRT_CACHE_DIR) for later runs.",
        case_sensitive=False,
        show_default=True,
    ),
]
Inputs = Annotated[
    str | None,
    typer.Option(
        "--inputs",
        metavar="NAMES",
        help="Names of the model's input columns, comma-separated: x,t.",
    ),
]
Outputs = Annotated[
    str | None,
    typer.Option(
        "--outputs",
        metavar="NAMES",
        help="Names of the model's outputs, comma-separated.",
    ),
]
ModuleClass = Annotated[
    str | None,
    typer.Option(
        "--module",
        metavar="PKG.MODULE:CLASS",
        help="For state_dict files: the module to load the weights into, as "
        "package.module:Class (importable, built without arguments).",
    ),
]


def load_options(module: str | None) -> dict[str, str]:
    """Format options for :func:`wrt.load` from the shared CLI options."""
    return {"module": module} if module else {}


Ranges = Annotated[
    list[str] | None,
    typer.Option(
        "--range",
        metavar="NAME=LOW:HIGH",
        help="An input uniform on [LOW, HIGH] (gives its Sobol' bound); repeat.",
    ),
]
Variances = Annotated[
    list[str] | None,
    typer.Option(
        "--variance",
        metavar="NAME=V",
        help="An input normally distributed with variance V (gives its Sobol' "
        "bound); repeat.",
    ),
]
Distribution = Annotated[
    str | None,
    typer.Option(
        "--distribution",
        metavar="uniform|normal",
        help="The distribution of the inputs without --range or --variance: "
        "uniform over the data's range (min to max) or normal with the data's "
        "variance (gives every input's Sobol' bound).",
    ),
]
OutputName = Annotated[
    str | None,
    typer.Option(
        "--output-name",
        metavar="NAME",
        help="Which output (multi-output models), by its name.",
    ),
]
OldOutputName = Annotated[
    str | None,
    typer.Option(
        "--output",
        hidden=True,
        help="Deprecated: --output-name.",
    ),
]


def output_name(name: str | None, old: str | None) -> str | None:
    """The output picked by ``--output-name`` (or the deprecated ``--output``).

    Raises:
        DataError: both given, with different names.
    """
    if old is None:
        return name
    warnings.warn(
        f"--output {old} picks an output under its old name; write --output-name "
        f"{old} (-o/--output is the output file everywhere else).",
        DeprecatedOptionWarning,
        stacklevel=2,
    )
    if name is not None and name != old:
        raise DataError(
            f"--output-name {name} and --output {old} pick different outputs; give "
            "--output-name only."
        )
    return old


def _once(name: str, given: Mapping[str, object], option: str) -> None:
    """Refuse a second ``option NAME=...`` for the same input (never last-wins)."""
    if name in given:
        raise DataError(
            f"{option} {name}=... is given twice; give each input once.",
            hint=f"Drop one of the {option} {name}=... options.",
        )


def distribution(
    table: pd.DataFrame,
    inputs: Sequence[str],
    ranges: list[str] | None,
    variances: list[str] | None,
    kind: str | None,
) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """The ``ranges=`` and ``variances=`` of :func:`wrt.sensitivity` from the options.

    Args:
        table: the data (for ``--distribution``: each input's range or variance).
        inputs: the model's input names.
        ranges: ``--range NAME=LOW:HIGH`` values.
        variances: ``--variance NAME=V`` values.
        kind: ``--distribution``: None, ``"uniform"`` or ``"normal"``.

    Raises:
        DataError: a value not written as the option says, an input given twice
            to --range or to --variance, an unknown kind.
    """
    low_high: dict[str, tuple[float, float]] = {}
    for item in ranges or []:
        name, text = _split(item, "--range", "NAME=LOW:HIGH, e.g. x1=0:1")
        _once(name, low_high, "--range")
        low_high[name] = _pair(name, text, item)
    spread: dict[str, float] = {}
    for item in variances or []:
        name, text = _split(item, "--variance", "NAME=V, e.g. x1=0.25")
        _once(name, spread, "--variance")
        spread[name] = _float(text, f"--variance {item!r}: V")
    if kind is None:
        return low_high, spread
    import numpy as np
    import pandas as pd

    kind = kind.strip().lower()
    if kind not in ("uniform", "normal"):
        raise DataError(
            f"--distribution {kind!r}: give uniform (over the data's range) or "
            "normal (with the data's variance)."
        )
    for name in inputs:
        if name in low_high or name in spread or name not in table:
            continue
        column = np.asarray(pd.to_numeric(table[name], errors="coerce"), float)
        if kind == "uniform":
            low_high[name] = (float(column.min()), float(column.max()))
        else:
            spread[name] = float(column.var(ddof=1))
    return low_high, spread


def _split(item: str, option: str, form: str) -> tuple[str, str]:
    name, equals, value = item.partition("=")
    if not equals or not name.strip():
        raise DataError(f"{option} {item!r}: write {form}.")
    return name.strip(), value


def _pair(name: str, text: str, item: str) -> tuple[float, float]:
    low, colon, high = text.partition(":")
    if not colon:
        raise DataError(f"--range {item!r}: write NAME=LOW:HIGH, e.g. {name}=0:1.")
    where = f"--range {item!r}"
    return _float(low, f"{where}: LOW"), _float(high, f"{where}: HIGH")


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{what} is {text.strip()!r}, not a number.") from None


Renames = Annotated[
    list[str] | None,
    typer.Option(
        "--rename",
        metavar="'OLD=NEW'",
        help="Read the column OLD of the points as NEW, for headers that are not "
        "names (quoted: --rename 'x 1=x1'); repeat.",
    ),
]


def renames(items: list[str] | None) -> dict[str, str]:
    """``--rename 'OLD=NEW'`` values as a mapping old -> new.

    Raises:
        DataError: a value without ``=``, or a column renamed twice.
    """
    out: dict[str, str] = {}
    for item in items or []:
        old, equals, new = item.rpartition("=")
        if not equals or not old or not new.strip():
            raise DataError(
                f"--rename {item!r}: write OLD=NEW, the column's name in the file "
                "then the name to read it as, e.g. --rename 'x 1=x1'."
            )
        if old in out:
            raise DataError(f"--rename gives the column {old!r} two new names.")
        out[old] = new.strip()
    return out


@contextmanager
def compile_note(model: Model, context: typer.Context | None) -> Iterator[None]:
    """Say on stderr how long compiling took during the block, if anything was.

    One note, e.g. ``wrt: note: compiled the Taylor programs in 3.1 s (cached for
    next runs in ~/.cache/wrt)``: compile time is reported, never hidden, except
    that ``--quiet`` silences it as it does every note.
    """
    before = model.cache.compile_seconds
    try:
        yield
    finally:
        spent = model.cache.compile_seconds - before
        if spent > 0:
            from wrt.cli.command import note
            from wrt.engines.compiling import cache_dir

            folder = cache_dir()
            kept = (
                f"cached for next runs in {folder}"
                if folder.is_dir() and os.access(folder, os.W_OK)
                else f"not cached: {folder} is not a writable folder"
            )
            note(context, f"compiled the Taylor programs in {spent:.1f} s ({kept})")


def checked_table(
    table: pd.DataFrame, path: object, option: str, inputs: Sequence[str], what: str
) -> None:
    """Refuse a table the model cannot read, naming its file and option.

    The checks read ``--data`` and ``--points`` as the model's inputs deep inside;
    checked here first, a missing column, a cell that is not a number or a NaN is
    said with what and which file it is (``The training data bad.csv (--data):
    ...``) and its own hint.

    Raises:
        DataError: what :func:`wrt.data.as_points` refuses, prefixed by the file.
    """
    import torch

    from wrt.data import as_points

    try:
        as_points(table, inputs, dtype=torch.float64)
    except DataError as exc:
        raise DataError(
            f"{what} {path} ({option}): {exc}",
            hint=_stray_spaces(table, inputs) or getattr(exc, "hint", None),
        ) from exc


def _stray_spaces(table: pd.DataFrame, inputs: Sequence[str]) -> str | None:
    """A hint at --rename for columns named as inputs but for spaces, if any."""
    stray = [
        str(c)
        for c in table.columns
        if str(c) != str(c).strip() and str(c).strip() in inputs and c not in inputs
    ]
    if not stray:
        return None
    pairs = " ".join(f"--rename '{c}={c.strip()}'" for c in stray)
    return (
        f"The header has spaces around column names: {pairs} (or remove the "
        "spaces in the file)."
    )
