"""Symbolic confirmation with sympy: the tree is converted by constructing sympy objects directly.

No text ever reaches sympy's parsers (`sympify`, `parse_expr`, `parse_latex`) or `lambdify`:
each node becomes `sympy.Symbol`, `sympy.Rational`, `+`, `*`, `sympy.Pow`, `sympy.exp`, ... Any
exact integer sympy computes is bounded by the limits in `nodes` (exponents at most 100,
constants at most 1e100).

Symbols carry the sign their sampling interval implies (positive for the default [0.1, 0.9]),
so a proof holds on the domain the numeric check samples, e.g. sqrt(x^2) = x.

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
from typing import Iterator, Mapping

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


def to_sympy(node: Node, symbols: Mapping[str, sp.Symbol]) -> sp.Expr:
    """The sympy expression of a tree (declared functions become undefined sympy Functions)."""
    if isinstance(node, Num):
        return sp.Rational(node.exact.numerator, node.exact.denominator)
    if isinstance(node, Var):
        return symbols[node.name]
    if isinstance(node, Const):
        return sp.E if node.name == "e" else sp.pi
    if isinstance(node, Neg):
        return -to_sympy(node.operand, symbols)
    if isinstance(node, BinOp):
        a, b = to_sympy(node.left, symbols), to_sympy(node.right, symbols)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        return a / b
    if isinstance(node, Pow):
        return sp.Pow(to_sympy(node.base, symbols), to_sympy(node.exponent, symbols))
    if isinstance(node, Call):
        args = [to_sympy(a, symbols) for a in node.args]
        f = _FUNCTIONS.get(node.func)
        if f is None:
            f = sp.Function(node.func)
        return f(*args)
    raise TypeError(f"not an expression node: {node!r}")  # pragma: no cover


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
