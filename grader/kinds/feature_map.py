"""Kind `feature_map`: an explicit feature map phi of a kernel, judged by what it must do, not by
its form.

The student gives phi as a list of expressions in the declared variables, one per component:
`["x1^2", "sqrt(2)*x1*x2", "x2^2"]`, or one string `"[x1^2, sqrt(2) x1 x2, x2^2]"`. The answer
is correct when phi(p) . phi(q) = k(p, q) at `pairs` random pairs of points, so every valid map
passes (any order, any signs, a component split in two, any rotation of a valid map), not only
the reference's. The reference map must itself pass that check when the rubric loads.

Components are parsed by grader.mathexpr's whitelist grammar and evaluated by its numeric
evaluator (numpy; no eval, no sympy). The parser bounds each component's size and
MAX_COMPONENTS bounds their number, so a check costs microseconds and needs no worker process.

Options:
  variables     the coordinates of one point, e.g. [x1, x2] (required); phi is written in them
  kernel        {polynomial: {degree: d, c: c}} for (p.q + c)^d, or a formula in `variables`
                (the first point) and `second_point` (the second), e.g. "(x1*y1 + x2*y2)^2"
  second_point  the second point's coordinates, e.g. [y1, y2]; required with a formula kernel
  pairs         random point pairs compared (20)
  domain        [low, high], the interval every coordinate is drawn from ([-2, 2]: both signs,
                so a map that is right only for positive coordinates, such as one using |x1|
                or sqrt(x1)^2, fails)
  rtol          relative tolerance of phi(p).phi(q) against k(p, q) (1e-6, with a 1e-9 floor)
  seed          seed of the random points (0), so a grade is reproducible
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from grader import mathexpr
from grader.kinds import register
from grader.kinds._values import Unusable, read_text, short, type_name
from grader.kinds.base import Comparator, InvalidAnswer, Verdict

MAX_COMPONENTS = 100
ATOL = 1e-9


class PolynomialKernel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    degree: int = Field(ge=1, le=10)
    c: float = Field(0.0, ge=0, allow_inf_nan=False)


class PolynomialSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    polynomial: PolynomialKernel


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variables: list[str] = Field(min_length=1)
    kernel: PolynomialSpec | str
    second_point: list[str] | None = None
    pairs: int = Field(20, ge=1, le=1000)
    domain: tuple[float, float] = (-2.0, 2.0)
    rtol: float = Field(1e-6, gt=0.0, lt=1.0)
    seed: int = Field(0, ge=0)

    @field_validator("variables", "second_point")
    @classmethod
    def _names(cls, names: list[str] | None) -> list[str] | None:
        return None if names is None else mathexpr.declared_names(names)

    @field_validator("domain")
    @classmethod
    def _interval(cls, domain: tuple[float, float]) -> tuple[float, float]:
        low, high = domain
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"need finite low < high, got [{low}, {high}]")
        return domain

    @model_validator(mode="after")
    def _kernel(self) -> "Options":
        if isinstance(self.kernel, PolynomialSpec):
            if self.second_point is not None:
                raise ValueError("second_point names the second point of a formula kernel; "
                                 "a polynomial kernel needs none")
            return self
        if self.second_point is None:
            raise ValueError("a formula kernel needs second_point: the second point's coordinates, "
                             "e.g. [y1, y2] beside variables [x1, x2]")
        if len(self.second_point) != len(self.variables):
            raise ValueError(f"second_point has {len(self.second_point)} coordinates but variables has "
                             f"{len(self.variables)}; the two points must have the same dimension")
        shared = sorted(set(self.second_point) & set(self.variables))
        if shared:
            raise ValueError(f"second_point and variables must use different names, both have {', '.join(shared)}")
        try:
            mathexpr.parse(self.kernel, (*self.variables, *self.second_point))
        except mathexpr.ExpressionError as exc:
            raise ValueError(f"kernel {short(self.kernel)!r} cannot be read: {exc}") from None
        return self


def _split_top_level(text: str) -> list[str]:
    """`[a, max(b, c), d]` -> ['a', 'max(b, c)', 'd']: commas inside brackets stay with their component."""
    inner = text.strip()[1:]
    if inner.rstrip().endswith("]"):
        inner = inner.rstrip()[:-1]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return [part.strip() for part in parts]


def _components(raw: Any) -> list[str]:
    """The student's components as texts; InvalidAnswer for anything that is not a list of expressions."""
    if isinstance(raw, str) and raw.lstrip().startswith("["):
        text = read_text(raw, MAX_COMPONENTS * mathexpr.MAX_LENGTH)
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            raw = _split_top_level(text)
    if not isinstance(raw, list):
        raise InvalidAnswer(f"expected a list of expressions (one per component of phi), got {type_name(raw)}")
    if not raw:
        raise InvalidAnswer("the feature map has no components")
    if len(raw) > MAX_COMPONENTS:
        raise InvalidAnswer(f"the feature map has {len(raw)} components; at most {MAX_COMPONENTS} are accepted")
    texts = []
    for i, item in enumerate(raw, start=1):
        if isinstance(item, Unusable):
            raise InvalidAnswer(f"component {i}: {item.why}")
        if isinstance(item, (int, Decimal)) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            raise InvalidAnswer(f"component {i} should be an expression, got {type_name(item)}")
        if not item.strip():
            raise InvalidAnswer(f"component {i} is empty")
        texts.append(read_text(item, mathexpr.MAX_LENGTH))
    return texts


def _coordinates(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{value:.4g}" for value in values) + ")"


@register
class FeatureMap(Comparator):
    kind = "feature_map"
    Options = Options

    def __init__(self, options: Options):
        super().__init__(options)
        rng = np.random.default_rng(options.seed)
        shape = (options.pairs, len(options.variables))
        self.p, self.q = rng.uniform(*options.domain, shape), rng.uniform(*options.domain, shape)
        self.kernel_values = self._kernel_values()

    def _kernel_values(self) -> np.ndarray:
        kernel = self.options.kernel
        if isinstance(kernel, PolynomialSpec):
            spec = kernel.polynomial
            return ((self.p * self.q).sum(axis=1) + spec.c) ** spec.degree
        names = (*self.options.variables, *self.options.second_point)
        node = mathexpr.parse(kernel, names).node
        env = {name: column for name, column in zip(names, [*self.p.T, *self.q.T])}
        return mathexpr.evaluate(node, env)

    def _parse(self, texts: list[str]) -> tuple[list[mathexpr.Node], list[str]]:
        nodes, warnings = [], []
        for i, text in enumerate(texts, start=1):
            try:
                parsed = mathexpr.parse(text, self.options.variables)
            except mathexpr.ExpressionError as exc:
                raise InvalidAnswer(f"component {i} of {len(texts)} ({short(text)!r}) cannot be read: {exc}") from None
            nodes.append(parsed.node)
            warnings += [f"component {i}: {w}" for w in parsed.warnings]
        return nodes, warnings

    def _judge(self, nodes: list[mathexpr.Node]) -> tuple[bool, str]:
        """(phi(p).phi(q) = k(p, q) at every pair, the first disagreement in words)."""
        names = self.options.variables
        at_p = {name: column for name, column in zip(names, self.p.T)}
        at_q = {name: column for name, column in zip(names, self.q.T)}
        dot = np.zeros(self.options.pairs)
        for i, node in enumerate(nodes, start=1):
            phi_p, phi_q = mathexpr.evaluate(node, at_p), mathexpr.evaluate(node, at_q)
            for point, values in ((self.p, phi_p), (self.q, phi_q)):
                undefined = np.flatnonzero(~np.isfinite(values))
                if undefined.size:
                    where = ", ".join(f"{n} = {v:.4g}" for n, v in zip(names, point[undefined[0]]))
                    return False, f"component {i} is undefined at {where}"
            dot = dot + phi_p * phi_q
        k = self.kernel_values
        with np.errstate(all="ignore"):
            close = np.abs(dot - k) <= self.options.rtol * np.maximum(np.abs(dot), np.abs(k)) + ATOL
        if close.all():
            return True, ""
        first = int(np.argmin(close))
        return False, (f"at p = {_coordinates(self.p[first])}, q = {_coordinates(self.q[first])}, "
                       f"phi(p).phi(q) = {dot[first]:.6g} but k(p, q) = {k[first]:.6g} "
                       f"({int((~close).sum())} of {self.options.pairs} random pairs disagree)")

    def reference(self, value: Any) -> list[str]:
        if not np.isfinite(self.kernel_values).all():
            raise ValueError("the kernel is undefined at some random points of the domain; change `domain`")
        try:
            nodes, _ = self._parse(_components(value))
        except InvalidAnswer as exc:
            raise ValueError(f"the reference feature map cannot be used: {exc}") from None
        ok, why = self._judge(nodes)
        if not ok:
            raise ValueError(f"the reference feature map does not reproduce the kernel: {why}")
        return [mathexpr.to_text(node) for node in nodes]

    def show(self, reference: list[str]) -> str:
        return f"[{', '.join(reference)}] (or any phi with phi(p).phi(q) = k(p, q))"

    def check(self, answer: Any, reference: list[str]) -> Verdict:
        nodes, warnings = self._parse(_components(answer))
        ok, why = self._judge(nodes)
        if ok:
            return Verdict.of(1.0, f"phi(p).phi(q) = k(p, q) at all {self.options.pairs} random pairs "
                                   f"({len(nodes)} components)", "correct", warnings)
        return Verdict.of(0.0, why, f"not a feature map of this kernel: {why}", warnings)
