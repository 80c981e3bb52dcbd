"""Solver `cross_entropy`: the cross-entropy loss of predicted class probabilities against a target.

L = -sum_i y_i log(p_i), with y a one-hot or soft target and p the network's probabilities as
given (not logits: the `softmax` solver covers logits). A class with y_i = 0 contributes 0 even
where p_i = 0 (the limit of y log p), so a 0 among the predictions is fine unless the target puts
mass there, which would make the loss infinite and is a load error.

Parameters: `probabilities` (non-negative, summing to 1), `target` (a class index from 0, or a
distribution over the classes), `log_base` (e, the course's default, in nats; 2 for bits; 10).

Outputs: `loss`, `terms` (-y_i log p_i per class), `predicted_class` (argmax of p, from 0).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from reference.registry import Params, Solver, register

SUM_TOLERANCE = 1e-9
MAX_CLASSES = 10_000


class CrossEntropyParams(Params):
    probabilities: list[float] = Field(min_length=2, max_length=MAX_CLASSES, description="the predicted distribution p")
    target: int | list[float] = Field(description="a class index from 0, or a target distribution y")
    log_base: Literal["e", "2", "10"] = "e"

    @model_validator(mode="after")
    def _distributions(self) -> CrossEntropyParams:
        n = len(self.probabilities)
        if isinstance(self.target, list) and len(self.target) != n:
            raise ValueError(f"target: expected {n} values, one per class, got {len(self.target)}")
        for name, values in (("probabilities", self.probabilities), ("target", self.target_vector())):
            if min(values) < 0 or not math.isclose(sum(values), 1.0, abs_tol=SUM_TOLERANCE):
                raise ValueError(f"{name}: expected non-negative values summing to 1, got {_clip(values)} "
                                 f"(sum {sum(values):g})")
        for i, (y, p) in enumerate(zip(self.target_vector(), self.probabilities)):
            if y > 0 and p == 0:
                raise ValueError(f"target: class {i} has target {y:g} but probability 0, so the loss is infinite")
        return self

    def target_vector(self) -> list[float]:
        if isinstance(self.target, list):
            return self.target
        if not 0 <= self.target < len(self.probabilities):
            raise ValueError(f"target: class index {self.target} is out of range for "
                             f"{len(self.probabilities)} classes (numbered from 0)")
        return [float(i == self.target) for i in range(len(self.probabilities))]


def _clip(values: list[float]) -> str:
    """A long distribution quoted by its first values only, so that the message stays readable."""
    return str(values) if len(values) <= 10 else f"[{', '.join(f'{v:g}' for v in values[:10])}, ...]"


@register
class CrossEntropy(Solver):
    name = "cross_entropy"
    Params = CrossEntropyParams

    def solve(self) -> dict[str, Any]:
        p: CrossEntropyParams = self.params
        base = math.e if p.log_base == "e" else float(p.log_base)
        terms = [-y * math.log(q, base) if y > 0 else 0.0 for y, q in zip(p.target_vector(), p.probabilities)]
        return {
            "loss": sum(terms),
            "terms": terms,
            "predicted_class": max(range(len(p.probabilities)), key=p.probabilities.__getitem__),
        }
