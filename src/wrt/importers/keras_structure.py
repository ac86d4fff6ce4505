"""A Keras model's signature: its inputs and outputs as named columns.

The points wrt passes are one tensor (N, n_in); a Keras model takes one tensor, a
list, or a dict of tensors, and returns the same kinds. :class:`Signature` fixes
the order: a list in the model's order, a dict in the order its keys were written
(``keras.Model(inputs={"x": ..., "t": ...})`` gives columns x, t), which is also
the order of the names. :func:`convert` builds the :class:`KerasGraph` of torch
layers that follows the model's config.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from wrt.importers.keras_layers import TensorRef
from wrt.importers.keras_ops import is_op
from wrt.names import default_inputs, default_outputs


class UnsupportedStructure(Exception):
    """Inputs or outputs that cannot be laid out as columns (the importer says so)."""


@dataclass(frozen=True)
class Signature:
    """How the columns of the points and outputs map to a Keras model's tensors.

    Attributes:
        in_refs: the graph refs of the inputs, in column order.
        in_shapes: per-sample shape of each input, in column order.
        in_names: name of each input tensor (the dict key for a dict).
        in_keys: the dict keys when the model takes a dict, else None.
        out_refs: the graph refs of the outputs, in column order.
        out_sizes: columns of each output.
        out_names: name of each output (the dict key for a dict).
        out_keys: the dict keys when the model returns a dict, else None.
    """

    in_refs: list[TensorRef]
    in_shapes: list[tuple[int, ...]]
    in_names: list[str]
    in_keys: list[str] | None
    out_refs: list[TensorRef]
    out_sizes: list[int]
    out_names: list[str]
    out_keys: list[str] | None

    @property
    def n_in(self) -> int:
        """Columns of the points."""
        return sum(math.prod(s) for s in self.in_shapes)


def signature(kmodel, config: dict[str, Any]) -> Signature:
    """The inputs and outputs of a loaded Keras model, in column order."""
    inputs = [(_name(t), _shape(t)) for t in kmodel.inputs]
    outputs = [(_name(t), _shape(t)) for t in kmodel.outputs]
    if "input_layers" not in config:  # Sequential: one input, one output
        names = [str(n) for n in (getattr(kmodel, "output_names", None) or [])]
        return Signature(
            [("__input__", 0, 0)],
            [inputs[0][1]],
            [inputs[0][0]],
            None,
            [],
            [math.prod(outputs[0][1])],
            names[:1],  # none: the default name
            None,
        )
    in_keys, in_refs = _refs(config["input_layers"])
    out_keys, out_refs = _refs(config["output_layers"])
    # Keras flattens a dict in sorted key order: kmodel.inputs follows it
    if in_keys is not None:
        by_key = dict(zip(sorted(in_keys), inputs, strict=True))
        inputs = [(key, by_key[key][1]) for key in in_keys]
    if out_keys is not None:
        by_key = dict(zip(sorted(out_keys), outputs, strict=True))
        outputs = [(key, by_key[key][1]) for key in out_keys]
    else:
        names = [str(n) for n in (getattr(kmodel, "output_names", None) or [])]
        # without names Keras made up, the outputs get the defaults
        given = names if len(names) == len(outputs) else [""] * len(outputs)
        # an operation's node name (``sin``, ``get_item``) names nothing either
        ops = {e["config"]["name"] for e in config["layers"] if is_op(e)}
        given = ["" if n in ops else n for n in given]
        outputs = [(n, o[1]) for n, o in zip(given, outputs, strict=True)]
    return Signature(
        in_refs,
        [shape for _, shape in inputs],
        [name for name, _ in inputs],
        in_keys,
        out_refs,
        [math.prod(shape) for _, shape in outputs],
        [name for name, _ in outputs],
        out_keys,
    )


def _name(tensor) -> str:
    return str(tensor.name).split(":")[0]


def _shape(tensor) -> tuple[int, ...]:
    shape = tuple(tensor.shape[1:])
    if any(d is None for d in shape):
        raise UnsupportedStructure(
            f"tensor {_name(tensor)!r} has a variable per-sample shape {shape}; wrt "
            "needs a fixed number of columns. Rebuild it with keras.Input(shape=(k,))"
        )
    return tuple(int(d) for d in shape)


def _refs(layers: Any) -> tuple[list[str] | None, list[TensorRef]]:
    """Dict keys (or None) and refs of ``input_layers`` / ``output_layers``.

    The config holds ``[["x", 0, 0], ...]``, a single ``["u", 0, 0]``, or a dict
    ``{"x": ["x", 0, 0], ...}`` for a model built with dicts.
    """
    keys = None
    if isinstance(layers, dict):
        keys = [str(k) for k in layers]
        layers = list(layers.values())
    if layers and isinstance(layers[0], str):
        layers = [layers]
    try:
        return keys, [(str(a), int(b), int(c)) for a, b, c in layers]
    except (TypeError, ValueError) as exc:
        raise UnsupportedStructure(
            f"nested inputs or outputs ({str(layers)[:80]}); wrt reads a tensor, a "
            "list or a dict of tensors"
        ) from exc


def input_names(sig: Signature) -> tuple[str, ...]:
    """The Keras inputs' names when there are several (or keys), else ``x1 .. xn``."""
    sizes = [math.prod(s) for s in sig.in_shapes]
    named = _column_names(sig.in_names, sizes, keyed=sig.in_keys is not None)
    return named or default_inputs(sum(sizes))


def output_names(sig: Signature) -> tuple[str, ...]:
    """The Keras outputs' names when there are several (or keys), else ``y ..``.

    A single output is named after its last layer (``dense_7``), which says nothing,
    so it gets the default name, unless the model returns a dict.
    """
    n_out = sum(sig.out_sizes)
    if len(sig.out_names) != len(sig.out_sizes):
        return default_outputs(n_out)
    named = _column_names(
        sig.out_names, sig.out_sizes, keyed=sig.out_keys is not None, kind="output"
    )
    return named or default_outputs(n_out)


# What wrt accepts as a name (wrt.names): an ASCII identifier.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Names Keras makes up (``dense_7``, ``input_layer``): they say nothing to a user.
_GENERATED = re.compile(
    r"(keras_tensor|input_layer|input|dense|activation|add|subtract|multiply|average|concatenate"
    r"|flatten|reshape|dropout|normalization|batch_normalization|leaky_re_lu|re_lu"
    r"|rescaling|sequential|functional|model|conv[12]d|lstm|gru|simple_rnn|embedding"
    r"|layer_normalization|permute|softmax|maximum|minimum|spatial_dropout[12]d"
    r"|(global_)?(max|average)_pooling[12]d|gaussian_noise|multi_head_attention"
    r"|bidirectional|time_distributed|rms_normalization)"
    r"(_\d+)?\Z"
)


def _column_names(
    names: list[str], sizes: list[int], *, keyed: bool = False, kind: str = "input"
) -> tuple[str, ...] | None:
    """One name per column: ``u`` for a scalar tensor ``u``, ``v1, v2`` for a pair.

    None (use the defaults) when a name is not an identifier, when one tensor of
    several columns carries it (``x1, x2`` reads better), or when the names are
    ones Keras made up. Dict keys (``keyed``) were chosen by the user: they are
    kept even for a single tensor, and refused when they cannot name the columns.

    Raises:
        UnsupportedStructure: dict keys that give invalid or repeated column names.
    """
    columns = []
    for name, size in zip(names, sizes, strict=True):
        columns += [name] if size == 1 else [f"{name}{i}" for i in range(1, size + 1)]
    if keyed:
        bad = [c for c in columns if not _IDENTIFIER.match(c)]
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if bad or repeated:
            what = (
                f"{bad[0]!r} is not an identifier"
                if bad
                else (f"{repeated[0]!r} names two columns")
            )
            raise UnsupportedStructure(
                f"the model's dict {kind}s cannot name its {len(columns)} {kind} "
                f"columns: {what} (keys {', '.join(map(repr, names))}). Pass "
                f"{kind}s=[...] (--{kind}s a,b,...) with one name per column"
            )
        return tuple(columns)
    if not all(_IDENTIFIER.match(name) for name in names):
        return None
    if len(names) == 1 and (sizes[0] > 1 or _GENERATED.match(names[0])):
        return None
    if all(_GENERATED.match(name) for name in names):
        return None
    return tuple(columns) if len(set(columns)) == len(columns) else None


def layer_weights(layer) -> list[np.ndarray]:
    """A Keras layer's weights as numpy arrays, in Keras' order.

    Read from the torch tensors behind the variables: ``get_weights`` goes through
    numpy's deprecated ``__array__`` protocol on this Keras.
    """
    return [v.value.detach().cpu().numpy().copy() for v in layer.weights]
