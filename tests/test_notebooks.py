"""The notebooks of examples/notebooks run, top to bottom, and show what they say.

Each notebook is executed by nbclient in an IPython kernel that runs this very
interpreter (``sys.executable``, with this checkout's ``src`` first on the path),
from a kernelspec written for the test, so no other Python installation's kernel
can stand in. Their own cells assert the numbers they show. The committed files
must have their outputs cleared.

ipykernel and nbclient come with the dev extra (``pip install -e '.[dev]'``).
Without them the execution tests are skipped with that reason, except under CI
(``CI`` set), where a missing kernel is a failure.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "examples" / "notebooks"
KERNEL = "wrt-tests"


def _needed(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(
            f"{name} is not installed, so the notebooks cannot run here; "
            "pip install -e '.[dev]' installs it (CI always runs them)."
        )


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def test_there_are_the_two_notebooks():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == [
        "pinn.ipynb",
        "seed.ipynb",
    ]


@pytest.mark.parametrize("name", ["seed", "pinn"])
def test_committed_with_outputs_cleared(name):
    for cell in _cells(NOTEBOOKS / f"{name}.ipynb"):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.fixture(scope="module")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A kernelspec that starts this interpreter, with this checkout's wrt."""
    _needed("ipykernel")
    kernels = tmp_path_factory.mktemp("jupyter") / "kernels"
    (kernels / KERNEL).mkdir(parents=True)
    path = os.pathsep.join(
        p for p in [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")] if p
    )
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "wrt tests",
        "language": "python",
        "env": {"PYTHONPATH": path},
    }
    (kernels / KERNEL / "kernel.json").write_text(json.dumps(spec))
    return [str(kernels)]


def _run(name: str, kernel_dirs: list[str]) -> dict:
    nbformat = _needed("nbformat")
    client_module = _needed("nbclient")
    specs = importlib.import_module("jupyter_client.kernelspec")
    manager = importlib.import_module("jupyter_client.manager")
    found = specs.KernelSpecManager(kernel_dirs=kernel_dirs).get_kernel_spec(KERNEL)
    assert found.argv[0] == sys.executable
    km = manager.KernelManager(
        kernel_name=KERNEL,
        kernel_spec_manager=specs.KernelSpecManager(kernel_dirs=kernel_dirs),
    )
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client_module.NotebookClient(
        notebook,
        km=km,
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute(cleanup_kc=True)  # the kernel is ours to stop: km was given
    return notebook


def _outputs(notebook: dict) -> list[dict]:
    return [out for cell in notebook["cells"] for out in cell.get("outputs", [])]


def _html(notebook: dict) -> list[str]:
    return [
        out["data"]["text/html"]
        for out in _outputs(notebook)
        if "text/html" in out.get("data", {})
    ]


def _quiet(notebook: dict) -> None:
    """No error output and nothing on stderr (no warnings either)."""
    for out in _outputs(notebook):
        assert out["output_type"] != "error", out
        assert not (out["output_type"] == "stream" and out["name"] == "stderr"), out


def test_seed_notebook_runs_and_shows_tables_findings_and_figures(kernel_dirs):
    notebook = _run("seed", kernel_dirs)
    _quiet(notebook)
    html = _html(notebook)
    partials = [h for h in html if "Partials at 40 points" in h]
    assert len(partials) == 1 and "d2y/dx1^2" in partials[0]
    findings = [h for h in html if "wrt check:" in h]
    assert len(findings) == 1
    assert "wrt-error" in findings[0] and "not-identifiable" in findings[0]
    assert "wrt-warning" in findings[0] and "piecewise-linear" in findings[0]
    assert any("sensitivity of y over 2000 points" in h for h in html)
    figures = [o for o in _outputs(notebook) if "image/png" in o.get("data", {})]
    assert len(figures) == 2  # importance bars, partials along the line


def test_pinn_notebook_trains_and_shows_its_error(kernel_dirs):
    notebook = _run("pinn", kernel_dirs)
    _quiet(notebook)
    html = _html(notebook)
    assert any("Partials at 1001 points" in h for h in html)
    errors = [
        o["data"]["text/plain"]
        for o in _outputs(notebook)
        if "u (relative L2)" in o.get("data", {}).get("text/plain", "")
    ]
    assert len(errors) == 1
    figures = [o for o in _outputs(notebook) if "image/png" in o.get("data", {})]
    assert len(figures) == 2  # the losses, the solution and its error
