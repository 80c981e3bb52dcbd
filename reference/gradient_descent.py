"""Solver `gradient_descent`: gradient descent on a function of one variable, and the learning
rate that reaches the stationary point in one step.

`function` is an expression in grader.mathexpr's grammar (`w^2 + 2w + 1`, `exp(x) - 2x`), with
`variable` its only name. It is parsed into our tree (never eval'd or sympified) and evaluated
by a small torch interpreter of that tree, so f' and f'' come from torch autograd in float64
for every built-in function, without a symbolic derivative to get wrong. The iteration is
x_{k+1} = x_k - learning_rate * f'(x_k) for k = 0..steps-1, from x_0 = `start`.

Outputs (k = 0..steps):

- `x[k]`, `f[k]`, `grad[k]` (f'(x_k)), and `iterates` (the list x_0..x_steps);
- `second_derivative`: f''(x_0); `quadratic`: "yes" when f is a polynomial of degree at most 2
  in the variable (read from the tree), else "no";
- where f''(x_0) > 0: `one_step.rate` = 1/f''(x_0) and `one_step.x` = x_0 - f'(x_0)/f''(x_0),
  where that step lands. For a quadratic f'' is constant, so this is the rate that reaches the
  stationary point (the minimum) in exactly one step. For any other f it is Newton's step from
  x_0, the exact answer for the local quadratic model only;
- for a quadratic with f'' > 0: `contraction` = 1 - learning_rate * f'' (each step multiplies the
  distance to the minimum by it), `faster_rates` = [low, high], the open interval of learning
  rates with a smaller |contraction| than `learning_rate` (empty, [rate, rate], when
  `learning_rate` is already the one-step rate; from 0 when `learning_rate` diverges), and `diverging_rate` = 2/f'' (from there on the
  iterates do not converge).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

from pydantic import Field, ValidationInfo, field_validator, model_validator

from grader import mathexpr
from grader.mathexpr import BinOp, Call, ExpressionError, Neg, Node, Pow, Var, variables_of
from reference.graph import StepGraph
from reference.registry import Params, Solver, computing, register
from reference._lazy import torch


@functools.cache
def _torch_functions() -> dict[str, Callable[..., torch.Tensor]]:
    return {
        "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "sin": torch.sin, "cos": torch.cos,
        "tan": torch.tan, "sec": lambda x: 1 / torch.cos(x), "csc": lambda x: 1 / torch.sin(x),
        "cot": lambda x: 1 / torch.tan(x), "arcsin": torch.asin, "arccos": torch.acos, "arctan": torch.atan,
        "sinh": torch.sinh, "cosh": torch.cosh, "tanh": torch.tanh, "sech": lambda x: 1 / torch.cosh(x),
        "csch": lambda x: 1 / torch.sinh(x), "coth": lambda x: 1 / torch.tanh(x), "abs": torch.abs,
        "sigmoid": torch.sigmoid, "relu": torch.relu, "softplus": torch.nn.functional.softplus,
        "max": torch.maximum, "min": torch.minimum,
    }


def torch_value(node: Node, x: torch.Tensor) -> torch.Tensor:
    """The tree's value at x as a torch scalar that autograd can differentiate."""
    if node.value is not None:  # a constant sub-tree, folded while parsing
        return torch.tensor(node.value, dtype=torch.float64)
    if isinstance(node, Var):
        return x
    if isinstance(node, Neg):
        return -torch_value(node.operand, x)
    if isinstance(node, BinOp):
        a, b = torch_value(node.left, x), torch_value(node.right, x)
        return {"+": torch.add, "-": torch.sub, "*": torch.mul, "/": torch.div}[node.op](a, b)
    if isinstance(node, Pow):
        return torch.pow(torch_value(node.base, x), torch_value(node.exponent, x))
    if isinstance(node, Call):
        return _torch_functions()[node.func](*(torch_value(arg, x) for arg in node.args))
    raise TypeError(f"not an expression node: {node!r}")  # pragma: no cover - Num, Const are constants


def polynomial_degree(node: Node) -> int | None:
    """The degree of the tree as a polynomial in its variable, or None when it is not one."""
    if node.value is not None:
        return 0
    if isinstance(node, Var):
        return 1
    if isinstance(node, Neg):
        return polynomial_degree(node.operand)
    if isinstance(node, BinOp):
        left, right = polynomial_degree(node.left), polynomial_degree(node.right)
        if left is None or right is None:
            return None
        if node.op in "+-":
            return max(left, right)
        if node.op == "*":
            return left + right
        return left if right == 0 else None
    if isinstance(node, Pow):
        base, k = polynomial_degree(node.base), node.exponent.value
        if base is None or k is None or k != int(k) or k < 0:
            return None
        return base * int(k)
    return None  # a function of the variable


MAX_WORK = 50_000  # steps x the function's size: each step evaluates f three times, node by node, in torch


class GradientDescentParams(Params):
    function: str = Field(min_length=1, description="f as an expression in `variable`, e.g. w^2 + 2w + 1")
    variable: str = Field("x", description="the name f is written in")
    start: float = Field(description="x_0")
    learning_rate: float = Field(gt=0)
    steps: int = Field(1, ge=1, le=1000, description=f"at most {MAX_WORK:,} / the number of parts of the function")

    @field_validator("variable")
    @classmethod
    def _one_name(cls, name: str) -> str:
        return mathexpr.normalize_name(name)

    @model_validator(mode="after")
    def _parses(self, info: ValidationInfo) -> GradientDescentParams:
        try:
            node = mathexpr.parse(self.function, (self.variable,)).node
        except ExpressionError as exc:
            raise ValueError(f"function: {self.function!r} cannot be read: {exc}") from None
        if not variables_of(node):
            raise ValueError(f"function: {self.function!r} does not involve {self.variable}, "
                             f"so there is nothing to descend")
        if self.steps * node.size > MAX_WORK:
            raise ValueError(f"steps: {self.steps} steps of a function of {node.size} parts is too much work; "
                             f"keep steps x parts at most {MAX_WORK:,}")
        at_start = torch_value(node, torch.tensor(self.start, dtype=torch.float64)) if computing(info) else None
        if at_start is not None and not math.isfinite(at_start.item()):
            raise ValueError(f"function: f is undefined at start = {self.start:g}")
        return self

    def tree(self) -> Node:
        return mathexpr.parse(self.function, (self.variable,)).node


@register
class GradientDescent(Solver):
    """Gradient-descent iterates of a one-variable f, and the one-step learning rate."""

    name = "gradient_descent"
    Params = GradientDescentParams

    def solve(self) -> dict[str, Any]:
        p: GradientDescentParams = self.params
        node = p.tree()

        def value_and_grad(x: float) -> tuple[float, float]:
            return _value_and_grad(node, x)

        iterates, values, grads = [p.start], [], []
        for k in range(p.steps + 1):
            value, grad = value_and_grad(iterates[k])
            if not (math.isfinite(value) and math.isfinite(grad)):
                raise ValueError(f"f or f' is not finite at x[{k}] = {iterates[k]:g}: the iterates diverge "
                                 f"or leave f's domain at learning_rate {p.learning_rate:g}")
            values.append(value)
            grads.append(grad)
            if k < p.steps:
                iterates.append(iterates[k] - p.learning_rate * grad)

        out: dict[str, Any] = {"iterates": iterates}
        for k, (x, value, grad) in enumerate(zip(iterates, values, grads)):
            out[f"x[{k}]"], out[f"f[{k}]"], out[f"grad[{k}]"] = x, value, grad

        start = torch.tensor(p.start, dtype=torch.float64, requires_grad=True)
        (first,) = torch.autograd.grad(torch_value(node, start), start, create_graph=True)
        curvature = torch.autograd.grad(first, start)[0].item() if first.requires_grad else 0.0
        degree = polynomial_degree(node)
        quadratic = degree is not None and degree <= 2
        out["second_derivative"] = curvature
        out["quadratic"] = "yes" if quadratic else "no"
        if curvature > 0:
            out["one_step.rate"] = 1 / curvature
            out["one_step.x"] = p.start - grads[0] / curvature
            if quadratic:
                contraction = 1 - p.learning_rate * curvature
                mirror = 2 / curvature - p.learning_rate  # the rate with the opposite contraction
                out["contraction"] = contraction
                low, high = sorted([p.learning_rate, mirror])
                out["faster_rates"] = [max(0.0, low), high]
                out["diverging_rate"] = 2 / curvature
        return out

    def steps(self) -> StepGraph:
        """Each iterate from the one before: a student's wrong x_1 carries into their f'(x_1) and x_2."""
        p: GradientDescentParams = self.params
        node = p.tree()
        g = StepGraph()
        g.given("x[0]", p.start)
        for k in range(p.steps + 1):
            x = f"x[{k}]"
            g.step(f"f[{k}]", [x], lambda v: _value_and_grad(node, v)[0])
            g.step(f"grad[{k}]", [x], lambda v: _value_and_grad(node, v)[1])
            if k < p.steps:
                g.step(f"x[{k + 1}]", [x, f"grad[{k}]"], lambda v, d: v - p.learning_rate * d)
        g.group("iterates", [f"x[{k}]" for k in range(p.steps + 1)])
        return g


def _value_and_grad(node: Node, x: float) -> tuple[float, float]:
    """f(x) and f'(x) by autograd through the torch interpreter of the tree."""
    point = torch.tensor(float(x), dtype=torch.float64, requires_grad=True)
    value = torch_value(node, point)
    (grad,) = torch.autograd.grad(value, point, allow_unused=True)
    return value.item(), 0.0 if grad is None else grad.item()
