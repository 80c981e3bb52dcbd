"""Built-in functions: their names, aliases, arities, and scalar (math) and vector (numpy) forms.

`log`/`ln` are natural logarithms (the ML convention); `sigmoid`/`sigma`/`σ` is the logistic
function 1/(1+e^-x); `relu` is max(0, x) and `softplus` is log(1+e^x). The scalar forms fold
constants while parsing and raise (ValueError, OverflowError, ZeroDivisionError) where a value is
undefined or too large; the vector forms evaluate at many points at once and return NaN or inf
there instead (the caller treats any non-finite value as undefined).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    t = math.exp(x)
    return t / (1.0 + t)


def _softplus(x: float) -> float:
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def _recip(f: Callable[[float], float]) -> Callable[[float], float]:
    return lambda x: 1.0 / f(x)


def _vsigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Spec:
    name: str
    min_args: int
    max_args: int
    scalar: Callable[..., float]
    vector: Callable[..., np.ndarray]


def _spec(name, scalar, vector, min_args=1, max_args=1) -> Spec:
    return Spec(name, min_args, max_args, scalar, vector)


BUILTINS: dict[str, Spec] = {
    s.name: s
    for s in (
        _spec("exp", math.exp, np.exp),
        _spec("log", math.log, np.log),
        _spec("sqrt", math.sqrt, np.sqrt),
        _spec("sin", math.sin, np.sin),
        _spec("cos", math.cos, np.cos),
        _spec("tan", math.tan, np.tan),
        _spec("sec", _recip(math.cos), lambda x: 1.0 / np.cos(x)),
        _spec("csc", _recip(math.sin), lambda x: 1.0 / np.sin(x)),
        _spec("cot", _recip(math.tan), lambda x: 1.0 / np.tan(x)),
        _spec("arcsin", math.asin, np.arcsin),
        _spec("arccos", math.acos, np.arccos),
        _spec("arctan", math.atan, np.arctan),
        _spec("sinh", math.sinh, np.sinh),
        _spec("cosh", math.cosh, np.cosh),
        _spec("tanh", math.tanh, np.tanh),
        _spec("sech", _recip(math.cosh), lambda x: 1.0 / np.cosh(x)),
        _spec("csch", _recip(math.sinh), lambda x: 1.0 / np.sinh(x)),
        _spec("coth", _recip(math.tanh), lambda x: 1.0 / np.tanh(x)),
        _spec("abs", abs, np.abs),
        _spec("sigmoid", _sigmoid, _vsigmoid),
        _spec("relu", lambda x: max(0.0, x), lambda x: np.maximum(0.0, x)),
        _spec("softplus", _softplus, lambda x: np.logaddexp(0.0, x)),
        _spec("max", max, np.maximum, 2, 2),
        _spec("min", min, np.minimum, 2, 2),
    )
}

# Other spellings, mapped to the canonical name when the tree is built.
ALIASES: dict[str, str] = {
    "ln": "log",
    "sigma": "sigmoid",
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "ReLU": "relu",
    "Relu": "relu",
}

FUNCTION_NAMES: frozenset[str] = frozenset(BUILTINS) | frozenset(ALIASES)


def canonical(name: str) -> str:
    return ALIASES.get(name, name)
