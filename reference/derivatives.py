"""Solver `derivatives`: symbolic derivatives through named intermediates, by the chain rule, written
as a person writes them (`(a2 - y)*w2*a1*(1 - a1)*x`), for `expression` parts.

Parameters:

- `variables`: the free inputs, e.g. [x, w1, b1, w2, b2, y];
- `definitions`: ordered name -> expression, each over the variables and earlier names, in the
  expression grammar (`grader.mathexpr`), e.g. {z1: w1*x + b1, a1: sigmoid(z1), ...,
  L: "-(y*log(a2) + (1-y)*log(1-a2))"};
- `derivatives`: output name -> [of, with respect to]; `of` is a defined name, and the second a
  variable or a defined name that `of` depends on. With respect to a defined name it is the
  backpropagation "delta": the others held fixed, e.g. dL/dz2 = a2 - y;
- `domain`: sampling interval per variable for the self-check, as the expression kind's option
  (default [0.1, 0.9]); a bound's sign is also what sympy may assume about the variable.

Outputs: one expression string per entry of `derivatives`, in the grammar, using the defined names
(so the rubric's expression parts need the same `definitions`).

How: the texts are parsed by our own parser (never sympify), then built as sympy objects with
sigmoid and softplus kept whole (`symbolic.ABSTRACT`). Derivatives are accumulated backwards
through the definitions (reverse mode), each local derivative rewritten in the names
(sigmoid(z1)*(1 - sigmoid(z1)) -> a1*(1 - a1)) and each product kept in chain order; a node's
accumulated derivative is replaced by sympy's factored or cancelled form only where that is
shorter (at z2, the BCE derivative times a2*(1 - a2) becomes a2 - y). Each emitted string is then
checked twice: parsed back, with the definitions substituted, it must equal sympy's direct
derivative of the fully substituted expression (proven by sympy), and it must agree with central
finite differences of the definitions evaluated by our own evaluator. Derivatives the grammar
cannot write (relu', abs': steps) are load errors, and so is sympy work past `SOLVE_BUDGET_S`
(a few nested definitions can make it run for hours).
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from grader import mathexpr
from grader.mathexpr.definitions import Definitions
from grader.mathexpr.nodes import Node, variables_of
from reference.registry import Params, Solver, register

_OUTPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
CHECK_POINTS = 8
FD_STEP = 1e-6
FD_RTOL = 1e-6
SOLVE_BUDGET_S = 10.0  # all of one solver's sympy work, proofs included
MAX_NAMES = 50


class DerivativesParams(Params):
    variables: list[str] = Field(min_length=1, max_length=MAX_NAMES, description="the free inputs")
    definitions: dict[str, str] = Field(
        default_factory=dict, max_length=MAX_NAMES,
        description="ordered: name -> expression over variables and earlier names")
    derivatives: dict[str, tuple[str, str]] = Field(
        min_length=1, max_length=MAX_NAMES, description="output name -> [of, with respect to]")
    domain: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="sampling interval per variable for the self-check; default [0.1, 0.9]")

    @field_validator("variables")
    @classmethod
    def _variables(cls, names: list[str]) -> list[str]:
        return mathexpr.declared_names(names)

    @field_validator("definitions")
    @classmethod
    def _definitions(cls, definitions: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return mathexpr.checked_definitions(definitions, info.data.get("variables"))  # None: its own error

    @field_validator("derivatives")
    @classmethod
    def _derivatives(cls, derivatives: dict[str, tuple[str, str]], info: ValidationInfo) -> dict[str, tuple[str, str]]:
        if "variables" not in info.data or "definitions" not in info.data:
            return derivatives
        variables, definitions = info.data["variables"], info.data["definitions"]
        depends = _dependencies(mathexpr.parse_definitions(tuple(definitions.items()), variables))
        known = [*variables, *definitions]
        out: dict[str, tuple[str, str]] = {}
        for output, pair in derivatives.items():
            if not _OUTPUT_NAME.fullmatch(output):
                raise ValueError(f"{output}: an output name is letters, then letters, digits or _")
            for name in pair:
                if mathexpr.normalize_name(name) not in known:
                    raise ValueError(f"{output}: {name} is neither a variable nor a definition "
                                     f"(known: {', '.join(known)})")
            of, wrt = (mathexpr.normalize_name(name) for name in pair)
            if of not in definitions:
                raise ValueError(f"{output}: differentiate a defined name, not the variable {of}")
            if wrt not in depends[of]:
                raise ValueError(f"{output}: {of} does not depend on {wrt}, so the derivative is 0")
            out[output] = (of, wrt)
        return out

    @field_validator("domain")
    @classmethod
    def _domain(cls, domain: dict[str, tuple[float, float]], info: ValidationInfo) -> dict[str, tuple[float, float]]:
        out = {}
        for raw, (lo, hi) in domain.items():
            name = mathexpr.normalize_name(raw)
            if name not in info.data.get("variables", [name]):
                raise ValueError(f"{raw}: not one of the variables ({', '.join(info.data['variables'])})")
            if not (lo < hi and np.isfinite(hi - lo)):
                raise ValueError(f"{raw}: need finite low < high, with high - low finite too, got [{lo}, {hi}]")
            out[name] = (lo, hi)
        return out

    def parsed_definitions(self) -> Definitions:
        return mathexpr.parse_definitions(tuple(self.definitions.items()), self.variables)


def _dependencies(definitions) -> dict[str, set[str]]:
    """Each defined name -> every variable and name it depends on, directly or through others."""
    out: dict[str, set[str]] = {}
    for name, node in definitions:
        direct = variables_of(node)
        out[name] = set(direct).union(*(out.get(d, set()) for d in direct))
    return out


class _Chain:
    """Reverse-mode accumulation through the definitions with sympy, kept in readable form."""

    def __init__(self, params: DerivativesParams):
        import sympy as sp

        from grader.mathexpr.symbolic import ABSTRACT, make_symbols, to_sympy

        self.definitions = params.parsed_definitions()
        self.symbols = make_symbols({v: _interval(params, v) for v in params.variables})
        self.symbols.update({name: sp.Symbol(name, real=True) for name, _ in self.definitions})
        self.expressions = {name: to_sympy(node, self.symbols, ABSTRACT) for name, node in self.definitions}
        # how each name is recognised inside a derivative: its definition, unless that is a bare atom
        self.recognisable = [(expr, self.symbols[name]) for name, expr in reversed(self.expressions.items())
                             if not expr.is_Atom]

    def recognise(self, expr):
        for definition, name in self.recognisable:
            expr = expr.subs(definition, name)
        return expr

    def derivative(self, of: str, wrt: str) -> Node:
        """d of / d wrt as a tree of our grammar, written through the defined names."""
        import sympy as sp

        from grader.mathexpr.symbolic import product_from_sympy

        adjoints: dict[str, list[list]] = {of: [[]]}
        for name, _ in reversed(self.definitions):
            if name == wrt:
                break
            chains = adjoints.pop(name, None)
            if not chains:
                continue
            chains = self.tidy(chains)
            expr = self.expressions[name]
            for symbol in sorted(expr.free_symbols, key=lambda s: s.name):
                local = self.recognise(sp.diff(expr, symbol))
                if local != 0:
                    step = [] if local == 1 else [local]
                    adjoints.setdefault(symbol.name, []).extend(chain + step for chain in chains)
        (chain,) = self.tidy(adjoints[wrt])
        return product_from_sympy(chain)

    def tidy(self, chains: list[list]) -> list[list]:
        """The shortest of the chains as they are, factored and cancelled; several chains (a name
        used twice) always become one expression."""
        import sympy as sp

        total = self.recognise(sp.Add(*(sp.Mul(*chain) for chain in chains)))
        candidates = [_absorb_sign(form) for form in (sp.factor(total), sp.cancel(total), total)]
        best = min(candidates, key=sp.count_ops)  # the first of equals: factored
        as_they_are = sum(sum(sp.count_ops(f) for f in chain) + max(len(chain) - 1, 0) for chain in chains)
        if len(chains) > 1 or sp.count_ops(best) < as_they_are:
            return [[best]]
        return chains


def _absorb_sign(expr):
    """-s1*(s1 - 1) as s1*(1 - s1): a leading minus goes into the first sum it can flip."""
    import sympy as sp

    coefficient, factors = expr.as_coeff_mul()
    if coefficient < 0:
        for k, factor in enumerate(factors):
            if factor.is_Add:
                return sp.Mul(-coefficient, *factors[:k], -factor, *factors[k + 1:])
    return expr


def _interval(params: DerivativesParams, variable: str) -> tuple[float, float]:
    return params.domain.get(variable, mathexpr.DEFAULT_DOMAIN)


def _difference(params: DerivativesParams, node: Node, of: str, wrt: str):
    """The emitted derivative, definitions substituted, minus sympy's direct derivative: it must be 0."""
    import sympy as sp

    from grader.mathexpr.symbolic import make_symbols, to_sympy, with_definitions

    definitions = params.parsed_definitions()
    variables = make_symbols({v: _interval(params, v) for v in params.variables})
    full = with_definitions(variables, definitions)
    if wrt in variables:
        direct = sp.diff(full[of], variables[wrt])
    else:  # hold wrt and everything before it fixed: substitute only the definitions after it
        names = [name for name, _ in definitions]
        held = names[: names.index(wrt) + 1]
        partial = {**variables, **{name: sp.Symbol(name, real=True) for name in held}}
        partial = with_definitions(partial, definitions[len(held):])
        direct = sp.diff(partial[of], partial[wrt]).xreplace({partial[name]: full[name] for name in held})
    return to_sympy(node, full) - direct


def _check_numerically(params: DerivativesParams, node: Node, of: str, wrt: str) -> None:
    """The emitted derivative must agree with central finite differences of the definitions."""
    definitions = params.parsed_definitions()
    rng = np.random.default_rng(0)
    env = {v: rng.uniform(*_interval(params, v), CHECK_POINTS) for v in params.variables}

    def value_of(shift: float) -> np.ndarray:
        values = dict(env)
        if wrt in values:
            values[wrt] = values[wrt] + shift
        for name, definition in definitions:
            values[name] = mathexpr.evaluate(definition, values)
            if name == wrt:
                values[name] = values[name] + shift
        return values[of]

    estimate = (value_of(FD_STEP) - value_of(-FD_STEP)) / (2 * FD_STEP)
    emitted = mathexpr.evaluate(node, mathexpr.compile_definitions(definitions)(env))
    defined = np.isfinite(estimate) & np.isfinite(emitted)
    if defined.mean() < 0.5:
        raise ValueError(f"d{of}/d{wrt} is undefined at most points of the domain; set `domain`")
    close = np.abs(emitted - estimate) <= FD_RTOL * (np.abs(emitted) + np.abs(estimate)) + 1e-8
    if not close[defined].all():  # pragma: no cover - a bug in the chain rule above
        raise ValueError(f"d{of}/d{wrt} = {mathexpr.to_text(node)} disagrees with finite differences")


@register
class Derivatives(Solver):
    name = "derivatives"
    Params = DerivativesParams

    def solve(self) -> dict[str, Any]:
        from grader.mathexpr.symbolic import OutOfTime, prove_zero, time_limit

        p: DerivativesParams = self.params
        deadline = time.monotonic() + SOLVE_BUDGET_S
        chain = _Chain(p)
        names = (*p.variables, *p.definitions)
        out: dict[str, Any] = {}
        for output, (of, wrt) in p.derivatives.items():
            try:
                with time_limit(deadline - time.monotonic()):
                    node = chain.derivative(of, wrt)
                    difference = _difference(p, node, of, wrt)
            except OutOfTime:
                raise ValueError(f"derivatives.{output}: sympy did not finish within {SOLVE_BUDGET_S:g} s; "
                                 f"use fewer or simpler definitions") from None
            except ValueError as exc:
                raise ValueError(f"derivatives.{output}: {exc}") from None
            text = mathexpr.to_text(node)
            if mathexpr.parse(text, names).node != node:  # pragma: no cover - a printer bug
                raise ValueError(f"derivatives.{output}: {text} does not read back as written")
            step, note = prove_zero(difference, deadline - time.monotonic())
            if step is None:
                raise ValueError(f"d{of}/d{wrt} = {text} could not be confirmed symbolically ({note})")
            _check_numerically(p, node, of, wrt)
            out[output] = text
        return out
