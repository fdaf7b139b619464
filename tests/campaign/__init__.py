"""Soundness campaign (issue 10, first slice): seeded small pairs with independently computed
ground truth, a runner that classifies ``nnequiv.check`` results against it, and reproducers.

Nothing here imports nnequiv's interpreter, lowering or checker internals for the ground truth:
``ground_truth`` evaluates the networks from their weight lists in ``fractions.Fraction``.
"""
