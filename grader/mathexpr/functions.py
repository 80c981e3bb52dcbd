"""Built-in functions: their names, aliases, arities, and scalar (math) and vector (numpy) forms.

`log`/`ln` are natural logarithms (the ML convention); `sigmoid`/`sigma`/`σ` is the logistic
function 1/(1+e^-x); `relu` is max(0, x) and `softplus` is log(1+e^x). The scalar forms fold
constants while parsing and raise (ValueError, OverflowError, ZeroDivisionError) where a value is
undefined or too large; the vector forms evaluate at many points at once and return NaN or inf
there instead (the caller treats any non-finite value as undefined).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
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


@dataclass(frozen=True)
class Spec:
    name: str
    min_args: int
    max_args: int
    scalar: Callable[..., float]

    @property
    def vector(self) -> Callable[..., np.ndarray]:
        return _vector_forms()[self.name]


def _spec(name, scalar, min_args=1, max_args=1) -> Spec:
    return Spec(name, min_args, max_args, scalar)


BUILTINS: dict[str, Spec] = {
    s.name: s
    for s in (
        _spec("exp", math.exp),
        _spec("log", math.log),
        _spec("sqrt", math.sqrt),
        _spec("sin", math.sin),
        _spec("cos", math.cos),
        _spec("tan", math.tan),
        _spec("sec", _recip(math.cos)),
        _spec("csc", _recip(math.sin)),
        _spec("cot", _recip(math.tan)),
        _spec("arcsin", math.asin),
        _spec("arccos", math.acos),
        _spec("arctan", math.atan),
        _spec("sinh", math.sinh),
        _spec("cosh", math.cosh),
        _spec("tanh", math.tanh),
        _spec("sech", _recip(math.cosh)),
        _spec("csch", _recip(math.sinh)),
        _spec("coth", _recip(math.tanh)),
        _spec("abs", abs),
        _spec("sigmoid", _sigmoid),
        _spec("relu", lambda x: max(0.0, x)),
        _spec("softplus", _softplus),
        _spec("max", max, 2, 2),
        _spec("min", min, 2, 2),
    )
}


@functools.cache
def _vector_forms() -> dict[str, Callable[..., np.ndarray]]:
    """The numpy forms, made at the first numeric evaluation: parsing (and a run that only reads
    numbers and expressions to send to the checker) never imports numpy."""
    import numpy as np

    forms = {
        "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tan": np.tan,
        "sec": lambda x: 1.0 / np.cos(x), "csc": lambda x: 1.0 / np.sin(x), "cot": lambda x: 1.0 / np.tan(x),
        "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
        "tanh": np.tanh, "sech": lambda x: 1.0 / np.cosh(x), "csch": lambda x: 1.0 / np.sinh(x),
        "coth": lambda x: 1.0 / np.tanh(x), "abs": np.abs, "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
        "relu": lambda x: np.maximum(0.0, x), "softplus": lambda x: np.logaddexp(0.0, x),
        "max": np.maximum, "min": np.minimum,
    }
    assert forms.keys() == BUILTINS.keys()
    return forms


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
