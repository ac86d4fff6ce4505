"""``wrt inspect`` on TorchScript, ``.pt2`` and torch modules: what torch holds."""

import json
import warnings
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import wrt
from models import mlp, save_torchscript
from wrt.checks.activations import non_smooth_operations
from wrt.cli.app import app
from wrt.engines.taylor.rules import RULES
from wrt.inspection.torch_file import export_view, torchscript_view
from wrt.model import Model

FIXTURES = Path(__file__).parent / "fixtures"


def _jit_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path))


def test_torchscript_keeps_original_module_names_and_counts():
    path = FIXTURES / "torch_pinn_script.pt"
    info = wrt.describe(wrt.load(path))
    scripted = _jit_load(path)
    leaves = [
        (name, module.original_name)
        for name, module in scripted.named_modules()
        if not list(module.children())
    ]
    assert [(x["name"], x["type"]) for x in info["layers"]] == leaves
    assert [x["type"] for x in info["layers"]] == ["Linear", "Tanh"] * 2 + ["Linear"]
    assert info["parameters"] == sum(p.numel() for p in scripted.parameters()) == 385
    assert info["torchscript"] == {"class_name": "PinnNet", "forward": ["xt"]}
    # sin, cos and exp build features; the activations are the tanh layers
    assert info["activations"] == ["tanh"]
    assert info["layout"]["inputs"] == [
        {"name": "xt", "shape": [2], "columns": ["x1", "x2"]}
    ]


def test_scripted_relu_network_is_piecewise_linear_for_inspect_and_check(tmp_path):
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    model = wrt.load(save_torchscript(net, tmp_path / "relu.pt"))
    info = wrt.describe(model)
    assert info["activations"] == ["relu"] and info["non_smooth"] == ["relu"]
    assert non_smooth_operations(model) == ["relu"]
    assert [x["parameters"] for x in info["layers"]] == [12, 0, 5]


class _TwoArguments(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 8), nn.SiLU(), nn.Linear(8, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, t], dim=1))


class _Columns(nn.Module):
    """Points (N, 3) -> the scripted module's x (N, 2) and t (N, 1)."""

    def __init__(self, scripted: nn.Module) -> None:
        super().__init__()
        self.scripted = scripted

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.scripted(points[:, :2], points[:, 2:])


def test_torchscript_forward_arguments_are_named(tmp_path):
    path = save_torchscript(_TwoArguments(), tmp_path / "two.pt")
    view = torchscript_view(path)
    assert view["forward"] == ["x", "t"] and view["class_name"] == "_TwoArguments"
    assert [x["name"] for x in view["layers"]] == ["net.0", "net.1", "net.2"]
    scripted = _jit_load(path)
    model = Model(_Columns(scripted), ["x1", "x2", "t"], ["y"], source=str(path),
                  format="torchscript")  # fmt: skip
    info = wrt.describe(model)
    assert info["parameters"] == 3 * 8 + 8 + 8 + 1
    # the widths come from the column slices of the traced graph
    assert info["layout"]["inputs"] == [
        {"name": "x", "shape": None, "columns": ["x1", "x2"]},
        {"name": "t", "shape": None, "columns": ["t"]},
    ]
    assert info["activations"] == ["silu"]
    # columns taken out of order cannot be matched to the arguments
    shuffled = Model(_Shuffled(scripted), ["x1", "x2", "t"], ["y"],
                     source=str(path), format="torchscript")  # fmt: skip
    assert wrt.describe(shuffled)["layout"]["inputs"] == [
        {"name": "x, t", "shape": None, "columns": ["x1", "x2", "t"]}
    ]


class _Shuffled(nn.Module):
    def __init__(self, scripted: nn.Module) -> None:
        super().__init__()
        self.scripted = scripted

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.scripted(points[:, 1:], points[:, :1])


class _Critic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], dim=1))


class _OneEach(nn.Module):
    def __init__(self, scripted: nn.Module) -> None:
        super().__init__()
        self.scripted = scripted

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.scripted(points[:, :1], points[:, 1:])


def test_torchscript_arguments_of_one_column_each_are_laid_out(tmp_path):
    path = save_torchscript(_Critic(), tmp_path / "critic.pt")
    model = Model(_OneEach(_jit_load(path)), ["obs", "act"], ["q"], source=str(path),
                  format="torchscript")  # fmt: skip
    info = wrt.describe(model)
    assert info["layout"]["inputs"] == [
        {"name": "obs", "shape": None, "columns": ["obs"]},
        {"name": "act", "shape": None, "columns": ["act"]},
    ]
    assert info["torchscript"]["forward"] == ["obs", "act"]


def test_pt2_graph_operations_and_layers():
    path = FIXTURES / "torch_tanh_mlp.pt2"
    info = wrt.describe(wrt.load(path))
    program = torch.export.load(str(path))
    ops = Counter(
        f"aten.{n.target.overloadpacket.__name__}"
        for n in program.graph.nodes
        if n.op == "call_function"
    )
    assert info["torch_export"]["ops"] == dict(ops)
    assert info["parameters"] == sum(p.numel() for p in program.parameters()) == 337
    assert info["activations"] == ["tanh"]  # was "none": no leaf modules to read
    assert [x["type"] for x in info["layers"]] == ["Linear", "Tanh"] * 2 + ["Linear"]
    assert [x["parameters"] for x in info["layers"]] == [48, 0, 272, 0, 17]
    assert info["engines"]["taylor"]["available"]


class _Features(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 8)
        self.b = nn.Linear(9, 3)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.gelu(self.a(x))
        return self.b(torch.cat([h, t.unsqueeze(1)], dim=1))


def test_pt2_inputs_keep_their_shapes_and_symbolic_batch(tmp_path):
    module = _Features().double()
    batch = torch.export.Dim("batch")
    program = torch.export.export(
        module,
        (torch.zeros(4, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)),
        dynamic_shapes={"x": {0: batch}, "t": {0: batch}},
    )
    path = tmp_path / "features.pt2"
    torch.export.save(program, str(path))
    model = wrt.load(path)
    info = wrt.describe(model)
    assert info["layout"]["inputs"] == [
        {"name": "x", "shape": [2], "columns": list(model.inputs[:2])},
        {"name": "t", "shape": [], "columns": [model.inputs[2]]},
    ]
    assert info["layout"]["outputs"][0]["shape"] == [3]
    shapes = [t["shape"] for t in export_view(path)["inputs"]]
    assert isinstance(shapes[0][0], str) and shapes[0][1] == 2  # batch is a symbol
    assert info["activations"] == ["gelu"]
    assert {x["name"]: x["type"] for x in info["layers"]} == {
        "a": "Linear",
        "b": "Linear",
    }
    assert info["parameters"] == 2 * 8 + 8 + 9 * 3 + 3


def test_functional_activations_are_found_without_activation_modules():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 4)
            self.out = nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.nn.functional.softplus(torch.abs(self.lin(x))))

    info = wrt.describe(wrt.wrap(Net().double()))
    assert info["activations"] == ["softplus"]
    assert info["non_smooth"] == ["abs"]
    assert info["layout"] == {
        "inputs": [{"name": "x", "shape": [2], "columns": ["x1", "x2"]}],
        "outputs": [{"name": "y", "shape": [1], "columns": ["y"]}],
    }


def _missing_op():
    """A unary torch function that has no Taylor rule (the registry grows)."""
    aten = torch.ops.aten
    for fn, op in ((torch.lgamma, aten.lgamma), (torch.special.erfinv, aten.erfinv),
                   (torch.digamma, aten.digamma)):  # fmt: skip
        if op not in RULES:
            return fn, op.__name__
    pytest.fail("every candidate operation has a Taylor rule now: add one without")


def test_engines_say_why_taylor_cannot_run():
    fn, name = _missing_op()
    model = wrt.wrap(lambda x: fn(1.5 + x.sigmoid()).sum(1), inputs=["a", "b"])
    engines = wrt.describe(model)["engines"]
    assert engines["autograd"]["available"] and engines["finite_diff"]["available"]
    assert not engines["taylor"]["available"]
    assert name in engines["taylor"]["reason"]
    assert wrt.describe(wrt.wrap(mlp(2, 1)))["engines"]["taylor"]["available"]


class _Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 3)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if float(x.detach().sum()) > 1e300:  # a Python branch on a value
            raise RuntimeError
        return self.act(self.lin(x)).sum(1, keepdim=True) + x.tolist()[0][0] * 0


def test_untraceable_models_fall_back_to_their_layers():
    model = Model(_Untraceable().double(), ["x1", "x2"], ["y"])
    info = wrt.describe(model)
    assert info["activations"] == ["relu"] and info["non_smooth"] == ["relu"]
    assert non_smooth_operations(model) == ["relu"]
    # the Taylor engine traces value reads (recorded, checked on every call)
    assert info["engines"]["taylor"]["available"]


def test_inspect_text_lists_pt2_operations_and_json_round_trips():
    path = FIXTURES / "torch_tanh_mlp.pt2"
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    for text in ("aten.linear", "activations: tanh", "taylor", "Linear"):
        assert text in result.stdout, text
    result = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    assert json.loads(result.stdout) == json.loads(
        json.dumps(wrt.describe(wrt.load(path)))
    )


def test_attention_shows_its_softmax():
    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(2, 6)
            self.out = nn.Linear(2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = x.reshape(x.shape[0], 2, 2)  # 4 columns: 2 tokens of 2
            q, k, v = self.qkv(tokens).chunk(3, dim=-1)
            attended = torch.nn.functional.scaled_dot_product_attention(q, k, v)
            return self.out(attended.mean(1))

    info = wrt.describe(wrt.wrap(Attention().double(), inputs=["a", "b", "c", "d"]))
    assert info["activations"] == ["softmax"] and info["non_smooth"] == []
