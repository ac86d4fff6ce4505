"""Griffe extension: Sphinx roles in wrt's docstrings shown as code on the site.

wrt's docstrings cross-reference with Sphinx roles (``:func:`partials```,
``:class:`~wrt.model.Model```), which mkdocstrings would print as they are. This
extension rewrites each to inline code before rendering: ``partials``, and for a
``~`` target its last component (``Model``). The source files are not changed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):`(~?)([^`]+)`")


def plain(text: str) -> str:
    """``text`` with every Sphinx role replaced by inline code."""

    def code(match: re.Match[str]) -> str:
        target = match[2]
        if match[1]:
            target = target.rsplit(".", 1)[-1]
        return f"`{target}`"

    return _ROLE.sub(code, text)


class SphinxRoles(griffe.Extension):
    """Rewrites the docstring of every object griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Called by griffe for each object; edits its docstring in place."""
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
