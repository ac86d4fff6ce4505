"""The public surface is documented: the same check ``make docs`` runs as a hook.

``docs/hooks/public_api.py`` walks ``wrt.__all__`` and the modules the API page
renders whole; these tests run it without MkDocs, and check that it does find what
it is meant to find.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def public_api():
    spec = importlib.util.spec_from_file_location(
        "wrt_docs_public_api", ROOT / "docs" / "hooks" / "public_api.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_every_public_symbol_is_rendered_and_documented(public_api):
    assert public_api.problems() == []


def test_a_missing_directive_is_found(public_api, tmp_path):
    for page in (ROOT / "docs" / "reference").glob("*.md"):
        text = page.read_text(encoding="utf-8").replace("::: wrt.laplacian\n", "")
        (tmp_path / page.name).write_text(text, encoding="utf-8")
    found = public_api.problems(tmp_path)
    assert any(line.startswith("wrt.laplacian: in wrt.__all__") for line in found)


def test_missing_sections_and_sources_are_found(public_api):
    def bare(model, points):
        return points

    bare.__doc__ = "One line only."
    found = list(public_api._function_problems("f", bare, needs_raises=True))
    assert found == [
        "f: its docstring has no 'Args:' section",
        "f: its docstring has no 'Raises:' section",
    ]

    def typed(model: object) -> int:
        """Doc.

        Args:
            model: a model.
        """
        return 1

    found = list(public_api._function_problems("g", typed, needs_raises=False))
    assert found == ["g: its docstring has no 'Returns:' section"]

    class Undocumented:
        def method(self):
            pass

        @property
        def value(self):
            return 1

    found = list(public_api._class_problems("C", Undocumented))
    assert "C: no docstring of its own" in found
    assert "C.method: no docstring" in found
    assert "C.value: property without a docstring" in found


def test_each_method_cites_its_paper(public_api):
    import inspect

    import wrt

    for name, sources in public_api.SOURCES.items():
        doc = " ".join((inspect.getdoc(getattr(wrt, name.split(".")[1])) or "").split())
        for words in sources:
            assert words in doc, (name, words)


def test_cli_reference_has_every_command_and_option():
    import typer.main

    from wrt.cli.app import app

    spec = importlib.util.spec_from_file_location(
        "wrt_docs_cli_reference", ROOT / "docs" / "hooks" / "cli_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.cli_reference()
    group = typer.main.get_command(app)
    context = group.context_class(group, info_name="wrt")
    commands = group.list_commands(context)
    assert len(commands) >= 8
    for name in commands:
        command = group.get_command(context, name)
        assert f"### `wrt {name}`" in text
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt != "--help" and not getattr(param, "hidden", False):
                    assert opt in text, (name, opt)
    page = module.on_page_markdown("# CLI\n\n<!-- wrt-cli-reference -->\n")
    assert "<!-- wrt-cli-reference -->" not in page and "### `wrt partials`" in page


def test_a_path_the_site_would_read_as_a_module_is_found(public_api, tmp_path):
    # wrt.sensitivity is the function in Python, the module for mkdocstrings.
    assert public_api._shadowed("wrt.sensitivity")
    assert public_api._shadowed("wrt.load")
    assert not public_api._shadowed("wrt.sensitivity.sensitivity")
    assert not public_api._shadowed("wrt.partials")
    (tmp_path / "api.md").write_text("::: wrt.sensitivity\n\n::: wrt.nothing_here\n")
    found = public_api.problems(tmp_path)
    assert any(line.startswith("::: wrt.sensitivity: the site") for line in found)
    assert "::: wrt.nothing_here: names nothing that can be imported" in found
