"""Tell a model file's format from its content, never from its extension.

Only the first bytes and, for zip archives, the member names are read; nothing in
the file is executed or unpickled here.
"""

from __future__ import annotations

import bz2
import lzma
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

_HDF5 = b"\x89HDF\r\n\x1a\n"
_ZIP = b"PK\x03\x04"
# ONNX files are protobuf ModelProto messages: field 1 (ir_version, varint) first,
# then usually producer_name (2), graph (7) or opset_import (8).
_ONNX_NEXT_FIELDS = {0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42}
# Pickles that name scikit-learn or joblib in their first bytes: a pickled or
# joblib-dumped estimator (torch files never do).
_SKLEARN_MARKS = (b"sklearn", b"joblib")
_PEEK = 65536


@dataclass(frozen=True)
class FileFormat:
    """What a file is.

    Attributes:
        kind: a short id: ``torchscript``, ``torch-export``, ``torch-pickle``,
            ``keras``, ``keras-h5``, ``onnx``, ``npz``, ``skops``,
            ``sklearn-pickle`` (pickle / joblib, refused), ``tf-savedmodel``,
            ``empty``, ``unknown``.
        description: a phrase for messages, e.g. "a TorchScript archive".
    """

    kind: str
    description: str


def _pickle_kind(data: bytes) -> FileFormat:
    """A pickle that names scikit-learn or joblib (refused by wrt.load)."""
    if b"sklearn" in data:
        return FileFormat(
            "sklearn-pickle", "a pickled scikit-learn object (pickle or joblib)"
        )
    return FileFormat("sklearn-pickle", "a joblib file (pickled Python objects)")


def sniff(path: str | Path) -> FileFormat:
    """Detect the format of the model at ``path`` from its bytes.

    Args:
        path: a file, or a directory (TensorFlow SavedModel).

    Returns:
        The detected format; ``unknown`` with a description of what the file looks
        like when nothing matched.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            return FileFormat("tf-savedmodel", "a TensorFlow SavedModel directory")
        return FileFormat("unknown", "a directory, not a model file")
    with path.open("rb") as handle:
        start = handle.read(_PEEK)
    head = start[:64]
    if not head:
        return FileFormat("empty", "an empty file (0 bytes)")
    if head.startswith(_HDF5):
        return FileFormat("keras-h5", "an HDF5 file (legacy Keras .h5)")
    if head.startswith(_ZIP):
        return _sniff_zip(path)
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        if any(mark in start for mark in _SKLEARN_MARKS):
            return _pickle_kind(start)
        return FileFormat("torch-pickle", "a Python pickle (legacy torch.save)")
    if head[:1] in (b"c", b"(", b"}", b"]") and b"sklearn" in start:
        return _pickle_kind(start)  # pickle protocols 0 and 1 (text-like opcodes)
    inflated = _inflated_pickle(start)
    if inflated is not None:
        return _pickle_kind(inflated)
    if head[:1] == b"\x08" and 0 < head[1] < 32 and head[2] in _ONNX_NEXT_FIELDS:
        return FileFormat("onnx", "an ONNX model (protobuf)")
    return FileFormat("unknown", _looks_like(head))


def _sniff_zip(path: Path) -> FileFormat:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return FileFormat("unknown", "a damaged or truncated zip archive")
    tails = {name.split("/", 1)[-1] for name in names}
    if "constants.pkl" in tails and any(t.startswith("code/") for t in tails):
        return FileFormat("torchscript", "a TorchScript archive (torch.jit.save)")
    if "archive_format" in tails or any(t.startswith("models/") for t in tails):
        return FileFormat("torch-export", "a torch.export program (.pt2)")
    if "data.pkl" in tails:
        return FileFormat("torch-pickle", "a torch.save archive (state_dict or pickle)")
    if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
        return FileFormat("keras", "a Keras 3 .keras archive")
    if "schema.json" in names and all(
        n == "schema.json" or n.endswith(".npy") for n in names
    ):
        return FileFormat("skops", "a scikit-learn estimator saved with skops")
    if names and all(n.endswith(".npy") for n in names):
        return FileFormat("npz", "a numpy .npz archive of arrays")
    return FileFormat("unknown", "a zip archive that is not a known model format")


def _inflated_pickle(start: bytes) -> bytes | None:
    """The first bytes of a compressed pickle that names scikit-learn or joblib.

    joblib compresses with zlib, gzip, bz2 or xz/lzma. Only the first bytes are
    decompressed (no code runs). None when ``start`` is not such a file.
    """
    if start[:1] == b"x" and start[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        inflate = zlib.decompressobj()
    elif start[:2] == b"\x1f\x8b":
        inflate = zlib.decompressobj(wbits=31)
    elif start[:3] == b"BZh":
        inflate = bz2.BZ2Decompressor()
    elif start[:6] == b"\xfd7zXZ\x00" or start[:3] == b"\x5d\x00\x00":
        inflate = lzma.LZMADecompressor()
    else:
        return None
    try:
        data = inflate.decompress(start)
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError):
        return None
    found = data[:1] == b"\x80" and any(mark in data for mark in _SKLEARN_MARKS)
    return data if found else None


def _looks_like(head: bytes) -> str:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"a binary file starting with {head[:8]!r}"
    if not all(char.isprintable() or char in "\r\n\t" for char in text):
        return f"a binary file starting with {head[:8]!r}"
    first = text.splitlines()[0][:40] if text.strip() else ""
    return f"a text file starting with {first!r}"
