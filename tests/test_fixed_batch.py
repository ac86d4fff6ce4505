"""Files exported for a fixed batch size run in blocks: exact and differentiable."""

import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import wrt
from models import mlp, save_torchscript
from tolerances import AUTOGRAD, assert_partial_close
from wrt.importers.fixed_batch import RowBlocks, declared_batch, vectorises
from wrt.importers.onnx import OnnxModule

SPECS = {  # spec -> input columns, for a model of 3 inputs and 2 outputs
    "y1": (),
    "dy1/dx1": (0,),
    "d2y1/dx1dx3": (0, 2),
    "d2y1/dx2^2": (1, 1),
    "d4y1/dx1^2dx3^2": (0, 0, 2, 2),
}


class Exactly(torch.nn.Module):
    """An MLP that refuses any call but one of exactly ``size`` rows."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.net = mlp(3, 2, seed=7)

    def forward(self, x):
        if x.shape[0] != self.size:
            raise RuntimeError(f"expected {self.size} rows, got {x.shape[0]}")
        return self.net(x)


class Baked(torch.nn.Module):
    """A traced ``view(size, -1)``: TorchScript keeps the size as a constant."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.net = mlp(3, 2, seed=7)

    def forward(self, x):
        return self.net(x.view(self.size, -1))


class DataDependent(Baked):
    """Control flow on a value (TorchScript): torch.vmap cannot run it."""

    def forward(self, x):
        if bool(x.sum() > 1e9):
            return x[:, :2]
        return self.net(x.view(self.size, -1))


class Coupled(torch.nn.Module):
    """All rows of a block reshaped into one sample: not independent points."""

    def __init__(self, size: int):
        super().__init__()
        torch.manual_seed(3)
        self.size = size
        self.linear = torch.nn.Linear(2 * size, size).double()

    def forward(self, x):
        return torch.tanh(self.linear(x.reshape(1, -1))).reshape(self.size, 1)


def reference(module, x, columns, output=0):
    """Value or partial of one output by nested autograd on the original module."""
    x = x.clone().requires_grad_(True)
    value = module(x)[:, output]
    for column in columns:
        (gradient,) = torch.autograd.grad(value.sum(), x, create_graph=True)
        value = gradient[:, column]
    return value.detach().numpy()


def assert_exact(model, net, n, engine="auto"):
    x = torch.rand(
        n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(n)
    )
    got = wrt.partials(model, x, list(SPECS), engine=engine)
    for spec, columns in SPECS.items():
        assert_partial_close(
            got[spec], reference(net, x, columns), **AUTOGRAD, what=spec
        )


def trace(module, example, path):
    return save_torchscript(module, path, example)


# --- RowBlocks ----------------------------------------------------------------


@pytest.mark.parametrize("vectorise", [False, True])
@pytest.mark.parametrize("size", [1, 4])
def test_blocks_give_each_row_as_one_call_would(size, vectorise):
    inner = Exactly(size)
    blocks = RowBlocks(inner, (size, size), vectorise=vectorise)
    for n in (1, size, size + 1, 3 * size + 2):
        x = torch.rand(n, 3, dtype=torch.float64).requires_grad_(True)
        y = blocks(x)
        expected = inner.net(x.detach())
        # other batch shapes than the reference's (BLAS blocking): round-off only
        assert torch.allclose(y, expected, rtol=1e-14, atol=1e-15)
        if size == 1 and not vectorise:  # the same calls on the same rows
            rows = torch.cat([inner(row) for row in x.detach().split(1)])
            assert torch.equal(y.detach(), rows)
        # derivatives through the blocks: double backward, none through padding
        (g,) = torch.autograd.grad(y[:, 1].sum(), x, create_graph=True)
        (h,) = torch.autograd.grad(g[:, 2].sum(), x)
        want_g = torch.from_numpy(reference(inner.net, x.detach(), (), 1))
        assert y.shape == (n, 2) and torch.allclose(y[:, 1].detach(), want_g)
        for column in range(3):
            want = reference(inner.net, x.detach(), (column,), 1)
            assert np.allclose(g[:, column].detach().numpy(), want, rtol=1e-12)
            want = reference(inner.net, x.detach(), (2, column), 1)
            assert np.allclose(h[:, column].numpy(), want, rtol=1e-12, atol=1e-14)


def test_no_points_give_no_rows():
    blocks = RowBlocks(Exactly(2), (2, 2), vectorise=False)
    assert blocks(torch.zeros(0, 3, dtype=torch.float64)).shape == (0, 2)


def test_bounded_batches_are_padded_up_and_split_down():
    seen = []

    class Bounded(torch.nn.Module):
        def forward(self, x):
            seen.append(x.shape[0])
            return x.sum(1, keepdim=True)

    blocks = RowBlocks(Bounded(), (3, 5), vectorise=False)
    x = torch.arange(24.0).reshape(12, 2)
    assert torch.equal(blocks(x), x.sum(1, keepdim=True))
    assert seen == [5, 5, 3]  # 12 = 5 + 5 + 2, the last padded to 3
    assert blocks(x[:1]).shape == (1, 1) and seen[-1] == 3


def test_vmap_is_used_only_where_it_reproduces_the_loop():
    x = torch.rand(3, 3, dtype=torch.float64)
    assert vectorises(Exactly(2), 2, x)
    assert not vectorises(DataDependent(2), 2, x)  # float() of a batched tensor


def test_inputs_with_different_fixed_batches_are_refused():
    assert declared_batch([None, 4, 4], "m.onnx") == 4
    assert declared_batch([None, None], "m.onnx") is None
    with pytest.raises(wrt.ModelFormatError, match=r"different fixed batch.*\(1, 4\)"):
        declared_batch([4, 1], "m.onnx")


# --- TorchScript ----------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 4])
def test_a_trace_with_a_baked_batch_runs_in_blocks(tmp_path, size):
    module = Baked(size)
    path = trace(
        module, (torch.zeros(size, 3, dtype=torch.float64),), tmp_path / "b.pt"
    )
    with pytest.warns(wrt.FixedBatchWarning) as caught:
        model = wrt.load(path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert f"exactly {size} row(s)" in message and "x.view(x.shape[0], -1)" in message
    assert "torch.vmap" in message and model.module.vectorise
    assert model.inputs == ("x1", "x2", "x3") and model.outputs == ("y1", "y2")
    for n in (1, 5, 9):
        assert_exact(model, module.net, n)
    assert_exact(model, module.net, 6, engine="taylor")


def test_blocks_without_vmap_say_they_are_slower(tmp_path):
    path = save_torchscript(DataDependent(2), tmp_path / "d.pt")
    with pytest.warns(wrt.FixedBatchWarning, match="one call per block, slower"):
        model = wrt.load(path)
    assert not model.module.vectorise
    for n in (1, 2, 7):
        assert_exact(model, DataDependent(2).net, n, engine="autograd")


class BakedCritic(torch.nn.Module):
    """Q(obs, act) traced on one row: obs.view(1, -1), act.view(1, -1)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(9)
        self.obs = torch.nn.Linear(3, 8).double()
        self.act = torch.nn.Linear(2, 8).double()
        self.head = torch.nn.Linear(8, 1).double()

    def forward(self, obs, act):
        h = self.obs(obs.view(1, -1)) + self.act(act.view(1, -1))
        return self.head(torch.tanh(h))


def test_a_two_argument_trace_with_a_baked_batch(tmp_path):
    module = BakedCritic()
    example = (torch.zeros(1, 3).double(), torch.zeros(1, 2).double())
    path = trace(module, example, tmp_path / "q.pt")
    with pytest.warns(wrt.FixedBatchWarning, match="exactly 1 row"):
        model = wrt.load(path, outputs=["q"])
    assert model.inputs == ("obs1", "obs2", "obs3", "act1", "act2")
    x = torch.rand(7, 5, dtype=torch.float64)
    got = wrt.partials(model, x, ["dq/dact1", "d2q/dobs2dact2"])

    def flat(points):
        return module.head(
            torch.tanh(module.obs(points[:, :3]) + module.act(points[:, 3:]))
        )

    class Flat(torch.nn.Module):
        forward = staticmethod(flat)

    for spec, columns in [("dq/dact1", (3,)), ("d2q/dobs2dact2", (1, 4))]:
        want = reference(Flat(), x, columns)
        assert_partial_close(got[spec], want, **AUTOGRAD, what=spec)


def test_rows_coupled_within_the_baked_batch_are_refused(tmp_path):
    path = trace(
        Coupled(4), (torch.zeros(4, 2, dtype=torch.float64),), tmp_path / "c.pt"
    )
    with pytest.raises(wrt.ModelError, match="exactly 4 points only.*not independent"):
        wrt.load(path)


def test_a_dynamic_trace_is_not_taken_for_a_fixed_one(tmp_path):
    class Dynamic(Baked):
        def forward(self, x):
            return self.net(x.view(x.shape[0], -1))

    path = trace(
        Dynamic(1), (torch.zeros(1, 3, dtype=torch.float64),), tmp_path / "d.pt"
    )
    model = wrt.load(path)  # filterwarnings=error: no FixedBatchWarning
    assert isinstance(model.module, torch.jit.ScriptModule)


# --- ONNX -----------------------------------------------------------------------


def onnx_file(path, nodes, inits, batch, width=3):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [batch, width])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [batch, 2])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.save(model, str(path))
    return path


def test_an_onnx_reshape_to_the_fixed_batch_runs_in_blocks(tmp_path):
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["z"]),
        helper.make_node("Tanh", ["z"], ["y"]),
    ]
    for size in (1, 3):
        inits = {"shape": np.array([size, 3]), "w": w, "b": b}
        path = onnx_file(tmp_path / f"r{size}.onnx", nodes, inits, size)
        with pytest.warns(wrt.FixedBatchWarning, match="dynamic_axes"):
            model = wrt.load(path)
        assert isinstance(model.module, RowBlocks) and model.module.fixed == size
        net = torch.nn.Linear(3, 2).double()
        with torch.no_grad():
            net.weight.copy_(torch.from_numpy(w.T))
            net.bias.copy_(torch.from_numpy(b))
        for n in (1, 4, 8):
            assert_exact(model, torch.nn.Sequential(net, torch.nn.Tanh()), n)


def test_an_onnx_graph_that_does_not_need_its_batch_runs_as_it_is(tmp_path):
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["z"]),
        helper.make_node("Tanh", ["z"], ["y"]),
    ]
    inits = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    model = wrt.load(onnx_file(tmp_path / "g.onnx", nodes, inits, 1))  # no warning
    assert isinstance(model.module, OnnxModule)
    assert model(torch.rand(6, 3, dtype=torch.float64)).shape == (6, 2)


def test_a_torch_onnx_export_with_a_baked_batch(tmp_path):
    module = Baked(1)
    path = tmp_path / "baked.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (torch.zeros(1, 3, dtype=torch.float64),), str(path), dynamo=False
        )
    with pytest.warns(wrt.FixedBatchWarning, match="exactly 1 row"):
        model = wrt.load(path)
    for n in (1, 6):
        assert_exact(model, module.net, n)


class Policy(torch.nn.Module):
    """A recurrent policy written for one observation: its LSTM state is (1, 1, 8)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lstm = torch.nn.LSTM(2, 8, batch_first=True).double()
        self.head = torch.nn.Linear(8, 1).double()

    def forward(self, x):
        state = torch.zeros(1, 1, 8, dtype=torch.float64)
        out, _ = self.lstm(x.view(1, 3, 2), (state, state))
        return self.head(out[:, -1])


def test_a_traced_recurrent_policy_of_one_observation(tmp_path):
    module = Policy().eval()
    path = trace(module, (torch.zeros(1, 6, dtype=torch.float64),), tmp_path / "p.pt")
    with pytest.warns(wrt.FixedBatchWarning, match="exactly 1 row"):
        model = wrt.load(path)
    x = torch.rand(5, 6, dtype=torch.float64)
    got = wrt.partials(model, x, ["y", "dy/dx3", "d2y/dx1dx6"], engine="autograd")

    class PerRow(torch.nn.Module):
        def forward(self, points):
            return torch.cat([module(row) for row in points.split(1)])

    for spec, columns in [("y", ()), ("dy/dx3", (2,)), ("d2y/dx1dx6", (0, 5))]:
        want = reference(PerRow(), x, columns)
        assert_partial_close(got[spec], want, **AUTOGRAD, what=spec)
