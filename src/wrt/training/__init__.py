"""Training with derivative terms.

expression.py  the safe parser of residual expressions; boundedness
terms.py       residual, objective, match, rows: loss terms from specs
fitting.py     fit: arguments checked, nested term lists, Ctrl-C handled
problem.py     terms bound to a model, grouped by point set; parameters as a vector
optimizers.py  the loops: Adam, L-BFGS, PSO, CMA-ES, guarded against NaN
history.py     History, and the record of rows and last finite parameters
networks.py    mlp: a quick model with named inputs and outputs
samplers.py    points in boxes and on their boundaries (uniform, LHS, Sobol)
schema.py      the checks of every table, key and value of a wrt train config
config.py      wrt train CONFIG.toml: the file format, the model and terms built
runner.py      running a config: checks first, checkpoints, --resume, Ctrl-C
outputs.py     the run folder: checked before training, checkpoints, outputs
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
