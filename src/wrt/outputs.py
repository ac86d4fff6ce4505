"""Where results go: checked before anything is computed, written atomically.

Every command that writes calls :func:`output_file` (one file) or
:func:`output_folder` (a folder of files) before it computes, so that a bad
destination costs nothing and leaves nothing behind. The checks:

- the path is not a folder (for a file) nor a file (for a folder);
- it does not lie under a file (``out.csv/x.csv``);
- the nearest folder that exists can be written (a probe file is created and
  removed: permission bits do not stop root, a read-only mount or ``/proc`` does);
- it is none of the run's inputs (the points, the model, the training data),
  compared by identity, so ``./points.csv``, an absolute path, a symlink or a
  hard link to the points are all refused;
- it has a suffix wrt can write, when the caller names the valid ones;
- an existing file is replaced only when the caller allows it.

Missing folders on the way are created when the results are written, not before.

The policy on existing files (docs/guide.md, "Output files"): a table of
partials (``wrt partials -o``) is never silently replaced by a different run:
it may have cost hours; ``--overwrite`` replaces it and ``--resume`` continues
the run that wrote its parts. Reports and figures (``wrt report -o``,
``wrt sens --plots``, ``wrt demo --out``) are rebuilt from their inputs in
seconds and are replaced, as a build replaces its products. An input of the run
is never replaced, whatever the options.

:func:`atomic_write` writes through a temporary name in the same folder and
renames it into place, so a failure or Ctrl-C leaves the old file (or nothing).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from wrt.errors import OutputPathError

PathLike = str | os.PathLike


def output_file(
    path: PathLike,
    *,
    option: str,
    inputs: Iterable[PathLike | None] = (),
    suffixes: Iterable[str] | None = None,
    overwrite: bool = True,
    how_to_replace: str = "--overwrite",
) -> Path:
    """Check that results can be written to the file ``path``; return it.

    Args:
        path: the output file.
        option: how the user named it, for messages (``-o``, ``report -o``,
            ``sink``).
        inputs: the run's input files (None entries are skipped); the output may
            be none of them.
        suffixes: the suffixes that can be written (lower case, with the dot), or
            None for any.
        overwrite: whether an existing file may be replaced.
        how_to_replace: what the user passes to allow replacing, for the message.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OutputPathError: any check above fails; the message names ``option``, the
            path, what is wrong and how to fix it.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(
            f"{option} {path} is a folder; give a file name in it, e.g. "
            f"{option} {path / ('result' + _example(suffixes))}."
        )
    _not_an_input(path, option, inputs)  # first: the gravest mistake
    if suffixes is not None:
        valid = tuple(suffixes)
        if path.suffix.lower() not in valid:
            raise OutputPathError(
                f"{option} {path}: cannot write a {path.suffix or 'suffix-less'} "
                f"file; use one of {', '.join(valid)}."
            )
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise OutputPathError(
                f"{option} {path} exists and is not a regular file; give a new file "
                "name."
            )
        if not overwrite:
            raise OutputPathError(
                f"{option} {path} exists (from an earlier run?); it is not replaced "
                f"unless you pass {how_to_replace}. Or give another file name."
            )
    _writable(path.parent, option, path)
    return path


def output_folder(
    path: PathLike,
    *,
    option: str,
    inputs: Iterable[PathLike | None] = (),
    files: Iterable[str] = (),
) -> Path:
    """Check that results can be written into the folder ``path``; return it.

    Args:
        path: the output folder (created when the results are written).
        option: how the user named it, for messages (``--plots``, ``--out``).
        inputs: the run's input files; none of the ``files`` written into the
            folder may be one of them.
        files: names of the files that will be written into the folder.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OutputPathError: the path is a file, lies under a file, cannot be
            written, or a file to be written in it is an input of the run.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(
            f"{option} {path} is a file, not a folder; give a folder (it is created "
            "if missing)."
        )
    for name in files:
        _not_an_input(path / name, option, inputs)
    _writable(path, option, path)
    return path


def atomic_write(path: PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` then rename the temporary file to ``path``.

    The temporary file is in the same folder (the rename is atomic) and keeps the
    suffix (writers choose the format by it). On any failure, including Ctrl-C,
    it is removed and ``path`` is left as it was. Missing folders are created.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _example(suffixes: Iterable[str] | None) -> str:
    return next(iter(suffixes), ".csv") if suffixes is not None else ".csv"


def _not_an_input(path: Path, option: str, inputs: Iterable[PathLike | None]) -> None:
    for source in inputs:
        if source is None:
            continue
        source = Path(source)
        if _same(path, source):
            raise OutputPathError(
                f"{option} {path} is the input file {source}: writing there would "
                "destroy it. Give another output file."
            )


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file (symlinks, hard links, ./ and .. included)."""
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _writable(folder: Path, option: str, target: Path) -> None:
    """The nearest existing folder at or above ``folder`` must accept a new file."""
    existing = folder
    while not existing.exists() and not existing.is_symlink():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OutputPathError(
            f"{option} {target} lies under {existing}, which is a file, not a "
            "folder. Give a path in a folder."
        )
    try:
        with _probe(existing):
            pass
    except OSError as exc:
        raise OutputPathError(
            f"{option} {target} cannot be written: {existing} does not accept new "
            f"files ({exc.strerror or exc}). Give a path in a writable folder."
        ) from None


@contextlib.contextmanager
def _probe(folder: Path) -> Iterator[None]:
    handle, name = tempfile.mkstemp(prefix=".wrt-probe-", dir=folder)
    os.close(handle)
    try:
        yield
    finally:
        os.unlink(name)
