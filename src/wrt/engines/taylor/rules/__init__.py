"""Rules that push :class:`~wrt.engines.taylor.jet.Jet` through ATen operations.

One module per family, each registering its rules in
:data:`~wrt.engines.taylor.rules.registry.RULES` when imported:

- :mod:`.linear`: views, slices, sums, copies, joins, cumulative sums (the same op
  on the stack, dimension arguments moved past the leading entry dimension), and
  comparisons and shape queries (the value only);
- :mod:`.arithmetic`: sums, products, quotients, powers and the elementwise
  functions (composed from their univariate derivative coefficients);
- :mod:`.products`: matrix products and convolutions (one GEMM on the stack plus
  the truncated cross terms);
- :mod:`.norms`: norms, normalisations and softmax, compositions of the above;
- :mod:`.reductions`: maxima and minima (piecewise), variance, log-sum-exp,
  gathers, flips, rolls, masked fills;
- :mod:`.pooling`: pooling, padding and resampling of planes;
- :mod:`.attention`: scaled dot-product attention, every fused kernel.

In-place operations take the rule of their functional variant
(:func:`~wrt.engines.taylor.rules.registry.lookup`).
"""

from wrt.engines.taylor.rules import (
    arithmetic,
    attention,
    linear,
    norms,
    pooling,
    products,
    reductions,
)
from wrt.engines.taylor.rules.registry import RULES, Rule, lookup, mutates_first, rule

__all__ = [
    "RULES",
    "Rule",
    "arithmetic",
    "attention",
    "linear",
    "lookup",
    "mutates_first",
    "norms",
    "pooling",
    "products",
    "reductions",
    "rule",
]
