"""One table of bad and unusual input over the CLI and the API (tests/bad_input/).

For every case: the right exit code or exception, a message that names the problem,
no traceback, and the user's files intact (no new litter on refusal).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bad_input
from bad_input.harness import Api, Case, Cli
from wrt.cli.app import app


def _all_cases() -> list[Case]:
    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules(bad_input.__path__), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            module = importlib.import_module(f"bad_input.{info.name}")
            cases.extend(module.CASES)
    return cases


CASES = _all_cases()


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_case_ids_are_unique():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input(case: Case, tmp_path: Path) -> None:
    if isinstance(case, Cli):
        argv = case.argv(tmp_path)
        before = _snapshot(tmp_path)
        result = CliRunner().invoke(app, argv, catch_exceptions=True)
        said = result.stderr + result.stdout
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{case.id}: uncaught {result.exception!r}\n{said}"
        )
        assert result.exit_code == case.code, (
            f"{case.id}: exit {result.exit_code}\n{said}"
        )
        assert "Traceback" not in said, said
        refused = case.code != 0
    else:
        assert isinstance(case, Api)
        before = _snapshot(tmp_path)
        with pytest.raises(case.raises) as caught:
            case.call(tmp_path)
        said = str(caught.value)
        refused = True
    assert re.search(case.says, said, re.IGNORECASE | re.DOTALL), (
        f"{case.id}: message does not match {case.says!r}:\n{said}"
    )
    after = _snapshot(tmp_path)
    for path, content in before.items():
        assert path in after, f"{case.id}: {path.name} was removed"
        assert after[path] == content, f"{case.id}: {path.name} was changed"
    if refused and not case.new_files:
        assert set(after) == set(before), (
            f"{case.id}: left {sorted(p.name for p in set(after) - set(before))}"
        )
