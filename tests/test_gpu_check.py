"""``bench/gpu_check.py`` as a dry run on the CPU (no GPU in the test suite)."""

import subprocess
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_the_gpu_check_runs_on_the_cpu_and_every_engine_agrees(tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCH / "gpu_check.py"), "--device", "cpu", "--quick",
         "--write", str(tmp_path / "report.md")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    pairs = [("taylor", "float64"), ("autograd", "float64"),
             ("finite_diff", "float64"), ("taylor", "float32")]  # fmt: skip
    for engine, dtype in pairs:
        row = next(
            line
            for line in report.splitlines()
            if line.startswith(f"| tanh_mlp | {engine} | {dtype} |")
        )
        assert row.endswith("| yes | yes |"), row
    assert "| seed, 64 | gradient | nested torch.autograd |" in report


def test_a_disagreement_is_caught(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import gpu_check

    expected = torch.linspace(-2, 3, 50, dtype=torch.float64)
    assert gpu_check.compare(expected.clone(), expected, 1e-9, 1e-10) == 0
    assert gpu_check.compare(expected * (1 + 1e-6), expected, 1e-9, 1e-10) > 1
    off = expected.clone()
    off[7] = float("nan")
    assert gpu_check.compare(off, expected, 1e-9, 1e-10) == float("inf")
    row = gpu_check.Agreement("n", "taylor", torch.float64, 0.5, "dy/dx", False)
    assert not row.ok  # computed off the device: fails even when the numbers agree
