"""Small models shared by the tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch


def mlp(
    n_in: int = 2, n_out: int = 1, width: int = 8, seed: int = 0
) -> torch.nn.Module:
    """A small float64 tanh MLP with fixed weights."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(n_in, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, n_out),
    ).double()


def save_torchscript(
    module: torch.nn.Module, path: Path, example: tuple | None = None
) -> Path:
    """Write a TorchScript archive (torch 2.13 deprecates the API; we still load it).

    The module is scripted, or traced on the tensors of ``example`` when given.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation; a trace's TracerWarnings
        if example is None:
            torch.jit.save(torch.jit.script(module), str(path))
        else:
            torch.jit.save(torch.jit.trace(module, example), str(path))
    return path
