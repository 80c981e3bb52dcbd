"""Symbolic confirmation with sympy: the tree is converted by constructing sympy objects directly.

No text ever reaches sympy's parsers (`sympify`, `parse_expr`, `parse_latex`) or `lambdify`:
each node becomes `sympy.Symbol`, `sympy.Rational`, `+`, `*`, `sympy.Pow`, `sympy.exp`, ... Any
exact integer sympy computes is bounded by the limits in `nodes` (exponents at most 100,
constants at most 1e100).

Symbols carry the sign their sampling interval implies (positive for the default [0.1, 0.9]),
so a proof holds on the domain the numeric check samples, e.g. sqrt(x^2) = x. Defined names
(`definitions`) map to their definitions' sympy expressions (`with_definitions`).

The other direction, `from_sympy`, writes a sympy expression back as a tree of our grammar; the
`derivatives` solver uses it to emit the derivatives it computes. For that, `ABSTRACT` keeps
sigmoid and softplus as functions whose derivatives are written through their own values
(sigmoid' = sigmoid (1 - sigmoid)), as a person writes them, instead of expanding them into exp.

`prove_zero` tries cheap rewritings of the difference first (automatic evaluation, `expand`,
`together`+`cancel`, the same after rewriting hyperbolic/trigonometric functions as `exp`) and
full `simplify` last, all under a time budget enforced with SIGALRM (in the worker's main thread;
elsewhere it runs unbounded, so call it there). Running out of time is not a failure: the
numeric agreement stands.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from fractions import Fraction
from typing import Callable, Iterator, Mapping

import sympy as sp

from grader.mathexpr.nodes import BinOp, Call, Const, Neg, Node, Num, Pow, Var


def _sigmoid(x):
    return 1 / (1 + sp.exp(-x))


_FUNCTIONS = {
    "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "sin": sp.sin, "cos": sp.cos, "tan": sp.tan,
    "sec": sp.sec, "csc": sp.csc, "cot": sp.cot, "arcsin": sp.asin, "arccos": sp.acos,
    "arctan": sp.atan, "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh, "sech": sp.sech,
    "csch": sp.csch, "coth": sp.coth, "abs": sp.Abs, "sigmoid": _sigmoid,
    "relu": lambda x: sp.Max(0, x), "softplus": lambda x: sp.log(1 + sp.exp(x)),
    "max": sp.Max, "min": sp.Min,
}


class Sigmoid(sp.Function):
    """sigmoid(x) kept whole, so that its derivative reads sigmoid(x)*(1 - sigmoid(x))."""

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return _sigmoid(x)


class Softplus(sp.Function):
    """softplus(x) = log(1 + e^x) kept whole, so that its derivative reads sigmoid(x)."""

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))


ABSTRACT: dict[str, Callable] = {"sigmoid": Sigmoid, "softplus": Softplus}


def make_symbols(domain: Mapping[str, tuple[float, float]]) -> dict[str, sp.Symbol]:
    out = {}
    for name, (lo, hi) in domain.items():
        if lo > 0:
            out[name] = sp.Symbol(name, positive=True)
        elif hi < 0:
            out[name] = sp.Symbol(name, negative=True)
        else:
            out[name] = sp.Symbol(name, real=True)
    return out


def with_definitions(symbols: Mapping[str, sp.Expr], definitions, functions=None) -> dict[str, sp.Expr]:
    """`symbols` plus each defined name as its definition in terms of the free variables."""
    out = dict(symbols)
    for name, node in definitions:
        out[name] = to_sympy(node, out, functions)
    return out


def to_sympy(node: Node, symbols: Mapping[str, sp.Expr], functions: Mapping[str, Callable] | None = None) -> sp.Expr:
    """The sympy expression of a tree (declared functions become undefined sympy Functions).

    `symbols` maps each name to its symbol (or, for a defined name, its expression); `functions`
    overrides how built-in functions are built (e.g. `ABSTRACT`).
    """
    if isinstance(node, Num):
        return sp.Rational(node.exact.numerator, node.exact.denominator)
    if isinstance(node, Var):
        return symbols[node.name]
    if isinstance(node, Const):
        return sp.E if node.name == "e" else sp.pi
    if isinstance(node, Neg):
        return -to_sympy(node.operand, symbols, functions)
    if isinstance(node, BinOp):
        a, b = to_sympy(node.left, symbols, functions), to_sympy(node.right, symbols, functions)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        return a / b
    if isinstance(node, Pow):
        return sp.Pow(to_sympy(node.base, symbols, functions), to_sympy(node.exponent, symbols, functions))
    if isinstance(node, Call):
        args = [to_sympy(a, symbols, functions) for a in node.args]
        f = (functions or {}).get(node.func) or _FUNCTIONS.get(node.func)
        if f is None:
            f = sp.Function(node.func)
        return f(*args)
    raise TypeError(f"not an expression node: {node!r}")  # pragma: no cover


# sympy's function classes as our grammar names them (the inverse of _FUNCTIONS and ABSTRACT)
_NAMES = {
    "exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan", "sec": "sec", "csc": "csc",
    "cot": "cot", "asin": "arcsin", "acos": "arccos", "atan": "arctan", "sinh": "sinh", "cosh": "cosh",
    "tanh": "tanh", "sech": "sech", "csch": "csch", "coth": "coth", "Abs": "abs", "Max": "max",
    "Min": "min", "Sigmoid": "sigmoid", "Softplus": "softplus",
}


def _number(value: sp.Rational) -> Node:
    magnitude = Fraction(abs(int(value.p)), int(value.q))
    node: Node = Num(Fraction(magnitude.numerator))
    if magnitude.denominator != 1:
        node = BinOp("/", node, Num(Fraction(magnitude.denominator)))
    return Neg(node) if value < 0 else node


def _product(factors: list[Node]) -> Node:
    out = factors[0]
    for factor in factors[1:]:
        out = BinOp("*", out, factor)
    return out


def product_from_sympy(factors: list[sp.Expr]) -> Node:
    """The product of `factors`, written in their order: `[a2 - y, w2, a1*(1 - a1), x]` becomes
    (a2 - y)*w2*a1*(1 - a1)*x, the sign on the first factor, and powers with negative exponents (and
    rational coefficients' denominators) gathered into one denominator."""
    sign, numerator, denominator = 1, [], []
    for factor in factors:
        for part in sp.Mul.make_args(factor):
            if part.is_Rational:
                sign *= -1 if part < 0 else 1
                if abs(part.p) != 1:
                    numerator.append(Num(Fraction(abs(int(part.p)))))
                if part.q != 1:
                    denominator.append(Num(Fraction(int(part.q))))
            elif part.is_Pow and part.exp.is_Rational and part.exp < 0:
                denominator.append(from_sympy(part.base ** -part.exp))
            else:
                numerator.append(from_sympy(part))
    numerator = numerator or [Num(Fraction(1))]
    if sign < 0:
        numerator[0] = Neg(numerator[0])
    node = _product(numerator)
    return BinOp("/", node, _product(denominator)) if denominator else node


def from_sympy(expr: sp.Expr) -> Node:
    """A tree of our grammar for `expr`; ValueError naming what the grammar cannot write
    (a Heaviside step from relu', a float, a derivative of an unknown function)."""
    if expr.is_Symbol:
        return Var(expr.name)
    if expr.is_Rational:
        return _number(expr)
    if expr is sp.E:
        return Const("e")
    if expr is sp.pi:
        return Const("pi")
    if expr.is_Add:
        terms = sorted(expr.args, key=lambda t: t.could_extract_minus_sign())  # stable: positive terms first
        first = terms[0]
        node = Neg(from_sympy(-first)) if first.could_extract_minus_sign() else from_sympy(first)
        for term in terms[1:]:
            negative = term.could_extract_minus_sign()
            node = BinOp("-" if negative else "+", node, from_sympy(-term if negative else term))
        return node
    if expr.is_Mul:
        return product_from_sympy([expr])
    if expr.is_Pow:
        base, exponent = expr.base, expr.exp
        if exponent.is_Rational and exponent < 0:
            return product_from_sympy([expr])
        if exponent == sp.Rational(1, 2):
            return Call("sqrt", (from_sympy(base),))
        return Pow(from_sympy(base), from_sympy(exponent))
    name = _NAMES.get(type(expr).__name__)
    if name is not None:
        args = [from_sympy(a) for a in expr.args]
        node = Call(name, tuple(args[:2]))
        for arg in args[2:]:  # sympy's Max and Min take any number of arguments; ours take two
            node = Call(name, (node, arg))
        return node
    raise ValueError(f"{expr} cannot be written in the expression grammar")


class OutOfTime(Exception):
    pass


# The alarm repeats every RETRY_S after the deadline until the OutOfTime it raises has reached
# `time_limit`: Python drops an exception raised while a gc or weakref callback runs
# ("unraisable"), so a single alarm could be lost. Alarms after that, or after `disarm`, do nothing.
RETRY_S = 0.05
_state: dict = {"armed": False, "delivered": False}


def _alarm(signum, frame):
    if _state["armed"] and not _state["delivered"]:
        raise OutOfTime()


def disarm() -> None:
    """Stop the alarm. Safe to call at any time."""
    _state["armed"] = False
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise OutOfTime in the block after `seconds` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    if seconds <= 0:
        raise OutOfTime()
    previous = signal.signal(signal.SIGALRM, _alarm)
    _state.update(armed=True, delivered=False)
    signal.setitimer(signal.ITIMER_REAL, seconds, RETRY_S)
    try:
        yield
    except OutOfTime:
        _state["delivered"] = True
        raise
    finally:
        disarm()
        signal.signal(signal.SIGALRM, previous)


def _cancel(e):
    return sp.cancel(sp.together(e))


def _via_exp(e):
    return sp.cancel(sp.together(sp.expand(e.rewrite(sp.exp))))


STEPS = (("expand", sp.expand), ("cancel", _cancel), ("rewrite as exp", _via_exp), ("simplify", sp.simplify))


def prove_zero(difference: sp.Expr, budget_s: float) -> tuple[str | None, str]:
    """(step that reduced `difference` to 0, or None; a note on what happened)."""
    if difference == 0:
        return "automatic simplification", ""
    deadline = time.monotonic() + budget_s
    tried = []
    for name, step in STEPS:
        left = deadline - time.monotonic()
        if left <= 0.001:
            return None, f"symbolic check ran out of time after {', '.join(tried) or 'no step'}"
        try:
            with time_limit(left):
                result = step(difference)
        except OutOfTime:
            return None, f"symbolic check ran out of time during {name}"
        except (RecursionError, MemoryError, ValueError, TypeError, ArithmeticError, NotImplementedError) as exc:
            tried.append(f"{name} (failed: {type(exc).__name__})")
            continue
        tried.append(name)
        if result == 0:
            return name, ""
    return None, "sympy could not reduce the difference to 0"
