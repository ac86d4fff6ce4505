"""``torch.export`` programs (``.pt2``), checked before torch's loader sees them.

``torch.export.load`` (torch 2.13) is not safe on untrusted files: it retries a
failed ``weights_only`` load of the sample inputs with full unpickling, unpickles
payloads marked ``use_pickle``, passes symbolic-shape strings to ``sympy.sympify``
(which evaluates them) and, with guard checks on, ``exec``s the archive's guard
code. wrt refuses every pickled payload it would not load with ``weights_only=True``,
allows only plain arithmetic in shape expressions, never runs guard code, and lets
the loaded graph call torch operators only.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import operator
import re
import sys
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wrt.errors import (
    ModelFormatError,
    UnsupportedFormatError,
    WrtWarning,
)
from wrt.importers.torch_files import first_line, restricted_load
from wrt.model import DTypeLike, Model, wrap
from wrt.names import check_names, default_inputs

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

# a fixed export batch below this many rows is worth a warning (many graph calls)
_SMALL_BATCH = 32


def load_export(
    path: Path,
    inputs: Sequence[str] | None,
    outputs: Sequence[str] | None,
    *,
    dtype: DTypeLike = None,
) -> Model:
    """Load a ``torch.export`` program (``torch.export.save``, ``.pt2``).

    The archive is read into memory once, checked (no pickled payloads, compiled
    code or unrecognised members; symbolic shapes are plain arithmetic), then
    loaded with ``torch.export.load`` and unlifted with ``program.module()``.
    Nested ``torch.autograd.grad`` works through the unlifted graph to any order.

    A program exported with a fixed batch size B (no ``torch.export.Dim`` for
    dimension 0) is evaluated on blocks of B rows, the last block padded with
    copies of its last row; the results are exact since rows are independent.

    Args:
        path: the ``.pt2`` file.
        inputs: input names; default: those saved in the archive by ``wrt
            train`` (``extra/wrt.json``), else the program's argument names when
            every argument is one column (``forward(self, x, t)``), else ``x1 ..
            xn``.
        outputs: output names (default: saved ones, else ``y`` or ``y1 .. ym``).
        dtype: ``"float64"`` for a float64 copy.

    Returns:
        The model, mapping (N, n_in) to (N, n_out).

    Raises:
        UnsupportedFormatError: the archive holds pickled objects, compiled code,
            unknown members or non-arithmetic shape strings; the graph calls
            something other than torch operators; or the program's inputs or
            outputs are not tensors with a batch dimension.
        ModelFormatError: the archive is damaged, from an incompatible torch, or
            was exported in training mode (dropout or batch statistics active).
    """
    try:  # read once: the checks and torch.export.load see the same bytes
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"Cannot read {path}: {exc}.") from exc
    _check_pt2(data, path)
    saved = _saved_names(data)  # names wrt train wrote beside the program
    inputs = inputs if inputs is not None else saved.get("inputs")
    outputs = outputs if outputs is not None else saved.get("outputs")
    # torch.export.load logs a traceback as a warning before raising on a damaged
    # archive; wrt reports the failure itself, in one line
    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        program = torch.export.load(io.BytesIO(data))
        # check_guards=False: never generate and exec the archive's guard code;
        # the wrapper feeds only batch sizes the program accepts
        graph = program.module(check_guards=False)
    except Exception as exc:  # torch raises many kinds for damaged archives
        raise ModelFormatError(
            f"{path} looks like a torch.export program but torch.export.load "
            f"failed: {first_line(exc)}. Re-save it with torch.export.save "
            f"(this is torch {torch.__version__})."
        ) from exc
    finally:
        logger.setLevel(level)
    module, names = _exported_model(program, graph, path)
    low, high = module.rows
    if low == high and low < _SMALL_BATCH:
        warnings.warn(
            f"{path} was exported for exactly {low} row(s) per call, so wrt evaluates "
            f"it {low} row(s) at a time: exact, but slow for many points. Export "
            "with dynamic_shapes={'x': {0: torch.export.Dim('batch')}} for speed.",
            WrtWarning,
            stacklevel=3,
        )
    n_in = sum(1 if k is None else k for k in module.columns)
    if inputs is None:  # from the program's shapes, not guessed from its weights
        inputs = names or default_inputs(n_in)
    check_names(inputs, kind="input", expected=n_in)
    return wrap(module, inputs, outputs, dtype=dtype, source=str(path))


class _Exported(nn.Module):
    """An unlifted ``torch.export`` graph as a module of points (N, n_in).

    The graph is called with one tensor per argument of the exported ``forward``
    (columns of the points, in order), on batches whose size the program accepts:
    larger batches go through in blocks, smaller ones are padded with copies of
    their last row (detached, so no gradient flows through the padding).
    """

    def __init__(
        self,
        graph: nn.Module,
        columns: tuple[int | None, ...],
        rows: tuple[int, int | None],
        unwrap: bool,
    ) -> None:
        super().__init__()
        self.graph = graph
        self.columns = columns  # per argument: k for (B, k), None for (B,)
        self.rows = rows  # smallest and largest batch the program takes
        self.unwrap = unwrap  # the program returns a 1-tuple

    def train(self, mode: bool = True) -> _Exported:
        """Record the mode only: the program's behaviour was fixed at export."""
        self.training = mode
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Exported:
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        with warnings.catch_warnings():
            # copying the graph's pytree specs trips torch 2.13's deprecation of
            # its own LeafSpec check; the copy is correct.
            warnings.filterwarnings("ignore", ".*LeafSpec", FutureWarning)
            for key, value in self.__dict__.items():
                clone.__dict__[key] = copy.deepcopy(value, memo)
        return clone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the program.

        Args:
            x: points, shape (N, n_in).

        Returns:
            Outputs, shape (N, n_out) (or (N,) if the program returns that).
        """
        low, high = self.rows
        if high is not None and x.shape[0] > high:
            return torch.cat([self(block) for block in x.split(high)])
        n = x.shape[0]
        if 0 < n < low:
            x = torch.cat([x, x[-1:].detach().expand(low - n, -1)])
        args, start = [], 0
        for k in self.columns:
            args.append(x[:, start] if k is None else x[:, start : start + k])
            start += 1 if k is None else k
        y = self.graph(*args)
        if self.unwrap:
            y = y[0]
        return y[:n]


def _saved_names(data: bytes) -> dict[str, list[str]]:
    """Input and output names from the archive's ``extra/wrt.json``, if any.

    ``wrt train`` saves them there (``torch.export.save(..., extra_files=...)``);
    the member is plain JSON, read as data. Anything malformed is ignored.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = next(
                (n for n in archive.namelist() if n.endswith("/extra/wrt.json")), None
            )
            if member is None:
                return {}
            saved = json.loads(archive.read(member))
    except (zipfile.BadZipFile, ValueError, OSError):
        return {}
    if not isinstance(saved, dict):
        return {}
    return {
        key: list(saved[key])
        for key in ("inputs", "outputs")
        if isinstance(saved.get(key), list)
        and all(isinstance(name, str) for name in saved[key])
    }


def _check_pt2(data: bytes, path: Path) -> None:
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


def _exported_model(
    program: Any, graph: nn.Module, path: Path
) -> tuple[_Exported, list[str] | None]:
    """Check the loaded graph and wrap it; also the argument names, if columns."""
    for sub in graph.modules():
        if isinstance(sub, torch.fx.GraphModule):
            for node in sub.graph.nodes:
                _check_node(node, path)
    spec = program.call_spec
    args, kwargs = spec.in_spec.children()
    if kwargs.num_children or not all(c.is_leaf() for c in args.children()):
        raise UnsupportedFormatError(
            f"{path}: the exported forward takes keyword or nested arguments; wrt "
            "calls it with tensors only. Export a module whose forward takes "
            "tensors (e.g. forward(self, x) with x of shape (N, n_in))."
        )
    out = spec.out_spec
    unwrap = not out.is_leaf()
    if unwrap and not (out.num_children == 1 and out.child(0).is_leaf()):
        raise UnsupportedFormatError(
            f"{path}: the exported forward returns several values; wrt needs one "
            "tensor (N, n_out). Export a wrapper returning torch.cat of them."
        )
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    values = [
        placeholders[name].meta.get("val")
        for name in program.graph_signature.user_inputs
    ]
    columns, rows = _layout(values, program.range_constraints, path)
    names = list(program.graph_signature.user_inputs)
    one_each = len(columns) > 1 and all(k in (None, 1) for k in columns)
    return _Exported(graph, columns, rows, unwrap), names if one_each else None


def _check_node(node: torch.fx.Node, path: Path) -> None:
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
        or getattr(torch, getattr(target, "__name__", ""), None) is target
        and target.__name__.startswith("sym_")
    ):
        return
    raise UnsupportedFormatError(
        f"{path}: the program calls {target!r} ({node.op}), which is not a torch "
        "operator; wrt does not run it. Re-export the module with torch.export."
    )


def _layout(
    values: list[Any], ranges: dict[Any, Any], path: Path
) -> tuple[tuple[int | None, ...], tuple[int, int | None]]:
    """Columns per argument, and the smallest and largest batch accepted."""
    columns: list[int | None] = []
    batch: set[Any] = set()
    for value in values:
        shape = getattr(value, "shape", None)
        if (
            shape is None
            or len(shape) not in (1, 2)
            or (len(shape) == 2 and not isinstance(shape[1], int))
        ):
            raise UnsupportedFormatError(
                f"{path}: an argument of the exported forward is not a tensor of "
                f"shape (N,) or (N, k) with fixed k (it is {value}). wrt passes "
                "points (N, n_in); export a module taking that."
            )
        columns.append(int(shape[1]) if len(shape) == 2 else None)
        batch.add(shape[0] if isinstance(shape[0], int) else shape[0].node.expr)
    if len(batch) != 1:
        raise UnsupportedFormatError(
            f"{path}: the exported arguments disagree on the batch dimension "
            f"({', '.join(map(str, batch))}); export them with one shared Dim."
        )
    (size,) = batch
    if isinstance(size, int):
        return tuple(columns), (size, size)
    bounds = ranges.get(size)
    if bounds is None:
        raise UnsupportedFormatError(
            f"{path}: the batch dimension is the expression {size}, not a Dim. "
            "Export with dynamic_shapes={'x': {0: torch.export.Dim('batch')}}."
        )
    high = bounds.upper if bounds.upper < sys.maxsize else None
    return tuple(columns), (max(int(bounds.lower), 1), high and int(high))
