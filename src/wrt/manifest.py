"""What a streamed run computes, recorded so that a resume proves it is the same run.

A streamed run writes ``manifest.json`` beside its parts. It holds everything
that changes a number or a column of the output: the model's content hash, its
input and output names, the source file (path, size, modification time, columns),
the specs, chunk size, engine, dtype, output format and wrt's version. A resume
compares the new request with it field by field and refuses any difference,
naming the fields and both values. :func:`prepare_parts` creates the parts
folder with its manifest, or checks it when resuming.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from wrt.errors import ResumeError
from wrt.model import Model

MANIFEST = "manifest.json"

#: what each field of the manifest is, for messages
LABELS = {
    "model": "the model (hash of its code, weights and names)",
    "inputs": "the input names",
    "outputs": "the output names",
    "source": "the points file",
    "source_bytes": "the points file's size",
    "source_mtime_ns": "the points file's modification time (it was rewritten)",
    "source_columns": "the points file's columns",
    "chunk_size": "the chunk size",
    "specs": "the specs",
    "engine": "the engine",
    "dtype": "the dtype",
    "format": "the output format",
    "wrt_version": "wrt's version",
}


def model_hash(model: Model) -> str:
    """A SHA-256 of what the model computes: its code, weights, names and source file.

    The module's structure (``repr``, and TorchScript code where there is some),
    every parameter and buffer (name, dtype, shape, bytes), the input and output
    names and, when the model came from a file, the file's bytes. Two models that
    differ in any weight, activation or name hash differently.
    """
    digest = hashlib.sha256()
    module = model.module
    digest.update(type(module).__qualname__.encode())
    digest.update(repr(module).encode())
    code = getattr(module, "code", None)
    if isinstance(code, str):
        digest.update(code.encode())
    for name, tensor in module.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}".encode())
        if flat.numel():
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    digest.update(json.dumps([model.inputs, model.outputs]).encode())
    source = Path(str(model.source))
    if model.source not in ("module", "") and source.is_file():
        with source.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest of a new run into its parts folder."""
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))


def check_manifest(folder: Path, manifest: dict[str, Any], restart: str) -> None:
    """Refuse a resume whose request differs from the one recorded in ``folder``.

    Args:
        folder: the parts folder of the interrupted run.
        manifest: the new request.
        restart: how the user starts afresh, for the message (``--overwrite``).

    Raises:
        ResumeError: no readable manifest, or any field differs (each is named,
            with the recorded and the new value).
    """
    path = folder / MANIFEST
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as exc:
        raise ResumeError(
            f"Cannot resume into {folder}: its manifest ({path.name}) is missing or "
            f"damaged ({exc}), so nothing proves its parts belong to this run. "
            f"Start afresh with {restart}."
        ) from None
    changed = [key for key in manifest if saved.get(key) != manifest[key]]
    changed += [key for key in saved if key not in manifest]
    if changed:
        details = "; ".join(
            f"{key} = {LABELS.get(key, key)}: {_short(saved.get(key))} then, "
            f"{_short(manifest.get(key))} now"
            for key in changed
        )
        raise ResumeError(
            f"Cannot resume into {folder}: {', '.join(changed)} changed since the "
            f"interrupted run ({details}). Resume with the same model, points file, "
            f"specs and options, or start afresh with {restart}."
        )


def prepare_parts(
    parts: Path,
    sink: Path,
    manifest: dict,
    resume: bool,
    overwrite: bool,
    resume_option: str,
    restart_option: str,
) -> tuple[int, bool]:
    """Create (or, resuming, check) the parts folder of a streamed run.

    Args:
        parts: the parts folder.
        sink: the output file.
        manifest: the run's manifest (written, or checked when resuming).
        resume: continue an interrupted run.
        overwrite: an interrupted run's parts may be deleted.
        resume_option: how messages name the resume option.
        restart_option: how messages name the option that starts afresh.

    Returns:
        (finished parts to skip, whether this call created the folder).

    Raises:
        ResumeError: the manifest differs, there is nothing to resume, or an
            interrupted run's parts are in the way and ``overwrite`` is False.
    """
    if resume:
        if parts.exists():
            check_manifest(parts, manifest, restart=restart_option)
            for stale in parts.glob("*.tmp"):
                stale.unlink()
            finished = sorted(parts.glob("part-*"))
            numbers = {int(p.name[5:13]) for p in finished}
            done = 0
            while done in numbers:  # only a contiguous run of parts counts
                done += 1
            for extra in [p for p in finished if int(p.name[5:13]) >= done]:
                extra.unlink(missing_ok=True)
            return done, False
        if sink.exists():
            raise ResumeError(
                f"Nothing to resume into {sink}: it is complete (there is no "
                f"{parts.name} folder of an interrupted run). Use it as it is, or "
                f"compute it again with {restart_option}."
            )
    elif parts.exists():
        if not overwrite:
            raise ResumeError(
                f"{parts} holds the parts of an interrupted run into {sink}. Continue "
                f"it with {resume_option}, or start afresh with {restart_option} (its "
                "parts are then deleted)."
            )
        shutil.rmtree(parts)
    parts.mkdir(parents=True)
    write_manifest(parts, manifest)
    return 0, True


def first_missing(folder: Path) -> Path | None:
    """The outermost folder on the way to ``folder`` that does not exist yet."""
    missing = None
    while not folder.exists() and folder.parent != folder:
        missing, folder = folder, folder.parent
    return missing


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64:  # a hash: its head is enough
        return value[:12]
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:28] + "..." + text[-28:]
