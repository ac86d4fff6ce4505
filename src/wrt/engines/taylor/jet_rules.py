"""The Taylor rules, by the name the interpreter imports them under.

The rules live in :mod:`wrt.engines.taylor.rules`, one module per family.
"""

from wrt.engines.taylor.rules import RULES, Rule, lookup, mutates_first, rule

__all__ = ["RULES", "Rule", "lookup", "mutates_first", "rule"]
