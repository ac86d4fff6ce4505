"""Saturating activations keep relative accuracy in their tails, at every order.

In float64, ``1 - tanh(u)^2`` is exactly 0 past |u| ~ 19 and ``s (1 - s)`` past
u ~ 37, although tanh'(20) is 1.70e-17 and sigmoid'(40) 4.25e-18. Every rule wrt
writes must use forms built from ``exp(-|u|)`` instead. References: mpmath at 60
digits, from closed forms of each function's first derivatives written without
cancellation, differentiated further by mpmath.
"""

import functools
import math

import mpmath
import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

import wrt
from wrt.importers import keras_base
from wrt.importers.arrays import load_npz
from wrt.importers.onnx import load_onnx

mpmath.mp.dps = 60
POINTS = [-800.0, -40.0, -20.0, 0.0, 20.0, 40.0, 800.0]
ORDERS = [1, 2, 3, 4]
# below this, float64 results are underflow (subnormals carry few digits)
TINY = 1e-280

_SQRT2 = mpmath.sqrt(2)
_SELU_ALPHA = mpmath.mpf("1.6732632423543772848170429916717")
_SELU_SCALE = mpmath.mpf("1.0507009873554804934193349852946")
_C = mpmath.sqrt(2 / mpmath.pi)  # gelu's tanh form: v = c (u + a u^3)
_A = mpmath.mpf("0.044715")


def _sig(z):
    return 1 / (1 + mpmath.exp(-z))


def _dsig(z):
    """sigmoid'(z), symmetric: no cancellation at either tail."""
    return 1 / (mpmath.exp(z / 2) + mpmath.exp(-z / 2)) ** 2


def _phi(u):
    return mpmath.exp(-(u**2) / 2) / mpmath.sqrt(2 * mpmath.pi)


def _gelu_tanh_d1(u):
    v, dv = _C * (u + _A * u**3), _C * (1 + 3 * _A * u**2)
    return _sig(2 * v) + 2 * u * _dsig(2 * v) * dv


def _gelu_tanh_d2(u):
    v, dv, ddv = _C * (u + _A * u**3), _C * (1 + 3 * _A * u**2), 6 * _C * _A * u
    return _dsig(2 * v) * (4 * dv + u * (2 * ddv - 4 * mpmath.tanh(v) * dv**2))


#: name -> (torch function, closed forms of its first derivatives, points where
#: it is smooth). Each closed form is free of cancellation at the tails (a
#: derivative that is tiny is computed as a tiny number); higher orders are
#: mpmath's derivatives of the last form given, at 60 digits.
ACTIVATIONS = {
    "tanh": (torch.tanh, [lambda u: mpmath.sech(u) ** 2], POINTS),
    "sigmoid": (torch.sigmoid, [_dsig], POINTS),
    "softplus": (F.softplus, [_sig, _dsig], POINTS),
    "softplus_beta": (
        lambda u: F.softplus(u, beta=2.0, threshold=5.0),
        [lambda u: _sig(2 * u), lambda u: 2 * _dsig(2 * u)],
        POINTS,
    ),
    "log_sigmoid": (F.logsigmoid, [lambda u: _sig(-u), lambda u: -_dsig(u)], POINTS),
    "silu": (
        F.silu,
        [
            lambda u: _sig(u) + u * _dsig(u),
            lambda u: _dsig(u) * (2 - u * mpmath.tanh(u / 2)),
        ],
        POINTS,
    ),
    "elu": (F.elu, [mpmath.exp], [-800.0, -40.0, -20.0, -1.5]),
    "selu": (
        F.selu,
        [lambda u: _SELU_SCALE * _SELU_ALPHA * mpmath.exp(u)],
        [-800.0, -40.0, -20.0, -1.5],
    ),
    "gelu": (
        F.gelu,
        [
            lambda u: mpmath.erfc(-u / _SQRT2) / 2 + u * _phi(u),
            lambda u: _phi(u) * (2 - u**2),
        ],
        POINTS,
    ),
    "gelu_tanh": (
        lambda u: F.gelu(u, approximate="tanh"),
        [_gelu_tanh_d1, _gelu_tanh_d2],
        POINTS,
    ),
    "erf": (
        torch.erf,
        [lambda u: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-(u**2))],
        POINTS,
    ),
}


@functools.cache
def reference(name: str, u: float, order: int) -> float:
    forms = ACTIVATIONS[name][1]
    last = min(order, len(forms))
    form = forms[last - 1]
    if order == last:
        return float(form(mpmath.mpf(u)))
    return float(mpmath.diff(form, mpmath.mpf(u), order - last))


def _close(got: float, expected: float, point: float) -> bool:
    if point == 0:  # derivatives of size 1 around, some exactly 0: absolute there
        return abs(got - expected) <= 1e-12 * abs(expected) + 1e-14
    if abs(expected) < TINY:
        return abs(got) < TINY
    return abs(got - expected) <= 1e-12 * abs(expected)


class Act(torch.nn.Module):
    def __init__(self, fn, n_in):
        super().__init__()
        self.fn, self.n_in = fn, n_in

    def forward(self, z):
        u = z[:, 0] if self.n_in == 1 else z[:, 0] + z[:, 1]
        return self.fn(u).unsqueeze(1)


def _check(name, engine, n_in, orders=ORDERS, points=None, fn=None, model=None):
    own_fn, _, own_points = ACTIVATIONS[name]
    fn = fn or own_fn
    points = points or own_points
    inputs = ["u"] if n_in == 1 else ["u", "v"]
    model = model or wrt.wrap(Act(fn, n_in), inputs=inputs)
    u = torch.tensor(points, dtype=torch.float64)
    x = u[:, None] if n_in == 1 else torch.stack([u, torch.zeros_like(u)], 1)
    if n_in == 1:
        specs = {k: f"d{k}y/du^{k}" if k > 1 else "dy/du" for k in ORDERS}
    else:  # mixed partials: the multivariate path of the engine
        specs = {1: "dy/dv", 2: "d2y/dudv", 3: "d3y/du^2dv", 4: "d4y/du^3dv"}
    specs = {k: spec for k, spec in specs.items() if k in orders}
    got = wrt.partials(model, x, list(specs.values()), engine=engine)
    bad = []
    for k, spec in specs.items():
        for i, point in enumerate(points):
            value = float(got[spec][i])
            expected = reference(name, point, k)
            if not math.isfinite(value) or not _close(value, expected, point):
                bad.append((point, k, value, expected))
    assert not bad, bad


@pytest.mark.parametrize("engine", ["taylor", "autograd"])
@pytest.mark.parametrize("n_in", [1, 2])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_engines_keep_relative_accuracy_in_the_tails(name, n_in, engine):
    _check(name, engine, n_in)


@pytest.mark.parametrize("engine", ["taylor", "autograd"])
@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"elu", "selu"}))
def test_just_inside_the_limits_torch_s_own_derivatives_suffice(name, engine):
    # autograd reroutes an activation only past a limit (4 or 7); just inside it,
    # torch's own backward must still be accurate to 1e-12
    _check(name, engine, 2, points=[-6.9, -3.9, 3.9, 6.9])


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "silu", "gelu"])
def test_taylor_low_orders_use_accurate_closed_forms(name):
    # orders <= 2 take closed forms, not the recurrences
    _check(name, "taylor", 2, orders=[1, 2])
    _check(name, "taylor", 1, orders=[1])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_no_nan_or_overflow_far_out(name):
    fn = ACTIVATIONS[name][0]
    model = wrt.wrap(Act(fn, 2), inputs=["u", "v"])
    u = torch.tensor([-1e3, -700.0, 700.0, 1e3], dtype=torch.float64)
    x = torch.stack([u, torch.zeros_like(u)], 1)
    specs = ["dy/dv", "d2y/du^2", "d3y/du^2dv", "d6y/du^6"]
    got = wrt.partials(model, x, specs, engine="taylor")
    for spec in specs:
        assert torch.isfinite(got[spec]).all(), (spec, got[spec])


# --- converted models: the activations wrt writes for Keras, ONNX and .npz ---------

KERAS = {
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "softplus": "softplus",
    "log_sigmoid": "log_sigmoid",
    "silu": "silu",
    "swish": "silu",
    "elu": "elu",
    "selu": "selu",
    "gelu": "gelu",
}


@pytest.mark.parametrize("engine", ["taylor", "autograd"])
@pytest.mark.parametrize("keras_name", sorted(KERAS))
def test_keras_activations_keep_relative_accuracy(keras_name, engine):
    fn = keras_base.ACTIVATIONS[keras_name]
    _check(KERAS[keras_name], engine, 2, fn=fn)


@pytest.mark.parametrize("engine", ["taylor", "autograd"])
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "silu", "gelu", "elu"])
def test_npz_networks_keep_relative_accuracy(tmp_path, name, engine):
    path = tmp_path / "m.npz"
    one = np.ones((1, 1))
    np.savez(
        path, W1=one, b1=np.zeros(1), W2=one, activations=np.array([name, "linear"])
    )
    model = load_npz(path, ["u"], ["y"], layout="in_out")
    _check(name, engine, 1, model=model)


ONNX = {
    "Tanh": ("tanh", {}),
    "Sigmoid": ("sigmoid", {}),
    "Softplus": ("softplus", {}),
    "Elu": ("elu", {}),
    "Gelu": ("gelu", {}),
    "Erf": ("erf", {}),
}


@pytest.mark.parametrize("engine", ["taylor", "autograd"])
@pytest.mark.parametrize("op", sorted(ONNX))
def test_onnx_activations_keep_relative_accuracy(tmp_path, op, engine):
    name, attrs = ONNX[op]
    double = onnx.TensorProto.DOUBLE
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node(op, ["x"], ["y"], name="n", **attrs)],
        "g",
        [onnx.helper.make_tensor_value_info("x", double, ["N", 1])],
        [onnx.helper.make_tensor_value_info("y", double, ["N", 1])],
    )
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", 20)], ir_version=9
    )
    onnx.save(model, tmp_path / "m.onnx")
    loaded = load_onnx(tmp_path / "m.onnx")
    renamed = wrt.wrap(loaded.module, inputs=["u"], outputs=["y"])
    _check(name, engine, 1, model=renamed)
