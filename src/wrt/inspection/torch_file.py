"""TorchScript and ``torch.export`` files as torch describes them.

Both are read again from the file, not from wrt's wrapper around them:

- a TorchScript archive (``torch.jit.load``, TorchScript's own interpreter, no
  pickle) keeps its submodules with the class each was scripted from
  (``original_name``) and the argument names of ``forward``;
- a ``.pt2`` program (``torch.export.load``, after the same archive checks as the
  importer) keeps the ATen operations of its graph, its parameters and buffers,
  the shapes of its inputs and outputs (a symbolic batch axis shows as its name)
  and, on each node, the stack of modules it came from, which gives the layers.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from wrt.inspection.torch_layers import ACTIVATION_CLASSES, torch_layers


def torchscript_view(path: Path) -> dict[str, Any]:
    """The modules, parameters and ``forward`` arguments of a TorchScript file.

    Args:
        path: the TorchScript archive.

    Returns:
        ``layers`` (see :func:`~wrt.inspection.torch_layers.torch_layers`; types
        are the original classes), ``parameters`` (scalars), ``forward`` (the
        argument names of ``forward``, ``self`` left out) and ``class_name`` (the
        scripted class of the whole module).
    """
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript itself
        warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")
    try:
        arguments = [a.name for a in module.forward.schema.arguments][1:]
    except (AttributeError, RuntimeError):  # a module without a scripted forward
        arguments = []
    return {
        "class_name": str(getattr(module, "original_name", type(module).__name__)),
        "layers": torch_layers(module),
        "parameters": sum(p.numel() for p in module.parameters()),
        "forward": arguments,
    }


def export_view(path: Path) -> dict[str, Any]:
    """The graph operations, weights, inputs, outputs and layers of a ``.pt2`` file.

    Args:
        path: the ``torch.export`` archive.

    Returns:
        ``ops`` (ATen operation -> node count, e.g. ``"aten.linear"``, most frequent
        first), ``parameters`` and ``buffers`` (scalars), ``inputs`` and
        ``outputs`` (dicts with ``name`` and ``shape``: every axis an int or a
        symbol's name) and ``layers`` (the leaf modules the nodes came from:
        ``name`` (module path), ``type`` (class), ``detail``, ``activation``,
        ``parameters``).

    Raises:
        UnsupportedFormatError: the archive fails the importer's safety checks.
    """
    from wrt.importers.torch_export_checks import check_archive

    data = path.read_bytes()
    check_archive(data, path)
    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        program = torch.export.load(io.BytesIO(data))
    finally:
        logger.setLevel(level)
    signature = program.graph_signature
    state = program.state_dict
    params = {name: state[name] for name in signature.parameters if name in state}
    buffers = [state[name] for name in signature.buffers if name in state]
    nodes = list(program.graph.nodes)
    by_name = {node.name: node for node in nodes}
    ops: Counter[str] = Counter()
    stack: dict[str, str] = {}
    for node in nodes:
        if node.op != "call_function":
            continue
        ops[_op_name(node.target)] += 1
        modules = node.meta.get("nn_module_stack") or {}
        if modules:
            where, kind = list(modules.values())[-1]
            stack.setdefault(str(where), _short_class(kind))
    outputs = [n for n in nodes if n.op == "output"]
    returned = outputs[0].args[0] if outputs else ()
    returned = returned if isinstance(returned, (list, tuple)) else (returned,)
    return {
        "ops": dict(ops.most_common()),
        "parameters": sum(t.numel() for t in params.values()),
        "buffers": sum(t.numel() for t in buffers),
        "inputs": [
            {"name": name, "shape": _shape(by_name.get(name))}
            for name in signature.user_inputs
        ],
        "outputs": [
            {"name": getattr(node, "name", str(node)), "shape": _shape(node)}
            for node in returned
        ],
        "layers": [
            {
                "name": where,
                "type": kind,
                "detail": "",
                "activation": ACTIVATION_CLASSES.get(kind),
                "parameters": sum(
                    t.numel()
                    for name, t in params.items()
                    if name.startswith(f"{where}.")
                ),
            }
            for where, kind in stack.items()
            if not any(_inside(other, where) for other in stack)
        ],
    }


def _inside(path: str, parent: str) -> bool:
    """Whether module ``path`` is a submodule of ``parent`` (leaves only shown)."""
    return path != parent and (parent == "" or path.startswith(f"{parent}."))


def _op_name(target: Any) -> str:
    packet = getattr(target, "overloadpacket", None)
    if packet is not None:
        namespace = getattr(target, "namespace", "aten")
        return f"{namespace}.{packet.__name__}"
    return str(getattr(target, "__name__", target))


def _short_class(kind: Any) -> str:
    text = kind if isinstance(kind, str) else getattr(kind, "__qualname__", str(kind))
    return text.rsplit(".", 1)[-1]


def _shape(node: Any) -> list[int | str] | None:
    value = getattr(node, "meta", {}).get("val") if node is not None else None
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    return [int(d) if isinstance(d, int) else str(d) for d in shape]
