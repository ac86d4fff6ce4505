"""Every code block of README.md and docs/ runs as written.

A page's blocks run in order, in one temporary folder that holds copies of
``tests/fixtures/`` (without the corpus) and ``docs/data/``, so the paths the pages
use (``tests/fixtures/seed000.keras``, ``docs/data/train.csv``) work there as they
do from the repository root:

- a ``python`` block is executed; the blocks of one page share their variables,
  like the cells of a notebook;
- a ``bash``/``sh``/``shell`` block must hold only ``wrt ...`` commands (``\\``
  continues a line, ``#`` starts a comment), as must the ``$ `` lines of a
  ``console`` block (its other lines are output); each runs through the CLI
  in-process and must exit 0;
- other blocks (output, TOML, text) are not run.

An HTML comment on the line just above a fence changes that (it does not show on
the site):

- ``<!-- snippet: skip REASON -->``: not run (``pip install``, ``make``, a Ray
  cluster, ``torchrun``); the test reports each as skipped with its reason;
- ``<!-- snippet: file NAME -->``: the block's text is written to NAME in the folder
  (a TOML config the next block runs);
- ``<!-- snippet: exit N -->``: the block's ``wrt`` commands must exit with N (``wrt
  check`` exits 1 when it finds an error).
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = {"python", "py", "pycon"}
SHELL = {"bash", "sh", "shell", "console"}
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)[^\n]*$")
_MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(?P<kind>\w+)\s*(?P<arg>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str
    line: int
    lang: str
    text: str
    marker: str = ""
    arg: str = ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/ (the hooks are not pages)."""
    found = [ROOT / "README.md"]
    found += sorted(p for p in (ROOT / "docs").rglob("*.md") if "hooks" not in p.parts)
    return found


def blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """The fenced blocks of one page, with the marker on the line above each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = path.relative_to(root).as_posix()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = "\n".join(line[indent:] for line in lines[i + 1 : end])
        marker = _MARKER.match(lines[i - 1]) if i > 0 else None
        found.append(
            Block(
                page,
                i + 1,
                opening["lang"].lower(),
                body + "\n",
                marker["kind"] if marker else "",
                marker["arg"] if marker else "",
            )
        )
        i = end + 1
    return found


def commands(text: str, lang: str = "bash") -> list[list[str]]:
    """The commands of a shell block: continuation lines joined, comments dropped.

    In a ``console`` block only the lines after a ``$`` prompt are commands; the
    others are their output.
    """
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        if lang == "console":
            if not line.startswith("$ "):
                continue
        words = shlex.split(line.removeprefix("$ "), comments=True)
        if words:
            found.append(words)
    return found


ALL = [block for path in pages() for block in blocks(path)]
SKIPPED = [block for block in ALL if block.marker == "skip"]


def _workspace(folder: Path) -> None:
    shutil.copytree(
        ROOT / "tests" / "fixtures",
        folder / "tests" / "fixtures",
        ignore=shutil.ignore_patterns("corpus"),
    )
    shutil.copytree(ROOT / "docs" / "data", folder / "docs" / "data")


def _run_shell(block: Block) -> None:
    from typer.testing import CliRunner

    from wrt.cli.app import app

    expected = int(block.arg) if block.marker == "exit" else 0
    for words in commands(block.text, block.lang):
        assert words[0] == "wrt", (
            f"{block.where}: '{' '.join(words)}' is not a wrt command; mark the block "
            "'<!-- snippet: skip REASON -->' if it cannot run in the tests"
        )
        result = CliRunner().invoke(app, words[1:], prog_name="wrt")
        if result.exception is not None and not isinstance(
            result.exception, SystemExit
        ):
            raise AssertionError(
                f"{block.where}: {' '.join(words)} raised"
            ) from result.exception
        assert result.exit_code == expected, (
            f"{block.where}: {' '.join(words)} exited {result.exit_code}, expected "
            f"{expected}:\n{result.output}"
        )


def _run_page(page: str, folder: Path) -> int:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for block in (b for b in ALL if b.page == page):
        if block.marker == "skip":
            continue
        if block.marker == "file":
            (folder / block.arg).write_text(block.text, encoding="utf-8")
            continue
        if block.lang in PYTHON:
            # Padded to the block's line, named by the page's path: a traceback
            # shows the page's own line.
            padded = "\n" * block.line + block.text
            code = compile(padded, str(ROOT / block.page), "exec")
            exec(code, namespace)  # noqa: S102 - the project's own docs, run as tests
            ran += 1
        elif block.lang in SHELL:
            _run_shell(block)
            ran += 1
    return ran


RUNNABLE_PAGES = sorted(
    {
        b.page
        for b in ALL
        if b.marker != "skip" and (b.lang in PYTHON | SHELL or b.marker == "file")
    }
)


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_page_blocks_run_as_written(page, tmp_path, monkeypatch):
    _workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert _run_page(page, tmp_path) > 0


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(b, marks=pytest.mark.skip(reason=f"{b.where}: {b.arg}"))
        for b in SKIPPED
    ],
    ids=[b.where for b in SKIPPED],
)
def test_marked_block(block):  # pragma: no cover - each is reported as skipped
    raise AssertionError("a marked block never runs")


def test_every_skip_says_why():
    for block in SKIPPED:
        assert block.arg, f"{block.where}: '<!-- snippet: skip -->' needs a reason"


def test_markers_are_known_and_placed():
    for block in ALL:
        assert block.marker in ("", "skip", "file", "exit"), (
            f"{block.where}: unknown marker {block.marker!r}"
        )
        if block.marker == "exit":
            assert block.lang in SHELL and block.arg.isdigit(), block.where
        if block.marker == "file":
            assert block.arg and "/" not in block.arg, block.where


def test_shell_blocks_hold_only_wrt_commands():
    for block in ALL:
        if block.lang in SHELL and block.marker != "skip":
            for words in commands(block.text, block.lang):
                assert words[0] == "wrt", (
                    f"{block.where}: '{' '.join(words)}' is not a wrt command; mark "
                    "the block '<!-- snippet: skip REASON -->' if it cannot run here"
                )


def test_parser_reads_markers_and_fences(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n<!-- snippet: skip needs a cluster -->\n```bash\nray start\n```\n"
        "```python\nx = 1\n```\n\n    ```sh\n    wrt --version  # a comment\n    ```\n"
        "<!-- snippet: file a.toml -->\n```toml\n[model]\n```\n",
        encoding="utf-8",
    )
    found = blocks(page, tmp_path)
    assert [(b.lang, b.marker, b.arg) for b in found] == [
        ("bash", "skip", "needs a cluster"),
        ("python", "", ""),
        ("sh", "", ""),
        ("toml", "file", "a.toml"),
    ]
    assert commands(found[2].text) == [["wrt", "--version"]]
    assert commands("wrt partials m.pt \\\n  p.csv -d 'dy/dx1'\n") == [
        ["wrt", "partials", "m.pt", "p.csv", "-d", "dy/dx1"]
    ]
    console = "$ wrt inspect m.onnx\nm.onnx: onnx, float32\n$ wrt --version\nwrt 0.1\n"
    assert commands(console, "console") == [
        ["wrt", "inspect", "m.onnx"],
        ["wrt", "--version"],
    ]


def test_data_files_are_what_their_script_writes(tmp_path):
    import runpy

    script = ROOT / "docs" / "data" / "make.py"
    shutil.copy(script, tmp_path / "make.py")
    runpy.run_path(str(tmp_path / "make.py"), run_name="__main__")
    for name in ("train.csv", "points.csv", "xt.csv"):
        written = (tmp_path / name).read_bytes()
        assert written == (ROOT / "docs" / "data" / name).read_bytes(), name
