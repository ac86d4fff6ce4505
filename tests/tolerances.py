"""Tolerances of the engines against closed forms, in one place, each justified.

A value passes when ``|actual - expected| <= rtol * |expected| + atol * scale`` where
``scale = max(1, max |expected|)`` over the batch: partials that cross zero are held
to an absolute error relative to the size of that partial elsewhere.
"""

from __future__ import annotations

import numpy as np
import torch

# autograd: exact up to float64 round-off; nested backward passes through a few
# dozen ops lose a few ulps per order, so 1e-10 leaves two orders of margin.
AUTOGRAD = {"rtol": 1e-10, "atol": 1e-12}
# finite_diff: Richardson-extrapolated central differences in float64. The zoo's
# order-4 mixed partials measure about 1e-8 relative (round-off over a step of
# ~1/20 of the data's spread); 1e-6 is the accuracy the engine promises.
FINITE_DIFF = {"rtol": 1e-6, "atol": 1e-7}

# taylor: forward Taylor arithmetic in float64; the recurrences add a few ulps per
# order and layer, like nested reverse mode: the same 1e-10 (issue: 1e-10 relative).
TAYLOR = AUTOGRAD

BY_ENGINE = {"autograd": AUTOGRAD, "taylor": TAYLOR, "finite_diff": FINITE_DIFF}


def assert_partial_close(
    actual: torch.Tensor, expected: np.ndarray, *, rtol: float, atol: float, what: str
) -> None:
    """Raise AssertionError naming the worst point when out of tolerance."""
    got = actual.detach().cpu().double().numpy()
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    error = np.abs(got - expected)
    allowed = rtol * np.abs(expected) + atol * scale
    worst = int(np.argmax(error - allowed))
    assert (error <= allowed).all(), (
        f"{what}: point {worst} got {got[worst]!r}, expected {expected[worst]!r} "
        f"(error {error[worst]:.3e} > allowed {allowed[worst]:.3e})"
    )


def assert_engines_agree(
    model, x: torch.Tensor, specs, *, engine: str, reference: str = "autograd"
) -> None:
    """``engine`` and ``reference`` give the same partials, to the engine's tolerance.

    The absolute part is relative to each partial's largest value over the batch.
    """
    import wrt  # the tolerances module stays importable without wrt's heavy imports

    got = wrt.partials(model, x, specs, engine=engine)
    expected = wrt.partials(model, x, specs, engine=reference)
    tolerance = BY_ENGINE[engine]
    for spec in specs:
        scale = max(1.0, float(expected[spec].abs().max()))
        torch.testing.assert_close(
            got[spec],
            expected[spec],
            rtol=tolerance["rtol"],
            atol=tolerance["atol"] * scale,
            msg=lambda message, s=spec: f"{s}: {message}",
        )


def framework_numbers(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Values (N, m), Jacobians (N, m, n) and Hessians (N, m, n, n) of a model."""
    import wrt

    return {
        "values": model(x).detach(),
        "grad": wrt.jacobian(model, x),
        "hessian": torch.stack(
            [wrt.hessian(model, x, output=o) for o in model.outputs], 1
        ),
    }
