"""The expression tree: small frozen dataclasses, built bottom-up by the parser.

Every node knows its `size` (node count) and `depth` and, when it involves no variable, its
constant `value` as a float. These are computed as the node is built, so the limits below are
enforced while parsing, in constant time per node and without recursion:

* at most `MAX_NODES` nodes and `MAX_DEPTH` levels, so every later recursive pass (printing,
  evaluation, sympy conversion) is bounded and cannot hit Python's recursion limit;
* a constant exponent may be at most `MAX_EXPONENT` in size (`x^100000`, `2^(10^10)` and
  `9^9^9^9` are rejected before anything computes them: the tower's innermost `9^9` is already
  too large), and a constant sub-expression at most `MAX_CONSTANT`, so sympy never builds a huge
  exact integer;
* a constant sub-expression that is undefined (`1/0`, `log(-1)`) is an error in the answer.

Constants are folded with floats; an overflow is caught and reported, never computed exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction

from grader.mathexpr.functions import BUILTINS

MAX_NODES = 500
MAX_DEPTH = 300
MAX_EXPONENT = 100
MAX_CONSTANT = 1e100


class ExpressionError(ValueError):
    """The text cannot be read as an expression. The message is meant for whoever typed it."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.position = position


def _meta(node: "Node", children: tuple["Node", ...]) -> None:
    size = 1 + sum(c.size for c in children)
    depth = 1 + max((c.depth for c in children), default=0)
    if size > MAX_NODES:
        raise ExpressionError(f"the expression is too long (more than {MAX_NODES} parts)")
    if depth > MAX_DEPTH:
        raise ExpressionError(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
    object.__setattr__(node, "size", size)
    object.__setattr__(node, "depth", depth)


def _set_value(node: "Node", compute) -> None:
    """Fold a constant node to a float; reject overflow and undefined constants."""
    try:
        value = compute()
    except OverflowError:
        raise ExpressionError(f"the number {_clip(to_text(node))} is too large") from None
    except (ValueError, ZeroDivisionError):
        raise ExpressionError(f"{_clip(to_text(node))} is undefined") from None
    if isinstance(value, complex) or math.isnan(value):
        raise ExpressionError(f"{_clip(to_text(node))} is undefined")
    if not abs(value) <= MAX_CONSTANT:
        raise ExpressionError(f"the number {_clip(to_text(node))} is too large")
    object.__setattr__(node, "value", float(value))


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Num:
    """A non-negative decimal literal, kept exactly as a fraction (signs are `Neg` nodes)."""

    exact: Fraction
    size: int = field(default=1, init=False, compare=False, repr=False)
    depth: int = field(default=1, init=False, compare=False, repr=False)
    value: float | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self):
        _set_value(self, lambda: float(self.exact))


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    size: int = field(default=1, init=False, compare=False, repr=False)
    depth: int = field(default=1, init=False, compare=False, repr=False)
    value: float | None = field(default=None, init=False, compare=False, repr=False)


CONSTANTS = {"e": math.e, "pi": math.pi}


@dataclass(frozen=True, slots=True)
class Const:
    """`e` or `pi`."""

    name: str
    size: int = field(default=1, init=False, compare=False, repr=False)
    depth: int = field(default=1, init=False, compare=False, repr=False)
    value: float | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "value", CONSTANTS[self.name])


@dataclass(frozen=True, slots=True)
class Neg:
    operand: "Node"
    size: int = field(default=0, init=False, compare=False, repr=False)
    depth: int = field(default=0, init=False, compare=False, repr=False)
    value: float | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self):
        _meta(self, (self.operand,))
        if self.operand.value is not None:
            _set_value(self, lambda: -self.operand.value)


def _binop_value(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b


@dataclass(frozen=True, slots=True)
class BinOp:
    """`+`, `-`, `*` or `/`.

    For warnings only: `implicit` marks a product written by juxtaposition, `bracketed` a
    quotient written in brackets or as `\\frac` (so `(1/2)x` is not reported as ambiguous).
    """

    op: str
    left: "Node"
    right: "Node"
    implicit: bool = field(default=False, compare=False)
    bracketed: bool = field(default=False, compare=False)
    size: int = field(default=0, init=False, compare=False, repr=False)
    depth: int = field(default=0, init=False, compare=False, repr=False)
    value: float | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self):
        _meta(self, (self.left, self.right))
        a, b = self.left.value, self.right.value
        if a is not None and b is not None:
            _set_value(self, lambda: _binop_value(self.op, a, b))


@dataclass(frozen=True, slots=True)
class Pow:
    base: "Node"
    exponent: "Node"
    size: int = field(default=0, init=False, compare=False, repr=False)
    depth: int = field(default=0, init=False, compare=False, repr=False)
    value: float | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self):
        _meta(self, (self.base, self.exponent))
        k = self.exponent.value
        if k is not None and abs(k) > MAX_EXPONENT:
            raise ExpressionError(
                f"the exponent {_clip(to_text(self.exponent))} is too large "
                f"(exponents may be at most {MAX_EXPONENT} in size)")
        a = self.base.value
        if a is not None and k is not None:
            _set_value(self, lambda: math.pow(a, k))


@dataclass(frozen=True, slots=True)
class Call:
    """A function applied to its arguments: a built-in (see `functions.BUILTINS`) or a declared one."""

    func: str
    args: tuple["Node", ...]
    size: int = field(default=0, init=False, compare=False, repr=False)
    depth: int = field(default=0, init=False, compare=False, repr=False)
    value: float | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self):
        _meta(self, self.args)
        spec = BUILTINS.get(self.func)
        if spec is not None and all(a.value is not None for a in self.args):
            _set_value(self, lambda: spec.scalar(*(a.value for a in self.args)))


Node = Num | Var | Const | Neg | BinOp | Pow | Call

# Printing. Precedence: sums 1, products 2, negation 3, powers 4, atoms 5.


def _prec(node: Node) -> int:
    if isinstance(node, BinOp):
        return 1 if node.op in "+-" else 2
    if isinstance(node, Neg):
        return 3
    if isinstance(node, Pow):
        return 4
    return 5


def _num_text(exact: Fraction) -> str:
    """A literal's exact decimal text: plain when short, scientific (`1e+100`) otherwise."""
    if exact.denominator == 1 and abs(exact.numerator) < 10**24:
        return str(exact.numerator)
    den = exact.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:  # not a terminating decimal: only trees built in code have these
        return f"({exact.numerator}/{exact.denominator})"
    with localcontext() as ctx:
        ctx.prec = 400
        number = Decimal(exact.numerator) / Decimal(exact.denominator)
    plain = format(number, "f")
    if "." in plain:
        plain = plain.rstrip("0").rstrip(".")
    return plain if len(plain) <= 24 else format(number.normalize(), "e")


def to_text(node: Node) -> str:
    """Plain-text form, with `*` and `^`, that parses back to an equal tree."""
    if isinstance(node, Num):
        return _num_text(node.exact)
    if isinstance(node, (Var, Const)):
        return node.name
    if isinstance(node, Call):
        return f"{node.func}({', '.join(to_text(a) for a in node.args)})"
    if isinstance(node, Neg):
        inner = to_text(node.operand)
        return f"-{inner}" if _prec(node.operand) >= 4 else f"-({inner})"
    if isinstance(node, Pow):
        base = to_text(node.base)
        exp = to_text(node.exponent)
        if _prec(node.base) < 5:
            base = f"({base})"
        if _prec(node.exponent) < 5:
            exp = f"({exp})"
        return f"{base}^{exp}"
    assert isinstance(node, BinOp)
    left, right = to_text(node.left), to_text(node.right)
    mine = _prec(node)
    if _prec(node.left) < mine:
        left = f"({left})"
    # Right operand: parenthesize at equal precedence (left-associative), and a negation anywhere.
    if _prec(node.right) <= mine or isinstance(node.right, Neg):
        right = f"({right})"
    if node.op in "+-":
        return f"{left} {node.op} {right}"
    return f"{left}{node.op}{right}"


def variables_of(node: Node) -> set[str]:
    if isinstance(node, Var):
        return {node.name}
    out: set[str] = set()
    for child in children(node):
        out |= variables_of(child)
    return out


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Neg):
        return (node.operand,)
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, Pow):
        return (node.base, node.exponent)
    if isinstance(node, Call):
        return node.args
    return ()
