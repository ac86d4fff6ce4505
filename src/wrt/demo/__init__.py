"""The seed problem as a demo: partials that collinear data cannot determine.

``problem`` holds the seed's data, network and training (by :func:`wrt.fit`);
``compare`` measures a trained model against the true function with wrt;
``run`` is the job behind ``wrt demo``: both models trained, checked and compared.
"""

from wrt.demo.compare import (
    DifferenceChecks,
    Errors,
    difference_checks,
    evaluate,
    fd_agreement,
)
from wrt.demo.problem import (
    GRID_BOX,
    LINE_DIRECTION,
    SEED_HIDDEN,
    Standardize,
    TrainResult,
    check_seed,
    collinear_data,
    grid_data,
    heldout_box,
    heldout_line,
    line_points,
    seed_network,
    target,
    target_partials,
    train,
)
from wrt.demo.run import DemoConfig, DemoResult, explanation, run_demo

__all__ = [
    "GRID_BOX",
    "LINE_DIRECTION",
    "SEED_HIDDEN",
    "DemoConfig",
    "DemoResult",
    "DifferenceChecks",
    "Errors",
    "Standardize",
    "TrainResult",
    "check_seed",
    "collinear_data",
    "difference_checks",
    "evaluate",
    "explanation",
    "fd_agreement",
    "grid_data",
    "heldout_box",
    "heldout_line",
    "line_points",
    "run_demo",
    "seed_network",
    "target",
    "target_partials",
    "train",
]
