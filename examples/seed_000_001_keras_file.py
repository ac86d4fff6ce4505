"""Seeds 000 and 001, the user's way: a Keras model trained in TensorFlow, loaded.

``tests/fixtures/seed000_tfkeras_noinput.h5`` is the question's network exactly as
written (Keras 2: Normalization adapted on the collinear data, Dense 64 ... 8 with
activation='LeakyReLU', compiled with metrics=['mae']), trained by TensorFlow 2.21
(``make fixtures``). wrt loads it without TensorFlow, keeps the Normalization in the
graph (partials are with respect to the raw x1, x2), and runs ``wrt partials`` on it.

Two things the numbers show: the partials disagree with cos(x1) and -sin(x2) because
the data was collinear (see ``wrt demo``), and every second partial is exactly zero
because LeakyReLU networks are piecewise linear. ``wrt check`` says both without
knowing the true function: given the training data, it flags dy/dx1 and dy/dx2 as
not identifiable (the data spans one direction) with the derivative along the line,
which is meaningful, and the model as piecewise linear.

Run: python examples/seed_000_001_keras_file.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import wrt

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def main(quick: bool = False) -> pd.DataFrame:
    """Run ``wrt partials`` on the user's file and compare with the true partials."""
    path = FIXTURES / "seed000_tfkeras_noinput.h5"
    n = 5 if quick else 12
    x1 = np.linspace(0.5, 6 * np.pi - 0.5, n)
    with tempfile.TemporaryDirectory() as scratch:
        points = Path(scratch) / "points.csv"
        pd.DataFrame({"x1": x1, "x2": 1.5 * x1}).to_csv(points, index=False)
        out = Path(scratch) / "partials.csv"
        command = [sys.executable, "-m", "wrt", "partials", str(path), str(points)]
        command += ["-d", "dy/dx1", "-d", "dy/dx2", "-d", "d2y/dx1^2", "-o", str(out)]
        print(
            "$ wrt partials", path.name, "points.csv -d dy/dx1 -d dy/dx2 -d d2y/dx1^2"
        )
        subprocess.run(command, check=True)
        table = pd.read_csv(out)
    table["cos(x1)"] = np.cos(table["x1"])
    table["-sin(x2)"] = -np.sin(table["x2"])
    print(table.round(4).to_string(index=False))
    assert (table["d2y/dx1^2"] == 0).all(), "LeakyReLU networks are piecewise linear"
    model = wrt.load(path)
    info = wrt.describe(model)
    print(f"activations: {', '.join(info['activations'])}; second partials are 0")
    # The CLI and the Python API give the same numbers: one engine path, and the
    # CSV round trip is exact to the 17 significant digits pandas writes.
    api = wrt.partials(model, table[["x1", "x2"]], ["dy/dx1", "dy/dx2"])
    for spec in ("dy/dx1", "dy/dx2"):
        np.testing.assert_allclose(table[spec], api[spec].numpy(), rtol=1e-6)
    # The data did not determine the partials: they are far from the truth (the
    # true ones have RMS about 0.7; measured RMS error 0.83 at the --quick points).
    error = np.sqrt(np.mean((table["dy/dx1"] - table["cos(x1)"]) ** 2))
    assert error > 0.3, error
    findings = check_with_training_data(model, path, n=200 if quick else 2000)
    print(
        f"verified: second partials 0, CLI = API, dy/dx1 RMS error {error:.2f}, "
        f"check flags {len(findings)} findings incl. not-identifiable dy/dx1, dy/dx2"
    )
    return table


def check_with_training_data(model: wrt.Model, path: Path, n: int) -> list[dict]:
    """``wrt check`` with the seed's training inputs: what it finds, and the number
    that is meaningful (the derivative along the data's line)."""
    with tempfile.TemporaryDirectory() as scratch:
        train = Path(scratch) / "train.csv"
        x1 = np.linspace(0, 6 * np.pi, n)
        pd.DataFrame({"x1": x1, "x2": 1.5 * x1}).to_csv(train, index=False)
        command = [
            sys.executable,
            "-m",
            "wrt",
            "check",
            str(path),
            "--data",
            str(train),
        ]
        print(f"$ wrt check {path.name} --data train.csv --json")
        done = subprocess.run(command + ["--json"], capture_output=True, text=True)
    assert done.returncode == 1, "errors found: the exit code says so"
    findings = json.loads(done.stdout)["findings"]
    for f in findings:
        print(f"{f['severity']:8s} {f['code']:18s} {', '.join(f['specs'])}")
    flagged = {f["specs"][0]: f for f in findings if f["code"] == "not-identifiable"}
    assert sorted(flagged) == ["dy/dx1", "dy/dx2"]
    assert "piecewise-linear" in [f["code"] for f in findings]
    along = flagged["dy/dx1"]
    # the direction the data spans is the line's, (1, 1.5)/sqrt(3.25), up to sign
    u = np.array(along["direction"], dtype=float)
    u = u * np.sign(u[0])
    np.testing.assert_allclose(u, np.array([1.0, 1.5]) / np.sqrt(3.25), atol=1e-4)
    # and the derivative it reports along it is the model's own at the first
    # training point (x1 = x2 = 0): u . (dy/dx1, dy/dx2), float32 round-off apart
    at_zero = wrt.partials(model, np.zeros((1, 2)), ["dy/dx1", "dy/dx2"])
    slope = float(u[0] * at_zero["dy/dx1"][0] + u[1] * at_zero["dy/dx2"][0])
    reported = np.sign(along["direction"][0]) * along["directional_derivative"][0]
    np.testing.assert_allclose(reported, slope, rtol=1e-4, atol=1e-6)
    direction = ", ".join(f"{c:.4f}" for c in along["direction"])
    print(
        f"the data determines the derivative along ({direction}); at x1 = 0 it is "
        f"{along['directional_derivative'][0]:.4f} (true: "
        f"{(1 + 1.5 * 0) / np.sqrt(3.25):.4f})"
    )
    return findings


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points")
    main(quick=parser.parse_args().quick)
