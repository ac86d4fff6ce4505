"""Bad or unusual models: widths, coupled rows, cut graphs, odd outputs, bad files."""

from __future__ import annotations

import pickle
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

import wrt
from bad_input.harness import Api, Cli, model_file, points_file, write
from models import mlp, save_torchscript
from wrt.errors import IgnoredInputWarning, ModelError, ModelFormatError

FIXTURES = Path(__file__).parent.parent / "fixtures"


class _SoftmaxRows(nn.Module):
    """A softmax over the batch dimension (dim=0 written for dim=1)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=0)


class _BatchStats(_SoftmaxRows):
    """Standardised with the batch's own mean and deviation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - x.mean(0)) / (x.std(0) + 1e-3))


class _MinusBatchMean(_SoftmaxRows):
    """The output minus its mean over the batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return y - y.mean()


class _Detach(_SoftmaxRows):
    """The input detached before the network: every gradient is 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.detach())


class _Round(_SoftmaxRows):
    """The output rounded to one decimal."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(self.net(x) * 10.0) / 10.0


class _Int(_SoftmaxRows):
    """Integer outputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.net(x) * 100.0).long()


class _Tuple(_SoftmaxRows):
    """Two tensors instead of one."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(x), self.net(x)


class _N23(_SoftmaxRows):
    """Outputs of shape (N, 2, 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(-1, 1, 1).expand(-1, 2, 3)


_ENDINGS = {
    "softmax-rows": _SoftmaxRows,
    "batch-stats": _BatchStats,
    "minus-batch-mean": _MinusBatchMean,
    "detach": _Detach,
    "round": _Round,
    "int": _Int,
    "tuple": _Tuple,
    "n-2-3": _N23,
}


def _script(folder: Path, ending: str) -> Path:
    return save_torchscript(_ENDINGS[ending](), folder / f"{ending}.pt")


def _partials(folder: Path, model: Path, *extra: str) -> list[str]:
    return ["partials", str(model), str(points_file(folder)), "-d", "dy/dx1", *extra]


def _ignoring_third(folder: Path) -> Path:
    net = mlp(3, 1)
    with torch.no_grad():
        net[0].weight[:, 2] = 0.0
    return save_torchscript(net, folder / "ignores.pt")


class _Payload:
    """Unpickling this would create a file: it must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickle_payload(folder: Path, zipped: bool) -> Path:
    path = folder / "weights.pt"
    payload = {"weight": _Payload(folder / "pwned.txt")}
    if zipped:
        torch.save(payload, path)
    else:
        with path.open("wb") as handle:
            pickle.dump(payload, handle, protocol=2)
    return path


def _load_never_runs(folder: Path):
    marker = folder / "pwned.txt"
    try:
        return wrt.load(_pickle_payload(folder, zipped=True), module=mlp(2, 1))
    finally:
        assert not marker.exists(), "the pickle's payload ran"


def _strict_ignored(folder: Path):
    net = mlp(2, 1)
    with torch.no_grad():
        net[0].weight[:, 1] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", IgnoredInputWarning)
        return wrt.wrap(net, inputs=["x", "t"])


def _truncated(folder: Path) -> Path:
    whole = model_file(folder, name="whole.pt")
    cut = folder / "cut.pt"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


def _lambda_keras(folder: Path) -> Path:
    return Path(shutil.copy(FIXTURES / "lambda_layer.keras", folder / "lambda.keras"))


CASES = [
    Cli(
        "model-inputs-count-too-many",
        lambda f: [
            "partials",
            str(model_file(f)),
            str(points_file(f, ("a", "b", "c"))),
            "-d",
            "dy/da",
            "--inputs",
            "a,b,c",
        ],
        2,
        r"\(2, 3\).*failed.*--inputs",
    ),
    Cli(
        "model-inputs-count-too-few",
        lambda f: [
            "partials",
            str(model_file(f)),
            str(points_file(f, ("a",))),
            "-d",
            "dy/da",
            "--inputs",
            "a",
        ],
        2,
        r"\(2, 1\).*failed",
    ),
    Cli(
        "model-inferred-width-ignores-a-column",
        lambda f: _partials(f, _ignoring_third(f)),
        2,
        r"column\(s\) 3 change no output.*--inputs",
    ),
    Api(
        "api-given-input-ignored-warns",
        _strict_ignored,
        IgnoredInputWarning,
        r"Input\(s\) t .*partials will be 0",
    ),
    Cli(
        "model-softmax-over-rows",
        lambda f: _partials(f, _script(f, "softmax-rows")),
        2,
        r"coupled through the batch.*model\.eval\(\)",
    ),
    Cli(
        "model-batch-statistics",
        lambda f: _partials(f, _script(f, "batch-stats")),
        2,
        r"coupled through the batch|single point",
    ),
    Cli(
        "model-minus-batch-mean",
        lambda f: _partials(f, _script(f, "minus-batch-mean"), "--inputs", "x1,x2"),
        2,
        r"coupled through the batch",
    ),
    Cli(
        "model-detach-inside",
        lambda f: _partials(f, _script(f, "detach")),
        2,
        r"not a differentiable torch function.*\.detach\(\)",
    ),
    Cli(
        "model-rounds-its-output",
        lambda f: _partials(f, _script(f, "round")),
        2,
        r"x1 \(its gradient is 0 though the output changes",
    ),
    Cli(
        "model-returns-integers",
        lambda f: _partials(f, _script(f, "int")),
        2,
        r"torch\.int64 values.*no derivatives",
    ),
    Cli(
        "model-returns-a-tuple",
        lambda f: _partials(f, _script(f, "tuple")),
        2,
        r"returned tuple, not a tensor",
    ),
    Cli(
        # a per-point (2, 3) output is six columns, y1 .. y6 row-major: 'y' is not one
        "model-returns-n-2-3",
        lambda f: _partials(f, _script(f, "n-2-3"), "--inputs", "x1,x2"),
        2,
        r"Unknown output 'y'.*y1, y2, y3, y4, y5, y6",
    ),
    Cli(
        "model-file-empty",
        lambda f: _partials(f, write(f, "empty.pt", "")),
        2,
        r"empty\.pt.*empty file",
    ),
    Cli(
        "model-file-text-renamed-pt",
        lambda f: _partials(f, write(f, "notes.pt", "x1,x2\n1,2\n")),
        2,
        r"notes\.pt.*text file",
    ),
    Cli(
        "model-file-truncated-torchscript",
        lambda f: _partials(f, _truncated(f)),
        2,
        r"cut\.pt.*(damaged|truncated|failed)",
    ),
    Cli(
        "model-file-random-bytes",
        lambda f: _partials(f, _bytes(f, "noise.pt", bytes(range(7, 200)))),
        2,
        r"noise\.pt.*binary file",
    ),
    Cli(
        "model-file-pickle-payload-zip",
        lambda f: _partials(f, _pickle_payload(f, zipped=True)),
        2,
        r"pickled Python objects.*never unpickles",
    ),
    Cli(
        "model-file-pickle-payload-raw",
        lambda f: _partials(f, _pickle_payload(f, zipped=False)),
        2,
        r"pickled Python objects.*never unpickles",
    ),
    Cli(
        "model-keras-lambda-layer",
        lambda f: _partials(f, _lambda_keras(f)),
        2,
        r"Lambda layer.*never runs code",
    ),
    Api(
        "api-wrap-dropout-left-on",
        lambda f: wrt.wrap(
            lambda x: nn.functional.dropout(x.sum(1), 0.5, training=True),
            inputs=["a", "b"],
        ),
        ModelError,
        r"different outputs for the same points.*eval",
    ),
    Api(
        "api-load-coupled-torchscript",
        lambda f: wrt.load(_script(f, "softmax-rows"), inputs=["x", "t"]),
        ModelError,
        r"coupled through the batch",
        new_files=True,  # the case writes the model file itself
    ),
    Api(
        "api-wrap-no-weights-no-inputs",
        lambda f: wrt.wrap(nn.Softplus()),
        ModelError,
        r"no weight matrix.*inputs=\[\.\.\.\]",
    ),
    Api(
        "api-wrap-no-derivative-in-torch",
        lambda f: wrt.wrap(
            lambda x: torch.special.bessel_j0(x).sum(1), inputs=["a", "b"]
        ),
        ModelError,
        r"not a differentiable torch function.*bessel_j0",
    ),
    Api(
        "api-load-pickle-payload",
        lambda f: _load_never_runs(f),
        ModelFormatError,
        r"never unpickles",
        new_files=True,  # the case writes weights.pt itself; pwned.txt is checked
    ),
    Cli(
        "inspect-coupled-model",
        lambda f: ["inspect", str(_script(f, "softmax-rows"))],
        2,
        r"coupled through the batch",
    ),
]


def _bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path
