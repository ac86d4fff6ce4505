"""The shapes of the example inputs a TorchScript trace was made with, read as data.

``torch.jit.trace`` (torch >= 1.13) stores the example inputs of ``forward`` in the
archive's ``traced_inputs.pkl``; ``torch.jit.load`` does not give them back. Their
shapes say how many columns each argument of ``forward`` takes, which a trace's
code does not (a critic ``Q(obs, act)`` that concatenates its arguments runs with
any split of its columns). The member is a pickle: :func:`traced_shapes` never
unpickles it, it only reads the opcodes (:func:`pickletools.genops` decodes without
executing) and picks out the size tuple of every ``torch._utils._rebuild_tensor_v2``
call, in order.
"""

from __future__ import annotations

import pickletools
import zipfile
from collections.abc import Sequence
from pathlib import Path

# a larger member is not a list of a few example tensors: not read
_MAX_BYTES = 1 << 20
_INTS = frozenset({"BININT", "BININT1", "BININT2", "INT", "LONG1"})
_MEMO = frozenset({"BINPUT", "LONG_BINPUT", "MEMOIZE", "PUT"})
_SMALL_TUPLES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}


def traced_shapes(path: Path) -> list[tuple[int, ...]] | None:
    """The shapes of the traced example inputs of ``forward``, in order, or None.

    Args:
        path: a TorchScript archive.

    Returns:
        One shape per example tensor; None when the archive has no traced inputs
        (a scripted module, an older torch) or they cannot be read as expected.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            member = next(
                (
                    info
                    for info in archive.infolist()
                    if info.filename.endswith("/traced_inputs.pkl")
                ),
                None,
            )
            if member is None or member.file_size > _MAX_BYTES:
                return None
            data = archive.read(member)
        return _tensor_shapes(data)
    except Exception:  # damaged, unexpected layout: the shapes are a hint only
        return None


def _tensor_shapes(data: bytes) -> list[tuple[int, ...]] | None:
    """Size tuples of the tensors rebuilt in a torch pickle, read from its opcodes."""
    ops = [
        (op.name, arg)
        for op, arg, _ in pickletools.genops(data)
        if op.name not in _MEMO
    ]
    names = [arg for name, arg in ops if name in ("GLOBAL", "STACK_GLOBAL")]
    if not any(str(n).endswith("_rebuild_tensor_v2") for n in names):
        return None
    if "forward" not in [arg for name, arg in ops if name == "BINUNICODE"]:
        return None
    shapes = []
    for i, (name, _) in enumerate(ops):
        if name != "BINPERSID":  # a tensor's storage; then offset, then size
            continue
        j = i + 1
        if j >= len(ops) or ops[j][0] not in _INTS:
            return None
        shape = _tuple_of_ints(ops, j + 1)
        if shape is None:
            return None
        shapes.append(shape)
    return shapes


def _tuple_of_ints(
    ops: Sequence[tuple[str, object]], start: int
) -> tuple[int, ...] | None:
    """The tuple of ints built by the opcodes from ``start`` on, or None."""
    if start >= len(ops):
        return None
    if ops[start][0] == "EMPTY_TUPLE":
        return ()
    marked = ops[start][0] == "MARK"
    values: list[int] = []
    for name, arg in ops[start + marked :]:
        if name in _INTS and isinstance(arg, int):
            values.append(arg)
        elif marked and name == "TUPLE":
            return tuple(values)
        elif not marked and _SMALL_TUPLES.get(name) == len(values):
            return tuple(values)
        else:
            return None
    return None
