"""Make jet-for-pytorch 1.0.0 importable on Python 3.11 (bench environment only).

jet-for-pytorch declares Python >= 3.12, but its only 3.12-only statement is the
``type PyTree[Leaf] = (...)`` alias in ``jet/utils.py`` (PEP 695), used in
annotations only. This script rewrites that one statement into an equivalent
3.11 generic alias (``Union[Leaf, tuple, list, dict]`` over a TypeVar), so that
``PyTree[Tensor]`` in the annotations still evaluates. It changes nothing else,
is idempotent, and runs in the interpreter whose ``jet`` it patches::

    .bench-venv/bin/python bench/patch_jet.py

It is never applied to wrt's own environment: jet is a benchmark peer, not a
dependency.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

#: The PEP 695 statement, up to its closing parenthesis (it spans a few lines).
STATEMENT = re.compile(r"^type PyTree\[Leaf\] = \((?:.|\n)*?^\)\n", re.MULTILINE)

REPLACEMENT = """\
# Patched by wrt's bench/patch_jet.py: PEP 695 alias -> 3.11 generic alias.
from typing import TypeVar as _TypeVar, Union as _Union

Leaf = _TypeVar("Leaf")
PyTree = _Union[Leaf, tuple[Any, ...], list[Any], dict[str, Any]]
"""


def main() -> int:
    """Patch ``jet/utils.py`` of the running interpreter; 0 on success."""
    spec = importlib.util.find_spec("jet")
    if spec is None or not spec.submodule_search_locations:
        print("patch_jet: jet-for-pytorch is not installed here; nothing to do")
        return 0
    utils = Path(next(iter(spec.submodule_search_locations))) / "utils.py"
    text = utils.read_text()
    if "Patched by wrt's bench/patch_jet.py" in text:
        print(f"patch_jet: {utils} is already patched")
        return 0
    patched, count = STATEMENT.subn(REPLACEMENT, text)
    if count != 1:
        print(f"patch_jet: the PyTree alias was not found in {utils}", file=sys.stderr)
        return 1
    utils.write_text(patched)
    for stale in utils.parent.glob("__pycache__/utils.*.pyc"):
        stale.unlink()
    print(f"patch_jet: patched {utils}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
