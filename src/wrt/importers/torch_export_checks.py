"""Checks of a ``torch.export`` archive before torch loads it, and of its graph after.

``torch.export.load`` (torch 2.13) is not safe on untrusted files: it retries a
failed ``weights_only`` load of the sample inputs with full unpickling, unpickles
payloads marked ``use_pickle``, passes symbolic-shape strings to ``sympy.sympify``
(which evaluates them) and, with guard checks on, ``exec``s the archive's guard
code. :func:`check_archive` refuses every pickled payload that would not load with
``weights_only=True`` and allows only plain arithmetic in shape expressions;
:func:`check_node` lets the loaded graph call torch operators only, and refuses a
program exported in training mode.
"""

from __future__ import annotations

import io
import json
import operator
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from wrt.errors import ModelFormatError, UnsupportedFormatError
from wrt.importers.torch_files import restricted_load

# members of a torch.export archive (below its root folder) that wrt lets torch read
_PT2_MEMBER = re.compile(
    r"(archive_format|archive_version|byteorder|\.data/version"
    r"|\.data/serialization_id|models/model\.json|data/sample_inputs/model\.pt"
    r"|data/weights/(model_weights_config\.json|weight_\d+)"
    r"|data/constants/(model_constants_config\.json|tensor_\d+)|extra/[\w.-]+)\Z"
)
# a symbolic shape in a .pt2 is a sympy srepr, e.g. "Mul(Integer(2), Symbol('s0',
# positive=True, integer=True))"; torch evaluates it with sympy.sympify (eval)
_EXPR_TOKEN = re.compile(
    r"\s+|[A-Za-z_]\w*|'[\w.+-]*'|\d+(\.\d*)?([eE][+-]?\d+)?|[-+*/(),=]"
)
_EXPR_NAMES = frozenset(
    "Symbol Integer Float Rational Add Mul Max Min Mod Abs Eq Ne Lt Le Gt Ge And Or "
    "Not Piecewise ExprCondPair oo true false True False FloorDiv ModularIndexing "
    "Where PythonMod CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift "
    "PowByNatural FloatPow FloatTrueDiv IntTrueDiv IsNonOverlappingAndDenseIndicator "
    "TruncToFloat TruncToInt RoundToInt RoundDecimal ToFloat Identity positive "
    "negative nonnegative nonpositive integer real finite precision".split()
)
_SYMBOL = re.compile(r"[a-z]+\d+\Z")
# plain functions (besides torch operators) that exported graphs call on sizes
_OPERATORS = frozenset(
    getattr(operator, name)
    for name in "getitem add sub mul truediv floordiv mod pow neg pos abs eq ne lt "
    "le gt ge and_ or_ not_ invert lshift rshift xor".split()
)


def check_archive(data: bytes, path: Path) -> None:
    """Refuse a .pt2 archive whose loading would unpickle or evaluate anything.

    Raises:
        UnsupportedFormatError: pickled payloads, compiled code, unknown members
            or a symbolic shape that is not plain arithmetic.
        ModelFormatError: damaged archive.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            root = names[0].split("/", 1)[0] + "/" if names else ""
            members = {n.removeprefix(root): n for n in names}
            odd = [n for n in names if not n.startswith(root)] + [
                m for m in members if not _PT2_MEMBER.match(m)
            ]
            if odd:
                raise UnsupportedFormatError(
                    f"{path} holds archive members that wrt does not load "
                    f"({', '.join(odd[:3])}): compiled code, pickled objects or a "
                    "format from another torch version. Re-save the program with "
                    f"torch.export.save (torch {torch.__version__}), without AOTI."
                )
            for config in ("weights/model_weights", "constants/model_constants"):
                member = members.get(f"data/{config}_config.json")
                if member is not None:
                    _check_payloads(json.loads(archive.read(member)), path)
            _check_sample_inputs(
                archive.read(members["data/sample_inputs/model.pt"]), path
            )
            _check_expressions(
                json.loads(archive.read(members["models/model.json"])), path
            )
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        if isinstance(exc, UnsupportedFormatError):
            raise
        raise ModelFormatError(
            f"{path} is a damaged or incomplete torch.export archive ({exc}). "
            "Re-save it with torch.export.save."
        ) from exc


def _check_payloads(config: dict[str, Any], path: Path) -> None:
    for name, meta in config.get("config", {}).items():
        if meta.get("use_pickle") or not re.match(
            r"(weight|tensor)_\d+\Z", str(meta.get("path_name"))
        ):
            raise UnsupportedFormatError(
                f"{path} stores {name!r} as a pickled object, which wrt never "
                "unpickles. Export a module whose weights are plain tensors."
            )


def _check_sample_inputs(data: bytes, path: Path) -> None:
    """Refuse sample inputs that need more than ``weights_only=True``.

    Torch loads them with ``weights_only=True`` and, when that fails, retries with
    full unpickling; what loads here loads the same way in torch, so the unsafe
    retry never happens.
    """
    if not data:
        return
    try:
        restricted_load(io.BytesIO(data))
    except Exception as exc:
        raise UnsupportedFormatError(
            f"{path}: the program's sample inputs (data/sample_inputs/model.pt) "
            "are pickled Python objects, which wrt never unpickles. Export with "
            "tensor inputs."
        ) from exc


def _check_expressions(node: Any, path: Path) -> None:
    """Every ``expr_str`` in the program JSON must be sympy constructors of numbers."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "expr_str":
                _check_expressions(value, path)
            elif not _plain_arithmetic(str(value)):
                raise UnsupportedFormatError(
                    f"{path} holds a symbolic shape that is not plain arithmetic "
                    f"({str(value)[:60]!r}); torch would evaluate it as Python "
                    "code, so wrt refuses the file. Export and save it again."
                )
    elif isinstance(node, list):
        for value in node:
            _check_expressions(value, path)


def _plain_arithmetic(text: str) -> bool:
    """Only sympy constructors, symbols like ``s0``, numbers, ``+-*/(),=``."""
    position = 0
    while position < len(text):
        match = _EXPR_TOKEN.match(text, position)
        if match is None:
            return False
        word = match.group()
        if word[0].isalpha() or word[0] == "_":
            if word not in _EXPR_NAMES and not _SYMBOL.match(word):
                return False
        position = match.end()
    return "**" not in text  # no powers: a huge one would hang sympy


def check_node(node: torch.fx.Node, path: Path) -> None:
    """Let a graph node call torch operators only, never in training mode.

    Raises:
        ModelFormatError: an operator runs with ``train=True`` (dropout or batch
            statistics were exported active).
        UnsupportedFormatError: the node calls something else than a torch
            operator, a higher-order operator or plain arithmetic on sizes.
    """
    if node.op in ("placeholder", "output", "get_attr"):
        return
    target = node.target
    if node.op == "call_function" and isinstance(target, torch._ops.OpOverload):
        for i, arg in enumerate(target._schema.arguments):
            if arg.name in ("train", "training"):
                given = node.args[i] if i < len(node.args) else arg.default_value
                if node.kwargs.get(arg.name, given) is True:
                    raise ModelFormatError(
                        f"{path} was exported in training mode ({target} with "
                        f"{arg.name}=True): dropout or batch statistics make its "
                        "outputs random or couple the rows. Call model.eval() "
                        "before torch.export.export, then save again."
                    )
        return
    if node.op == "call_function" and (
        isinstance(target, torch._ops.HigherOrderOperator)
        or target in _OPERATORS
        or getattr(target, "__module__", None) == "math"
        or getattr(torch, name := str(getattr(target, "__name__", "")), None) is target
        and name.startswith("sym_")
    ):
        return
    raise UnsupportedFormatError(
        f"{path}: the program calls {target!r} ({node.op}), which is not a torch "
        "operator; wrt does not run it. Re-export the module with torch.export."
    )
