"""ONNX files, converted to a plain torch module by wrt's own converter.

Loading goes in five steps:

1. ``onnx.load`` reads the file and ``onnx.checker.check_model`` validates it; a
   damaged or truncated file is a :class:`~wrt.errors.ModelFormatError`.
   Model-local functions (onnxscript) are inlined.
2. Every node becomes a torch function from the op registry
   (:mod:`wrt.importers.onnx_ops`, keyed by domain and op type), run in the
   graph's own (topological) order by :class:`OnnxModule`
   (:mod:`wrt.importers.onnx_graph`, which also runs ``Loop`` bodies).
   Initializers become parameters (floating) or buffers (integer), ``Constant``
   nodes buffers, all in the file's dtype; a node without a converter is an
   :class:`~wrt.errors.UnsupportedModelOpError` naming the file, the node, its op,
   domain and opset.
3. The module is run on a few points to find the number of outputs and to check
   that the graph accepts any number of points.
4. When ``onnxruntime`` is installed (it is optional), the original file is run on
   8 sample points and the converted module must agree within a tolerance of its
   dtype (:mod:`wrt.importers.onnx_verify`; ``verify=False`` skips this, and
   without onnxruntime it is skipped silently).
5. The checks of :func:`wrt.wrap` (:func:`wrt.probe.check_model`): rows coupled
   through the batch, randomness and cut gradients are refused, an input that
   changes no output is an :class:`~wrt.errors.IgnoredInputWarning`.

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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from onnx.inliner import inline_local_functions
from torch import nn

from wrt.errors import InputNamesWarning, ModelError, ModelFormatError, caller_level
from wrt.importers import onnx_ops_ml
from wrt.importers.fixed_batch import blocks, declared_batch
from wrt.importers.onnx_graph import Step, compile_nodes, run_steps, tensor_of
from wrt.importers.onnx_verify import (
    VERIFY_TOLERANCE,
    VerificationSkippedWarning,
    sample_points,
    verify_with_onnxruntime,
)
from wrt.model import DTypeLike, Model
from wrt.names import check_disjoint, check_names, default_inputs, default_outputs
from wrt.probe import check_model

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
        source: str = "the ONNX graph",
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
            source: the file, for messages.
        """
        super().__init__()
        self.source = source
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
        try:
            run_steps(self.steps, env, x.dtype, self.source)
        except ModelError as exc:
            raise ModelError(f"{exc} ({n} points)") from exc
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
        ModelError: rows coupled through the batch, a random or cut graph.
        UnsupportedModelOpError: a node whose op type (or attribute) wrt cannot
            convert.
        InvalidNameError: ``inputs`` / ``outputs`` of the wrong count or invalid.

    Warns:
        IgnoredInputWarning: an input changes no output at any probe point.
    """
    path = Path(path)
    proto = _read(path)
    # a classifier's label / ZipMap outputs: keep the probabilities (onnx_ops_ml)
    rewritten = onnx_ops_ml.probabilities(proto, str(path))
    graph = proto.graph if rewritten is None else rewritten.proto.graph
    module = convert(graph, str(path), opsets(proto))
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
    if (
        outputs is None
        and rewritten
        and rewritten.names
        and len(rewritten.names) == sum(sizes)
    ):
        names_out = rewritten.names
    clash = set(names_in) & set(names_out)
    if clash:  # file names that clash: use the defaults
        before = (names_in, names_out)
        if outputs is None:
            names_out = default_outputs(sum(sizes))
        if set(names_in) & set(names_out) and inputs is None:
            names_in = default_inputs(len(names_in))
        if (names_in, names_out) != before:
            warnings.warn(
                f"{path}: the input and output names share {', '.join(sorted(clash))}"
                f", so the columns are named {', '.join(names_in)} -> "
                f"{', '.join(names_out)}. Pass your own names (inputs=[...] / "
                "outputs=[...], --inputs / --outputs).",
                InputNamesWarning,
                stacklevel=caller_level(),
            )
    check_disjoint(names_in, names_out)
    if verify:
        verify_with_onnxruntime(
            module, proto, path, rewritten=rewritten and rewritten.proto
        )
    runner: nn.Module = module
    if batch is not None:
        runner = blocks(module, batch, probe, str(path), "onnx", 4, when_needed=True)
    # what wrap() checks: rows independent, deterministic, not cut; unused inputs
    check_model(runner, names_in, probe.dtype, str(path), inferred=False)
    model = Model(runner, names_in, names_out, source=str(path), format="onnx")
    return model.converted(dtype)


def opsets(proto: onnx.ModelProto) -> dict[str, int]:
    """Domain (``""`` for the default one) -> the opset version the model imports."""
    return {
        ("" if entry.domain == "ai.onnx" else entry.domain): int(entry.version)
        for entry in proto.opset_import
    }


def _read(path: Path) -> onnx.ModelProto:
    """Parse and validate the file; any failure is a one-line ModelFormatError."""
    _external_data_present(path)
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(str(path))  # by path: external data, > 2 GiB
    except Exception as exc:  # DecodeError, ValidationError, missing external data
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelFormatError(
            f"{path} is not a valid ONNX model ({type(exc).__name__}: {first[:200]}). "
            "The file may be damaged or truncated; export it again."
        ) from exc
    if proto.functions:  # model-local functions (onnxscript): calls become nodes
        proto = inline_local_functions(proto)
    return proto


def _external_data_present(path: Path) -> None:
    """The weights an exporter wrote beside the file (``x.onnx.data``) must be there.

    Raises:
        ModelFormatError: a tensor's external data file is missing.
    """
    try:
        bare = onnx.load(str(path), load_external_data=False)
    except Exception:  # damaged: _read says so
        return
    missing = []
    for tensor in bare.graph.initializer:  # where exporters put external data
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next(
            (e.value for e in tensor.external_data if e.key == "location"), None
        )
        if location and not (path.parent / location).is_file():
            missing.append(location)
    if missing:
        names = ", ".join(sorted(set(missing)))
        raise ModelFormatError(
            f"{path} keeps its weights in a separate file, {names}, which is not "
            f"in {path.parent}. Copy it next to {path.name} (the exporter wrote "
            "both), or export one self-contained file (torch.onnx.export(..., "
            "external_data=False))."
        )


def convert(
    graph: onnx.GraphProto,
    source: str = "the ONNX graph",
    opsets: dict[str, int] | None = None,
) -> OnnxModule:
    """Convert an ONNX graph to an :class:`OnnxModule`.

    Args:
        graph: the graph, topologically sorted (as ``check_model`` requires).
        source: where it came from, for messages.
        opsets: domain -> imported opset version (:func:`opsets`); ops whose
            semantics changed between versions (Softmax) need it, the newest
            version is assumed without it.

    Returns:
        The module, in eval mode.

    Raises:
        UnsupportedModelOpError: a node has no converter.
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
            tensors[name] = (tensor_of(numpy_helper.to_array(init), name, source), True)
    ports = [_port(v, source) for v in graph.input if v.name not in initializers]
    defined = {*tensors, *(p.name for p in ports)}
    dependent = {p.name for p in ports}
    steps = compile_nodes(graph.node, defined, tensors, opsets, source, "", dependent)
    outputs = [out.name for out in graph.output]
    precision = _precision(graph, tensors)
    module = OnnxModule(ports, steps, outputs, tensors, precision, source)
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
    if len(set(names)) == len(names):
        return tuple(names)
    fallback = default(total)
    warnings.warn(
        f"The ONNX names {', '.join(repr(n) for n, _ in sized)} give repeated column "
        f"names once made identifiers ({', '.join(names)}), so the columns are "
        f"named {', '.join(fallback)}. Pass your own names (inputs=[...] / "
        "outputs=[...], --inputs / --outputs).",
        InputNamesWarning,
        stacklevel=caller_level(),
    )
    return fallback
