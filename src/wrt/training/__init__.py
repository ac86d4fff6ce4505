"""Training with derivative terms.

expression.py  the safe parser of residual expressions; boundedness
terms.py       residual, objective, match, rows: loss terms from specs
fitting.py     fit: Adam, L-BFGS, PSO, CMA-ES, guarded against NaN
networks.py    mlp: a quick model with named inputs and outputs
samplers.py    points in boxes and on their boundaries (uniform, LHS, Sobol)
config.py      wrt train CONFIG.toml: the file format, checkpoints, outputs
"""

from wrt.training.fitting import OPTIMIZERS, History, fit
from wrt.training.networks import mlp
from wrt.training.terms import (
    Match,
    Objective,
    Residual,
    Term,
    match,
    objective,
    residual,
    rows,
)

__all__ = [
    "OPTIMIZERS",
    "History",
    "Match",
    "Objective",
    "Residual",
    "Term",
    "fit",
    "match",
    "mlp",
    "objective",
    "residual",
    "rows",
]
