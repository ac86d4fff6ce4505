"""MkDocs hook and test helper: every public symbol is documented, with its sources.

mkdocstrings renders what it is given and says nothing about what is missing, so
this check walks the public surface itself and fails the build (``mkdocs build
--strict``) and ``tests/test_docs_api.py`` when:

- a name of ``wrt.__all__`` is not rendered by a ``::: NAME`` line of
  ``docs/reference/`` (``wrt.NAME`` or the object's full path); a ``:::`` line
  names something that cannot be imported; or a ``:::`` line would render a module
  where it means a function of the same name (``wrt.sensitivity`` is the function,
  but mkdocstrings shows the module ``wrt/sensitivity.py``: write
  ``wrt.sensitivity.sensitivity``);
- a public function, class, method or property has no docstring;
- a function or method (the engines' methods need only a docstring) whose
  docstring lacks an ``Args:`` section while it takes arguments, a
  ``Returns:``/``Yields:`` section while it returns something, or, for the
  functions of ``wrt.__all__``, a ``Raises:`` section;
- a method's docstring does not name the paper it implements (``SOURCES``).

It imports wrt (from ``src/`` when the package is not installed).
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"

# Which paper each method's docstring must cite: symbol -> words it must contain.
SOURCES: dict[str, tuple[str, ...]] = {
    "wrt.laplacian": ("Li et al. 2024",),
    "wrt.TaylorEngine": ("Dangel et al. 2025", "Griewank and Walther 2008"),
    "wrt.laplacian_estimate": ("Hutchinson 1990",),
    "wrt.HutchinsonEstimate": ("Hutchinson 1990",),
    "wrt.directional_derivative": ("Griewank and Walther 2008",),
    "wrt.sensitivity": ("Sobol' and Kucherenko 2009",),
    "wrt.Sensitivity": ("Sobol' and Kucherenko 2009",),
    "wrt.rows": ("Czarnecki et al. 2017",),
    "wrt.fit": ("Czarnecki et al. 2017",),
    "wrt.FiniteDiffEngine": ("Richardson",),
}

# Functions of wrt.__all__ that raise nothing of their own (no 'Raises:' needed).
RAISES_NOTHING = {"wrt.format_spec"}

# Classes whose methods need a docstring only: the engines' methods implement the
# Engine protocol (wrt.engines.base.Engine), whose docstrings give the arguments.
ENGINES = {"wrt.AutogradEngine", "wrt.TaylorEngine", "wrt.FiniteDiffEngine"}

# Modules rendered whole on the API pages (every public member must be documented).
MODULES = ("wrt.plots", "wrt.distributed")

_SECTION = re.compile(
    r"^\s*(Args|Arguments|Returns|Yields|Raises|Attributes):\s*$", re.M
)
_DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.M)
log = logging.getLogger("mkdocs.plugins.wrt.public_api")


def _import_wrt() -> Any:
    """``import wrt``, from ``src/`` when it is not installed."""
    try:
        import wrt
    except ImportError:
        sys.path.insert(0, str(ROOT / "src"))
        import wrt
    return wrt


def rendered_names(reference: Path = REFERENCE) -> set[str]:
    """The dotted names rendered by ``::: NAME`` lines of the reference pages."""
    names: set[str] = set()
    for page in sorted(reference.glob("*.md")):
        names.update(_DIRECTIVE.findall(page.read_text(encoding="utf-8")))
    return names


def _resolve(dotted: str) -> Any:
    """What a ``:::`` line shows: the longest importable module, then attributes.

    That is how mkdocstrings (griffe) reads a path: modules first.
    """
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _attribute(dotted: str) -> Any:
    """What the same path means in Python: attributes of the top package."""
    import importlib

    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for attr in parts[1:]:
        obj = getattr(obj, attr)
    return obj


def _shadowed(dotted: str) -> bool:
    """A path that means a function in Python but a module on the site.

    ``wrt.sensitivity`` is the function for ``import wrt`` and the module
    ``wrt/sensitivity.py`` for mkdocstrings; ``wrt.load`` is the function
    ``wrt.importers.load.load``, re-exported by a package that also has a module
    ``load``, which mkdocstrings follows instead. The full path of the function
    is never ambiguous.
    """
    obj = _resolve(dotted)
    try:
        meant = _attribute(dotted)
    except AttributeError:
        meant = obj
    if meant is not obj:
        return True
    if inspect.ismodule(obj):
        return False
    module = getattr(obj, "__module__", "") or ""
    name = getattr(obj, "__name__", "")
    if dotted == f"{module}.{getattr(obj, '__qualname__', name)}":
        return False
    return module.rsplit(".", 1)[-1] == name


def _sections(doc: str) -> set[str]:
    return set(_SECTION.findall(doc))


def _takes_arguments(fn: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return any(name not in ("self", "cls") for name in parameters)


def _returns_value(fn: Callable[..., Any]) -> bool:
    annotation = inspect.signature(fn).return_annotation
    return annotation not in (None, "None", inspect.Signature.empty)


def _function_problems(name: str, fn: Any, *, needs_raises: bool) -> Iterator[str]:
    doc = inspect.getdoc(fn) or ""
    if not doc.strip():
        yield f"{name}: no docstring"
        return
    sections = _sections(doc)
    if _takes_arguments(fn) and not sections & {"Args", "Arguments"}:
        yield f"{name}: its docstring has no 'Args:' section"
    if _returns_value(fn) and not sections & {"Returns", "Yields"}:
        yield f"{name}: its docstring has no 'Returns:' section"
    if needs_raises and "Raises" not in sections:
        yield f"{name}: its docstring has no 'Raises:' section"


def _class_problems(name: str, cls: type) -> Iterator[str]:
    doc = inspect.getdoc(cls) or ""
    if not doc.strip() or doc == inspect.getdoc(cls.__mro__[1]):
        yield f"{name}: no docstring of its own"
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, property):
            if not (value.__doc__ or "").strip():
                yield f"{name}.{attr}: property without a docstring"
        elif isinstance(value, staticmethod | classmethod) or inspect.isfunction(value):
            function = getattr(value, "__func__", value)
            if name in ENGINES:
                if not (inspect.getdoc(function) or "").strip():
                    yield f"{name}.{attr}: method without a docstring"
            else:
                yield from _function_problems(
                    f"{name}.{attr}", function, needs_raises=False
                )


def _module_members(module: Any) -> Iterator[tuple[str, Any]]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and (inspect.isfunction(v) or inspect.isclass(v))
            and getattr(v, "__module__", None) == module.__name__
        ]
    for attr in names:
        yield f"{module.__name__}.{attr}", getattr(module, attr)


def problems(reference: Path = REFERENCE) -> list[str]:
    """Every missing piece of documentation of wrt's public surface, one line each."""
    import importlib

    wrt = _import_wrt()
    rendered = rendered_names(reference)
    found: list[str] = []
    rendered_objects: list[Any] = []
    for dotted in sorted(rendered):
        try:
            rendered_objects.append(_resolve(dotted))
        except (ImportError, AttributeError):
            found.append(f"::: {dotted}: names nothing that can be imported")
            continue
        if _shadowed(dotted):
            found.append(
                f"::: {dotted}: the site would show the module of that name; "
                "write the function's full path (e.g. wrt.importers.load.load)"
            )
    symbols: list[tuple[str, Any, bool]] = []
    for attr in wrt.__all__:
        if attr == "__version__":
            continue
        symbols.append((f"wrt.{attr}", getattr(wrt, attr), True))
    for module_name in MODULES:
        if module_name not in rendered:
            found.append(f"{module_name}: not rendered by a '::: {module_name}' line")
        module = importlib.import_module(module_name)
        if not (module.__doc__ or "").strip():
            found.append(f"{module_name}: module without a docstring")
        for member_name, member in _module_members(module):
            symbols.append((member_name, member, False))
    for name, obj, top_level in symbols:
        if top_level and not any(obj is seen for seen in rendered_objects):
            found.append(
                f"{name}: in wrt.__all__ but no '::: {name}' line in docs/reference/"
            )
        if inspect.isclass(obj):
            found.extend(_class_problems(name, obj))
        elif callable(obj):
            needs_raises = top_level and name not in RAISES_NOTHING
            found.extend(_function_problems(name, obj, needs_raises=needs_raises))
        for words in SOURCES.get(name, ()):
            if words not in " ".join((inspect.getdoc(obj) or "").split()):
                found.append(f"{name}: its docstring does not cite {words!r}")
    return found


def on_post_build(**kwargs: Any) -> None:
    """Log each problem as a warning: ``mkdocs build --strict`` then fails."""
    for line in problems():
        log.warning("undocumented: %s", line)
