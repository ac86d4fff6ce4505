"""Loading .npz weight arrays: closed-form partials, layout inference, errors."""

import itertools
import math

import numpy as np
import pytest
import torch

import wrt
from tolerances import AUTOGRAD, assert_partial_close
from wrt.importers import sniff


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


# --- the seed problem's all-ones network (seed 004) ---------------------------


def test_seed_004_all_ones_network(tmp_path):
    path = _save(
        tmp_path / "w.npz",
        W1=np.ones((2, 2)),
        b1=np.ones(2),
        W2=np.ones((2, 1)),
        activations=np.array(["sigmoid", "linear"]),
    )
    model = wrt.load(path)
    assert sniff(path).kind == "npz" and model.format == "npz"
    assert model.inputs == ("x1", "x2") and model.dtype == torch.float64
    jac = wrt.jacobian(model, torch.tensor([[1.0, 1.0]], dtype=torch.float64))
    a = math.exp(-3.0)
    expected = 2 * a / (1 + a) ** 2  # y = 2 sigmoid(x1 + x2 + 1)
    # one sigmoid and a sum in float64: a few ulps
    torch.testing.assert_close(
        jac.reshape(2),
        torch.full((2,), expected, dtype=torch.float64),
        rtol=1e-14,
        atol=0,
    )
    assert round(expected, 7) == 0.0903533


# --- closed forms: y = sum_j v_j act(z_j) + c,  z = W x + b ------------------
# d^k y / dx_i1..dx_ik = sum_j v_j act^(k)(z_j) W_j,i1 ... W_j,ik


def _sigmoid_derivatives(z):
    s = 1 / (1 + np.exp(-z))
    d1 = s * (1 - s)
    return [
        s,
        d1,
        d1 * (1 - 2 * s),
        d1 * (1 - 6 * s + 6 * s**2),
        d1 * (1 - 2 * s) * (1 - 12 * s + 12 * s**2),
    ]


def _tanh_derivatives(z):
    t = np.tanh(z)
    d1 = 1 - t**2
    return [t, d1, -2 * t * d1, -2 * d1 * (1 - 3 * t**2), (16 * t - 24 * t**3) * d1]


def _softplus_derivatives(z):
    return [np.logaddexp(z, 0.0), *_sigmoid_derivatives(z)[:4]]


def _sin_derivatives(z):
    return [np.sin(z), np.cos(z), -np.sin(z), -np.cos(z), np.sin(z)]


def _silu_derivatives(z):
    s, s1, s2, s3, s4 = _sigmoid_derivatives(z)  # Leibniz rule for z * s(z)
    return [z * s, s + z * s1, 2 * s1 + z * s2, 3 * s2 + z * s3, 4 * s3 + z * s4]


CLOSED_FORMS = {
    "sigmoid": _sigmoid_derivatives,
    "tanh": _tanh_derivatives,
    "softplus": _softplus_derivatives,
    "sin": _sin_derivatives,
    "silu": _silu_derivatives,
}


def _one_hidden_layer(rng, n_in=3, width=5):
    return (
        rng.normal(size=(width, n_in)),  # (out, in)
        rng.normal(size=width),
        rng.normal(size=(1, width)),
        rng.normal(size=1),
    )


def _closed_form(act, W, b, v, c, x, columns):
    """Partial of y over the input columns (repeats for powers) at points x."""
    z = x @ W.T + b  # (N, width)
    derivative = CLOSED_FORMS[act](z)[len(columns)]
    weight = np.prod([W[:, i] for i in columns], axis=0) if columns else 1.0
    value = derivative @ (v[0] * weight)
    return value + (c[0] if not columns else 0.0)


@pytest.mark.parametrize("layout", ["out_in", "in_out"])
@pytest.mark.parametrize("act", sorted(CLOSED_FORMS))
def test_partials_match_closed_forms(tmp_path, act, layout):
    rng = np.random.default_rng(4)
    W, b, v, c = _one_hidden_layer(rng)
    flip = (lambda m: m.T) if layout == "in_out" else (lambda m: m)
    path = _save(
        tmp_path / "net.npz",
        W1=flip(W),
        b1=b,
        W2=flip(v),
        b2=c,
        activations=np.array([act, "linear"]),
    )
    model = wrt.load(path, inputs=["x", "y", "z"], outputs=["u"])
    x = rng.uniform(-2, 2, size=(11, 3))
    names = ["x", "y", "z"]
    specs = {"u": ()}
    specs |= {f"du/d{names[i]}": (i,) for i in range(3)}
    for i, j in itertools.combinations_with_replacement(range(3), 2):
        spec = f"d2u/d{names[i]}^2" if i == j else f"d2u/d{names[i]}d{names[j]}"
        specs[spec] = (i, j)
    specs["d4u/dy^4"] = (1, 1, 1, 1)
    got = wrt.partials(model, torch.from_numpy(x), list(specs))
    for spec, columns in specs.items():
        expected = _closed_form(act, W, b, v, c, x, columns)
        # nested float64 autograd vs a numpy closed form: both a few ulps per
        # order, so the engines' autograd tolerance applies
        assert_partial_close(got[spec], expected, **AUTOGRAD, what=f"{act} {spec}")


def test_activation_names_and_aliases_match_torch(tmp_path):
    rng = np.random.default_rng(0)
    W, b, v, c = _one_hidden_layer(rng, n_in=2, width=4)
    x = torch.from_numpy(rng.uniform(-2, 2, size=(9, 2)))
    reference = {
        "relu": torch.relu,
        "leaky_relu": torch.nn.functional.leaky_relu,
        "elu": torch.nn.functional.elu,
        "gelu": torch.nn.functional.gelu,
        "swish": torch.nn.functional.silu,
        "logistic": torch.sigmoid,
        "identity": lambda z: z,
        "Linear": lambda z: z,
    }
    for name, fn in reference.items():
        path = _save(tmp_path / f"{name}.npz", W1=W, b1=b, W2=v, b2=c)
        model = wrt.load(path, activations=[name, "linear"], layout="out_in")
        z = x @ torch.from_numpy(W).T + torch.from_numpy(b)
        expected = fn(z) @ torch.from_numpy(v).T + torch.from_numpy(c)
        torch.testing.assert_close(model(x), expected, rtol=1e-14, atol=1e-14)


# --- layout inference ------------------------------------------------------


def test_sklearn_coefs_layout_is_inferred(tmp_path):
    # MLPRegressor.coefs_ are (in, out); the square hidden layer is settled by
    # the chain and the biases
    rng = np.random.default_rng(1)
    coefs = [rng.normal(size=s) for s in [(3, 6), (6, 6), (6, 1)]]
    biases = [rng.normal(size=s) for s in (6, 6, 1)]
    arrays = {f"W{i}": w for i, w in enumerate(coefs, 1)}
    arrays |= {f"b{i}": b for i, b in enumerate(biases, 1)}
    path = _save(tmp_path / "sk.npz", **arrays)
    model = wrt.load(path, activations="logistic,logistic,identity")
    x = rng.normal(size=(5, 3))
    h = x
    for i, (w, bias) in enumerate(zip(coefs, biases, strict=True)):
        h = h @ w + bias
        h = 1 / (1 + np.exp(-h)) if i < 2 else h
    assert_partial_close(
        model(torch.from_numpy(x))[:, 0], h[:, 0], **AUTOGRAD, what="value"
    )


def test_out_in_layout_is_inferred(tmp_path):
    lin = torch.nn.Linear(3, 2).double()
    path = _save(
        tmp_path / "t.npz",
        W1=lin.weight.detach().numpy(),
        b1=lin.bias.detach().numpy(),
        activations=np.array(["linear"]),
    )
    model = wrt.load(path)
    assert model.inputs == ("x1", "x2", "x3") and model.outputs == ("y1", "y2")
    x = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(model(x), lin(x), rtol=1e-15, atol=1e-15)


def test_square_layers_without_biases_are_ambiguous(tmp_path):
    rng = np.random.default_rng(2)
    W1, W2 = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    path = _save(
        tmp_path / "sq.npz", W1=W1, W2=W2, activations=np.array(["tanh", "linear"])
    )
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(path)
    message = _one_line(excinfo)
    assert "layout='in_out'" in message and "layout='out_in'" in message
    x = rng.normal(size=(3, 2))
    for layout, expected in [
        ("in_out", np.tanh(x @ W1) @ W2),
        ("out_in", np.tanh(x @ W1.T) @ W2.T),
    ]:
        model = wrt.load(path, layout=layout)
        torch.testing.assert_close(
            model(torch.from_numpy(x)),
            torch.from_numpy(expected),
            rtol=1e-14,
            atol=1e-14,
        )


def test_symmetric_square_layers_need_no_layout(tmp_path):
    path = _save(
        tmp_path / "sym.npz",
        W1=np.ones((2, 2)),
        W2=np.eye(2),
        activations=np.array(["tanh", "linear"]),
    )
    assert wrt.load(path).n_outputs == 2


def test_the_number_of_inputs_settles_the_layout(tmp_path):
    # (2, 3) then (3, 2) chain both ways: 2 -> 3 -> 2 as (in, out), 3 -> 2 -> 3
    # as (out, in); two named inputs pick the first
    path = _save(
        tmp_path / "c.npz",
        W1=np.ones((2, 3)),
        W2=np.ones((3, 2)),
        activations=np.array(["tanh", "linear"]),
    )
    with pytest.raises(wrt.ModelFormatError, match="fit both layouts"):
        wrt.load(path)
    model = wrt.load(path, inputs=["a", "b"])
    assert model.n_inputs == 2 and model.n_outputs == 2
    assert wrt.load(path, inputs="a,b,c").n_outputs == 3


def test_an_explicit_layout_that_does_not_fit(tmp_path):
    path = _save(
        tmp_path / "w.npz",
        W1=np.ones((2, 3)),
        b1=np.ones(3),
        activations=np.array(["linear"]),
    )
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(path, layout="out_in")
    assert "b1 has 3 entries but layer 1 has 2 outputs" in _one_line(excinfo)
    with pytest.raises(wrt.ModelFormatError, match="Did you mean 'in_out'"):
        wrt.load(path, layout="in-out")


# --- dtype --------------------------------------------------------------------


def test_float32_arrays_give_float32_and_dtype_converts(tmp_path):
    path = _save(
        tmp_path / "f.npz",
        W1=np.ones((2, 3), dtype=np.float32),
        b1=np.ones(3, dtype=np.float32),
        W2=np.ones((3, 1), dtype=np.float32),
        activations=np.array(["tanh", "linear"]),
    )
    assert wrt.load(path).dtype == torch.float32
    assert wrt.load(path, dtype="float64").dtype == torch.float64


# --- errors -------------------------------------------------------------------


def _error(tmp_path, arrays, **options) -> str:
    path = _save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(path, **options)
    return _one_line(excinfo)


ACTS2 = np.array(["tanh", "linear"])


def test_missing_layer(tmp_path):
    message = _error(
        tmp_path, {"W1": np.ones((2, 2)), "W3": np.ones((2, 1)), "activations": ACTS2}
    )
    assert "missing W2" in message and "W1, W3" in message


def test_mismatched_shapes_name_the_layer(tmp_path):
    message = _error(
        tmp_path,
        {
            "W1": np.ones((2, 4)),
            "b1": np.ones(4),
            "W2": np.ones((3, 1)),
            "activations": ACTS2,
        },
    )
    assert "layer 2 takes 3 inputs but layer 1 gives 4" in message
    assert "W1 (2, 4)" in message and "W2 (3, 1)" in message


def test_unknown_activation(tmp_path):
    message = _error(
        tmp_path, {"W1": np.ones((2, 1)), "activations": np.array(["tanhh"])}
    )
    assert "Unknown activation 'tanhh'" in message
    assert "Did you mean 'tanh'?" in message
    assert "sigmoid" in message and "leaky_relu" in message and "sin" in message


def test_wrong_number_of_activations(tmp_path):
    message = _error(
        tmp_path,
        {
            "W1": np.ones((2, 2)),
            "b1": np.ones(2),
            "W2": np.ones((2, 1)),
            "activations": np.array(["tanh"]),
        },
    )
    assert "1 activation(s) (tanh) for 2 layer(s)" in message


def test_no_activations(tmp_path):
    message = _error(
        tmp_path, {"W1": np.ones((2, 2)), "b1": np.ones(2), "W2": np.ones((2, 1))}
    )
    assert "no 'activations' array" in message
    assert "activations=['tanh', 'linear']" in message


def test_the_activations_option_overrides_the_file(tmp_path):
    path = _save(tmp_path / "w.npz", W1=np.ones((1, 1)), activations=np.array(["sin"]))
    x = torch.tensor([[0.5]], dtype=torch.float64)
    assert wrt.load(path)(x).item() == pytest.approx(math.sin(0.5), abs=1e-15)
    assert wrt.load(path, activations=["relu"])(x).item() == 0.5


def test_object_array_activations_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, W1=np.ones((1, 1)), activations=np.array(["tanh"], dtype=object))
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(path)
    message = _one_line(excinfo)
    assert "pickled Python objects" in message and "np.array(['tanh'" in message
    # the override does not help: the file itself holds a pickle
    with pytest.raises(wrt.ModelFormatError, match="never unpickles"):
        wrt.load(path, activations=["tanh"])


def test_stray_arrays_are_named(tmp_path):
    message = _error(
        tmp_path,
        {"W1": np.ones((2, 1)), "B1": np.ones(1), "activations": np.array(["linear"])},
    )
    assert "B1" in message and "Did you mean 'b1'?" in message


def test_non_finite_weights(tmp_path):
    message = _error(
        tmp_path,
        {"W1": np.array([[np.nan], [1.0]]), "activations": np.array(["linear"])},
    )
    assert "W1" in message and "NaN" in message


def test_truncated_npz_is_a_one_line_error(tmp_path):
    path = _save(
        tmp_path / "w.npz", W1=np.ones((20, 20)), activations=np.array(["linear"])
    )
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:300])
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(cut)
    _one_line(excinfo)


@pytest.mark.parametrize("first", [0, 1])
def test_layers_numbered_from_zero_or_one_give_the_same_network(tmp_path, first):
    # scikit-learn's coefs_[0], intercepts_[0] saved as W0, b0: every layer counts
    rng = np.random.default_rng(4)
    w = [rng.normal(size=(2, 5)), rng.normal(size=(5, 3)), rng.normal(size=(3, 1))]
    b = [rng.normal(size=5), rng.normal(size=3), rng.normal(size=1)]
    arrays = {f"W{i + first}": w[i] for i in range(3)}
    arrays |= {f"b{i + first}": b[i] for i in range(3)}
    np.savez(tmp_path / "m.npz", **arrays)
    m = wrt.load(tmp_path / "m.npz", activations=["tanh", "sigmoid", "linear"])
    x = rng.normal(size=(6, 2))
    h = 1 / (1 + np.exp(-(np.tanh(x @ w[0] + b[0]) @ w[1] + b[1])))
    expected = h @ w[2] + b[2]
    np.testing.assert_allclose(m(torch.from_numpy(x)).detach().numpy(), expected)


def test_a_gap_in_zero_based_numbering_is_refused(tmp_path):
    np.savez(tmp_path / "m.npz", W0=np.ones((2, 3)), W2=np.ones((3, 1)))
    with pytest.raises(wrt.ModelFormatError, match=r"missing W1.*from 0"):
        wrt.load(tmp_path / "m.npz", activations=["tanh", "linear"])
