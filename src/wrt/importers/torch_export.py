"""``torch.export`` programs (``.pt2``), checked before torch's loader sees them.

``torch.export.load`` (torch 2.13) is not safe on untrusted files: it retries a
failed ``weights_only`` load of the sample inputs with full unpickling, unpickles
payloads marked ``use_pickle``, passes symbolic-shape strings to ``sympy.sympify``
(which evaluates them) and, with guard checks on, ``exec``s the archive's guard
code. wrt checks the archive first (:mod:`torch_export_checks`: no pickled payload
it would not load with ``weights_only=True``, only plain arithmetic in shape
expressions), never runs guard code, and lets the loaded graph call torch operators
only. This module loads the program and runs it on points (N, n_in); its declared
argument shapes give the number of input columns.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import sys
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wrt.errors import ModelFormatError, UnsupportedFormatError
from wrt.importers.fixed_batch import RowBlocks, blocks
from wrt.importers.torch_arguments import ArgumentColumns, column_names, width
from wrt.importers.torch_export_checks import check_archive, check_node
from wrt.importers.torch_files import first_line
from wrt.model import DTypeLike, Model, wrap
from wrt.names import check_names, default_inputs


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
    copies of its last row (:mod:`~wrt.importers.fixed_batch`); the results are
    exact since rows are independent. A ``Dim`` with bounds gets blocks of at most
    its maximum and at least its minimum rows.

    Args:
        path: the ``.pt2`` file.
        inputs: input names; default: those saved in the archive by ``wrt
            train`` (``extra/wrt.json``), else, for several arguments, names from
            the argument names (``forward(self, obs, act)`` with obs (N, 3) and
            act (N, 2): ``obs1, obs2, obs3, act1, act2``; an (N,) or (N, 1)
            argument ``t``: ``t``), else ``x1 .. xn``.
        outputs: output names (default: saved ones, else ``y`` or ``y1 .. ym``).
        dtype: ``"float64"`` for a float64 copy.

    Returns:
        The model, mapping (N, n_in) to (N, n_out).

    Warns:
        FixedBatchWarning: the program takes a fixed number of rows per call.

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
    check_archive(data, path)
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
    module, rows = _exported_model(program, graph, path)
    n_in = width(module.columns)
    runner = _batched(module, rows, n_in, path)
    if inputs is None:  # from the program's shapes, not guessed from its weights
        arguments = [str(name) for name in program.graph_signature.user_inputs]
        inputs = column_names(arguments, module.columns)
        inputs = inputs or default_inputs(n_in)
    check_names(inputs, kind="input", expected=n_in)
    return wrap(runner, inputs, outputs, dtype=dtype, source=str(path))


def _batched(
    module: _Exported, rows: tuple[int, int | None], n_in: int, path: Path
) -> nn.Module:
    """The program on any number of points: as it is, bounded, or fixed blocks."""
    low, high = rows
    if low == high:
        dtype = next(
            (t.dtype for t in module.state_dict().values() if t.is_floating_point()),
            torch.get_default_dtype(),
        )
        x = 0.1 + 0.8 * torch.rand(
            low, n_in, generator=torch.Generator().manual_seed(0), dtype=dtype
        )
        return blocks(module, low, x, str(path), "torch-export", stacklevel=5)
    if low <= 1 and high is None:
        return module
    return RowBlocks(module, rows, vectorise=False)


class _Exported(ArgumentColumns):
    """An unlifted ``torch.export`` graph as a module of points (N, n_in).

    The graph is called with one tensor per argument of the exported ``forward``
    (columns of the points, in order); batches of sizes the program does not take
    go through :class:`~wrt.importers.fixed_batch.RowBlocks`.
    """

    def train(self, mode: bool = True) -> _Exported:
        """Record the mode only: the program's behaviour was fixed at export."""
        self.training = mode
        return self

    def converted_to(self, dtype: torch.dtype) -> _Exported:
        """A copy in ``dtype``, down to the dtypes written into the graph.

        An exported graph creates some tensors with the dtype of the export
        (``nn.LSTM``'s zero state: ``aten.zeros(..., dtype=torch.float32)``); a
        float64 copy gets them in float64 too, like its weights.
        """
        clone = copy.deepcopy(self)
        with torch.no_grad():
            clone.to(dtype)
        for sub in clone.graph.modules():
            if isinstance(sub, torch.fx.GraphModule) and _retype(sub.graph, dtype):
                sub.recompile()
        return clone

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


def _retype(graph: torch.fx.Graph, dtype: torch.dtype) -> bool:
    """Set every floating dtype argument of the graph's calls to ``dtype``."""
    changed = False

    def swap(value: Any) -> Any:
        nonlocal changed
        if (
            isinstance(value, torch.dtype)
            and value.is_floating_point
            and value != dtype
        ):
            changed = True
            return dtype
        return value

    for node in graph.nodes:
        if node.op == "call_function":
            node.args = tuple(swap(a) for a in node.args)
            node.kwargs = {k: swap(v) for k, v in node.kwargs.items()}
    return changed


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


def _exported_model(
    program: Any, graph: nn.Module, path: Path
) -> tuple[_Exported, tuple[int, int | None]]:
    """Check the loaded graph and wrap it; also the batch sizes it takes."""
    for sub in graph.modules():
        if isinstance(sub, torch.fx.GraphModule):
            for node in sub.graph.nodes:
                check_node(node, path)
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
    return _Exported(graph, columns, unwrap), rows


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
