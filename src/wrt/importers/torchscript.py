"""TorchScript modules: the shapes of ``forward``'s tensor arguments, and a baked batch.

A TorchScript archive names ``forward``'s arguments and says they are tensors, but
not their shapes. :func:`script_model` finds them:

- **Several tensor arguments** (``forward(self, x, t)``, a critic ``Q(obs, act)``):
  the columns of the points are split over the arguments as for a ``.pt2``
  program (:mod:`~wrt.importers.torch_arguments`) and named after them. A trace
  stores its example inputs in the archive, and their shapes
  (:mod:`~wrt.importers.traced_inputs`) give the split; otherwise calls on probe
  points find it (:mod:`~wrt.importers.torchscript_probe`). A scripted module
  that concatenates its arguments works with every split of the same total: the
  file cannot say which is meant, and wrt asks for names that spell it
  (``inputs=['obs1', 'obs2', 'obs3', 'act1', 'act2']``).
- **A fixed batch**: a trace records ``x.view(1, -1)`` with the example's batch as
  a constant, and the module then runs on exactly that many rows. Such a module
  runs in blocks (:mod:`~wrt.importers.fixed_batch`); one whose rows are coupled
  within a call is refused.

A module of one tensor argument that works on any number of rows is wrapped as
before (:func:`wrt.model.wrap` finds its width). The model is found in the module's
own dtype and then copied to ``dtype``; a copy that fails where the module works
(a trace wrote its dtype into ``forward``) is refused with why.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from wrt.errors import InputNamesWarning, ModelError, caller_level
from wrt.importers.fixed_batch import blocks
from wrt.importers.torch_arguments import (
    ArgumentColumns,
    Columns,
    column_names,
    width,
)
from wrt.importers.torchscript_probe import SplitProbe, module_dtype, probe_points
from wrt.importers.traced_inputs import traced_shapes
from wrt.model import DTypeLike, Model, wrap
from wrt.names import check_names, default_inputs


def script_model(
    module: nn.Module,
    path: Path,
    inputs: Sequence[str] | None,
    outputs: Sequence[str] | None,
    *,
    dtype: DTypeLike = None,
) -> Model:
    """A loaded TorchScript module as a :class:`Model` (see the module docstring).

    Args:
        module: the module from ``torch.jit.load``.
        path: its file, for messages.
        inputs: input names; for several arguments, names ``obs1 .. obs3, act1,
            act2`` choose the split, other names only count the columns.
        outputs: output names.
        dtype: ``"float64"`` for a float64 copy.

    Returns:
        The model.

    Warns:
        FixedBatchWarning: the module runs on a fixed number of rows only.

    Raises:
        ModelError: an argument is not a tensor; no split of the columns fits, or
            several do and the names do not choose one; the copy in ``dtype``
            fails where the module works; and everything :func:`wrt.model.wrap`
            refuses.
    """
    given = check_names(inputs, kind="input") if inputs is not None else None
    model = _model(module, path, given, outputs)
    # Model.converted checks that the copy runs (a trace may fix dtypes in forward)
    return model.converted(dtype)


def _model(
    module: nn.Module,
    path: Path,
    given: tuple[str, ...] | None,
    outputs: Sequence[str] | None,
) -> Model:
    """The module as a model in its own dtype (see :func:`script_model`)."""
    source = str(path)
    arguments = _tensor_arguments(module, source)
    if len(arguments) == 1:
        try:
            return wrap(module, given, outputs, source=source)
        except ModelError as exc:
            probe = SplitProbe(module, 1, _traced_layout(path, 1))
            found = probe.search(len(given) if given else None)
            if found is None or found[2] is None:
                if probe.coupled:
                    raise ModelError(f"{source}: {probe.coupled_text()}") from exc
                raise
            refused = exc
        columns, batch = found[0][0], found[2]
        x = probe_points(batch, width(columns), module_dtype(module))
        fixed = blocks(module, batch, x, source, "torchscript", stacklevel=6)
        names = given or default_inputs(width(columns))
        try:
            return wrap(fixed, names, outputs, source=source)
        except ModelError:
            raise refused from None  # the blocks did not help: the first problem
    probe = SplitProbe(module, len(arguments), _traced_layout(path, len(arguments)))
    columns, batch = probe.layout(arguments, given, source)
    graph: nn.Module = ArgumentColumns(module, columns, unwrap=False)
    if batch is not None:
        x = probe_points(batch, width(columns), module_dtype(module))
        graph = blocks(graph, batch, x, source, "torchscript", stacklevel=6)
    names = given or column_names(arguments, columns) or default_inputs(width(columns))
    if probe.interchangeable and not given:
        names = default_inputs(width(columns))
        warnings.warn(
            probe.interchangeable_text(arguments, source),
            InputNamesWarning,
            stacklevel=caller_level(),
        )
    return wrap(graph, names, outputs, source=source)


def _tensor_arguments(module: nn.Module, source: str) -> tuple[str, ...]:
    """The names of ``forward``'s tensor arguments without defaults.

    Raises:
        ModelError: an argument without a default is not a tensor.
    """
    schema = getattr(getattr(module, "forward", None), "schema", None)
    if schema is None:  # not a scripted method: wrap() probes it as one tensor
        return ("x",)
    names = []
    for argument in schema.arguments[1:]:  # [0] is self
        if argument.has_default_value():
            break
        if not isinstance(argument.type, torch.TensorType):
            raise ModelError(
                f"{source}: forward's argument {argument.name!r} is "
                f"{argument.type}, not a tensor; wrt calls forward with tensors of "
                "points only. Save a module whose forward takes tensors (N, k), "
                "e.g. a wrapper that fixes the other arguments."
            )
        names.append(argument.name)
    if not names:
        raise ModelError(
            f"{source}: forward takes no tensor argument without a default, so "
            "there is nothing to differentiate with respect to."
        )
    return tuple(names)


def _traced_layout(path: Path, count: int) -> tuple[Columns, int] | None:
    """The split and batch of a trace's example inputs, if the archive has them."""
    shapes = traced_shapes(path)
    if (
        shapes is None
        or len(shapes) != count
        or any(len(shape) not in (1, 2) or 0 in shape for shape in shapes)
        or len({shape[0] for shape in shapes}) != 1
    ):
        return None
    columns = tuple(shape[1] if len(shape) == 2 else None for shape in shapes)
    return columns, shapes[0][0]


def _name(dtype: torch.dtype | None) -> str:
    return str(dtype).removeprefix("torch.")
