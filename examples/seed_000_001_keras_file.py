"""Seeds 000 and 001, the user's way: a Keras model trained in TensorFlow, loaded.

``tests/fixtures/seed000_tfkeras_noinput.h5`` is the question's network exactly as
written (Keras 2: Normalization adapted on the collinear data, Dense 64 ... 8 with
activation='LeakyReLU', compiled with metrics=['mae']), trained by TensorFlow 2.21
(``make fixtures``). wrt loads it without TensorFlow, keeps the Normalization in the
graph (partials are with respect to the raw x1, x2), and runs ``wrt partials`` on it.

Two things the numbers show: the partials disagree with cos(x1) and -sin(x2) because
the data was collinear (see ``wrt demo``), and every second partial is exactly zero
because LeakyReLU networks are piecewise linear.

Run: python examples/seed_000_001_keras_file.py
"""

from __future__ import annotations

import argparse
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
    info = wrt.describe(wrt.load(path))
    print(f"activations: {', '.join(info['activations'])}; second partials are 0")
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points")
    main(quick=parser.parse_args().quick)
