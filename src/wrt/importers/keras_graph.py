"""A Keras model's graph of converted layers, read from its config.

:func:`convert` builds the :class:`~wrt.importers.keras_layers.KerasGraph` that
follows a Sequential or functional config: each layer converted
(:func:`~wrt.importers.keras_layers.convert_layer`), each operation node
(:mod:`keras_ops`) and each nested model (its own graph), the calls ordered so
that arguments come first, their saved keyword arguments checked.
:func:`integer_inputs` finds the columns that feed an ``Embedding``.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from wrt.importers.keras_layers import (
    Call,
    KerasGraph,
    Nested,
    TensorRef,
    UnsupportedLayer,
    convert_layer,
)
from wrt.importers.keras_layers_attention import CALL_OPTIONS
from wrt.importers.keras_ops import constant, convert_op, is_op
from wrt.importers.keras_structure import (
    Signature,
    UnsupportedStructure,
    layer_weights,
    signature,
)


def convert(kmodel, config: dict[str, Any], sig: Signature) -> nn.Module:
    """A :class:`KerasGraph` of converted layers (Sequential or Functional model).

    Raises:
        UnsupportedLayer: a layer, or a call, has no torch conversion.
    """
    layers_config = config["layers"]
    converted: dict[str, nn.Module] = {}
    for entry in layers_config:
        name = entry["config"]["name"]
        if entry["class_name"] == "InputLayer":
            continue
        if is_op(entry):  # keras.ops recorded in the graph: no weights
            converted[name] = convert_op(entry["class_name"], entry["config"])
            continue
        layer = kmodel.get_layer(name)
        if entry["class_name"] in _MODELS and "layers" in entry["config"]:
            converted[name] = _nested(layer, entry)
            continue
        weights = layer_weights(layer)
        built = entry.get("build_config") or {}
        layer_config = {**entry["config"], "__input_shape__": built.get("input_shape")}
        converted[name] = convert_layer(entry["class_name"], layer_config, weights)
    inputs = list(zip(sig.in_refs, sig.in_shapes, strict=True))
    return KerasGraph(converted, calls(config), inputs, _output_refs(config, sig))


_MODELS = {"Sequential", "Functional", "Model"}


def _nested(layer, entry: dict[str, Any]) -> nn.Module:
    """A Keras model used as a layer, converted with its own graph.

    Raises:
        UnsupportedLayer: its inputs or outputs cannot be laid out, it has several
            outputs, or one of its layers has no conversion.
    """
    config = entry["config"]
    try:
        sub = signature(layer, config)
    except UnsupportedStructure as why:
        raise UnsupportedLayer(
            f"nested model {entry['config']['name']} ({why})"
        ) from why
    if len(sub.out_refs or [None]) != 1:
        raise UnsupportedLayer(f"nested model {config['name']} with several outputs")
    graph = convert(layer, config, sub)
    if isinstance(graph, KerasGraph):
        return Nested(graph)
    raise UnsupportedLayer(f"nested model {config['name']}")


def calls(config: dict[str, Any]) -> list[Call]:
    """The layer calls of a Sequential (a chain) or Functional config, in order."""
    layers_config = config["layers"]
    if "input_layers" in config:
        return _functional_calls(layers_config)
    chain, previous = [], ("__input__", 0, 0)
    for entry in layers_config:
        if entry["class_name"] != "InputLayer":
            chain.append(Call(entry["config"]["name"], 0, [previous], False))
            previous = (entry["config"]["name"], 0, 0)
    return chain


def _output_refs(config: dict[str, Any], sig: Signature) -> list[TensorRef]:
    if "input_layers" in config:
        return sig.out_refs
    chain = calls(config)
    return [(chain[-1].layer, 0, 0)] if chain else [("__input__", 0, 0)]


def integer_inputs(
    config: dict[str, Any], sig: Signature
) -> dict[int, tuple[str, int]]:
    """Integer-valued columns: column -> (why, how many rows its Embedding has).

    An input read by an ``Embedding`` holds row indices; every column of it is
    integer-valued. Read from the config alone (the model may run through Keras).

    Raises:
        UnsupportedStructure: an Embedding reads a computed tensor: the model is
            piecewise constant in whatever computed it.
    """
    starts, start = {}, 0
    for ref, shape in zip(sig.in_refs, sig.in_shapes, strict=True):
        starts[ref] = (start, math.prod(shape))
        start += math.prod(shape)
    for entry in config["layers"]:
        if entry["class_name"] in _MODELS and any(
            e.get("class_name") == "Embedding" for e in _all_layers(entry["config"])
        ):
            raise UnsupportedStructure(
                f"the nested model {entry['config']['name']!r} holds an Embedding; "
                "wrt cannot tell which inputs are its indices. Save the model "
                "with its layers at the top level"
            )
    found: dict[int, tuple[str, int]] = {}
    for entry, refs in _embedding_reads(config):
        name = entry["config"]["name"]
        for ref in refs:
            if ref not in starts:
                raise UnsupportedStructure(
                    f"the Embedding layer {name!r} reads the computed tensor "
                    f"{ref[0]!r}, so the model is piecewise constant in the inputs "
                    "that compute it and has no derivatives along them. Feed the "
                    "Embedding from an integer keras.Input"
                )
            first, width = starts[ref]
            why = f"it feeds the Embedding layer {name!r}"
            for column in range(first, first + width):
                found[column] = (why, int(entry["config"].get("input_dim", 0)))
    return found


def _all_layers(config: dict[str, Any]):
    """Every layer entry of a model config, nested models' layers included."""
    for entry in config.get("layers", []):
        yield entry
        if isinstance(entry.get("config"), dict):
            yield from _all_layers(entry["config"])


def _embedding_reads(config: dict[str, Any]):
    """(Embedding entry, refs it reads) for every Embedding call of the config."""
    layers_config = config["layers"]
    if "input_layers" not in config:  # Sequential: the chain
        previous: TensorRef = ("__input__", 0, 0)
        for entry in layers_config:
            if entry["class_name"] == "InputLayer":
                continue
            if entry["class_name"] == "Embedding":
                yield entry, [previous]
            previous = (entry["config"]["name"], 0, 0)
        return
    for entry in layers_config:
        if entry["class_name"] != "Embedding":
            continue
        for node in entry.get("inbound_nodes", []):
            args = node["args"]
            tensors = args[0] if len(args) == 1 and isinstance(args[0], list) else args
            yield entry, [_ref(t) for t in tensors if _is_tensor(t)]


def _functional_calls(layers_config: list[dict[str, Any]]) -> list[Call]:
    """Every layer call of a Functional config, ordered so arguments come first."""
    pending: list[Call] = []
    for entry in layers_config:
        if entry["class_name"] == "InputLayer":
            continue
        name = entry["config"]["name"]
        for index, node in enumerate(entry.get("inbound_nodes", [])):
            args = node["args"]
            as_list = len(args) == 1 and isinstance(args[0], list)
            given = args[0] if as_list else args
            refs = [_ref(t) for t in given if _is_tensor(t)]
            constants = {
                i: constant(value)
                for i, value in enumerate(given)
                if not _is_tensor(value)
            }
            if constants and not is_op(entry):
                raise UnsupportedLayer(f"call of {name} with constant arguments")
            kwargs, options = _call_kwargs(entry, node.get("kwargs") or {})
            call = Call(name, index, refs, as_list, kwargs, options, constants)
            pending.append(call)
    ready = {
        (entry["config"]["name"], 0, 0)
        for entry in layers_config
        if entry["class_name"] == "InputLayer"
    }
    ordered = []
    while pending:
        runnable = [c for c in pending if all(r in ready for r in c.needs)]
        if not runnable:
            raise UnsupportedLayer("a graph whose calls cannot be ordered")
        for call in runnable:
            ordered.append(call)
            ready.add((call.layer, call.index, 0))
            pending.remove(call)
    return ordered


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _ref(value: dict[str, Any]) -> TensorRef:
    layer, node, index = value["config"]["keras_history"]
    return (str(layer), int(node), int(index))


def _call_kwargs(
    entry: dict[str, Any], kwargs: dict[str, Any]
) -> tuple[dict[str, TensorRef], dict[str, Any]]:
    """The tensor and constant keyword arguments of a call, checked.

    Keras saves the call's keyword arguments: ``training=False`` (inference, as
    wrt runs), ``mask=None`` and other absent masks change nothing; some layers
    take options (``use_causal_mask``, :data:`CALL_OPTIONS`). ``training=True``
    (dropout and batch statistics at inference), a mask tensor, or returning
    attention scores are not converted.

    Raises:
        UnsupportedLayer: a keyword argument the conversion cannot honour.
    """
    name = entry["config"]["name"]
    accepted = CALL_OPTIONS.get(entry["class_name"], set())
    tensors, options = {}, {}
    for key, value in kwargs.items():
        if _is_tensor(value):
            if "mask" in key:
                raise UnsupportedLayer(f"call of {name} with {key}")
            tensors[key] = _ref(value)
        elif value is None or (key == "training" and value is False):
            continue
        elif key == "return_attention_scores" and value is False:
            continue
        elif key in accepted and isinstance(value, bool):
            options[key] = value
        else:
            raise UnsupportedLayer(f"call of {name} with {key}={value!r}")
    return tensors, options
