"""ONNX graphs as lists of steps: compiling nodes, running them, and Loop bodies.

:func:`compile_nodes` turns a graph's nodes into :class:`Step` s (one registry
function each, from :mod:`wrt.importers.onnx_ops`), collecting initializers and
``Constant`` values into one table of tensors that the module stores.
:func:`run_steps` runs steps on a table of values. A ``Loop`` node becomes a step
whose function runs its body's steps once per iteration: the body's own tensors
and the outer values it reads are passed to it as extra inputs, so that everything
lives in the module (and follows its dtype) and nothing is captured.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch.fx.experimental.proxy_tensor import disable_proxy_modes_tracing

from wrt.errors import ModelError, ModelFormatError, UnsupportedModelOpError
from wrt.importers import onnx_ops

Tensors = dict[str, tuple[torch.Tensor, bool]]
#: Most iterations of a Loop (a loop that never ends is a broken file).
MAX_ITERATIONS = 100_000


def _no_function(*args: object) -> torch.Tensor:
    raise RuntimeError("an ONNX step without its function")


@dataclass(frozen=True)
class Step:
    """One node: ``outputs = fn(inputs, float_dtype)``; names are ONNX value names.

    ``domain`` and ``opset`` (the version the model imports for it) are for
    messages.
    """

    op_type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    fn: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]] = _no_function
    domain: str = ""
    opset: int | None = None


def unsupported(
    source: str, step: Step, why: str, opset: int | None
) -> UnsupportedModelOpError:
    """The error for a node that wrt cannot convert, about the model."""
    domain = step.domain or "ai.onnx"
    detail = "" if why == step.op_type else f" ({why})"
    return UnsupportedModelOpError(
        f"{source}: node '{step.name}' (op {step.op_type}, domain {domain}, opset "
        f"{opset if opset is not None else 'unknown'}) has no converter in "
        f"wrt{detail}; the ops wrt converts are listed in docs/onnx.md. Re-export "
        "the model without it (e.g. replace the layer by standard ones, or export "
        "with another opset_version), or load the original model instead (a "
        "PyTorch module with wrt.wrap, a Keras model from its .keras file).",
        hint="Re-export the model without that op, or give wrt the original "
        "PyTorch module (wrt.wrap) or Keras file.",
    )


def tensor_of(array: np.ndarray, name: str, source: str) -> torch.Tensor:
    """A numpy array from the file as a torch tensor (a copy).

    Raises:
        ModelFormatError: a dtype torch cannot hold (bfloat16 in numpy, strings).
    """
    try:
        return torch.from_numpy(np.array(array, copy=True))
    except TypeError as exc:
        raise ModelFormatError(
            f"{source}: tensor '{name}' has dtype {array.dtype}, which torch cannot "
            "hold. Export the model in float32 or float64."
        ) from exc


def constant(node: onnx.NodeProto, label: str, source: str) -> torch.Tensor:
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
        raise UnsupportedModelOpError(
            f"{source}: ONNX Constant node '{label}' with attribute(s) {names} is not "
            "supported; wrt reads numeric value, value_float(s) and value_int(s).",
            hint="Re-export the model with its constants folded into initializers.",
        )
    value = onnx.helper.get_attribute_value(attribute)
    if attribute.name == "value":
        return tensor_of(numpy_helper.to_array(value), node.output[0], source)
    kind = np.float32 if attribute.name.startswith("value_float") else np.int64
    return torch.from_numpy(np.array(value, dtype=kind))


def _domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


def compile_nodes(
    nodes: Sequence[onnx.NodeProto],
    defined: set[str],
    tensors: Tensors,
    opsets: Mapping[str, int] | None,
    source: str,
    scope: str = "",
    dependent: set[str] | None = None,
) -> list[Step]:
    """The steps of ``nodes``; their ``Constant`` values go into ``tensors``.

    Args:
        nodes: a graph's nodes in topological order.
        defined: the value names available before the first node (graph inputs,
            initializers, outer values); updated with every node's outputs.
        tensors: stored values by (scoped) name; ``Constant`` nodes add to it.
        opsets: domain -> imported opset version.
        source: the file, for messages.
        scope: prefix of the names under which a Loop body's tensors are stored.
        dependent: the names whose values depend on the values of the graph
            inputs (:func:`depends`); updated with every node's outputs.

    Returns:
        The steps, in order.

    Raises:
        UnsupportedModelOpError: a node has no converter.
        ModelFormatError: a node reads a value that nothing defines.
    """
    steps = []
    dependent = set() if dependent is None else dependent
    for index, node in enumerate(nodes):
        label = node.name or f"{scope}#{index} (unnamed)"
        missing = [name for name in node.input if name and name not in defined]
        if missing:
            raise ModelFormatError(
                f"{source}: node '{label}' ({node.op_type}) reads "
                f"{', '.join(missing)}, which no input, initializer or earlier node "
                "defines. The file is damaged or not topologically sorted."
            )
        version = (opsets or {}).get(_domain(node.domain))
        step = Step(node.op_type, label, tuple(node.input), (*node.output,))
        step = dataclasses.replace(step, domain=node.domain, opset=version)
        if node.op_type == "Constant" and _domain(node.domain) == "":
            tensors[scope + node.output[0]] = (constant(node, label, source), False)
            if scope:  # a body's constant: read from the store like its initializers
                step = dataclasses.replace(step, inputs=(scope + node.output[0],))
                steps.append(dataclasses.replace(step, fn=_identity))
        elif node.op_type == "Loop" and _domain(node.domain) == "":
            where = (defined, tensors, opsets, source, scope, dependent)
            steps.append(_loop_step(node, step, *where))
        else:
            try:
                fn = onnx_ops.build(node, opsets)
            except onnx_ops.UnsupportedNode as why:
                raise unsupported(source, step, str(why), version) from None
            steps.append(dataclasses.replace(step, fn=fn))
        defined.update(node.output)
        dependent |= depends([node], dependent)
    return steps


def _identity(args, ft):
    return args[0]


def run_steps(
    steps: Sequence[Step], env: dict[str, torch.Tensor], ft: torch.dtype, source: str
) -> None:
    """Run ``steps`` on the values in ``env``, adding their outputs to it.

    Raises:
        ModelError: a node failed, naming it and the shapes of its inputs.
        UnsupportedModelOpError: a node met a value wrt cannot handle.
    """
    for step in steps:
        args = [env[name] if name else None for name in step.inputs]
        try:
            result = step.fn(args, ft)
        except onnx_ops.UnsupportedNode as why:  # an input value wrt cannot do
            raise unsupported(source, step, str(why), step.opset) from None
        except (UnsupportedModelOpError, ModelError):
            raise
        except Exception as exc:  # shapes the graph did not expect
            shapes = ", ".join(
                str(tuple(a.shape)) if a is not None else "-" for a in args
            )
            raise ModelError(
                f"ONNX node '{step.name}' ({step.op_type}) failed on inputs of "
                f"shapes {shapes}: {exc}"
            ) from exc
        values = (result,) if isinstance(result, torch.Tensor) else result
        for name, value in zip(step.outputs, values, strict=False):
            if name:
                env[name] = value


def free_names(graph: onnx.GraphProto) -> set[str]:
    """The values a (sub)graph reads from the scopes around it."""
    names = {o.name for o in graph.output}
    for node in graph.node:
        names.update(n for n in node.input if n)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                names |= free_names(attribute.g)
    own = {v.name for v in graph.input} | {i.name for i in graph.initializer}
    own |= {out for node in graph.node for out in node.output}
    return names - own


#: Ops whose outputs depend on the shapes of their inputs only.
_SHAPE_ONLY = frozenset({"Shape", "Size"})


def depends(nodes: Sequence[onnx.NodeProto], dependent: set[str]) -> set[str]:
    """The names computed from the values (not only the shapes) of ``dependent``.

    Args:
        nodes: nodes in topological order.
        dependent: names whose values vary with the graph inputs' values.

    Returns:
        ``dependent`` and every output of ``nodes`` that depends on it.
    """
    dependent = set(dependent)
    for node in nodes:
        if node.op_type in _SHAPE_ONLY:
            continue
        if node.op_type == "Loop" and len(node.attribute) == 1:
            dependent |= loop_dependence(node, dependent)[1]
            continue
        reads = {name for name in node.input if name}
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                reads |= free_names(attribute.g)
        if reads & dependent:
            dependent.update(name for name in node.output if name)
    return dependent


def loop_dependence(
    node: onnx.NodeProto, dependent: set[str]
) -> tuple[set[str], set[str], bool]:
    """For a Loop: its body's value-dependent names, its own, static control.

    Loop-carried values become dependent when their update is (a fixed point);
    the control (trip count, condition in and out) is static when none of it
    depends on the inputs' values: then the number of iterations is a fact of
    the shapes, like a Python loop over ``range(seq_len)``.
    """
    body = node.attribute[0].g
    ins = [v.name for v in body.input]
    outs = [v.name for v in body.output]
    carried = len(node.input) - 2
    seeds = free_names(body) & dependent
    seeds |= {ins[1 + k] for k in range(carried + 1) if node.input[1 + k] in dependent}
    while True:
        inner = depends(body.node, seeds)
        grown = seeds | {ins[1 + k] for k in range(carried + 1) if outs[k] in inner}
        if grown == seeds:
            break
        seeds = grown
    mine = {
        name
        for k, name in enumerate(node.output)
        if name and (outs[1 + k] in inner or (k < carried and ins[2 + k] in seeds))
    }
    control = {node.input[0], node.input[1]} - {""}
    static = not (control & dependent) and outs[0] not in inner
    return seeds, mine, static


def _loop_step(
    node: onnx.NodeProto,
    step: Step,
    defined: set[str],
    tensors: Tensors,
    opsets: Mapping[str, int] | None,
    source: str,
    scope: str,
    dependent: set[str],
) -> Step:
    """A Loop node: its body compiled, outer values and body tensors as inputs."""
    if [a.name for a in node.attribute] != ["body"]:
        raise unsupported(source, step, "Loop with other attributes", step.opset)
    body = node.attribute[0].g
    scope = f"{scope}{step.name}/"
    own = [init.name for init in body.initializer]
    for init in body.initializer:
        array = numpy_helper.to_array(init)
        tensors[scope + init.name] = (tensor_of(array, init.name, source), False)
    outer = sorted(free_names(body))
    body_defined = {v.name for v in body.input} | set(own) | set(outer)
    seeds, _, static = loop_dependence(node, dependent)
    body_steps = compile_nodes(
        body.node, body_defined, tensors, opsets, source, scope, seeds
    )
    # the body's tensors (and those of loops inside it), stored in the module
    stored = [key for key in tensors if key.startswith(scope)]
    local = [key[len(scope) :] if key[len(scope) :] in own else key for key in stored]
    fn = _Loop(
        body_steps,
        [v.name for v in body.input],
        [v.name for v in body.output],
        [*outer, *local],
        n_initial=len(node.input) - 2,
        source=source,
        static_control=static,
    )
    inputs = (*node.input, *outer, *stored)
    missing = [name for name in outer if name not in defined]
    if missing:
        raise ModelFormatError(
            f"{source}: the body of Loop '{step.name}' reads {', '.join(missing)}, "
            "which nothing defines. The file is damaged."
        )
    return dataclasses.replace(step, inputs=inputs, fn=fn)


@dataclass(frozen=True)
class _Loop:
    """Runs a Loop body: ``fn(args, ft)``, args = node inputs then ``fixed``.

    ``fixed`` names the values the body reads that do not change between
    iterations: outer values, then the body's stored tensors. With
    ``static_control`` (the trip count and conditions do not depend on the
    inputs' values), the control values are read outside any ``make_fx``
    trace, which then records the unrolled loop, as for a Python loop.
    """

    steps: Sequence[Step]
    body_inputs: Sequence[str]
    body_outputs: Sequence[str]
    fixed: Sequence[str]
    n_initial: int
    source: str
    static_control: bool = False

    def _read(self, value: torch.Tensor) -> int:
        if not self.static_control:
            return int(value.item())
        with disable_proxy_modes_tracing():
            return int(value.item())

    def __call__(self, args, ft: torch.dtype):
        trips, condition = args[0], args[1]
        state = list(args[2 : 2 + self.n_initial])
        rest = args[2 + self.n_initial :]
        fixed = dict(zip(self.fixed, rest, strict=True))
        if trips is None and condition is None:
            raise onnx_ops.UnsupportedNode("Loop without a trip count or condition")
        limit = self._read(trips) if trips is not None else MAX_ITERATIONS
        going = bool(self._read(condition)) if condition is not None else True
        scans: list[list[torch.Tensor]] = []
        iteration = 0
        while going and iteration < limit:
            env = dict(fixed)
            counter = torch.tensor(iteration, dtype=torch.int64)
            flag = torch.tensor(going)
            env.update(zip(self.body_inputs, [counter, flag, *state], strict=True))
            run_steps(self.steps, env, ft, self.source)
            results = [env[name] for name in self.body_outputs]
            going = bool(self._read(results[0]))
            state = results[1 : 1 + self.n_initial]
            scans.append(results[1 + self.n_initial :])
            iteration += 1
        if iteration >= MAX_ITERATIONS and trips is None:
            raise onnx_ops.UnsupportedNode("a Loop that does not end")
        n_scans = len(self.body_outputs) - 1 - self.n_initial
        if n_scans and not scans:
            raise onnx_ops.UnsupportedNode("a Loop with scan outputs and no iteration")
        stacked = [torch.stack([s[k] for s in scans]) for k in range(n_scans)]
        return (*state, *stacked)
