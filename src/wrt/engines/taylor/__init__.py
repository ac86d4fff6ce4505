"""Taylor-mode engine: trace once, push truncated Taylor series through a rule registry.

series.py       Series and Taylor arithmetic (products, quotients, recurrences)
rules.py        one rule per ATen operation family
interpreter.py  make_fx tracing and the graph walk
directions.py   exact weights turning directional derivatives into mixed partials
engine.py       TaylorEngine: plans directions, runs one pass, assembles partials
"""
