"""The Taylor engine: truncated multivariate Taylor polynomials pushed forward.

algebra.py      which coefficients a request keeps (downward closure, trace entry)
jet.py          the stacked coefficients: products, composition with a function
rules/          one rule per ATen operation, a module per family (linear,
                arithmetic, products, norms); jet_rules.py re-exports lookup
series.py       univariate Taylor arithmetic (recurrences of Griewank and Walther)
elementwise.py  each elementwise function as a series; its derivative coefficients
interpreter.py  make_fx trace of the model, the graph walk, flat graphs
engine.py       plan a request, one pass, read the partials; the Laplacians
"""
