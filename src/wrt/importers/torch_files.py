"""PyTorch files: TorchScript archives (``torch.jit.save``).

TorchScript archives hold TorchScript code, which ``torch.jit.load`` compiles with
its own restricted interpreter rather than Python's pickle.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from wrt.errors import ModelFormatError
from wrt.model import Model, wrap


def load_torchscript(
    path: Path, inputs: Sequence[str] | None, outputs: Sequence[str] | None
) -> Model:
    """Load a TorchScript archive on the CPU as a :class:`Model`.

    Raises:
        ModelFormatError: the archive is damaged or not loadable by this torch.
    """
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript in favour of torch.export; the user
            # chose this file, and loading it is still supported.
            warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError subclasses of many kinds
        raise ModelFormatError(
            f"{path} looks like a TorchScript archive but torch.jit.load failed: "
            f"{exc}. Re-save it with torch.jit.save from the original module."
        ) from exc
    return wrap(module, inputs, outputs, source=str(path))
