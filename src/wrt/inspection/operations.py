"""The activations and non-smooth operations a model actually runs.

One answer for ``wrt inspect`` and ``wrt check``: the model is traced to ATen
operations (:func:`wrt.engines.taylor.interpreter.trace`, the graph the Taylor
engine uses, kept in the model's cache) and the operations on the path from its
inputs are named. This sees through every way a model can be packaged: a
TorchScript file, a ``.pt2`` program, an ONNX graph converted by wrt, a Keras model
running through Keras itself, a converted Keras layer whose activation is a plain
function. When the model cannot be traced, the names come from its layer list.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.fx import Node

from wrt.model import Model

#: ATen operations (overload packet names) that are activations -> their names.
ACTIVATION_OPS = {
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "softplus": "softplus",
    "silu": "silu",
    "gelu": "gelu",
    "elu": "elu",
    "selu": "selu",
    "celu": "celu",
    "mish": "mish",
    "relu": "relu",
    "relu6": "relu6",
    "leaky_relu": "leaky_relu",
    "prelu": "prelu",
    "_prelu_kernel": "prelu",
    "rrelu_with_noise": "rrelu",
    "hardtanh": "hardtanh",
    "hardswish": "hardswish",
    "hardsigmoid": "hard_sigmoid",
    "log_sigmoid_forward": "log_sigmoid",
    "_softmax": "softmax",
    "_safe_softmax": "softmax",
    "softmax": "softmax",
    "_log_softmax": "log_softmax",
    "log_softmax": "log_softmax",
    # attention kernels: a softmax over the keys inside one operation
    "scaled_dot_product_attention": "softmax",
    "_scaled_dot_product_flash_attention_for_cpu": "softmax",
    "_scaled_dot_product_flash_attention": "softmax",
    "_scaled_dot_product_efficient_attention": "softmax",
    "_scaled_dot_product_attention_math": "softmax",
    "_scaled_dot_product_cudnn_attention": "softmax",
}

#: ATen operations that make a model piecewise smooth (kinks) -> their names.
NON_SMOOTH_OPS = {
    "relu": "relu",
    "relu6": "relu6",
    "leaky_relu": "leaky_relu",
    "_prelu_kernel": "prelu",
    "prelu": "prelu",
    "rrelu_with_noise": "rrelu",
    "hardtanh": "hardtanh",
    "threshold": "threshold",
    "abs": "abs",
    "clamp": "clamp",
    "clamp_min": "clamp",
    "clamp_max": "clamp",
    "maximum": "maximum",
    "minimum": "minimum",
    "hardswish": "hardswish",
    "hardsigmoid": "hardsigmoid",
}

#: Activation names (of layers) that are piecewise linear or have kinks.
NON_SMOOTH_NAMES = {
    "relu",
    "relu6",
    "leaky_relu",
    "prelu",
    "rrelu",
    "hardtanh",
    "abs",
    "hard_sigmoid",
    "hardswish",
}


def traced_operations(model: Model) -> list[str] | None:
    """ATen operations on the model's path from its inputs, in graph order.

    The model is traced on two points of its own dtype (float64 when it has no
    parameters); the graph is the Taylor engine's and stays in ``model.cache``.

    Args:
        model: the model.

    Returns:
        Overload packet names (``"addmm"``, ``"tanh"``, ...), one per node on the
        traced path, or None when the model cannot be traced.
    """
    from wrt.engines.taylor.interpreter import depends_on_input, trace

    probe = torch.zeros(2, model.n_inputs, dtype=model.dtype or torch.float64)
    try:
        graph = trace(model, probe)
    except Exception:  # tracing user code can fail in many ways
        return None
    on_path = depends_on_input(graph)
    names = []
    for node in graph.graph.nodes:
        if node.op != "call_function" or node not in on_path:
            continue
        packet = getattr(node.target, "overloadpacket", None)
        names.append(str(getattr(packet, "__name__", node.target)).rstrip("_"))
    return names


def activations(model: Model, layer_activations: Iterable[str] = ()) -> list[str]:
    """The activation functions the model runs, in order of first appearance.

    Args:
        model: the model.
        layer_activations: the activations its layer list names, used only when
            the model cannot be traced.

    Returns:
        Names such as ``"tanh"``, ``"relu"``, ``"softmax"``.
    """
    traced = traced_operations(model)
    if traced is None:
        return list(dict.fromkeys(a for a in layer_activations if a != "linear"))
    return list(dict.fromkeys(ACTIVATION_OPS[o] for o in traced if o in ACTIVATION_OPS))


def non_smooth_operations(
    model: Model, layer_activations: Iterable[str] = ()
) -> list[str]:
    """The piecewise-linear operations on the model's path, sorted by name.

    Args:
        model: the model.
        layer_activations: the activations its layer list names, used only when
            the model cannot be traced.

    Returns:
        Names such as ``"relu"``, ``"abs"``, ``"maximum"``; empty for a smooth
        model.
    """
    traced = traced_operations(model)
    if traced is None:
        return sorted({a for a in layer_activations if a in NON_SMOOTH_NAMES})
    return sorted({NON_SMOOTH_OPS[o] for o in traced if o in NON_SMOOTH_OPS})


#: ATen operations that keep a function piecewise linear: affine maps, structure,
#: linear pooling and selections (max pooling picks one input: piecewise linear).
PIECEWISE_LINEAR_KEEPERS = {
    "addmm", "mm", "matmul", "bmm", "baddbmm", "linear", "add", "sub", "rsub",
    "neg", "view", "_unsafe_view", "reshape", "t", "transpose", "permute",
    "expand", "cat", "stack", "slice", "select", "index", "index_select",
    "gather", "unsqueeze", "squeeze", "clone", "alias", "sum", "mean",
    "flatten", "unflatten", "split", "split_with_sizes", "unbind", "contiguous",
    "_to_copy", "to", "copy", "detach", "lift_fresh_copy", "convolution",
    "_convolution", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "constant_pad_nd", "flip", "roll", "repeat",
    "narrow", "max_pool1d", "max_pool2d", "max_pool2d_with_indices",
    "max_pool1d_with_indices", "amax", "amin", "max", "min", "getitem",
    "zeros_like", "ones_like", "full_like", "new_zeros", "new_ones", "cumsum",
}  # fmt: skip
#: Products and quotients: piecewise linear when one side is a constant.
_SCALINGS = {"mul": (0, 1), "div": (0,)}


def is_piecewise_linear(model: Model) -> bool | None:
    """Whether the model is piecewise linear in its inputs (None: cannot trace).

    True when its traced path has a kink (relu, abs, max, ...) and every other
    operation keeps piecewise linearity (affine maps, structure, scaling by a
    constant). A kink composed with a smooth nonlinearity (softsign is
    ``x / (1 + |x|)``; a relu layer under a tanh one) is not: its partials of order
    >= 2 are not zero.
    """
    from wrt.engines.taylor.interpreter import depends_on_input, trace

    probe = torch.zeros(2, model.n_inputs, dtype=model.dtype or torch.float64)
    try:
        graph = trace(model, probe)
    except Exception:  # tracing user code can fail in many ways
        return None
    on_path = depends_on_input(graph)
    kinked = False
    for node in graph.graph.nodes:
        if node.op != "call_function" or node not in on_path:
            continue
        packet = getattr(node.target, "overloadpacket", None)
        target = packet if packet is not None else node.target
        name = str(getattr(target, "__name__", target)).rstrip("_")
        if name in NON_SMOOTH_OPS:
            kinked = True
        elif name in _SCALINGS:
            varying = [
                i
                for i, a in enumerate(node.args)
                if isinstance(a, Node) and a in on_path
            ]
            allowed = _SCALINGS[name]
            if len(varying) > 1 or any(i not in allowed for i in varying):
                return False
        elif name not in PIECEWISE_LINEAR_KEEPERS:
            return False
    return kinked


def input_spans(model: Model) -> list[tuple[int, int]] | None:
    """The column ranges the model's first operations take from its points.

    A wrapper that calls a file's ``forward(x, t)`` slices the points (N, n_in)
    into its arguments; the traced graph shows each slice (``points[:, a:b]``) or
    selected column (``points[:, i]``), in the order they are taken.

    Returns:
        ``(start, stop)`` per slice, in graph order; None when the model cannot
        be traced or uses its points other than through column slices.
    """
    from wrt.engines.taylor.interpreter import trace

    probe = torch.zeros(2, model.n_inputs, dtype=model.dtype or torch.float64)
    try:
        graph = trace(model, probe)
    except Exception:  # tracing user code can fail in many ways
        return None
    placeholders = [n for n in graph.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        return None
    spans = []
    for user in placeholders[0].users:
        name = getattr(getattr(user.target, "overloadpacket", None), "__name__", "")
        args = list(user.args) + [None] * 4
        if name == "slice" and args[1] == 1:
            start, stop = int(args[2] or 0), args[3]
            stop = model.n_inputs if stop is None else min(int(stop), model.n_inputs)
            spans.append((start, stop))
        elif name == "select" and args[1] == 1:
            spans.append((int(args[2]), int(args[2]) + 1))
        else:
            return None
    return spans
