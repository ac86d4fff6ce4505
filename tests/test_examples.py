"""Every example runs as a script, with tiny sizes, and verifies what it shows.

Each script asserts its own numbers (closed forms, error targets, the check's
findings) and prints a ``verified:`` line only after those assertions passed; the
test checks the exit code, that line, and the numbers it carries.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))

#: What each script's ``verified:`` line must say (a regular expression).
VERIFIED = {
    "seed_000_001_collinear_partials": r"collinear dy/dx1 (?P<far>[\d.e-]+), .*"
    r"collinear along line (?P<near>[\d.e-]+), .*autograd vs finite_diff "
    r"(?P<fd>[\d.e+-]+)",
    "seed_000_001_keras_file": r"second partials 0, CLI = API, dy/dx1 RMS error "
    r"(?P<far>[\d.]+), check flags \d+ findings incl\. not-identifiable",
    "seed_002_second_and_mixed_partials": r"closed form to 1e-12 .* finite "
    r"differences within (?P<fd>[\d.e+-]+)",
    "seed_003_unbounded_loss": r"refused, model untouched; trained "
    r"(?P<first>[\d.e+-]+) -> (?P<last>[\d.e+-]+)",
    "seed_004_numpy_network_jacobian": r"Jacobian at \[1, 1\] = 0\.0903533 twice "
    r".* match the closed form",
    "seed_004_train_on_derivative_rows": r"every label's term trained the model; "
    r".*adam y [\d.]+.*pso y [\d.]+",
    "sobolev_vs_plain": r"cut the dy/dx1 error (?P<ratio>[\d.]+)x",
    "train_burgers": r"relative L2 error (?P<after>[\d.e+-]+) \(was "
    r"(?P<before>[\d.e+-]+) untrained\)",
    "train_poisson": r"relative L2 error (?P<after>[\d.e+-]+) \(was "
    r"(?P<before>[\d.e+-]+) untrained\)",
}


def test_there_is_an_example_per_answered_seed():
    names = {path.name.split("_")[1] for path in EXAMPLES}
    assert {"000", "002", "004"} <= names


def test_every_example_has_its_verified_claim():
    assert {path.stem for path in EXAMPLES} == set(VERIFIED)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_and_verifies_its_numbers(script):
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("verified:")]
    assert len(lines) == 1, done.stdout[-3000:]
    found = re.search(VERIFIED[script.stem], lines[0])
    assert found, lines[0]
    numbers = {k: float(v) for k, v in found.groupdict().items()}
    # the printed numbers say what the script asserted (independent re-check)
    if "far" in numbers:  # partials the data did not determine: far off the truth
        assert numbers["far"] > 0.3
    if "near" in numbers:  # the derivative along the data's line: right
        assert numbers["near"] < 0.1 and numbers["far"] > 5 * numbers["near"]
    if "fd" in numbers:  # exact arithmetic: finite differences agree to round-off
        assert numbers["fd"] < 1e-8
    if "last" in numbers:
        assert numbers["last"] < numbers["first"] / 20
    if "ratio" in numbers:
        assert numbers["ratio"] >= 1.5
    if "after" in numbers:
        assert numbers["after"] < 0.8 * numbers["before"]
