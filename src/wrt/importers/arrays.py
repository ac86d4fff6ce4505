"""Weight arrays in a numpy ``.npz``: ``W1, b1, W2, b2, ...`` plus activation names.

This is how a numpy user, or an sklearn user (``MLPRegressor.coefs_`` and
``intercepts_``), holds a dense network: layer ``i`` computes
``act_i(x @ W_i + b_i)`` (``in_out`` layout, numpy / sklearn) or
``act_i(W_i @ x + b_i)`` (``out_in`` layout, torch). The layout is read from how
the shapes chain and from the bias sizes. The file is read with
``allow_pickle=False``: only plain numeric and string arrays, never objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from wrt.errors import ModelFormatError
from wrt.importers.activations import softplus
from wrt.model import DTypeLike, Model, wrap
from wrt.names import did_you_mean

_LAYOUTS = ("out_in", "in_out")
_ARRAY = re.compile(r"([Wb])(\d+)\Z")


class _Sin(nn.Module):
    """``sin(x)``, elementwise (SIREN-style networks)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


class _Softplus(nn.Module):
    """``log(1 + exp(x))``, exact for every x (:func:`activations.softplus`).

    ``nn.Softplus`` switches to ``x`` above 20, where the value is still off by
    1e-10 and torch's backward zeroes the derivatives of order >= 2.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return softplus(x)


class _Softmax(nn.Module):
    """Softmax over the units of a layer (dim 1): a classifier's probabilities."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=1)


# name -> module factory; several names for one function are aliases
_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "logistic": nn.Sigmoid,  # sklearn's name
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,  # negative slope 0.01, torch's default
    "softplus": _Softplus,
    "linear": nn.Identity,
    "identity": nn.Identity,  # sklearn's name
    "elu": nn.ELU,
    "gelu": nn.GELU,  # exact (erf) form
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "sin": _Sin,
    "softmax": _Softmax,  # sklearn MLPClassifier's out_activation_ (several classes)
}

# Activations of Keras, torch and scikit-learn that wrt does not read from .npz: a
# "did you mean" would offer a different function (selu -> elu, relu6 -> relu), so
# for these the message lists the valid names only.
_KNOWN_ELSEWHERE = frozenset(
    {
        "selu",
        "relu6",
        "softsign",
        "hard_sigmoid",
        "hard_silu",
        "hard_swish",
        "hard_tanh",
        "mish",
        "exp",
        "exponential",
        "log_softmax",
        "prelu",
        "celu",
        "glu",
        "log_sigmoid",
        "tanhshrink",
        "softshrink",
        "hardshrink",
        "sparsemax",
        "squareplus",
        "threshold",
    }
)


def load_npz(
    path: Path,
    inputs: Sequence[str] | None,
    outputs: Sequence[str] | None,
    *,
    dtype: DTypeLike = None,
    activations: Sequence[str] | str | None = None,
    layout: str | None = None,
) -> Model:
    """Build a dense network from the weight arrays in an ``.npz`` file.

    Args:
        path: a file saved with ``np.savez(path, W1=..., b1=..., W2=...,
            activations=np.array(["tanh", "linear"]))``. Biases are optional per
            layer; ``activations`` holds one name per layer.
        inputs: input names (default ``x1 .. xn``); their number also helps to
            tell the layout.
        outputs: output names (default ``y`` or ``y1 .. ym``).
        dtype: ``"float64"`` for a float64 copy. Without it the network is float64
            when every array is float64, else float32.
        activations: one name per layer (a list or ``"tanh,linear"``); overrides
            the file's array. Valid: sigmoid (logistic), tanh, relu, leaky_relu,
            softplus, linear (identity), elu, gelu, silu (swish), sin, softmax
            (over the layer's units, as an sklearn MLPClassifier's output).
        layout: ``"in_out"`` (W_i has shape (in, out): ``x @ W``, numpy and
            sklearn) or ``"out_in"`` ((out, in): ``W @ x``, torch). Needed only
            when the shapes fit both.

    Returns:
        The model: an ``nn.Sequential`` of ``nn.Linear`` and activation modules.

    Raises:
        ModelFormatError: missing or extra arrays, shapes that do not chain (naming
            the layer), an ambiguous layout, unknown or missing activations, or an
            array stored as pickled objects.
    """
    weights, biases, names = _read(path)
    if activations is None and names is None:
        raise ModelFormatError(
            f"{path} has no 'activations' array. Pass one name per layer "
            f"({len(weights)} layers), e.g. activations={_example(len(weights))}."
        )
    given = activations if activations is not None else names
    chosen = _activations([] if given is None else given, path)
    if len(chosen) != len(weights):
        raise ModelFormatError(
            f"{len(chosen)} activation(s) ({', '.join(chosen)}) for {len(weights)} "
            f"layer(s) (W1..W{len(weights)}) in {path}. Give one per layer, the "
            f"last usually 'linear': {_example(len(weights))}."
        )
    n_in = None if inputs is None else len(_split(inputs))
    n_out = None if outputs is None else len(_split(outputs))
    form = _layout(weights, biases, layout, n_in, n_out, path)
    wide = all(
        a.dtype.kind == "f" and a.dtype.itemsize == 8
        for a in [*weights, *biases.values()]
    )
    np_dtype, torch_dtype = (
        (np.float64, torch.float64) if wide else (np.float32, torch.float32)
    )
    layers: list[nn.Module] = []
    for i, (w, name) in enumerate(zip(weights, chosen, strict=True), start=1):
        matrix = np.ascontiguousarray(w.T if form == "in_out" else w, dtype=np_dtype)
        linear = nn.Linear(*matrix.shape[::-1], bias=i in biases, dtype=torch_dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(matrix))
            if i in biases:
                linear.bias.copy_(torch.from_numpy(biases[i].astype(np_dtype)))
        layers += [linear, _ACTIVATIONS[name]()]
    return wrap(nn.Sequential(*layers), inputs, outputs, dtype=dtype, source=str(path))


def _read(
    path: Path,
) -> tuple[list[np.ndarray], dict[int, np.ndarray], np.ndarray | None]:
    """Weights W1..WL, biases by layer, and the activations array if present."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: _array(archive, key, path) for key in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        if isinstance(exc, ModelFormatError):
            raise
        raise ModelFormatError(
            f"{path} is not a readable .npz archive (damaged or truncated?): {exc}."
        ) from exc
    names = arrays.pop("activations", None)
    found = {key: _ARRAY.match(key) for key in arrays}
    extra = [key for key, match in found.items() if match is None]
    if extra:
        raise ModelFormatError(
            f"{path} holds array(s) {', '.join(extra)} that are not weights. wrt "
            "reads W1, b1, W2, b2, ... (biases optional) and 'activations'."
            f"{_suggest(extra[0])}"
        )
    matched = {key: m for key, m in found.items() if m is not None}
    layers = {
        int(m.group(2)): arrays[k] for k, m in matched.items() if m.group(1) == "W"
    }
    biases = {
        int(m.group(2)): arrays[k] for k, m in matched.items() if m.group(1) == "b"
    }
    # numbered from 1 (W1, b1, ...) or, as scikit-learn's coefs_[0], from 0
    first = 0 if 0 in layers or 0 in biases else 1
    count = max([*layers, *biases], default=first - 1)
    missing = [f"W{i}" for i in range(first, count + 1) if i not in layers]
    if not layers or missing:
        have = ", ".join(sorted(arrays, key=lambda k: (int(k[1:]), k[0]))) or "none"
        raise ModelFormatError(
            f"{path} is missing {', '.join(missing) or 'W1'} (it has {have}). Layers "
            "are numbered from 1 (or from 0) without gaps: W1, b1, W2, b2, ..."
        )
    shift = 1 - first  # layers are counted from 1 from here on
    biases = {i + shift: b for i, b in biases.items()}
    weights = [layers[i] for i in range(first, count + 1)]
    return weights, _biases(biases, path), names


def _suggest(key: str) -> str:
    """A "did you mean" for a stray array name: W2 for w2, b1 for B1."""
    digits = re.sub(r"\D", "", key) or "1"
    valid = [f"W{digits}", f"b{digits}", "activations"]
    for name in valid:
        if name.lower() == key.lower():
            return f" Did you mean '{name}'?"
    return did_you_mean(key, valid)


def _array(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        array = archive[key]
    except ValueError as exc:  # object arrays need pickle
        fix = (
            "np.array(['tanh', 'linear']) (a string array), or pass "
            "activations=[...] to wrt.load"
            if key == "activations"
            else "a numeric array"
        )
        raise ModelFormatError(
            f"{key!r} in {path} is stored as pickled Python objects, which wrt "
            f"never unpickles (allow_pickle=False). Save it as {fix}."
        ) from exc
    if key != "activations":
        if array.dtype.kind not in "fiu":
            raise ModelFormatError(
                f"{key} in {path} has dtype {array.dtype}; weights must be numbers."
            )
        if not np.isfinite(array).all():
            raise ModelFormatError(
                f"{key} in {path} contains NaN or Inf values.",
                hint="The weights are damaged (or training diverged): save them "
                "again from a model whose weights are finite.",
            )
        if key.startswith("W") and array.ndim != 2:
            raise ModelFormatError(
                f"{key} in {path} has shape {array.shape}; a weight matrix is 2-D."
            )
    return array


def _biases(biases: dict[int, np.ndarray], path: Path) -> dict[int, np.ndarray]:
    out = {}
    for i, b in biases.items():
        if b.ndim == 2 and 1 in b.shape:
            b = b.reshape(-1)  # a row or column vector
        if b.ndim != 1:
            raise ModelFormatError(
                f"b{i} in {path} has shape {b.shape}; a bias is 1-D (n_out,)."
            )
        out[i] = b
    return out


def _split(names: Sequence[str] | str) -> list[str]:
    return names.split(",") if isinstance(names, str) else list(names)


def _activations(given: Sequence[str] | str | np.ndarray, path: Path) -> list[str]:
    if isinstance(given, np.ndarray):
        if given.dtype.kind not in "US":
            raise ModelFormatError(
                f"'activations' in {path} has dtype {given.dtype}; save the names "
                "as strings: activations=np.array(['tanh', 'linear'])."
            )
        given = [v.decode() if isinstance(v, bytes) else str(v) for v in given.ravel()]
    names = [n.strip().lower() for n in _split(given)]
    for name in names:
        if name in _KNOWN_ELSEWHERE or name.replace("-", "_") in _KNOWN_ELSEWHERE:
            raise ModelFormatError(
                f"Activation {name!r} is not supported in .npz weight files. Valid: "
                f"{', '.join(_ACTIVATIONS)}. Save the network in a format that "
                "keeps the model itself (ONNX, torch.export .pt2, .keras)."
            )
        if name not in _ACTIVATIONS:
            raise ModelFormatError(
                f"Unknown activation {name!r}. Valid: {', '.join(_ACTIVATIONS)}."
                f"{did_you_mean(name, _ACTIVATIONS)}"
            )
    return names


def _layout(
    weights: list[np.ndarray],
    biases: dict[int, np.ndarray],
    layout: str | None,
    n_in: int | None,
    n_out: int | None,
    path: Path,
) -> str:
    """The layout that fits the shapes; ``layout`` if given (then checked)."""
    if layout is not None and layout not in _LAYOUTS:
        raise ModelFormatError(
            f"Unknown layout {layout!r}. Use 'out_in' (W_i is (out, in), torch) or "
            f"'in_out' ((in, out), numpy / sklearn).{did_you_mean(layout, _LAYOUTS)}"
        )
    problems = {f: _misfit(weights, biases, f, n_in, n_out) for f in _LAYOUTS}
    shapes = ", ".join(
        f"W{i} {w.shape}" + (f" b{i} {biases[i].shape}" if i in biases else "")
        for i, w in enumerate(weights, start=1)
    )
    if layout is not None:
        if problems[layout]:
            raise ModelFormatError(
                f"The arrays in {path} do not fit layout={layout!r}: "
                f"{problems[layout]} (shapes: {shapes})."
            )
        return layout
    fits = [f for f in _LAYOUTS if not problems[f]]
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise ModelFormatError(
            f"The arrays in {path} do not chain into a network: as (out, in), "
            f"{problems['out_in']}; as (in, out), {problems['in_out']} "
            f"(shapes: {shapes})."
        )
    if all(np.array_equal(w, w.T) for w in weights):
        return "in_out"  # symmetric matrices: both layouts are the same network
    raise ModelFormatError(
        f"The weight shapes in {path} fit both layouts ({shapes}), and the two "
        "give different networks. Pass layout='in_out' if layer i computes "
        "x @ W_i (numpy, sklearn coefs_) or layout='out_in' if W_i @ x (torch)."
    )


def _misfit(
    weights: list[np.ndarray],
    biases: dict[int, np.ndarray],
    layout: str,
    n_in: int | None,
    n_out: int | None,
) -> str:
    """Why the shapes do not fit ``layout``, or an empty string if they do."""
    sizes = [(w.shape[1], w.shape[0]) for w in weights]  # (in, out) for out_in
    if layout == "in_out":
        sizes = [(o, i) for i, o in sizes]
    if n_in is not None and sizes[0][0] != n_in:
        return f"layer 1 takes {sizes[0][0]} inputs, not the {n_in} named"
    for i, (size_in, size_out) in enumerate(sizes, start=1):
        if i > 1 and size_in != sizes[i - 2][1]:
            return (
                f"layer {i} takes {size_in} inputs but layer {i - 1} gives "
                f"{sizes[i - 2][1]}"
            )
        if i in biases and biases[i].shape[0] != size_out:
            return (
                f"b{i} has {biases[i].shape[0]} entries but layer {i} has "
                f"{size_out} outputs"
            )
    if n_out is not None and sizes[-1][1] != n_out:
        return f"the last layer gives {sizes[-1][1]} outputs, not the {n_out} named"
    return ""


def _example(n_layers: int) -> list[str]:
    return ["tanh"] * (n_layers - 1) + ["linear"]
