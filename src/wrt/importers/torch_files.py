"""PyTorch files: TorchScript archives and ``state_dict`` files.

Nothing in a file is trusted (``torch.export`` programs: see :mod:`torch_export`):

- TorchScript archives hold TorchScript code, which ``torch.jit.load`` compiles with
  its own restricted interpreter rather than Python's pickle.
- ``torch.save`` files are only ever read with ``torch.load(weights_only=True)``:
  tensors and containers, never Python objects or code.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wrt.errors import (
    ModelError,
    ModelFormatError,
    UnsupportedFormatError,
)
from wrt.importers.torchscript import script_model
from wrt.model import DTypeLike, Model, wrap
from wrt.names import did_you_mean

# keys under which training scripts commonly nest the weights in a checkpoint dict
_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")
# prefixes that wrappers add to every key: DataParallel / DDP, torch.compile
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def load_torchscript(
    path: Path,
    inputs: Sequence[str] | None,
    outputs: Sequence[str] | None,
    *,
    dtype: DTypeLike = None,
) -> Model:
    """Load a TorchScript archive on the CPU as a :class:`Model`.

    The loaded module becomes a model as
    :func:`wrt.importers.torchscript.script_model` says: a ``forward`` of several
    tensor arguments gets the columns split over them, and a module traced with a
    fixed batch runs in blocks of that batch (with a ``FixedBatchWarning``).

    Raises:
        ModelFormatError: the archive is damaged or not loadable by this torch.
        ModelError: see :func:`~wrt.importers.torchscript.script_model`.
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
            f"{first_line(exc)}. Re-save it with torch.jit.save from the original "
            "module."
        ) from exc
    return script_model(module, path, inputs, outputs, dtype=dtype)


# --- torch.save files -----------------------------------------------------------


def load_state_dict(
    path: Path,
    inputs: Sequence[str] | None,
    outputs: Sequence[str] | None,
    *,
    dtype: DTypeLike = None,
    module: nn.Module | str | None = None,
) -> Model:
    """Load weights saved with ``torch.save(model.state_dict(), path)``.

    The file is read with ``torch.load(weights_only=True)`` (zip or legacy
    format): tensors and containers only, never Python objects or code. The
    weights are put into ``module`` with ``strict=True`` and keep the dtype they
    were saved in. A checkpoint dict holding the weights under ``state_dict``,
    ``model_state_dict``, ``model``, ``net`` or ``module`` is unwrapped, and a
    ``module.`` / ``_orig_mod.`` prefix on every key (DataParallel, torch.compile)
    is dropped when the keys then match.

    Args:
        path: the file.
        inputs: input names (default ``x1 .. xn``).
        outputs: output names (default ``y`` or ``y1 .. ym``).
        dtype: ``"float64"`` for a float64 copy.
        module: the architecture: an instance (its own weights are replaced), or
            ``"package.module:Class"`` (see :func:`resolve_module`).

    Returns:
        The model.

    Raises:
        UnsupportedFormatError: the file holds pickled Python objects (a whole
            module, or anything but tensors), which wrt never unpickles.
        ModelFormatError: no ``module`` given, damaged file, or the keys or shapes
            do not match the module.
    """
    state = _state_dict(_weights_only_load(path), path)
    if module is None:
        raise ModelFormatError(
            f"{path} holds weights only ({len(state)} tensors: "
            f"{_preview(state)}), not the network that uses them. Pass the "
            "architecture: wrt.load(path, module=MyNet()) in Python, or "
            "--module package.module:MyNet on the command line."
        )
    if isinstance(module, str):
        module = resolve_module(module)
    if not isinstance(module, nn.Module):
        raise ModelError(
            f"module= must be a torch.nn.Module or 'package.module:Class', not "
            f"{type(module).__name__}."
        )
    state = _strip_wrapper_prefix(state, module)
    _check_keys(state, module, path)
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:  # size mismatches: torch's message names them
        raise ModelFormatError(
            f"The weights in {path} do not fit {type(module).__name__}: "
            f"{' '.join(str(exc).split())}. Build the module with the same layer "
            "sizes as the one that was saved."
        ) from exc
    return wrap(module, inputs, outputs, dtype=dtype, source=str(path))


def _import_here(name: str) -> Any:
    """Import ``name``, also from the current folder (as ``python -m`` would).

    The ``wrt`` console script does not put the current folder on ``sys.path``;
    a module the user keeps there (``mynets.py``) is found through it for this
    import only.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        top = name.split(".")[0]
        if exc.name != top or here in sys.path or "" in sys.path:
            raise  # not the user's module that is missing, or already searched
        sys.path.insert(0, here)
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(here)


def resolve_module(spec: str) -> nn.Module:
    """Build a module from ``"package.module:Class"`` (the CLI's ``--module``).

    The attribute after the colon may be a class or a factory function (called
    with no arguments), or a module instance; dots walk nested attributes
    (``pkg.nets:Zoo.Small``). Importing runs that package's code: it is the
    user's own code, named on purpose.

    Args:
        spec: ``"package.module:Name"``.

    Returns:
        The module instance.

    Raises:
        ModelError: bad spec, import failure, missing attribute, a class that
            needs arguments, or something that is not a ``torch.nn.Module``.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ModelError(
            f"Bad module spec {spec!r}. Write 'package.module:Class', e.g. "
            "'mynets:MyNet' for class MyNet in mynets.py."
        )
    try:
        found: Any = _import_here(module_name)
    except ImportError as exc:
        raise ModelError(
            f"Cannot import {module_name!r} (from {spec!r}): {exc}. Run from the "
            "directory that holds it, add that directory to PYTHONPATH, or "
            "install the package."
        ) from exc
    for part in attribute.split("."):
        if not hasattr(found, part):
            public = [name for name in dir(found) if not name.startswith("_")]
            raise ModelError(
                f"{module_name}:{attribute}: {part!r} not found in "
                f"{getattr(found, '__name__', module_name)}."
                f"{did_you_mean(part, public)}"
            )
        found = getattr(found, part)
    if not isinstance(found, nn.Module):
        if not callable(found):
            raise ModelError(
                f"{spec} is of type {type(found).__name__}, not a class or function "
                "that builds a torch.nn.Module."
            )
        try:
            found = found()
        except TypeError as exc:
            raise ModelError(
                f"Calling {spec}() with no arguments failed: {exc}. Add a function "
                "with no arguments that builds the network, e.g. "
                "def make(): return MyNet(width=64), and pass 'package.module:make'."
            ) from exc
    if not isinstance(found, nn.Module):
        raise ModelError(
            f"{spec}() returned {type(found).__name__}, not a torch.nn.Module."
        )
    return found


def restricted_load(source: Path | io.BytesIO) -> Any:
    """``torch.load(weights_only=True)``: tensors and containers, never code."""
    with warnings.catch_warnings():
        # torch notes that pickle protocols > 2 may hold opcodes its restricted
        # unpickler lacks; it then fails, and the caller reports that failure.
        warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
        return torch.load(source, map_location="cpu", weights_only=True)


def _weights_only_load(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with wrt's messages for its refusals."""
    try:
        return restricted_load(path)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, ...
        text = str(exc)
        culprit = re.search(r"GLOBAL ([\w.]+)", text)
        if culprit or "Weights only load failed" in text:
            what = f" (it refers to {culprit.group(1)})" if culprit else ""
            raise UnsupportedFormatError(
                f"{path} holds pickled Python objects, not only tensors{what}. wrt "
                "never unpickles code. If this is a whole module saved with "
                "torch.save(model), re-save its weights with "
                "torch.save(model.state_dict(), path) and load them with "
                "wrt.load(path, module=MyNet()), or export it with "
                "torch.export.save."
            ) from exc
        raise ModelFormatError(
            f"{path} is not a readable torch.save file (damaged or truncated?): "
            f"{first_line(exc)}. Re-save it with torch.save(model.state_dict(), "
            "path)."
        ) from exc


def _state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The name -> tensor mapping in ``obj``, unwrapping a checkpoint dict."""
    if _is_tensor_map(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        nested = [k for k in _CHECKPOINT_KEYS if _is_tensor_map(obj.get(k))]
        if len(nested) == 1:
            return dict(obj[nested[0]])
        keys = ", ".join(repr(k) for k in list(obj)[:8])
        raise ModelFormatError(
            f"{path} holds a dict with keys {keys}, not a state_dict (names -> "
            "tensors). Save the weights alone: torch.save(model.state_dict(), path)."
        )
    raise ModelFormatError(
        f"{path} holds a {type(obj).__name__}, not a state_dict (names -> tensors). "
        "Save the weights with torch.save(model.state_dict(), path)."
    )


def _is_tensor_map(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
        )
    )


def _strip_wrapper_prefix(
    state: dict[str, torch.Tensor], module: nn.Module
) -> dict[str, torch.Tensor]:
    expected = set(module.state_dict())
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            stripped = {k.removeprefix(prefix): v for k, v in state.items()}
            if set(stripped) == expected:
                return stripped
    return state


def _check_keys(state: dict[str, torch.Tensor], module: nn.Module, path: Path) -> None:
    expected = list(module.state_dict())
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if not missing and not unexpected:
        return
    parts = []
    if missing:
        parts.append(f"missing from the file: {', '.join(missing)}")
    if unexpected:
        parts.append(f"in the file but not in the module: {', '.join(unexpected)}")
    raise ModelFormatError(
        f"The weights in {path} do not fit {type(module).__name__} ("
        f"{'; '.join(parts)}). Pass the module class the weights were saved from, "
        "built with the same layers."
    )


def _preview(state: Mapping[str, torch.Tensor], limit: int = 4) -> str:
    items = [f"{k} {tuple(v.shape)}" for k, v in list(state.items())[:limit]]
    return ", ".join(items) + (", ..." if len(state) > limit else "")


def first_line(exc: BaseException) -> str:
    """``"Type: first line of the message"``, for one-line errors."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
