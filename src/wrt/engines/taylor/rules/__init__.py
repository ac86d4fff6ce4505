"""Rules that push :class:`~wrt.engines.taylor.jet.Jet` through ATen operations.

One module per family, each registering its rules in
:data:`~wrt.engines.taylor.rules.registry.RULES` when imported:

- :mod:`.linear`: views, slices, sums, copies, joins (the same op on the stack,
  dimension arguments moved past the leading entry dimension), and comparisons
  and shape queries (the value only);
- :mod:`.arithmetic`: sums, products, quotients, powers and the elementwise
  functions (composed from their univariate derivative coefficients);
- :mod:`.products`: matrix products and convolutions (one GEMM on the stack plus
  the truncated cross terms);
- :mod:`.norms`: norms, normalisations and softmax, compositions of the above.
"""

from wrt.engines.taylor.rules import arithmetic, linear, norms, products
from wrt.engines.taylor.rules.registry import RULES, Rule, lookup, rule

__all__ = [
    "RULES",
    "Rule",
    "arithmetic",
    "linear",
    "lookup",
    "norms",
    "products",
    "rule",
]
