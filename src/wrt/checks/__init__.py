"""Checks that say when a partial derivative is meaningless, and verify the rest.

findings.py     Finding, CheckReport: severity, code, message, hint, specs, points
inputs.py       the check's options and training data, validated first
neighbours.py   the training data indexed once per check (k-d trees, levels)
support.py      the data's local dimension at several scales; coverage distances
activations.py  non-smooth operations (piecewise-linear models)
numerics.py     non-finite values, float32 round-off, finite-difference agreement
run.py          wrt.check: all of them, one report
"""

from wrt.checks.findings import CODES, CheckReport, Finding
from wrt.checks.run import check

__all__ = ["CODES", "CheckReport", "Finding", "check"]
