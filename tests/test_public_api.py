"""The public surface: what the docs name is reachable from ``import wrt``, lazily.

``import wrt``, ``wrt --help`` and ``wrt --version`` must not import torch (nor
pandas, Keras, Ray, matplotlib): the checks read ``sys.modules`` in a fresh
interpreter, never the wall time, so they cannot be flaky on a loaded machine.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import wrt
from wrt.cli.options import ENGINE_NAMES
from wrt.engines import choose

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
HEAVY = ("torch", "pandas", "numpy", "keras", "ray", "matplotlib", "scipy", "onnx")


def _fresh(code: str, *args: str) -> dict:
    """Run ``code`` in a new interpreter (wrt from this checkout); its JSON line."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(ROOT / "tests")]))
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


#: Runs the Typer app with the arguments given, then prints the heavy modules loaded
#: and the text the app printed.
_CLI_DRIVER = f"""
import contextlib, io, json, sys
from wrt.cli.app import app
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        app(sys.argv[1:], prog_name="wrt")
    except SystemExit as exc:
        code = exc.code
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps({{"heavy": heavy, "code": code, "text": out.getvalue()}}))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        *(
            [command, "--help"]
            for command in (
                "partials",
                "inspect",
                "check",
                "sens",
                "report",
                "train",
                "demo",
                "bench",
            )
        ),
    ],
    ids=" ".join,
)
def test_help_and_version_import_no_heavy_module(args):
    seen = _fresh(_CLI_DRIVER, *args)
    assert seen["code"] in (0, None)
    assert seen["heavy"] == [], f"wrt {' '.join(args)} imported {seen['heavy']}"
    if args == ["--version"]:
        assert seen["text"].strip() == f"wrt {wrt.__version__}"
    else:
        assert "Usage" in seen["text"]


def test_a_command_still_imports_what_it_needs():
    # the lazy imports inside a command really run: torch comes in with the work
    seen = _fresh(_CLI_DRIVER, "partials", "no-such-model.pt", "no-such-points.csv")
    assert seen["code"] == 2
    assert "torch" in seen["heavy"]


def test_import_wrt_is_light_and_names_resolve_on_use():
    seen = _fresh(
        "import json, sys, wrt\n"
        f"before = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "wrt.partials\n"
        "print(json.dumps({'before': before, 'torch': 'torch' in sys.modules}))"
    )
    assert seen == {"before": [], "torch": True}


def test_every_public_name_resolves_to_its_definition():
    exports = wrt._EXPORTS  # noqa: SLF001 (the table this test checks)
    assert set(wrt.__all__) == {*exports, *_errors_names(), "__version__"}
    for name in exports:
        module = __import__(exports[name], fromlist=[name])
        assert getattr(wrt, name) is getattr(module, name), name
    assert set(wrt.__all__) <= set(dir(wrt))


def test_every_public_name_is_documented():
    undocumented = [
        name
        for name in wrt.__all__
        if name != "__version__" and not inspect.getdoc(getattr(wrt, name))
    ]
    assert undocumented == []


def test_type_checking_imports_match_the_lazy_table():
    # what pyright and editors see (the TYPE_CHECKING block) is what runs
    tree = ast.parse((SRC / "wrt" / "__init__.py").read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    seen: dict[str, str] = {}
    submodules: set[str] = set()
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names:
            if node.module == "wrt":
                submodules.add(alias.name)
            else:
                seen[alias.asname or alias.name] = node.module
    assert seen == wrt._EXPORTS  # noqa: SLF001
    assert submodules == set(wrt._SUBMODULES)  # noqa: SLF001


def _errors_names() -> set[str]:
    import wrt.errors

    return {
        name
        for name in wrt.__all__
        if getattr(wrt.errors, name, None) is getattr(wrt, name)
    }


def _documented_names() -> set[str]:
    """``wrt.NAME`` (dotted) as written in README.md, docs/ and examples/."""
    found: set[str] = set()
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in [*pages, *sorted((ROOT / "examples").rglob("*.py"))]:
        for match in re.finditer(r"\bwrt((?:\.[A-Za-z_]\w*)+)", page.read_text()):
            found.add(match.group(1)[1:])
    return found


def test_the_documented_names_are_reachable_after_import_wrt():
    names = sorted(_documented_names())
    heads = {name.split(".")[0] for name in names}
    assert {"plots", "distributed", "partials", "objective"} <= heads
    # a dotted path resolves through attributes after import wrt, or (a module path
    # such as wrt.sensitivity.sensitivity, where the package exports the function
    # under the module's name) through the longest importable module prefix
    code = (
        "import importlib, json, sys, wrt\n"
        "def attrs(value, rest):\n"
        "    for part in rest:\n"
        "        value = getattr(value, part, None)\n"
        "        if value is None:\n"
        "            return None\n"
        "    return value\n"
        "def by_module(parts):\n"
        "    for i in range(len(parts), 0, -1):\n"
        "        try:\n"
        "            module = importlib.import_module('wrt.' + '.'.join(parts[:i]))\n"
        "        except ImportError:\n"
        "            continue\n"
        "        return attrs(module, parts[i:])\n"
        "    return None\n"
        "missing = []\n"
        "for dotted in sys.argv[1:]:\n"
        "    parts = dotted.split('.')\n"
        "    value = attrs(wrt, parts) if hasattr(wrt, parts[0]) else None\n"
        "    if value is None:\n"
        "        value = by_module(parts)\n"
        "    if value is None:\n"
        "        missing.append(dotted)\n"
        "print(json.dumps(missing))"
    )
    # a file name such as wrt.toml is no Python name: only lowercase module words
    # or names the package exports are looked up
    python_names = [n for n in names if not n.endswith((".py", ".md", ".toml"))]
    assert _fresh(code, *python_names) == []


def test_a_function_wins_over_its_same_named_submodule():
    # wrt.plots imports the module wrt.sensitivity; wrt.sensitivity stays the
    # function, as with eager imports (and wrt.describe likewise)
    seen = _fresh(
        "import json, wrt\n"
        "import wrt.plots, wrt.describe, wrt.sensitivity\n"
        "from wrt import sensitivity\n"
        "print(json.dumps([callable(wrt.sensitivity), callable(wrt.describe),\n"
        "    wrt.sensitivity is sensitivity, wrt.plots.__name__]))"
    )
    assert seen == [True, True, True, "wrt.plots"]


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'partial_derivatives'"):
        wrt.partial_derivatives  # noqa: B018
    assert not hasattr(wrt, "torch")


def test_cli_engine_names_are_the_engines():
    assert ENGINE_NAMES == choose.ENGINE_NAMES


def _fd_partials():
    model = wrt.wrap(
        lambda x: x[:, 0] ** 2 * x[:, 1] + torch.sin(x[:, 1]), inputs=["x", "t"]
    )
    X = torch.rand(20, 2, dtype=torch.float64)
    specs = ["dy/dx", "d2y/dtdx", "d2y/dx^2"]
    return X, wrt.partials(model, X, specs, engine="finite_diff")


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("dy/dx", "dy/dx"),
        ("d2y/dxdt", "d2y/dtdx"),  # mixed partials in either order
        ("d2y/dtdx", "d2y/dtdx"),
        ("d2y/dx^2", "d2y/dx^2"),
        ("d2y/dxdx", "d2y/dx^2"),
    ],
)
def test_errors_are_keyed_like_the_values(spelling, canonical):
    X, P = _fd_partials()
    assert P.errors[spelling] is P.errors[canonical]
    assert P.errors[spelling].shape == P[spelling].shape == (20,)
    assert bool((P.errors[spelling] >= 0).all())
    exact = {
        "dy/dx": 2 * X[:, 0] * X[:, 1],
        "d2y/dtdx": 2 * X[:, 0],
        "d2y/dx^2": 2 * X[:, 1],
    }[canonical]
    # the estimate bounds the error actually made (closed form, float64)
    assert bool(((P[spelling] - exact).abs() <= 10 * P.errors[spelling] + 1e-9).all())


def test_errors_of_a_partial_not_asked_say_so():
    _, P = _fd_partials()
    with pytest.raises(KeyError, match="d2y/dt\\^2"):
        P.errors["d2y/dt^2"]


def test_readme_objective_is_refused_before_training():
    # README: "a loss that is not bounded below (wrt.objective("du/dx", X)) is
    # refused before training"
    readme = (ROOT / "README.md").read_text()
    assert '`wrt.objective("du/dx", X)`' in readme
    X = torch.rand(16, 2)
    net = wrt.mlp(["x", "t"], ["u"])
    before = [p.detach().clone() for p in net.module.parameters()]
    with pytest.raises(wrt.UnboundedLossError, match="not provably bounded below"):
        wrt.fit(net, [wrt.objective("du/dx", X)], steps=3)
    assert all(
        torch.equal(a, b) for a, b in zip(before, net.module.parameters(), strict=True)
    )


def test_plots_exposes_only_its_figures():
    import wrt.plots

    figures = {"derivative_vs_input", "importance_bars", "interaction_heatmap"}
    assert set(wrt.plots.__all__) == {*figures, "mean_sd_scatter"}
    public = {n for n in vars(wrt.plots) if not n.startswith("_")}
    assert "np" not in public
