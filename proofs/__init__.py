"""Proofs of nnequiv's rewrite and checker rules (see ``proofs/README.md``).

Each ``check_*.py`` module is a pytest file that machine-checks the statements of
one proof file with sympy or z3, together with deliberately wrong variants that
the same check must reject.
"""
