"""torch.export programs and state_dict files: exact round trips, nothing executed."""

import contextlib
import io
import json
import pathlib
import pickle
import sys
import warnings
import zipfile

import pytest
import sympy
import torch

import wrt
from models import mlp
from tolerances import AUTOGRAD, assert_partial_close
from wrt.engines.exact_norms import ExactNorms
from wrt.importers import sniff
from wrt.importers.torch_files import resolve_module

SPECS = {  # spec -> input columns to differentiate by, in order
    "y": (),
    "dy/dx1": (0,),
    "dy/dx2": (1,),
    "d2y/dx1^2": (0, 0),
    "d2y/dx1dx2": (0, 1),
    "d2y/dx2^2": (1, 1),
    "d4y/dx1^4": (0, 0, 0, 0),
}


def reference(module, x, columns):
    """A partial of output 0 by nested torch.autograd.grad on the original module."""
    x = x.clone().requires_grad_(True)
    with ExactNorms():  # torch's fused layer norm is wrong at order >= 3
        value = module(x)[:, 0]
    for column in columns:  # rows are independent: the sum's gradient is per row
        (gradient,) = torch.autograd.grad(value.sum(), x, create_graph=True)
        value = gradient[:, column]
    return value.detach()


def assert_round_trip(model, module, x):
    got = wrt.partials(model, x, list(SPECS))
    for spec, columns in SPECS.items():
        # the same float64 operations on both sides, in other batch shapes (BLAS
        # blocking differs): round-off only, well inside the autograd tolerance
        expected = reference(module, x, columns).numpy()
        assert_partial_close(got[spec], expected, **AUTOGRAD, what=spec)


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


def export(module, path, batch=3, dynamic=True, n_in=2, **kwargs):
    example = (torch.zeros(batch, n_in, dtype=next(module.parameters()).dtype),)
    shapes = ({0: torch.export.Dim("batch", **kwargs)},) if dynamic else None
    torch.export.save(torch.export.export(module, example, dynamic_shapes=shapes), path)
    return path


@pytest.fixture(scope="module")
def net():
    return mlp(2, 1)


@pytest.fixture(scope="module")
def dynamic_pt2(tmp_path_factory, net):
    return export(net, tmp_path_factory.mktemp("pt2") / "dynamic.pt2")


# --- torch.export ---------------------------------------------------------------


def test_export_round_trip_with_a_dynamic_batch(dynamic_pt2, net):
    model = wrt.load(dynamic_pt2)
    assert sniff(dynamic_pt2).kind == "torch-export" and model.format == "torch-export"
    assert model.inputs == ("x1", "x2") and model.dtype == torch.float64
    assert_round_trip(model, net, torch.randn(17, 2, dtype=torch.float64))


def test_the_number_of_input_names_is_checked(dynamic_pt2):
    with pytest.raises(wrt.InvalidNameError, match="model has 2 input"):
        wrt.load(dynamic_pt2, inputs=["x", "t", "z"])


def test_a_fixed_batch_is_evaluated_in_blocks(tmp_path, net):
    path = export(net, tmp_path / "fixed.pt2", batch=3, dynamic=False)
    with pytest.warns(wrt.FixedBatchWarning, match="exactly 3 row") as caught:
        model = wrt.load(path)
    assert len(caught) == 1 and "Dim('batch')" in str(caught[0].message)
    for n in (1, 3, 7):  # fewer, as many, more (not a multiple)
        assert_round_trip(model, net, torch.randn(n, 2, dtype=torch.float64))


def test_a_fixed_batch_of_many_rows_is_padded(tmp_path, net):
    with pytest.warns(wrt.FixedBatchWarning, match="exactly 64 row"):
        model = wrt.load(export(net, tmp_path / "big.pt2", batch=64, dynamic=False))
    assert_round_trip(model, net, torch.randn(5, 2, dtype=torch.float64))


def test_batch_bounds_of_the_dim_are_respected(tmp_path, net):
    model = wrt.load(export(net, tmp_path / "b.pt2", batch=3, min=2, max=4))
    assert_round_trip(model, net, torch.randn(1, 2, dtype=torch.float64))
    assert_round_trip(model, net, torch.randn(11, 2, dtype=torch.float64))


class Rich(torch.nn.Module):
    """Buffers, lifted constants, normalisations and smooth activations."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.first = torch.nn.Linear(2, 8)
        self.norm = torch.nn.BatchNorm1d(8)
        self.layer_norm = torch.nn.LayerNorm(8)
        self.last = torch.nn.Linear(8, 1)
        self.scale = torch.tensor([2.0, 0.5], dtype=torch.float64)  # a constant
        self.register_buffer("shift", torch.full((2,), 0.25), persistent=False)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.first(x * self.scale + self.shift))
        h = torch.nn.functional.softplus(self.layer_norm(self.norm(h)))
        return self.last(torch.nn.functional.silu(h))


def test_export_round_trip_of_a_richer_module(tmp_path):
    module = Rich().double().eval()
    with torch.no_grad():  # running statistics that are not the defaults
        module.norm.running_mean.uniform_(-1, 1)
        module.norm.running_var.uniform_(0.5, 2)
    model = wrt.load(export(module, tmp_path / "rich.pt2"))
    assert_round_trip(model, module, torch.randn(6, 2, dtype=torch.float64))


class TwoArguments(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = mlp(2, 1, seed=3)

    def forward(self, x, t):
        return (self.inner(torch.stack([x, t], dim=1)),)  # a 1-tuple


def test_argument_names_become_input_names(tmp_path):
    module = TwoArguments()
    batch = torch.export.Dim("batch")
    # two distinct tensors: export would alias one tensor passed twice
    example = (torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64))
    program = torch.export.export(
        module, example, dynamic_shapes={"x": {0: batch}, "t": {0: batch}}
    )
    torch.export.save(program, tmp_path / "xt.pt2")
    model = wrt.load(tmp_path / "xt.pt2", outputs=["u"])
    assert model.inputs == ("x", "t") and model.outputs == ("u",)
    x = torch.randn(6, 2, dtype=torch.float64)
    got = wrt.partials(model, x, ["d4u/dx^2dt^2", "du/dt"])
    expected = wrt.partials(module.inner, x, ["d4y/dx1^2dx2^2", "dy/dx2"])
    for a, b in [("d4u/dx^2dt^2", "d4y/dx1^2dx2^2"), ("du/dt", "dy/dx2")]:
        assert_partial_close(got[a], expected[b].numpy(), **AUTOGRAD, what=a)


def test_float32_program_as_float64(tmp_path):
    module = mlp(2, 1).float()
    path = export(module, tmp_path / "f32.pt2")
    assert wrt.load(path).dtype == torch.float32
    model = wrt.load(path, dtype="float64")
    assert model.dtype == torch.float64
    assert_round_trip(model, module.double(), torch.randn(5, 2, dtype=torch.float64))


def test_a_program_exported_in_training_mode_is_refused(tmp_path):
    module = torch.nn.Sequential(
        torch.nn.Linear(2, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 1)
    ).train()
    path = export(module.double(), tmp_path / "train.pt2")
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(path)
    assert "training mode" in one_line(excinfo) and "model.eval()" in str(excinfo.value)
    assert wrt.load(export(module.eval(), tmp_path / "eval.pt2")).n_inputs == 2


class TwoOutputs(torch.nn.Module):
    def forward(self, x):
        return x.sum(1), x.prod(1)


def test_several_outputs_are_refused(tmp_path):
    program = torch.export.export(TwoOutputs(), (torch.ones(3, 2),))
    torch.export.save(program, tmp_path / "two.pt2")
    with pytest.raises(wrt.UnsupportedFormatError, match="torch.cat"):
        wrt.load(tmp_path / "two.pt2")


# --- torch.export: untrusted archives ---------------------------------------------


class WritesAFile:
    """Unpickling this calls Path(path).touch(): proof that a pickle ran."""

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def rewrite(source, target, edit):
    """Copy a zip archive, passing each member's bytes through edit(name, data)."""
    with zipfile.ZipFile(source) as archive:
        members = [(n, archive.read(n)) for n in archive.namelist()]
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members:
            archive.writestr(name, edit(name, data))
    return target


def edit_json(suffix, change):
    def edit(name, data):
        if not name.endswith(suffix):
            return data
        content = json.loads(data)
        change(content)
        return json.dumps(content).encode()

    return edit


def test_pickled_sample_inputs_are_never_unpickled(tmp_path, dynamic_pt2):
    # torch.export.load retries a failed weights_only load of the sample inputs
    # with full unpickling, which would run this payload
    marker = tmp_path / "ran"
    payload = pickle.dumps(((WritesAFile(marker),), {}))
    path = rewrite(
        dynamic_pt2,
        tmp_path / "evil.pt2",
        lambda n, d: payload if n.endswith("sample_inputs/model.pt") else d,
    )
    with pytest.raises(wrt.UnsupportedFormatError) as excinfo:
        wrt.load(path)
    assert "never unpickles" in one_line(excinfo)
    assert not marker.exists()
    live = tmp_path / "live"  # the payload does run when unpickled
    pickle.loads(pickle.dumps(WritesAFile(live)))
    assert live.exists()


def test_code_in_a_symbolic_shape_is_never_evaluated(tmp_path, dynamic_pt2):
    # torch passes these strings to sympy.sympify, i.e. eval
    marker = tmp_path / "ran"
    code = f"open('{marker}', 'w').close()"

    def inject(name, data):
        if not name.endswith("models/model.json"):
            return data
        text = data.decode()
        key = '"expr_str": "'
        return text.replace(key, key + code + "+", 1).encode()

    path = rewrite(dynamic_pt2, tmp_path / "evil.pt2", inject)
    with pytest.raises(wrt.UnsupportedFormatError) as excinfo:
        wrt.load(path)
    assert "symbolic shape" in one_line(excinfo)
    assert not marker.exists()
    live = tmp_path / "live"  # the payload does run when sympified
    with contextlib.suppress(Exception):  # sympy fails on the result, after
        sympy.sympify(f"open('{live}', 'w').close()")
    assert live.exists()


def test_guard_code_in_the_archive_is_never_run(tmp_path, dynamic_pt2, net):
    # program.module() with guard checks on would exec this on every call
    marker = tmp_path / "ran"
    path = rewrite(
        dynamic_pt2,
        tmp_path / "evil.pt2",
        edit_json(
            "models/model.json",
            lambda c: c.update(guards_code=[f"open('{marker}', 'w') is not None"]),
        ),
    )
    model = wrt.load(path)
    assert_round_trip(model, net, torch.randn(4, 2, dtype=torch.float64))
    assert not marker.exists()


def test_pickled_weight_payloads_are_refused(tmp_path, dynamic_pt2):
    def mark_pickled(config):
        next(iter(config["config"].values()))["use_pickle"] = True

    path = rewrite(
        dynamic_pt2,
        tmp_path / "evil.pt2",
        edit_json("model_weights_config.json", mark_pickled),
    )
    with pytest.raises(wrt.UnsupportedFormatError, match="pickled object"):
        wrt.load(path)


def test_unknown_archive_members_are_refused(tmp_path, dynamic_pt2):
    path = rewrite(dynamic_pt2, tmp_path / "aoti.pt2", lambda n, d: d)
    with zipfile.ZipFile(path, "a") as archive:
        root = archive.namelist()[0].split("/")[0]
        archive.writestr(f"{root}/data/aotinductor/model/model.so", b"\x7fELF")
    with pytest.raises(wrt.UnsupportedFormatError) as excinfo:
        wrt.load(path)
    assert "aotinductor" in one_line(excinfo)


def test_a_damaged_program_is_a_one_line_error(tmp_path, dynamic_pt2):
    path = rewrite(
        dynamic_pt2,
        tmp_path / "bad.pt2",
        lambda n, d: b"{not json" if n.endswith("models/model.json") else d,
    )
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(path)
    assert "damaged" in one_line(excinfo)
    cut = tmp_path / "cut.pt2"
    cut.write_bytes(dynamic_pt2.read_bytes()[:-200])
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(cut)
    one_line(excinfo)


# --- state_dict files -------------------------------------------------------------


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = mlp(2, 1, seed=7)

    def forward(self, x):
        return self.body(x)


def blank():
    """A Net with zero weights: the loaded file must replace them all."""
    receiver = Net()
    with torch.no_grad():
        for parameter in receiver.parameters():
            parameter.zero_()
    return receiver


@pytest.mark.parametrize("zipped", [True, False])
def test_state_dict_round_trip(tmp_path, zipped):
    trained = Net()
    path = tmp_path / "weights.pt"
    torch.save(trained.state_dict(), path, _use_new_zipfile_serialization=zipped)
    assert sniff(path).kind == "torch-pickle"
    model = wrt.load(path, module=blank())
    assert model.format == "torch-pickle" and model.dtype == torch.float64
    assert_round_trip(model, trained, torch.randn(9, 2, dtype=torch.float64))


def test_weights_keep_their_saved_dtype_and_dtype_converts(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(Net().float().state_dict(), path)
    assert wrt.load(path, module=Net()).dtype == torch.float32
    assert wrt.load(path, module=Net(), dtype="float64").dtype == torch.float64


def test_checkpoint_dicts_and_wrapper_prefixes(tmp_path):
    trained = Net()
    state = trained.state_dict()
    x = torch.randn(3, 2, dtype=torch.float64)
    for i, content in enumerate(
        [
            {"epoch": 3, "model_state_dict": state, "optimizer": {"lr": 0.1}},
            {f"module.{k}": v for k, v in state.items()},  # DataParallel
        ]
    ):
        torch.save(content, tmp_path / f"{i}.pt")
        model = wrt.load(tmp_path / f"{i}.pt", module=blank())
        torch.testing.assert_close(model(x), trained(x), rtol=0, atol=0)


def test_weights_without_a_module(tmp_path):
    torch.save(Net().state_dict(), tmp_path / "w.pt")
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(tmp_path / "w.pt")
    message = one_line(excinfo)
    assert "weights only" in message and "body.0.weight (8, 2)" in message
    assert "wrt.load(path, module=MyNet())" in message
    assert "--module package.module:MyNet" in message


def test_mismatched_keys_and_shapes(tmp_path):
    torch.save(Net().state_dict(), tmp_path / "w.pt")
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(tmp_path / "w.pt", module=mlp(2, 1))
    message = one_line(excinfo)
    assert "missing from the file: 0.weight" in message
    assert "in the file but not in the module: body.0.weight" in message
    torch.save(mlp(2, 1, width=4).state_dict(), tmp_path / "narrow.pt")
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(tmp_path / "narrow.pt", module=mlp(2, 1))
    assert "size mismatch for 0.weight" in one_line(excinfo)


def test_a_whole_pickled_module_is_refused(tmp_path):
    torch.save(mlp(2, 1), tmp_path / "whole.pt")
    with pytest.raises(wrt.UnsupportedFormatError) as excinfo:
        wrt.load(tmp_path / "whole.pt", module=mlp(2, 1))
    message = one_line(excinfo)
    assert "never unpickles code" in message
    assert "torch.nn.modules.container.Sequential" in message
    assert "torch.save(model.state_dict(), path)" in message


@pytest.mark.parametrize("layout", ["zip", "raw", "torch_zip", "torch_legacy"])
@pytest.mark.parametrize("module", [None, "net"])
def test_a_malicious_pickle_is_never_unpickled(tmp_path, layout, module):
    marker = tmp_path / "ran"
    content = {"weight": WritesAFile(marker)}
    path = tmp_path / "evil.pt"
    if layout == "zip":  # the torch.save zip layout, the payload as its data.pkl
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("evil/data.pkl", pickle.dumps(content))
            archive.writestr("evil/version", "3\n")
    elif layout == "raw":  # a bare pickle
        path.write_bytes(pickle.dumps(content))
    else:  # torch.save itself, in either format
        torch.save(content, path, _use_new_zipfile_serialization=layout == "torch_zip")
    assert sniff(path).kind == "torch-pickle"
    with pytest.raises(wrt.UnsupportedFormatError) as excinfo:
        wrt.load(path, module=Net() if module else None)
    assert "never unpickles" in one_line(excinfo)
    assert not marker.exists()
    with contextlib.suppress(Exception):  # the payload is live: torch runs it
        torch.load(path, weights_only=False)
    assert marker.exists()


def test_truncated_and_empty_torch_save_files(tmp_path):
    for zipped in (True, False):
        whole = tmp_path / f"w{zipped}.pt"
        torch.save(Net().state_dict(), whole, _use_new_zipfile_serialization=zipped)
        cut = tmp_path / f"cut{zipped}.pt"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        with pytest.raises(wrt.ModelFormatError) as excinfo:
            wrt.load(cut, module=Net())
        one_line(excinfo)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(wrt.ModelFormatError, match="empty") as excinfo:
        wrt.load(tmp_path / "empty.pt", module=Net())
    one_line(excinfo)


def test_a_pickle_of_plain_data_is_not_weights(tmp_path):
    torch.save({"lr": torch.tensor(0.1), "note": "hi"}, tmp_path / "cfg.pt")
    with pytest.raises(wrt.ModelFormatError, match="not a state_dict"):
        wrt.load(tmp_path / "cfg.pt", module=Net())


# --- "package.module:Class" -------------------------------------------------------

NETS = """
import torch

class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)

    def forward(self, x):
        return self.lin(x)

class NeedsWidth(torch.nn.Module):
    def __init__(self, width):
        super().__init__()

def make():
    return Small()

instance = Small()
number = 3
"""


@pytest.fixture
def nets_module(tmp_path, monkeypatch):
    (tmp_path / "wrt_test_nets.py").write_text(NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "wrt_test_nets", raising=False)
    yield "wrt_test_nets"
    sys.modules.pop("wrt_test_nets", None)


def test_module_specs(tmp_path, nets_module):
    for name in ("Small", "make", "instance"):
        assert type(resolve_module(f"{nets_module}:{name}")).__name__ == "Small"
    source = torch.nn.Linear(2, 1)
    torch.save({"lin." + k: v for k, v in source.state_dict().items()}, tmp_path / "w")
    model = wrt.load(tmp_path / "w", module=f"{nets_module}:Small")
    x = torch.randn(3, 2)
    torch.testing.assert_close(model(x), source(x))


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("wrt_test_nets", "Write 'package.module:Class'"),
        ("wrt_test_nets:", "Write 'package.module:Class'"),
        ("no_such_package_xyz:Net", "Cannot import 'no_such_package_xyz'"),
        ("wrt_test_nets:Smal", "Did you mean 'Small'?"),
        ("wrt_test_nets:NeedsWidth", "def make(): return MyNet(width=64)"),
        ("wrt_test_nets:number", "not a class or function"),
    ],
)
def test_bad_module_specs(nets_module, spec, fragment):
    with pytest.raises(wrt.ModelError) as excinfo:
        resolve_module(spec)
    assert fragment in one_line(excinfo)


def test_loading_reads_the_file_once(tmp_path, dynamic_pt2, monkeypatch):
    # the checks and torch.export.load see the same bytes: no swap in between
    seen = []
    real = torch.export.load
    monkeypatch.setattr(
        torch.export, "load", lambda f, **kw: seen.append(f) or real(f, **kw)
    )
    wrt.load(dynamic_pt2)
    assert len(seen) == 1 and isinstance(seen[0], io.BytesIO)


def test_torchscript_layers_are_described_by_their_original_class(tmp_path):
    # the piecewise-linear check reads activations from this list: a scripted ReLU
    # network must show its ReLUs, not RecursiveScriptModule
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)
    ).double()
    path = tmp_path / "relu.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(net), str(path))
    info = wrt.describe(wrt.load(path))
    assert [layer["type"] for layer in info["layers"]] == ["Linear", "ReLU", "Linear"]
    assert info["activations"] == ["relu"]


class Lstm(torch.nn.Module):
    """nn.LSTM: its exported graph creates the zero state with a fixed dtype."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(11)
        self.lstm = torch.nn.LSTM(2, 4, batch_first=True)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, x):
        out, _ = self.lstm(x.view(x.shape[0], 3, 2))
        return self.head(out[:, -1])


def test_a_float32_program_creating_tensors_converts_to_float64(tmp_path):
    module = Lstm().eval()
    with warnings.catch_warnings():  # torch on nn.LSTM's _flat_weights: its own
        warnings.simplefilter("ignore", UserWarning)
        path = export(module, tmp_path / "lstm.pt2", n_in=6)
    model = wrt.load(path, dtype="float64")  # aten.zeros(..., dtype=float32) too
    assert model.dtype == torch.float64
    x = torch.rand(5, 6, dtype=torch.float64)
    got = wrt.partials(model, x, ["dy/dx2", "d2y/dx1dx6"], engine="autograd")
    for spec, columns in [("dy/dx2", (1,)), ("d2y/dx1dx6", (0, 5))]:
        expected = reference(module.double(), x, columns).numpy()
        assert_partial_close(got[spec], expected, **AUTOGRAD, what=spec)


class Critic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q = mlp(5, 1, seed=8)

    def forward(self, obs, act):
        return self.q(torch.cat([obs, act], dim=-1))


def test_arguments_of_several_columns_are_numbered(tmp_path):
    module = Critic()
    batch = torch.export.Dim("batch")
    example = (torch.zeros(3, 3).double(), torch.ones(3, 2).double())
    shapes = {"obs": {0: batch}, "act": {0: batch}}
    program = torch.export.export(module, example, dynamic_shapes=shapes)
    torch.export.save(program, tmp_path / "q.pt2")
    model = wrt.load(tmp_path / "q.pt2")
    assert model.inputs == ("obs1", "obs2", "obs3", "act1", "act2")
    x = torch.randn(4, 5, dtype=torch.float64)
    got = wrt.partials(model, x, ["d2y/dobs2dact1"])["d2y/dobs2dact1"]
    expected = reference(module.q, x, (1, 3)).numpy()
    assert_partial_close(got, expected, **AUTOGRAD, what="d2y/dobs2dact1")


def test_module_spec_is_found_in_the_current_folder(tmp_path, monkeypatch):
    # the wrt console script does not put the current folder on sys.path
    from wrt.importers.torch_files import resolve_module

    (tmp_path / "nets_in_cwd.py").write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.layer = torch.nn.Linear(2, 1)\n"
        "    def forward(self, x):\n"
        "        return self.layer(x)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    before = list(sys.path)
    module = resolve_module("nets_in_cwd:Net")
    assert isinstance(module, torch.nn.Module)
    assert sys.path == before  # the folder was on the path for the import only
    with pytest.raises(wrt.ModelError, match="Cannot import 'not_here_at_all'"):
        resolve_module("not_here_at_all:Net")
