"""The ``ai.onnx.ml`` ops that skl2onnx emits, and its classifier outputs.

Ops (registered into :mod:`wrt.importers.onnx_ops` with ``register``), each a
plain differentiable torch function as onnxruntime defines it:

* ``Scaler``: ``(x - offset) * scale`` (StandardScaler, RobustScaler,
  MaxAbsScaler).
* ``Normalizer``: each row divided by its ``L1`` or ``L2`` norm, or by its
  largest value (``MAX``, as onnxruntime computes it; scikit-learn's ``max``
  divides by the largest absolute value, which skl2onnx does not export
  faithfully for rows with negative values).
* ``LinearRegressor``: ``x @ coefficients.T + intercepts`` (LinearRegression,
  Ridge, Lasso, ...).
* ``LinearClassifier``: the same scores, then ``LOGISTIC`` / ``SOFTMAX``
  (LogisticRegression); its label output is not differentiable and is dropped.
* ``Imputer``: the identity where the value is not the one to replace (NaN by
  default); at finite points its derivative is 1.

Classifiers. skl2onnx gives a classifier two outputs: the label (``ArgMax`` then
``ArrayFeatureExtractor`` of the class list: strings or integers, no derivative)
and the probabilities, either as a tensor (``zipmap=False``) or through
``ZipMap`` as a sequence of ``{class: probability}`` maps. :func:`probabilities`
rewrites such a graph before conversion: the label output is dropped, a
``ZipMap`` is replaced by its input tensor (N, k), and the k probability columns
are named after the classes (the class names when they are identifiers, else
``p_<class>``), as ``wrt.wrap`` names an MLPClassifier's ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import onnx
import torch
from onnx import helper, numpy_helper

from wrt.errors import ModelFormatError
from wrt.importers.onnx_ops import Args, register
from wrt.importers.sklearn import class_column_names

_ML = "ai.onnx.ml"
# ops whose outputs are labels, not scores: argmax of the probabilities, the class
# table lookup, the 0/1 threshold of multilabel classifiers
_LABEL_OPS = ("ArgMax", "ArrayFeatureExtractor", "Binarizer")
_CLASS_LABELS = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")
_FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


def _req(args: Args, position: int) -> torch.Tensor:
    """The node's input at ``position`` (every ml op here requires its input)."""
    value = args[position] if position < len(args) else None
    if value is None:
        raise ModelFormatError(f"input {position} of the node is missing.")
    return value


def _floating(x: torch.Tensor, ft: torch.dtype) -> torch.Tensor:
    """The ml ops take integer inputs too and give floats: cast those to ``ft``."""
    return x if x.is_floating_point() else x.to(ft)


def _vector(values: Sequence[float] | None, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(list(values or []), dtype=like.dtype, device=like.device)


@register("Scaler", domain=_ML)
def scaler(
    args: Args,
    ft: torch.dtype,
    *,
    offset: Sequence[float] | None = None,
    scale: Sequence[float] | None = None,
) -> torch.Tensor:
    """``(x - offset) * scale``; offset and scale have 1 or C entries.

    Args:
        args: ``[x]``, x of shape (N, C).
        ft: the float dtype of the points.
        offset: subtracted per feature (default 0).
        scale: multiplied per feature (default 1).

    Returns:
        (N, C), floating.
    """
    x = _floating(_req(args, 0), ft)
    if offset:
        x = x - _vector(offset, x)
    return x * _vector(scale, x) if scale else x


@register("Normalizer", domain=_ML)
def normalizer(args: Args, ft: torch.dtype, *, norm: str = "MAX") -> torch.Tensor:
    """Each row divided by its L1 norm, L2 norm or largest value.

    Args:
        args: ``[x]``, x of shape (N, C).
        ft: the float dtype of the points.
        norm: ``"L1"``, ``"L2"`` or ``"MAX"``.

    Returns:
        (N, C), floating.
    """
    x = _floating(_req(args, 0), ft)
    if norm == "L1":
        return x / x.abs().sum(dim=-1, keepdim=True)
    if norm == "L2":
        return x / torch.sqrt((x * x).sum(dim=-1, keepdim=True))
    if norm == "MAX":
        return x / x.amax(dim=-1, keepdim=True)
    raise ModelFormatError(f"Normalizer norm {norm!r} is not L1, L2 or MAX.")


@register("LinearRegressor", domain=_ML)
def linear_regressor(
    args: Args,
    ft: torch.dtype,
    *,
    coefficients: Sequence[float] | None = None,
    intercepts: Sequence[float] | None = None,
    targets: int = 1,
    post_transform: str = "NONE",
) -> torch.Tensor:
    """``x @ W.T + b`` with W the coefficients as (targets, C).

    Args:
        args: ``[x]``, x of shape (N, C).
        ft: the float dtype of the points.
        coefficients: targets * C weights, row-major.
        intercepts: one per target (default 0).
        targets: the number of outputs.
        post_transform: only ``"NONE"`` (what regressors export).

    Returns:
        (N, targets).
    """
    if post_transform != "NONE":
        raise ModelFormatError(
            f"LinearRegressor post_transform {post_transform!r} is not supported."
        )
    x = _floating(_req(args, 0), ft)
    weight = _vector(coefficients, x).reshape(targets, -1)
    y = x @ weight.T
    return y + _vector(intercepts, x) if intercepts else y


@register("LinearClassifier", domain=_ML)
def linear_classifier(
    args: Args,
    ft: torch.dtype,
    *,
    coefficients: Sequence[float] | None = None,
    intercepts: Sequence[float] | None = None,
    classlabels_strings: Sequence[bytes] | None = None,
    classlabels_ints: Sequence[int] | None = None,
    multi_class: int = 0,
    post_transform: str = "NONE",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``x @ W.T + b`` (E rows of W), then the post transform.

    With one row of coefficients and two classes, the scores are ``[1 - p, p]``
    as onnxruntime computes them: ``p = sigmoid(s)`` for LOGISTIC, else ``s``.

    Args:
        args: ``[x]``, x of shape (N, C).
        ft: the float dtype of the points.
        coefficients: E * C weights, row-major.
        intercepts: one per row (default 0).
        classlabels_strings: the class labels (strings), or
        classlabels_ints: the class labels (integers).
        multi_class: whether several classes may be predicted (no effect on the
            scores).
        post_transform: ``NONE``, ``LOGISTIC`` or ``SOFTMAX``.

    Returns:
        ``(label, scores)``: the index of the best class, (N,) int64 (the label
        output is dropped before conversion when it is a graph output; it has no
        derivative), and the scores (N, E), or (N, 2) for one row and two classes.

    Raises:
        ModelFormatError: another post transform (SOFTMAX_ZERO, PROBIT).
    """
    x = _floating(_req(args, 0), ft)
    labels = list(classlabels_strings or classlabels_ints or [])
    weight = _vector(coefficients, x).reshape(-1, x.shape[-1])
    scores = x @ weight.T
    if intercepts:
        scores = scores + _vector(intercepts, x)
    if post_transform not in ("NONE", "LOGISTIC", "SOFTMAX"):
        raise ModelFormatError(
            f"LinearClassifier post_transform {post_transform!r} is not supported "
            "(NONE, LOGISTIC, SOFTMAX are)."
        )
    if weight.shape[0] == 1 and len(labels) == 2:
        # onnxruntime: p = sigmoid(s) for LOGISTIC, else s itself; then [1 - p, p]
        p = torch.sigmoid(scores) if post_transform == "LOGISTIC" else scores
        scores = torch.cat([1 - p, p], dim=-1)
    elif post_transform == "LOGISTIC":
        scores = torch.sigmoid(scores)
    elif post_transform == "SOFTMAX":
        scores = torch.softmax(scores, dim=-1)
    return scores.argmax(dim=-1), scores


@register("Imputer", domain=_ML)
def imputer(
    args: Args,
    ft: torch.dtype,
    *,
    imputed_value_floats: Sequence[float] | None = None,
    replaced_value_float: float = 0.0,
    imputed_value_int64s: Sequence[int] | None = None,
    replaced_value_int64: int = 0,
) -> torch.Tensor:
    """Values equal to the replaced one (NaN: any NaN) become the imputed ones.

    Args:
        args: ``[x]``, x of shape (N, C).
        ft: the float dtype of the points.
        imputed_value_floats: 1 or C values put in place.
        replaced_value_float: the value to replace (NaN matches any NaN).
        imputed_value_int64s: the integer form (integer inputs).
        replaced_value_int64: the integer form of the value to replace.

    Returns:
        (N, C).
    """
    x = _req(args, 0)
    if not x.is_floating_point():
        fill = _vector([float(v) for v in imputed_value_int64s or [0]], x.to(ft))
        return torch.where(x == replaced_value_int64, fill, x.to(ft))
    fill = _vector(imputed_value_floats or [0.0], x)
    if replaced_value_float != replaced_value_float:  # NaN
        return torch.where(torch.isnan(x), fill, x)
    return torch.where(x == replaced_value_float, fill, x)


@dataclass(frozen=True)
class Rewritten:
    """A classifier graph reduced to its probabilities.

    Attributes:
        proto: the model with the label output dropped and ``ZipMap`` replaced by
            its input; onnxruntime runs it for the cross-check.
        names: column names of the outputs (one per class), or None when the
            graph was not a classifier's.
        dropped: the graph outputs that were dropped (labels).
    """

    proto: onnx.ModelProto
    names: tuple[str, ...] | None
    dropped: tuple[str, ...]


def probabilities(proto: onnx.ModelProto, source: str) -> Rewritten | None:
    """Keep a classifier's probabilities, named after its classes.

    Only outputs computed by ``ArgMax``, ``ArrayFeatureExtractor`` or
    ``Binarizer`` (multilabel) count as labels; any other output is left for the
    converter to judge.

    Args:
        proto: the model as read from the file.
        source: the file, for messages.

    Returns:
        The rewritten model, or None when no output is a label or a ``ZipMap``
        (the graph is used as it is).

    Raises:
        ModelFormatError: no output is left.
    """
    graph = proto.graph
    producer = {out: node for node in graph.node for out in node.output}
    kept: list[onnx.ValueInfoProto] = []
    dropped: list[str] = []
    classes: list[str] | None = None
    for value in graph.output:
        node = producer.get(value.name)
        if node is not None and node.op_type == "ZipMap" and node.domain == _ML:
            classes = _zipmap_classes(node)
            kept.append(
                helper.make_tensor_value_info(node.input[0], _elem(graph), None)
            )
        elif _is_float_tensor(value) or not _is_label(value.name, producer):
            kept.append(value)
        else:
            dropped.append(value.name)
            classes = classes or _label_classes(value.name, producer, graph)
    if not dropped and len(kept) == len(graph.output) and classes is None:
        return None
    if not kept:
        raise ModelFormatError(
            f"{source}: no output of the ONNX graph is a floating-point tensor "
            f"({', '.join(dropped)} hold labels), so there is nothing to "
            "differentiate. Export the model's scores or probabilities."
        )
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(proto)
    del rewritten.graph.output[:]
    rewritten.graph.output.extend(kept)
    needed = _needed(graph, [v.name for v in kept])
    del rewritten.graph.node[:]
    rewritten.graph.node.extend(n for i, n in enumerate(graph.node) if i in needed)
    names = None
    if classes is not None and len(kept) == 1:
        names = class_column_names(classes, set())
    return Rewritten(rewritten, names, tuple(dropped))


def _elem(graph: onnx.GraphProto) -> int:
    """The float type of the graph's first input (the probabilities' type)."""
    for value in graph.input:
        kind = value.type.tensor_type.elem_type
        if kind in _FLOATS:
            return kind
    return onnx.TensorProto.FLOAT


def _is_float_tensor(value: onnx.ValueInfoProto) -> bool:
    return (
        value.type.HasField("tensor_type")
        and value.type.tensor_type.elem_type in _FLOATS
    )


def _is_label(name: str, producer: dict[str, onnx.NodeProto]) -> bool:
    """Whether a value comes from one of :data:`_LABEL_OPS` (a label)."""
    seen = set()
    while name in producer and name not in seen:
        seen.add(name)
        node = producer[name]
        if node.op_type in _LABEL_OPS:
            return True
        if node.op_type.endswith("Classifier") and node.output[0] == name:
            return True  # a classifier op's first output is its label
        if not node.input:
            return False
        name = node.input[0]
    return False


def _zipmap_classes(node: onnx.NodeProto) -> list[str]:
    """The class labels of a ZipMap (or a classifier op) as strings."""
    for attribute in node.attribute:
        if attribute.name in _CLASS_LABELS:
            values = helper.get_attribute_value(attribute)
            return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    return []


def _label_classes(
    name: str, producer: dict[str, onnx.NodeProto], graph: onnx.GraphProto
) -> list[str] | None:
    """The class list a label output picks from (ArrayFeatureExtractor's table)."""
    initializers = {init.name: init for init in graph.initializer}
    constants = {
        node.output[0]: node.attribute[0].t
        for node in graph.node
        if node.op_type == "Constant"
        and node.attribute
        and node.attribute[0].HasField("t")
    }
    seen = set()
    while name in producer and name not in seen:
        seen.add(name)
        node = producer[name]
        if node.op_type.endswith("Classifier") and node.output[0] == name:
            return _zipmap_classes(node) or None  # the same attribute names
        if node.op_type == "ArrayFeatureExtractor":
            table = initializers.get(node.input[0]) or constants.get(node.input[0])
            if table is None:
                return None
            values = numpy_helper.to_array(table).ravel().tolist()
            return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
        if not node.input:
            return None
        name = node.input[0]
    return None


def _needed(graph: onnx.GraphProto, outputs: list[str]) -> set[int]:
    """Indices of the nodes the given outputs depend on."""
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output}
    wanted, stack, found = set(outputs), list(outputs), set()
    while stack:
        index = producer.get(stack.pop())
        if index is None or index in found:
            continue
        found.add(index)
        for name in graph.node[index].input:
            if name and name not in wanted:
                wanted.add(name)
                stack.append(name)
    return found
