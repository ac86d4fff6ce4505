import numpy as np
import pytest
import torch

import wrt
from models import mlp


def test_defaults_from_first_weight_and_probe():
    m = wrt.wrap(mlp(3, 2))
    assert m.inputs == ("x1", "x2", "x3") and m.outputs == ("y1", "y2")
    assert wrt.wrap(mlp(2, 1)).outputs == ("y",)


def test_custom_names_and_string_form():
    m = wrt.wrap(mlp(2, 1), inputs="x, t", outputs=["u"])
    assert m.inputs == ("x", "t") and m.outputs == ("u",)


def test_eval_mode_and_call_shape():
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Dropout(0.5))
    net.train()
    m = wrt.wrap(net)
    assert not net.training
    x = torch.randn(5, 2)
    assert m(x).shape == (5, 4)
    torch.testing.assert_close(m(x), m(x))  # dropout is off


def test_vector_output_becomes_a_column():
    m = wrt.wrap(lambda x: x.sum(1), inputs=["a", "b"])
    assert m.outputs == ("y",)
    assert m(torch.ones(3, 2)).shape == (3, 1)


def test_float64_copy_leaves_the_users_module_alone():
    net = torch.nn.Linear(2, 1)
    before = net.weight.detach().clone()
    m = wrt.wrap(net, dtype="float64")
    assert m.dtype == torch.float64
    assert net.weight.dtype == torch.float32
    assert torch.equal(net.weight, before)
    m32 = wrt.wrap(net)
    assert (
        m32.converted(torch.float64).dtype == torch.float64
        and m32.dtype == torch.float32
    )
    assert m32.converted(None) is m32


def test_rename_an_existing_model():
    m = wrt.wrap(mlp(2, 1))
    renamed = wrt.wrap(m, inputs=["x", "t"], outputs=["u"])
    assert renamed.inputs == ("x", "t") and renamed.module is m.module


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"inputs": ["a", "a"]}, wrt.InvalidNameError, "more than once"),
        ({"inputs": ["1x", "b"]}, wrt.InvalidNameError, "Invalid input name"),
        ({"inputs": ["a", "b", "c"]}, wrt.ModelError, r"shape \(2, 3\) failed"),
        ({"outputs": ["u", "v"]}, wrt.InvalidNameError, "has 1 output"),
        ({"inputs": ["y", "b"]}, wrt.InvalidNameError, "input and an output"),
        ({"dtype": "float16"}, wrt.ModelError, "Unknown dtype"),
    ],
)
def test_bad_wraps(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        wrt.wrap(mlp(2, 1), **kwargs)


def test_function_needs_inputs_and_bad_shapes_are_refused():
    with pytest.raises(wrt.ModelError, match="inputs="):
        wrt.wrap(lambda x: x)
    with pytest.raises(wrt.ModelError, match="needs"):
        wrt.wrap(lambda x: x.T, inputs=["a"])  # one row for two points
    with pytest.raises(wrt.ModelError, match="needs"):
        wrt.wrap(lambda x: x.sum(), inputs=["a"])
    with pytest.raises(wrt.ModelError, match="not a tensor"):
        wrt.wrap(lambda x: (x, x), inputs=["a"])
    with pytest.raises(wrt.ModelError, match="Cannot wrap"):
        wrt.wrap(np.ones(3))  # type: ignore[arg-type]
    with pytest.raises(wrt.ModelError, match="no weight matrix.*inputs="):
        wrt.wrap(torch.nn.Tanh())


class _PerPointMatrix(torch.nn.Module):
    """Each point gives a 2 x 3 matrix: M[i, j] = x ** (i + 1) * (j + 1) + z."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        powers = torch.stack([x[:, 0], x[:, 0] ** 2], 1)  # (N, 2)
        scale = torch.arange(1, 4, dtype=x.dtype)  # (3,)
        return (powers[:, :, None] * scale) + x[:, 1:2, None]


def test_an_output_of_per_point_shape_a_by_b_gives_its_values_as_columns_row_major():
    m = wrt.wrap(_PerPointMatrix(), inputs=["x", "z"], dtype="float64")
    assert m.outputs == tuple(f"y{i}" for i in range(1, 7))
    x = np.array([[0.5, 1.0], [-2.0, 3.0]])
    p = wrt.partials(m, x, ["dy2/dx", "dy5/dx", "d2y6/dxdx"])
    np.testing.assert_allclose(p["dy2/dx"], [2.0, 2.0])  # M[0, 1] = 2 x
    np.testing.assert_allclose(p["dy5/dx"], 2 * 2 * x[:, 0])  # M[1, 1] = 2 x^2
    np.testing.assert_allclose(p["d2y6/dxdx"], [6.0, 6.0])  # M[1, 2] = 3 x^2


class _FixedDtypeInside(torch.nn.Module):
    """Creates a float32 tensor in forward: its float64 copy cannot run."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.layer(x)) @ torch.ones(2, 1)


def test_a_float64_copy_that_cannot_run_is_a_model_error_on_every_path():
    m = wrt.wrap(_FixedDtypeInside(), inputs=["a", "b"])
    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    assert np.isfinite(np.asarray(wrt.grad(m, x))).all()  # float32 works
    calls = [
        lambda: wrt.partials(m, x, ["dy/da"], dtype="float64"),
        lambda: wrt.hessian(m, x, dtype="float64"),
        lambda: m.converted("float64"),
    ]
    for call in calls:
        with pytest.raises(wrt.ModelError, match=r"float32 but its float64 copy fails"):
            call()
