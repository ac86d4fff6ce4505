"""Bad input of TorchScript arguments and fixed batch sizes (issue 13).

A TorchScript ``forward`` of several tensors is split over its arguments; what
cannot be decided is refused with the way to decide it: a concatenating critic
asks for names that spell the split, names the module cannot take are refused
naming the shapes tried, a non-tensor argument is named. A file fixed to a batch
whose rows are coupled is refused, not run in blocks; inputs of one file that
disagree on their fixed batch are refused; a trace whose float64 copy mixes
dtypes says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from onnx import TensorProto, helper, numpy_helper, save

import wrt
from bad_input.harness import Api, Cli, points_file
from models import mlp, save_torchscript
from wrt.errors import ModelError, ModelFormatError


class _CatCritic(torch.nn.Module):
    """Q(obs, act) = mlp(cat(obs, act)): every split of 5 columns works."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp(5, 1, seed=4)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], dim=-1))


class _Scaled(torch.nn.Module):
    """forward(x, k: float): a number that is not a point's column."""

    def forward(self, x: torch.Tensor, k: float) -> torch.Tensor:
        return x * k


class _Coupled(torch.nn.Module):
    """The 4 rows of a call reshaped into one sample: a trace fixes the 4."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(8, 4).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(x.reshape(1, -1))).reshape(4, 1)


class _Lstm(torch.nn.Module):
    """An LSTM regressor (float32) of 3 steps of 2 features."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(2, 4, batch_first=True)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.view(x.shape[0], 3, 2))
        return self.head(out[:, -1])


def _jit(folder: Path, name: str, module: torch.nn.Module, example=None) -> Path:
    return save_torchscript(module, folder / name, example)


def _critic_partials(folder: Path) -> list[str]:
    model = _jit(folder, "critic.pt", _CatCritic())
    points = points_file(folder, ("o1", "o2", "o3", "a1", "a2"))
    return ["partials", str(model), str(points), "-d", "dy/dobs1"]


def _two_batches(folder: Path) -> object:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "t"], ["y"])],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 2]),
            helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 2])],
        [numpy_helper.from_array(np.zeros(1, np.float32), "unused")],
    )
    path = folder / "two.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path)
    return wrt.load(path)


CASES = [
    Cli(
        "torch13-cli-concatenating-critic-asks-for-names",
        _critic_partials,
        2,
        r"obs \(N, 3\) \+ act \(N, 2\).*--inputs",
    ),
    Api(
        "torch13-names-the-critic-cannot-take",
        lambda f: wrt.load(_jit(f, "q.pt", _CatCritic()), inputs=["a", "b", "c"]),
        ModelError,
        r"forward\(obs, act\) runs on none of the shapes",
        new_files=True,  # the case writes the model file itself
    ),
    Api(
        "torch13-non-tensor-argument",
        lambda f: wrt.load(_jit(f, "scaled.pt", _Scaled())),
        ModelError,
        r"argument 'k' is float, not a tensor",
        new_files=True,  # the case writes the model file itself
    ),
    Api(
        "torch13-fixed-batch-with-coupled-rows",
        lambda f: wrt.load(
            _jit(f, "c.pt", _Coupled(), (torch.zeros(4, 2, dtype=torch.float64),))
        ),
        ModelError,
        r"exactly 4 points only.*not independent",
        new_files=True,  # the case writes the model file itself
    ),
    Api(
        "torch13-onnx-inputs-with-two-fixed-batches",
        _two_batches,
        ModelFormatError,
        r"different fixed batch sizes \(1, 4\)",
        new_files=True,  # the case writes the model file itself
    ),
    Api(
        "torch13-traced-lstm-as-float64",
        lambda f: wrt.load(
            _jit(f, "lstm.pt", _Lstm(), (torch.zeros(2, 6),)), dtype="float64"
        ),
        ModelError,
        r"runs in float32 but its float64 copy fails.*torch\.jit\.script",
        new_files=True,  # the case writes the model file itself
    ),
]
