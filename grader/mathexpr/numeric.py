"""Numeric evaluation of a tree at many points at once, with numpy, never through Python's eval.

A tree is compiled once into nested closures over numpy arrays (one array per variable, one
entry per point), so evaluating an answer at all sample points costs one pass over the tree.
Real-valued semantics: where a value is undefined in the reals (log of a negative, a fractional
power of a negative, division by zero) or overflows, the result is NaN or inf, and callers treat
every non-finite entry as "undefined at that point". Floating-point warnings are silenced.

Functions declared by the rubric (`Settings.functions`) are unknown functions: at evaluation
they are replaced by fixed, seeded, smooth random functions, so two answers agree only when
they agree as formulas in those functions, not by accident of one choice.
"""

from __future__ import annotations

import math
import random
from typing import Callable, Mapping

import numpy as np

from grader.mathexpr.functions import BUILTINS
from grader.mathexpr.nodes import BinOp, Call, Const, ExpressionError, Neg, Node, Num, Pow, Var

Compiled = Callable[[Mapping[str, np.ndarray]], np.ndarray]


def unknown_function(name: str, seed: int) -> Callable[..., np.ndarray]:
    """A smooth pseudo-random function of any number of arguments, fixed by (name, seed)."""
    rng = random.Random(f"{seed}:{name}")
    a, b, c, d = (rng.uniform(0.5, 1.5) for _ in range(4))
    weights = [rng.uniform(0.5, 2.0) for _ in range(8)]

    def f(*args: np.ndarray) -> np.ndarray:
        total = c
        for k, arg in enumerate(args):
            w = weights[k % len(weights)] * (1 + k // len(weights))
            total = total + w * arg
        return a * np.sin(b * total) + d * total * total / 4

    return f


def compile_tree(node: Node, functions: Mapping[str, Callable[..., np.ndarray]] | None = None) -> Compiled:
    """Closures that evaluate `node`; `functions` supplies the declared (unknown) functions."""
    functions = functions or {}

    def build(n: Node) -> Compiled:
        if n.value is not None:  # constant sub-tree, folded while parsing
            value = n.value
            return lambda env: value
        if isinstance(n, Var):
            name = n.name
            return lambda env: env[name]
        if isinstance(n, Neg):
            inner = build(n.operand)
            return lambda env: -inner(env)
        if isinstance(n, BinOp):
            left, right = build(n.left), build(n.right)
            if n.op == "+":
                return lambda env: left(env) + right(env)
            if n.op == "-":
                return lambda env: left(env) - right(env)
            if n.op == "*":
                return lambda env: left(env) * right(env)
            return lambda env: np.divide(left(env), right(env))
        if isinstance(n, Pow):
            base, exponent = build(n.base), build(n.exponent)
            k = n.exponent.value
            if k is not None and k == int(k):
                # Whole constant exponent: defined for negative bases too.
                return lambda env: np.power(np.asarray(base(env), dtype=float), k)
            return lambda env: np.power(np.asarray(base(env), dtype=float), exponent(env))
        if isinstance(n, Call):
            args = [build(a) for a in n.args]
            spec = BUILTINS.get(n.func)
            if spec is not None:
                f = spec.vector
            elif n.func in functions:
                f = functions[n.func]
            else:
                raise ExpressionError(f"unknown function '{n.func}'")
            if len(args) == 1:
                (only,) = args
                return lambda env: f(only(env))
            return lambda env: f(*(a(env) for a in args))
        if isinstance(n, (Num, Const)):  # pragma: no cover - always folded
            value = float(n.value)
            return lambda env: value
        raise TypeError(f"not an expression node: {n!r}")  # pragma: no cover

    compiled = build(node)

    def run(env: Mapping[str, np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = compiled(env)
        return np.asarray(out, dtype=float)

    return run


def evaluate(node: Node, env: Mapping[str, np.ndarray], functions=None) -> np.ndarray:
    """Values of `node` at the points given as arrays in `env` (NaN/inf where undefined)."""
    size = max((np.size(v) for v in env.values()), default=1)
    out = compile_tree(node, functions)(env)
    return np.broadcast_to(out, (size,)) if out.ndim == 0 else out


def evaluate_constant(text: str) -> float:
    """The value of a constant expression such as `sqrt(2)/2`, `e^-1` or `\\frac{3}{4}`.

    Parsed with the same safe parser and limits; raises ExpressionError (a ValueError) for
    anything that is not a finite constant, including any name other than `e` and `pi`.
    """
    from grader.mathexpr.parser import parse

    node = parse(text).node
    value = node.value
    if value is None or not math.isfinite(value):  # pragma: no cover - parse rejects these
        raise ExpressionError("the expression is not a finite number")
    return value
