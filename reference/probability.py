"""Solver `bayes`: posterior probabilities of hypotheses after one observation, by Bayes' rule,
with priors and likelihoods given as numbers or as formulas in named quantities, and, for
multiple-choice questions, which offered formula equals each posterior.

P(h | E) = P(h) P(E | h) / sum_g P(g) P(E | g). Priors and likelihoods are expressions in
grader.mathexpr's grammar over `variables` (e.g. the ball counts w1, b1, w2, b2), parsed into our
tree, never eval'd. The posterior is built as a tree from them; formulas are compared by value at
SAMPLES random points drawn uniformly from `domain` for every variable (a fixed seed: the key is
reproducible): equal when they agree within 1e-9 relative at every point. At those points the
priors must sum to 1 and every prior and likelihood lie in [0, 1], or the parameters are refused.

Parameters: `hypotheses` (labels), `priors`, `likelihoods` (one each, P(E | h)), `variables`,
`domain` ([low, high], default [1, 20], for counts), `choices` (label -> formula) with
`none_of_the_above` (the label to give when no choice matches).

Outputs, per hypothesis label h: `posterior.<h>` (the formula, as text the expression kind
reads); without variables also `posterior_value.<h>`; with choices, `choice.<h>`: the label of
the choice equal to the posterior (several equal: an error, the question is ambiguous; none: the
`none_of_the_above` label, or an error without one).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from grader import mathexpr
from grader.mathexpr import BinOp, ExpressionError, Node
from reference.registry import Params, Solver, register

SAMPLES = 50
RTOL = 1e-9
_LABEL = re.compile(r"[A-Za-z0-9_]+")
MAX_LABELS = 50  # hypotheses and choices: each choice is evaluated against each posterior


class BayesParams(Params):
    hypotheses: list[str] = Field(min_length=2, max_length=MAX_LABELS,
                                  description="labels of the hypotheses, e.g. [bag1, bag2]")
    priors: list[str | float] = Field(description="P(h), numbers or formulas in `variables`")
    likelihoods: list[str | float] = Field(description="P(E | h) of the observation E under each hypothesis")
    variables: list[str] = Field([], description="names the formulas use, e.g. [w1, b1, w2, b2]")
    domain: tuple[float, float] = Field((1.0, 20.0), description="[low, high] each variable is sampled from")
    choices: dict[str, str] = Field({}, max_length=MAX_LABELS, description="offered answers: label -> formula")
    none_of_the_above: str | None = Field(None, description="the choice to give when no formula matches")

    @field_validator("variables")
    @classmethod
    def _variables(cls, names: list[str]) -> list[str]:
        return mathexpr.declared_names(names)

    @model_validator(mode="after")
    def _consistent(self) -> BayesParams:
        n = len(self.hypotheses)
        for label in [*self.hypotheses, *self.choices, *([self.none_of_the_above] if self.none_of_the_above else [])]:
            if not _LABEL.fullmatch(label):
                raise ValueError(f"label {label!r} must be letters, digits or _ (it names outputs)")
        if len(set(self.hypotheses)) != n:
            raise ValueError(f"hypotheses: labels must be distinct, got {self.hypotheses}")
        for name in ("priors", "likelihoods"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: expected {n} values, one per hypothesis, got {len(getattr(self, name))}")
        low, high = self.domain
        if not (low < high and np.isfinite(high - low)):
            raise ValueError(f"domain: need low < high, with high - low finite, got [{low}, {high}]")
        if self.none_of_the_above is not None and not self.choices:
            raise ValueError("none_of_the_above is a choice label, so it needs choices")
        if self.none_of_the_above in self.choices:
            raise ValueError(f"none_of_the_above: {self.none_of_the_above!r} is also one of the choices")
        env = self.sample_points()
        priors = [self.value(f"priors[{i}]", text, env) for i, text in enumerate(self.priors)]
        likelihoods = [self.value(f"likelihoods[{i}]", text, env) for i, text in enumerate(self.likelihoods)]
        total = np.sum(priors, axis=0)
        off = np.flatnonzero(np.abs(total - 1.0) > RTOL)
        if off.size:
            raise ValueError(f"priors: they must sum to 1, but sum to {total[off[0]]:g} at a sampled point")
        if not (np.sum(np.multiply(priors, likelihoods), axis=0) > 0).all():
            raise ValueError("likelihoods: the evidence P(E) = sum of P(h) P(E | h) is 0 (at a sampled point), "
                             "so the posteriors are undefined")
        for label, text in self.choices.items():
            self.node(f"choices.{label}", str(text))
        try:
            self.posteriors()
        except ExpressionError as exc:
            raise ValueError(f"hypotheses: the posteriors cannot be written as formulas: {exc}; "
                             f"use fewer hypotheses or shorter priors and likelihoods") from None
        return self

    def posteriors(self) -> list[Node]:
        """P(h) P(E | h) / sum_g P(g) P(E | g) for every hypothesis h, as trees."""
        joints = [BinOp("*", self.node(f"priors[{i}]", prior), self.node(f"likelihoods[{i}]", likelihood))
                  for i, (prior, likelihood) in enumerate(zip(self.priors, self.likelihoods))]
        evidence = joints[0]
        for joint in joints[1:]:
            evidence = BinOp("+", evidence, joint)
        return [BinOp("/", joint, evidence) for joint in joints]

    def node(self, where: str, text: str | float) -> Node:
        try:
            return mathexpr.parse(str(text), tuple(self.variables)).node
        except ExpressionError as exc:
            raise ValueError(f"{where}: {str(text)!r} cannot be read: {exc}") from None

    def sample_points(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(0)
        return {name: rng.uniform(*self.domain, SAMPLES) for name in self.variables}

    def value(self, where: str, text: str | float, env: dict[str, np.ndarray]) -> np.ndarray:
        """Values at the sample points of a probability; it must lie in [0, 1] at every one."""
        values = np.broadcast_to(mathexpr.evaluate(self.node(where, text), env), (SAMPLES,))
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise ValueError(f"{where}: {str(text)!r} must be a probability in [0, 1] for every sampled value of "
                             f"{', '.join(self.variables) or 'its constants'}")
        return values


@register
class Bayes(Solver):
    """Posteriors of hypotheses given one observation, and the matching multiple-choice formula."""

    name = "bayes"
    Params = BayesParams

    def solve(self) -> dict[str, Any]:
        p: BayesParams = self.params
        env = p.sample_points()
        choices = {label: p.node(f"choices.{label}", text) for label, text in p.choices.items()}

        out: dict[str, Any] = {}
        for label, posterior in zip(p.hypotheses, p.posteriors()):
            out[f"posterior.{label}"] = mathexpr.to_text(posterior)
            if not p.variables:
                out[f"posterior_value.{label}"] = posterior.value
            if choices:
                out[f"choice.{label}"] = self._matching_choice(label, posterior, choices, env)
        return out

    def _matching_choice(self, label: str, posterior: Node, choices: dict[str, Node], env: dict[str, np.ndarray]) -> str:
        expected = np.broadcast_to(mathexpr.evaluate(posterior, env), (SAMPLES,))
        matches = []
        for choice, node in choices.items():
            offered = np.broadcast_to(mathexpr.evaluate(node, env), (SAMPLES,))
            if np.all(np.abs(offered - expected) <= RTOL * np.abs(expected)):
                matches.append(choice)
        if len(matches) > 1:
            raise ValueError(f"choices {', '.join(matches)} all equal the posterior of {label}; the question is ambiguous")
        if matches:
            return matches[0]
        if self.params.none_of_the_above is None:
            raise ValueError(f"no choice equals the posterior of {label} and there is no none_of_the_above label")
        return self.params.none_of_the_above
