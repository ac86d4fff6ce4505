"""TorchScript modules whose forward takes several tensors: columns split over them."""

import pathlib
import pickle
import warnings
import zipfile
from typing import Optional

import pytest
import torch

import wrt
from models import mlp, save_torchscript
from tolerances import AUTOGRAD, assert_partial_close
from wrt.importers.torch_arguments import column_names, spelled_split
from wrt.importers.traced_inputs import traced_shapes


def save(module: torch.nn.Module, path, example=None):
    """Script (no example) or trace (example: a tuple of tensors) and save."""
    return save_torchscript(module, path, example)


class XT(torch.nn.Module):
    """forward(x, t) with x and t of shape (N, 1): a PINN's u(x, t)."""

    def __init__(self):
        super().__init__()
        self.net = mlp(2, 1, seed=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, t], dim=1))

    def flat(self, points):
        return self.net(points)


class XTVectors(XT):
    """forward(x, t) with x and t of shape (N,)."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.stack([x, t], dim=1))


class Critic(torch.nn.Module):
    """Q(obs, act) = head(tanh(enc_obs(obs) + enc_act(act))), obs 3 and act 2."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.enc_obs = torch.nn.Linear(3, 8)
        self.enc_act = torch.nn.Linear(2, 8)
        self.head = torch.nn.Linear(8, 1)
        self.double()

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.enc_obs(obs) + self.enc_act(act)))

    def flat(self, points):
        return self(points[:, :3], points[:, 3:])


class CatCritic(torch.nn.Module):
    """Q(obs, act) = mlp(cat(obs, act)): every split of the 5 columns works."""

    def __init__(self):
        super().__init__()
        self.net = mlp(5, 1, seed=4)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], dim=-1))

    def flat(self, points):
        return self.net(points)


class ThreeArguments(torch.nn.Module):
    """forward(x, y, t), each (N, 1), two outputs."""

    def __init__(self):
        super().__init__()
        self.net = mlp(3, 2, seed=5)

    def forward(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor):
        return self.net(torch.cat([x, y, t], dim=1))

    def flat(self, points):
        return self.net(points)


class WithOptions(torch.nn.Module):
    """forward(x, t, scale=None, k=2): the arguments with defaults are left alone."""

    def __init__(self):
        super().__init__()
        self.net = mlp(2, 1, seed=6)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        scale: Optional[torch.Tensor] = None,  # noqa: UP045 (TorchScript)
        k: int = 2,
    ) -> torch.Tensor:
        y = self.net(torch.cat([x, t], dim=1)) * k
        return y if scale is None else y * scale

    def flat(self, points):
        return 2 * self.net(points)


class TakesAnInt(torch.nn.Module):
    def forward(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return x * k


def reference(module, x, columns):
    """Value or partial of output 0 by nested autograd on the original module."""
    x = x.clone().requires_grad_(True)
    value = module.flat(x)[:, 0]
    for column in columns:
        (gradient,) = torch.autograd.grad(value.sum(), x, create_graph=True)
        value = gradient[:, column]
    return value.detach().numpy()


def assert_matches(model, module, specs):
    """Partials through wrt (any engine) against autograd on the original module."""
    x = 0.1 + 0.8 * torch.rand(9, model.n_inputs, dtype=torch.float64)
    got = wrt.partials(model, x, list(specs))
    for spec, columns in specs.items():
        want = reference(module, x, columns)
        assert_partial_close(got[spec], want, **AUTOGRAD, what=spec)


@pytest.mark.parametrize("how", ["script", "trace"])
def test_forward_x_t_gets_the_argument_names(tmp_path, how):
    module = XT()
    example = None if how == "script" else (torch.zeros(4, 1).double(),) * 2
    model = wrt.load(save(module, tmp_path / "xt.pt", example))
    assert model.inputs == ("x", "t") and model.outputs == ("y",)
    specs = {"dy/dx": (0,), "d2y/dxdt": (0, 1), "d4y/dx^2dt^2": (0, 0, 1, 1)}
    assert_matches(model, module, specs)


def test_arguments_of_shape_n_take_one_column_each(tmp_path):
    module = XTVectors()
    model = wrt.load(save(module, tmp_path / "xt.pt"))
    assert model.inputs == ("x", "t")
    assert_matches(model, module, {"dy/dt": (1,), "d2y/dt^2": (1, 1)})


@pytest.mark.parametrize("how", ["script", "trace"])
def test_a_critic_with_one_encoder_per_argument(tmp_path, how):
    module = Critic()
    example = None
    if how == "trace":
        example = (torch.zeros(4, 3).double(), torch.zeros(4, 2).double())
    model = wrt.load(save(module, tmp_path / "q.pt", example), outputs=["q"])
    assert model.inputs == ("obs1", "obs2", "obs3", "act1", "act2")
    specs = {"dq/dact2": (4,), "d2q/dobs1dact1": (0, 3), "d3q/dobs3^3": (2, 2, 2)}
    assert_matches(model, module, specs)


def test_three_arguments_and_two_outputs(tmp_path):
    module = ThreeArguments()
    model = wrt.load(save(module, tmp_path / "xyt.pt"), outputs=["u", "v"])
    assert model.inputs == ("x", "y", "t") and model.outputs == ("u", "v")
    assert_matches(model, module, {"du/dy": (1,), "d2u/dxdt": (0, 2)})


def test_arguments_with_defaults_are_not_columns(tmp_path):
    module = WithOptions()
    model = wrt.load(save(module, tmp_path / "opt.pt"))
    assert model.inputs == ("x", "t")
    assert_matches(model, module, {"dy/dx": (0,), "d2y/dt^2": (1, 1)})


def test_a_scripted_concatenating_critic_loads_with_neutral_names(tmp_path):
    # cat(obs, act) works for every split of its 5 columns: the file cannot say
    # which is meant, every split computes the same function, so the columns are
    # x1 .. x5 and a warning says how to name them
    module = CatCritic()
    path = save(module, tmp_path / "q.pt")
    with pytest.warns(wrt.InputNamesWarning) as record:
        neutral = wrt.load(path)
    assert neutral.inputs == ("x1", "x2", "x3", "x4", "x5")
    assert_matches(neutral, module, {"dy/dx4": (3,), "d2y/dx3dx5": (2, 4)})
    message = str(record[0].message)
    assert "obs (N, 1) + act (N, 4)" in message and "obs (N, 4) + act (N, 1)" in message
    assert "inputs=['obs1', 'obs2', 'obs3', 'act1', 'act2']" in message
    # the names spell the split
    names = ["obs1", "obs2", "obs3", "act1", "act2"]
    model = wrt.load(path, inputs=names)
    assert model.inputs == tuple(names)
    assert model.module.columns == (3, 2)
    assert_matches(model, module, {"dy/dact1": (3,), "d2y/dobs3dact2": (2, 4)})
    model = wrt.load(path, inputs=["obs1", "obs2", "act1", "act2", "act3"])
    assert model.module.columns == (2, 3)
    # other names count the columns; every split computes the same function
    model = wrt.load(path, inputs=["a", "b", "c", "d", "e"])
    assert_matches(model, module, {"dy/de": (4,), "d2y/dadb": (0, 1)})


@pytest.mark.parametrize("batch", [1, 6])
def test_a_traced_concatenating_critic_splits_as_it_was_traced(tmp_path, batch):
    # the archive keeps the example inputs' shapes: obs (B, 3), act (B, 2)
    module = CatCritic()
    example = (torch.zeros(batch, 3).double(), torch.zeros(batch, 2).double())
    path = save(module, tmp_path / "q.pt", example)
    assert traced_shapes(path) == [(batch, 3), (batch, 2)]
    model = wrt.load(path)  # the trace takes any batch: no FixedBatchWarning
    assert model.inputs == ("obs1", "obs2", "obs3", "act1", "act2")
    assert_matches(model, module, {"dy/dact2": (4,), "d2y/dobs1dact1": (0, 3)})
    # names that spell another split win over the trace's
    names = ["obs1", "obs2", "obs3", "obs4", "act"]
    assert wrt.load(path, inputs=names).module.columns == (4, 1)


def test_traced_shapes_are_read_without_unpickling(tmp_path):
    example = (torch.zeros(2, 3).double(), torch.zeros(2, 2).double())
    path = save(CatCritic(), tmp_path / "q.pt", example)
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    touched = tmp_path / "touched"
    hostile = pickle.dumps(WritesAFile(touched), protocol=2)
    for name in members:
        if name.endswith("/traced_inputs.pkl"):
            members[name] = hostile
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert traced_shapes(path) is None and not touched.exists()
    assert traced_shapes(tmp_path / "missing.pt") is None


class WritesAFile:
    """Unpickling this calls Path(path).touch(): proof that a pickle ran."""

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def test_names_the_model_cannot_take_are_refused(tmp_path):
    path = save(Critic(), tmp_path / "q.pt")
    with pytest.raises(wrt.ModelError, match=r"forward\(obs, act\) runs on none"):
        wrt.load(path, inputs=["a", "b", "c"])


def test_a_non_tensor_argument_is_refused(tmp_path):
    path = save(TakesAnInt(), tmp_path / "int.pt")
    with pytest.raises(wrt.ModelError, match="argument 'k' is int, not a tensor"):
        wrt.load(path)


def test_a_single_tensor_forward_is_unchanged(tmp_path):
    module = mlp(3, 2)
    model = wrt.load(save(module, tmp_path / "mlp.pt"))
    assert model.inputs == ("x1", "x2", "x3") and model.outputs == ("y1", "y2")
    assert isinstance(model.module, torch.jit.ScriptModule)


def test_float64_copy_of_a_float32_two_argument_module(tmp_path):
    module = Critic().float()
    path = save(module, tmp_path / "q.pt")
    assert wrt.load(path).dtype == torch.float32
    model = wrt.load(path, dtype="float64")
    assert model.dtype == torch.float64
    assert_matches(model, Critic(), {"dy/dobs2": (1,), "d2y/dact1^2": (3, 3)})


@pytest.mark.parametrize(
    ("arguments", "columns", "names"),
    [
        (["x"], (3,), None),  # one argument: the defaults x1 .. xn
        (["x", "t"], (1, None), ("x", "t")),
        (["obs", "act"], (3, 2), ("obs1", "obs2", "obs3", "act1", "act2")),
        (["x", "x1"], (2, 1), None),  # x1 twice: the defaults
    ],
)
def test_column_names(arguments, columns, names):
    assert column_names(arguments, columns) == names


@pytest.mark.parametrize(
    ("names", "arguments", "split"),
    [
        (["obs1", "obs2", "obs3", "act1", "act2"], ["obs", "act"], (3, 2)),
        (["x", "t"], ["x", "t"], (1, 1)),
        (["x", "t1", "t2"], ["x", "t"], (1, 2)),
        (["obs1", "obs3", "act"], ["obs", "act"], None),  # not in order
        (["obs1", "act1", "z"], ["obs", "act"], None),  # a name left over
        (["t", "x"], ["x", "t"], None),  # arguments swapped
        (["a", "b"], ["x", "t"], None),
    ],
)
def test_names_spell_a_split(names, arguments, split):
    assert spelled_split(names, arguments) == split


class StackedPinn(torch.nn.Module):
    """forward(x, t) stacks two (N,) arguments: (N, 1) arguments run too."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.stack([x, t], -1)).squeeze(-1)

    def flat(self, points):
        return self(points[:, 0], points[:, 1])[:, None]


def test_one_split_whose_arguments_run_as_n_or_n_by_1_is_chosen(tmp_path):
    module = StackedPinn().double()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = wrt.load(save(module, tmp_path / "pinn.pt"))
    assert model.inputs == ("x", "t")
    assert_matches(model, module, {"dy/dx": (0,), "d2y/dxdt": (0, 1)})
