"""ONNX files, converted to a plain torch module by wrt's own converter.

Loading goes in four steps:

1. ``onnx.load`` reads the file and ``onnx.checker.check_model`` validates it; a
   damaged or truncated file is a :class:`~wrt.errors.ModelFormatError`.
2. Every node becomes a torch function from :data:`wrt.importers.onnx_ops.OPS`
   (one registry, one place), run in the graph's own (topological) order by
   :class:`OnnxModule`. Initializers become parameters (floating) or buffers
   (integer), ``Constant`` nodes buffers, all in the file's dtype; a node without a
   converter is an :class:`~wrt.errors.UnsupportedOpError` naming it.
3. The module is run on a few points to find the number of outputs and to check
   that the graph accepts any number of points.
4. When ``onnxruntime`` is installed (it is optional), the original file is run on
   8 sample points and the converted module must agree within a tolerance of its
   dtype (:mod:`wrt.importers.onnx_verify`; ``verify=False`` skips this, and
   without onnxruntime it is skipped silently).

Names. wrt's models take one tensor of named scalar columns ``(N, n_in)``:

* one graph input of shape ``(N, k)`` (or ``(N, a, b)``, flattened row-major into
  ``k = a * b`` columns) gives ``x1 .. xk``; several inputs of shape ``(N, 1)`` or
  ``(N,)`` keep their ONNX names (an input of ``k > 1`` values gives ``name1 ..
  namek``). One graph output gives ``y`` or ``y1 .. ym``; several keep their names
  the same way.
* Characters other than letters, digits and ``_`` in ONNX names become ``_``
  (``input.1`` -> ``input_1``); when that makes names repeat or clash between inputs
  and outputs, the defaults above are used instead. ``inputs=`` / ``outputs=``
  always win.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from wrt.errors import ModelError, ModelFormatError, UnsupportedOpError
from wrt.importers import onnx_ops
from wrt.importers.fixed_batch import blocks, declared_batch
from wrt.importers.onnx_verify import (
    VERIFY_TOLERANCE,
    VerificationSkippedWarning,
    sample_points,
    verify_with_onnxruntime,
)
from wrt.model import DTypeLike, Model
from wrt.names import check_disjoint, check_names, default_inputs, default_outputs

_FLOAT_INPUTS: dict[int, type] = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.FLOAT16: np.float16,
}

__all__ = ["OnnxModule", "VerificationSkippedWarning", "convert", "load_onnx"]


@dataclass(frozen=True)
class Port:
    """A graph input or output: its ONNX name and per-point shape.

    Attributes:
        name: the ONNX value name.
        dims: shape after the batch axis; ``()`` for an input of shape (N,).
        batch: the declared batch size when fixed in the file, else None.
        numpy_dtype: numpy dtype of the values.
    """

    name: str
    dims: tuple[int, ...]
    batch: int | None = None
    numpy_dtype: type = np.float32

    @property
    def size(self) -> int:
        """Scalars per point."""
        return math.prod(self.dims)


@dataclass(frozen=True)
class Step:
    """One node: ``outputs = fn(inputs, float_dtype)``; names are ONNX value names."""

    op_type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    fn: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]]


class OnnxModule(nn.Module):
    """An ONNX graph as a torch module: points (N, n_in) -> outputs (N, n_out).

    The columns of the points are split among the graph inputs in order (each
    reshaped to (N, *dims)); the graph outputs are flattened to (N, k_i) each and
    concatenated.
    """

    def __init__(
        self,
        ports: Sequence[Port],
        steps: Sequence[Step],
        outputs: Sequence[str],
        tensors: dict[str, tuple[torch.Tensor, bool]],
        precision: torch.dtype = torch.float32,
    ) -> None:
        """Build the module.

        Args:
            ports: the graph inputs, in column order.
            steps: the nodes, in topological order.
            outputs: names of the graph outputs.
            tensors: value name -> (tensor, trainable) for initializers and
                ``Constant`` nodes; floating trainable ones become parameters.
            precision: the least precise floating dtype in the file, which sets
                the tolerance of :func:`verify_with_onnxruntime`.
        """
        super().__init__()
        self.precision = precision
        self.ports = tuple(ports)
        self.steps = tuple(steps)
        self.output_names = tuple(outputs)
        self.stored: list[tuple[str, str]] = []  # (value name, attribute)
        for name, (value, trainable) in tensors.items():
            key = f"v{len(self.stored)}_{_sanitize(name)}"
            if trainable and value.is_floating_point():
                self.register_parameter(key, nn.Parameter(value))
            else:
                self.register_buffer(key, value)
            self.stored.append((name, key))

    def run(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Evaluate the graph.

        Args:
            x: points, shape (N, n_in).

        Returns:
            The graph outputs, each of shape (N, ...), in the graph's order.

        Raises:
            ModelError: a node failed, naming it and the shapes of its inputs.
        """
        n_in = sum(port.size for port in self.ports)
        if x.dim() != 2 or x.shape[1] != n_in:
            raise ModelError(
                f"The ONNX graph takes points of shape (N, {n_in}), not "
                f"{tuple(x.shape)}."
            )
        n = x.shape[0]
        env: dict[str, torch.Tensor] = {
            name: getattr(self, key) for name, key in self.stored
        }
        column = 0
        for port in self.ports:
            env[port.name] = x[:, column : column + port.size].reshape(n, *port.dims)
            column += port.size
        for step in self.steps:
            args = [env[name] if name else None for name in step.inputs]
            try:
                result = step.fn(args, x.dtype)
            except Exception as exc:  # shapes the graph did not expect
                shapes = ", ".join(
                    str(tuple(a.shape)) if a is not None else "-" for a in args
                )
                raise ModelError(
                    f"ONNX node '{step.name}' ({step.op_type}) failed on inputs of "
                    f"shapes {shapes} for {n} points: {exc}"
                ) from exc
            values = (result,) if isinstance(result, torch.Tensor) else result
            for name, value in zip(step.outputs, values, strict=False):
                if name:
                    env[name] = value
        return [env[name] for name in self.output_names]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map points (N, n_in) to outputs (N, n_out)."""
        n = x.shape[0]
        columns = []
        for name, y in zip(self.output_names, self.run(x), strict=True):
            if y.dim() == 0 or y.shape[0] != n:
                raise ModelError(
                    f"ONNX output '{name}' has shape {tuple(y.shape)} for {n} points; "
                    "wrt needs the points on the first axis. Re-export the model "
                    "with a dynamic first (batch) dimension."
                )
            columns.append(y.reshape(n, math.prod(y.shape[1:])))
        return columns[0] if len(columns) == 1 else torch.cat(columns, dim=1)


def load_onnx(
    path: str | Path,
    inputs: Sequence[str] | str | None = None,
    outputs: Sequence[str] | str | None = None,
    *,
    dtype: DTypeLike = None,
    verify: bool = True,
) -> Model:
    """Load an ONNX file as a :class:`Model` (see the module docstring for names).

    Args:
        path: the ``.onnx`` file.
        inputs: names of the input columns (default: from the file, see above).
        outputs: names of the output columns.
        dtype: ``"float64"`` for a float64 copy (the file's dtype otherwise).
        verify: compare with onnxruntime on sample points when it is installed.

    Returns:
        The model, in the file's dtype unless ``dtype`` is given.

    Raises:
        ModelFormatError: damaged, truncated or invalid file; inputs that are not
            floating point or have no fixed size per point; a graph that does not
            run on any number of points; a mismatch with onnxruntime.
        UnsupportedOpError: a node whose op type (or attribute) wrt cannot convert.
        InvalidNameError: ``inputs`` / ``outputs`` of the wrong count or invalid.
    """
    path = Path(path)
    proto = _read(path)
    graph = proto.graph
    module = convert(graph, str(path))
    if not module.ports:
        raise ModelFormatError(
            f"{path}: the ONNX graph has no inputs (every input has an initializer), "
            "so there is nothing to differentiate with respect to."
        )
    names_in = (
        check_names(inputs, kind="input", expected=sum(p.size for p in module.ports))
        if inputs is not None
        else _names([(p.name, p.size) for p in module.ports], default_inputs)
    )
    # a fixed batch is probed as declared; fixed_batch.blocks runs it on any N
    batch = declared_batch([p.batch for p in module.ports], str(path))
    n_probe = batch or 5
    probe = sample_points(module.ports, n_probe)
    try:
        with torch.no_grad():
            sizes = [math.prod(y.shape[1:]) for y in module.run(probe)]
            module(probe)
    except ModelError as exc:
        raise ModelFormatError(
            f"{path}: the ONNX graph does not run on {n_probe} points: {exc} "
            "If it was exported for a fixed batch size, re-export it with a dynamic "
            "first dimension (torch.onnx.export(..., dynamic_axes={'x': {0: 'N'}}))."
        ) from exc
    names_out = (
        check_names(outputs, kind="output", expected=sum(sizes))
        if outputs is not None
        else _names(list(zip(module.output_names, sizes, strict=True)), default_outputs)
    )
    if set(names_in) & set(names_out):  # file names that clash: use the defaults
        if outputs is None:
            names_out = default_outputs(sum(sizes))
        if set(names_in) & set(names_out) and inputs is None:
            names_in = default_inputs(len(names_in))
    check_disjoint(names_in, names_out)
    if verify:
        verify_with_onnxruntime(module, proto, path)
    runner: nn.Module = module
    if batch is not None:
        runner = blocks(module, batch, probe, str(path), "onnx", 4, when_needed=True)
    model = Model(runner, names_in, names_out, source=str(path), format="onnx")
    return model.converted(dtype)


def _read(path: Path) -> onnx.ModelProto:
    """Parse and validate the file; any failure is a one-line ModelFormatError."""
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(str(path))  # by path: external data, > 2 GiB
    except Exception as exc:  # DecodeError, ValidationError, missing external data
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelFormatError(
            f"{path} is not a valid ONNX model ({type(exc).__name__}: {first[:200]}). "
            "The file may be damaged or truncated; export it again."
        ) from exc
    return proto


def convert(graph: onnx.GraphProto, source: str = "the ONNX graph") -> OnnxModule:
    """Convert an ONNX graph to an :class:`OnnxModule`.

    Args:
        graph: the graph, topologically sorted (as ``check_model`` requires).
        source: where it came from, for messages.

    Returns:
        The module, in eval mode.

    Raises:
        UnsupportedOpError: a node has no converter.
        ModelFormatError: an input is not floating point or has no fixed size per
            point; a node reads a value that nothing defines.
    """
    initializers = {init.name: init for init in graph.initializer}
    tensors: dict[str, tuple[torch.Tensor, bool]] = {}
    used = {name for node in graph.node for name in node.input} | {
        out.name for out in graph.output
    }
    for name, init in initializers.items():
        if name in used:
            tensors[name] = (_tensor(numpy_helper.to_array(init), name, source), True)
    ports = [_port(v, source) for v in graph.input if v.name not in initializers]
    defined = {*tensors, *(p.name for p in ports)}
    steps = []
    for index, node in enumerate(graph.node):
        label = node.name or f"#{index} (unnamed)"
        missing = [name for name in node.input if name and name not in defined]
        if missing:
            raise ModelFormatError(
                f"{source}: node '{label}' ({node.op_type}) reads "
                f"{', '.join(missing)}, which no input, initializer or earlier node "
                "defines. The file is damaged or not topologically sorted."
            )
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            tensors[node.output[0]] = (_constant(node, label, source), False)
        else:
            try:
                fn = onnx_ops.build(node)
            except onnx_ops.UnsupportedNode as why:
                domain = f" of domain '{node.domain}'" if node.domain else ""
                raise UnsupportedOpError(
                    f"{source}: ONNX op {why}{domain} (node '{label}') is not "
                    f"supported. wrt's ONNX converter supports: "
                    f"{onnx_ops.supported_ops()}. Re-export the model without it, or "
                    "load the original PyTorch module with wrt.wrap.",
                    hint="No engine can help: the file cannot be converted. Re-export "
                    "it without that op, or use the original PyTorch module.",
                ) from None
            steps.append(
                Step(node.op_type, label, tuple(node.input), (*node.output,), fn)
            )
        defined.update(node.output)
    outputs = [out.name for out in graph.output]
    module = OnnxModule(ports, steps, outputs, tensors, _precision(graph, tensors))
    return module.eval()


_PRECISIONS: dict[int, torch.dtype] = {
    onnx.TensorProto.DOUBLE: torch.float64,
    onnx.TensorProto.FLOAT: torch.float32,
    onnx.TensorProto.FLOAT16: torch.float16,
    onnx.TensorProto.BFLOAT16: torch.bfloat16,
}


def _precision(
    graph: onnx.GraphProto, tensors: dict[str, tuple[torch.Tensor, bool]]
) -> torch.dtype:
    """The least precise floating dtype of the inputs, tensors and Cast targets."""
    codes = [v.type.tensor_type.elem_type for v in graph.input]
    for node in graph.node:
        if node.op_type == "Cast":
            codes += [a.i for a in node.attribute if a.name == "to"]
    found = {_PRECISIONS[code] for code in codes if code in _PRECISIONS}
    found |= {t.dtype for t, _ in tensors.values() if t.is_floating_point()}
    found &= set(VERIFY_TOLERANCE)
    return max(found, key=lambda d: torch.finfo(d).eps, default=torch.float32)


def _tensor(array: np.ndarray, name: str, source: str) -> torch.Tensor:
    try:
        return torch.from_numpy(np.array(array, copy=True))
    except TypeError as exc:  # e.g. bfloat16, strings
        raise ModelFormatError(
            f"{source}: tensor '{name}' has dtype {array.dtype}, which torch cannot "
            "hold. Export the model in float32 or float64."
        ) from exc


def _constant(node: onnx.NodeProto, label: str, source: str) -> torch.Tensor:
    """The value of a ``Constant`` node as a tensor."""
    attribute = node.attribute[0] if len(node.attribute) == 1 else None
    if attribute is None or attribute.name not in {
        "value",
        "value_float",
        "value_floats",
        "value_int",
        "value_ints",
    }:
        names = [a.name for a in node.attribute]
        raise UnsupportedOpError(
            f"{source}: ONNX Constant node '{label}' with attribute(s) {names} is not "
            "supported; wrt reads numeric value, value_float(s) and value_int(s).",
            hint="Re-export the model with its constants folded into initializers.",
        )
    value = onnx.helper.get_attribute_value(attribute)
    if attribute.name == "value":
        return _tensor(numpy_helper.to_array(value), node.output[0], source)
    kind = np.float32 if attribute.name.startswith("value_float") else np.int64
    return torch.from_numpy(np.array(value, dtype=kind))


def _port(value: onnx.ValueInfoProto, source: str) -> Port:
    """A graph input: floating, with a batch axis and a fixed size per point."""
    tensor_type = value.type.tensor_type
    if tensor_type.elem_type not in _FLOAT_INPUTS:
        kind = onnx.TensorProto.DataType.Name(tensor_type.elem_type)
        raise ModelFormatError(
            f"{source}: input '{value.name}' is {kind}; wrt differentiates with "
            "respect to floating-point inputs only (float16, float32, float64)."
        )
    dims = list(tensor_type.shape.dim) if tensor_type.HasField("shape") else []
    rest = dims[1:]
    if not dims or any(not d.HasField("dim_value") or d.dim_value < 1 for d in rest):
        shape = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
        raise ModelFormatError(
            f"{source}: input '{value.name}' has shape {shape or 'unknown'}; wrt needs "
            "(N, ...) with the points first and a fixed size per point. Re-export "
            "with static feature dimensions."
        )
    batch = dims[0].dim_value if dims[0].HasField("dim_value") else None
    return Port(
        value.name,
        tuple(int(d.dim_value) for d in rest),
        batch or None,
        _FLOAT_INPUTS[tensor_type.elem_type],
    )


def _sanitize(name: str) -> str:
    """``input.1`` -> ``input_1``; a leading digit gets a ``_``."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return clean if clean[:1].isalpha() or clean[:1] == "_" else f"_{clean}"


def _names(
    sized: list[tuple[str, int]], default: Callable[[int], tuple[str, ...]]
) -> tuple[str, ...]:
    """Column names of a graph's inputs or outputs (module docstring's rules)."""
    total = sum(size for _, size in sized)
    if len(sized) == 1:
        return default(total)
    names: list[str] = []
    for name, size in sized:
        base = _sanitize(name)
        names += [base] if size == 1 else [f"{base}{i}" for i in range(1, size + 1)]
    return tuple(names) if len(set(names)) == len(names) else default(total)
