"""The check pipeline: falsify, bound, branch and bound, confirm."""
