"""Reference solvers: compute every canonical answer of a rubric from the problem's parameters.

A solver is a small class registered by name. A rubric's `solvers:` section names instances with
their parameters; a check's `solution: instance.output` picks one output. Solvers return flat
dicts of JSON-able outputs (floats, ints, strings, nested lists), intermediates included, so the
answer key can show how each answer was reached.
"""

from reference.registry import Solver, get, names, register

__all__ = ["Solver", "get", "names", "register"]
