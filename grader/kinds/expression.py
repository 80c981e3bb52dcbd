"""Kind `expression`: a scalar formula, graded by equivalence with the reference formula.

Students may type plain text (`(a2 - y)*w2*a1*(1 - a1)*x`, `x**2`, `2x`) or LaTeX
(`(a_2 - y) w_2 a_1 (1 - a_1) x`, `\\sigma(z)(1-\\sigma(z))`, `1 - \\tanh^2(z)`, `e^{-z}`,
`\\frac{1}{N}`, `\\sqrt{x}`, `\\ln(x)`, unicode `σ`, `·`, `−`); `grader.mathexpr` says exactly
what is read and how. The text is never evaluated: it is parsed into our own tree, and the check
(random points; a sympy proof only where `simplify` asks) is in `grader.mathexpr`.

Options:
  variables  the declared symbols (required); students may write `a_1`/`a_{1}` for `a1` and
             `\\theta`/`θ` for `theta`. Names outside this list are errors, not letters.
  functions  extra function names, treated as unknown functions (f(x) matches only f(x)).
  definitions  named intermediates, in order: `{z1: w1*x + b1, a1: sigmoid(z1)}`; each uses
             variables and earlier names only. Answers and the reference may use the names;
             they are compared as functions of the free `variables` (see
             `grader.mathexpr.definitions`), so `a1*(1-a1)` and `sigmoid(w1*x+b1)*(1-sigmoid(w1*x+b1))`
             are the same answer. Names may not repeat variables, functions or constants.
  domain     sampling interval per free variable; default [0.1, 0.9] (positive so log/sqrt are
             defined, inside (0, 1) where activations and probabilities live, away from 0
             and 1 where different formulas coincide).
  points     random points compared (10); rtol relative tolerance (1e-6, with a 1e-12
             absolute floor). Agreement at every point earns full marks; the grading process
             decides it itself, bounded by the parser's limits.
  simplify   also seek a sympy proof of the agreement, for the instructor's reason (false).
             It never changes a mark, so it is off unless asked: sympy's start (half a second
             to a second) would be most of a one-submission run, and whether a proof is found
             within its time depends on the machine's load. With it on, the proof runs in a
             worker process, stopped after `timeout_s` (3.0; sympy itself gets
             min(timeout_s/2, 1.5 s)); when it runs out or fails, the points' verdict stands
             and the reason says why there is no proof.
Messages for the student never show the reference; a wrong answer's message names one point
where it differs and the answer's own value there.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from grader import mathexpr
from grader.kinds import register
from grader.kinds._values import read_text, short, type_name
from grader.kinds.base import Comparator, InvalidAnswer, Verdict
from grader.mathexpr.functions import FUNCTION_NAMES
from grader.mathexpr.nodes import CONSTANTS

MIN_DEFINED = 0.1  # the reference must be defined at this share of random points of its domain


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variables: list[str] = Field(min_length=1)
    functions: list[str] = []
    definitions: dict[str, str] = {}
    domain: dict[str, tuple[float, float]] = {}
    points: int = Field(10, ge=1, le=200)
    rtol: float = Field(1e-6, gt=0.0, lt=1.0)
    timeout_s: float = Field(3.0, gt=0.0, le=60.0)
    simplify: bool = False

    @field_validator("variables", "functions")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        return mathexpr.declared_names(names)

    @field_validator("definitions")
    @classmethod
    def _definitions(cls, definitions: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        valid = "variables" in info.data and "functions" in info.data  # else their own errors are reported
        return mathexpr.checked_definitions(definitions, info.data["variables"] if valid else None,
                                            info.data.get("functions", ()))

    @field_validator("domain")
    @classmethod
    def _domain(cls, domain: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        out = {}
        for name, (lo, hi) in domain.items():
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"domain of {name}: need finite low < high, got [{lo}, {hi}]")
            out[mathexpr.normalize_name(name)] = (float(lo), float(hi))
        return out

    @model_validator(mode="after")
    def _consistent(self) -> "Options":
        unknown = sorted(set(self.domain) - set(self.variables))
        if unknown:
            raise ValueError(f"domain given for undeclared variables: {', '.join(unknown)}")
        clash = sorted(set(self.functions) & (set(self.variables) | FUNCTION_NAMES | set(CONSTANTS)))
        if clash:
            raise ValueError(f"functions clash with variables, built-in functions or constants: {', '.join(clash)}")
        return self

    def settings(self) -> mathexpr.Settings:
        return mathexpr.Settings(
            variables=tuple(self.variables), functions=tuple(self.functions),
            domain=tuple((n, lo, hi) for n, (lo, hi) in sorted(self.domain.items())),
            points=self.points, rtol=self.rtol, simplify=self.simplify,
            definitions=tuple(self.definitions.items()))


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.6g}"


def _point(point: dict[str, float]) -> str:
    return ", ".join(f"{name} = {value:.6g}" for name, value in point.items())


@register
class Expression(Comparator):
    kind = "expression"
    Options = Options

    def __init__(self, options: Options):
        super().__init__(options)
        self.settings = options.settings()
        self.definitions = mathexpr.parse_definitions(self.settings.definitions, self.settings.variables,
                                                      self.settings.functions)

    def reference(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise ValueError(f"answer must be an expression as text, got {type_name(value)}")
        text = repr(value) if isinstance(value, float) else str(value)
        names = self.settings.names
        try:
            node = mathexpr.parse(text, names, self.settings.functions).node
        except mathexpr.ExpressionError as exc:
            raise ValueError(f"the expression {short(text)!r} cannot be used: {exc}") from None
        canonical = mathexpr.to_text(node)
        try:
            round_trip = mathexpr.parse(canonical, names, self.settings.functions).node
        except mathexpr.ExpressionError as exc:
            raise ValueError(f"the expression {short(text)!r} cannot be used: in canonical form, {exc}") from None
        if round_trip != node:  # pragma: no cover - a printer bug
            raise ValueError(f"the expression {short(text)!r} does not survive printing as {canonical}")
        # It must be defined on enough of the sampling domain for points to be found (numpy: when a
        # key is computed; a rubric read back with its key sends answers to the checker unevaluated).
        import numpy as np

        from grader.mathexpr.numeric import unknown_function

        rng = np.random.default_rng(0)
        trials = 200
        env = {n: rng.uniform(*self.settings.interval(n), trials) for n in self.settings.variables}
        functions = {f: unknown_function(f, 0) for f in self.settings.functions}
        values = mathexpr.evaluate(node, mathexpr.compile_definitions(self.definitions, functions)(env), functions)
        defined = float(np.isfinite(values).mean())
        if defined < MIN_DEFINED:
            raise ValueError(f"the expression {canonical} is undefined at {100 * (1 - defined):.0f}% of random "
                             f"points of its domain; set `domain` so that it is defined")
        return canonical

    def show(self, reference: str) -> str:
        return reference

    def check(self, answer: Any, reference: str) -> Verdict:
        if isinstance(answer, float) and math.isfinite(answer):
            answer = repr(answer)
        text = read_text(answer, mathexpr.MAX_LENGTH)
        timeout = self.options.timeout_s
        try:
            outcome = mathexpr.check(text, reference, self.settings, timeout)
        except mathexpr.ExpressionError as exc:
            raise InvalidAnswer(str(exc)) from None
        except mathexpr.ReferenceProblem as exc:
            return Verdict.of(
                0.0, f"the answer could not be checked: {exc}",
                "the answer could not be checked (a problem with the question, not with your answer); "
                "please ask your instructor to regrade")
        warnings = list(outcome.warnings)
        if outcome.equivalent:
            if outcome.method == "identical":
                how = "equivalent (symbolically: the same expression)"
            elif outcome.method == "symbolic":
                how = f"equivalent (symbolically, by {outcome.proof}; agrees at {outcome.points} random points)"
            else:
                how = f"equivalent at {outcome.points} random points ({outcome.note})"
            return Verdict.of(1.0, f"{how} to {reference}", "correct", warnings)
        where = _point(outcome.point or {})
        if outcome.answer_value is None:
            told = f"at {where} your expression is undefined, but the expected one is defined"
        else:
            told = f"at {where} your expression is {_fmt(outcome.answer_value)}, which is not the expected value"
        return Verdict.of(
            0.0,
            f"differs from {reference} at {where}: the answer gives {_fmt(outcome.answer_value)}, "
            f"the reference {_fmt(outcome.reference_value)}",
            f"not equivalent to the expected expression: {told}",
            warnings)
