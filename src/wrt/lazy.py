"""Public names of a package imported on first use (PEP 562), for a light ``import``.

:func:`install` gives the package a module ``__getattr__`` that imports a public
name's module when the name is first read, and keeps the value; ``__dir__`` lists
the names before they are imported. ``import wrt`` thereby costs what
:mod:`wrt.errors` costs, not torch's import, and ``wrt --help`` answers at once.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wrt.names import did_you_mean


class LazyPackage(types.ModuleType):
    """A package whose public functions win over its same-named submodules.

    Importing the submodule ``wrt.sensitivity`` (by ``import wrt.plots``, say) binds
    it on the package, which would hide the function ``wrt.sensitivity`` that the
    package exports; eager imports in ``__init__`` made the function win, and so
    does this, by not binding a submodule over an exported name.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        exports = self.__dict__.get("_EXPORTS", {})
        if name in exports and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


def install(
    package: str, exports: Mapping[str, str], submodules: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Make ``package``'s exported names and submodules load on first use.

    Args:
        package: the package's ``__name__``; its module must define ``__all__``
            and ``_EXPORTS`` (this ``exports``) before the call.
        exports: public name -> the module that defines it.
        submodules: names of submodules reachable as attributes (``wrt.plots``).

    Returns:
        The module's ``__getattr__`` and ``__dir__``, to bind in its namespace.
        The module's class becomes :class:`LazyPackage` (a module's class may be
        set to a ``ModuleType`` subclass: Python reference, "Customizing module
        attribute access").

    Raises:
        AttributeError: from ``__getattr__``, for a name that is not public, with
            the closest public name when one is close.
    """
    module = sys.modules[package]
    namespace = module.__dict__

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            public = [*namespace.get("__all__", ()), *submodules]
            hint = "" if name.startswith("__") else did_you_mean(name, public)
            raise AttributeError(f"module {package!r} has no attribute {name!r}.{hint}")
        namespace[name] = value  # resolved once; later reads skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports, *submodules})

    module.__class__ = LazyPackage
    return __getattr__, __dir__
