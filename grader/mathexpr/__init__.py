"""Safe reading and comparison of typed formulas (plain text or LaTeX), for the `expression` kind.

Students type derivation answers such as `(a2 - y)*w2*a1*(1 - a1)*x`, or LaTeX such as
`(a_2 - y) w_2 a_1 (1 - a_1) x`, `\\sigma(z)(1-\\sigma(z))`, `1 - \\tanh^2(z)` or `e^{-z}`.
Scalars only. Design, and why:

* Never evaluate text. A tokenizer we wrote (`lexer`) and a lark LALR grammar (`parser`) build
  our own small tree (`nodes`: Num, Var, Const, Neg, BinOp, Pow, Call). Nothing here calls
  eval, exec, sympify, parse_expr, parse_latex or lambdify; numbers are computed by our own
  evaluator over the tree (`numeric`, numpy), and sympy objects are constructed node by node
  (`symbolic`). Student text never reaches anything that can run Python.
* Names are declared. Only the declared variables, the built-in functions (`functions`), the
  declared extra functions and the constants `e`, `pi` may appear; anything else is an error
  that names it ("unknown name 'q'; this answer may use a1, a2, ..."), because silently
  splitting `q` or `ab` into letters would grade typos. A run like `w2a1` that is exactly a
  concatenation of known names is split, longest first, with a warning. Subscripts join
  names (`a_1`, `a_{1}` -> a1); Greek letters (`\\theta`, `θ`) are names. Declared variables
  shadow functions and constants. Functions need their argument in brackets (`ln(x)`).
* Everything is bounded, with a message: length (`lexer.MAX_LENGTH` = 1000 characters),
  bracket nesting (50), tree size (500 nodes) and depth (300), number literals (30 digits,
  1e-100..1e100), constant exponents (at most 100 in size: `x^100000`, `2^(10^10)`,
  `9**9**9**9` and `10^400` are rejected before anything computes them) and constant values
  (1e100). So no step can build a huge integer or recurse without bound.
* The verdict is decided here, the proof elsewhere. `client.check` compares at random points in
  the grading process (bounded by the limits above: a few hundred nodes at a few hundred
  points) and asks a long-lived worker (`worker`, JSON lines over pipes) for a sympy proof only
  where the rubric asks (`simplify`), killing it when the time is up; sympy itself gets only a
  share of that time (`client.symbolic_budget`). A proof only explains the verdict: without one,
  numeric agreement stands. `compare.compare` is the worker's whole check, in-process.
* Equivalence is numeric first, symbolic second: see `compare`.
* Named intermediates (`a1 = sigmoid(z1)`) may appear in answers; they are evaluated or
  substituted, so answers are compared as functions of the free variables: see `definitions`.
"""

import importlib

# The names below are imported from their modules on first use (PEP 562), so that starting the
# checker (`client`) or reading a number costs no numpy, lark or sympy until they are needed.
_MODULES = {
    "client": ("CheckTimeout", "WorkerClient", "WorkerError", "check", "shutdown", "symbolic_budget"),
    "definitions": ("checked_definitions", "compile_definitions", "declared_names", "parse_definitions"),
    # not `compare` itself: the submodule of that name takes the attribute once anything imports it
    # (`from grader.mathexpr.compare import compare` is the function)
    "compare": ("ReferenceProblem", "sample_points"),
    "settings": ("DEFAULT_DOMAIN", "Outcome", "Settings"),
    "functions": ("BUILTINS",),
    "lexer": ("MAX_LENGTH", "normalize_name"),
    "nodes": ("BinOp", "Call", "Const", "ExpressionError", "Neg", "Node", "Num", "Pow", "Var", "children", "to_text",
              "variables_of"),
    "numeric": ("compile_tree", "evaluate", "evaluate_constant"),
    "parser": ("Parsed", "parse"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BUILTINS", "DEFAULT_DOMAIN", "MAX_LENGTH", "BinOp", "Call", "CheckTimeout", "Const",
    "ExpressionError", "Neg", "Node", "Num", "Outcome", "Parsed", "Pow", "ReferenceProblem",
    "Settings", "Var", "WorkerClient", "WorkerError", "check", "checked_definitions", "children",
    "compile_definitions", "compile_tree", "declared_names", "evaluate", "evaluate_constant", "normalize_name", "parse",
    "parse_definitions", "sample_points", "shutdown", "symbolic_budget", "to_text", "variables_of",
]
