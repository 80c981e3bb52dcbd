"""Softmax with temperature: probabilities, expected counts, the Jacobian, and cross-entropy.

p_i(T) = exp(z_i / T) / sum_j exp(z_j / T), computed in float64 with torch; the Jacobian
dp_i/dz_j comes from autograd, not from the closed form p_i (delta_ij - p_j) / T, so a test can
hold the two against each other.
"""

from __future__ import annotations

from typing import Any

import math

from pydantic import Field, model_validator

from reference.graph import StepGraph
from reference.registry import Params, Solver, register
from reference._lazy import torch


MAX_LOGITS = 256  # the Jacobian and the step graph's probabilities take n^2 terms
MAX_SPREAD = 700  # of the scaled logits: beyond, exp((z_i - max) / T) underflows to 0 in float64


class SoftmaxParams(Params):
    logits: list[float] = Field(min_length=2, max_length=MAX_LOGITS)
    temperature: float = Field(1.0, gt=0)
    samples: int | None = Field(None, ge=1, le=10**12, description="draws for the expected counts")
    target: int | None = Field(None, ge=0, description="class index for the cross-entropy")
    labels: list[str] | None = Field(None, description="names of the classes, e.g. tokens a..e")

    @model_validator(mode="after")
    def _sizes(self) -> "SoftmaxParams":
        if self.labels is not None and len(self.labels) != len(self.logits):
            raise ValueError(f"labels: expected {len(self.logits)} names, one per logit, got {len(self.labels)}")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            repeated = next(label for label in self.labels if self.labels.count(label) > 1)
            raise ValueError(f"labels: {repeated!r} is given twice, so most_likely could not tell its classes apart")
        spread = (max(self.logits) - min(self.logits)) / self.temperature
        if not spread <= MAX_SPREAD:
            raise ValueError(f"logits: at temperature {self.temperature:g} the scaled logits z/T span {spread:g}, so "
                             f"the smallest probabilities round to 0 in float64 and the entropy is undefined; "
                             f"keep (max - min)/T at most {MAX_SPREAD}")
        if self.target is not None and self.target >= len(self.logits):
            raise ValueError(f"target: class index {self.target} is out of range for {len(self.logits)} logits")
        return self


@register
class Softmax(Solver):
    name = "softmax"
    Params = SoftmaxParams

    def solve(self) -> dict[str, Any]:
        p: SoftmaxParams = self.params
        z = torch.tensor(p.logits, dtype=torch.float64)

        def softmax(logits: torch.Tensor) -> torch.Tensor:
            return torch.softmax(logits / p.temperature, dim=0)

        probs = softmax(z)
        best = int(torch.argmax(probs))
        out: dict[str, Any] = {
            "scaled_logits": (z / p.temperature).tolist(),
            "exp": torch.exp(z / p.temperature).tolist(),
            "partition": float(torch.exp(z / p.temperature).sum()),
            "probs": probs.tolist(),
            "argmax": best,
            "jacobian": torch.autograd.functional.jacobian(softmax, z).tolist(),
            "entropy": float(-(probs * torch.log(probs)).sum()),
        }
        if p.labels:
            out["most_likely"] = p.labels[best]
        if p.samples is not None:
            out["expected_counts"] = (probs * p.samples).tolist()
        if p.target is not None:
            out["cross_entropy"] = float(-torch.log(probs[p.target]))
        return out

    def steps(self) -> StepGraph:
        """Probabilities from the logits, then what is computed from the probabilities: a student's
        wrong probabilities carry into their expected counts and cross-entropy."""
        p: SoftmaxParams = self.params
        g = StepGraph()
        logits = [f"logits[{i}]" for i in range(len(p.logits))]
        for name, z in zip(logits, p.logits):
            g.given(name, z)
        probs = [f"probs[{i}]" for i in range(len(logits))]
        for i, name in enumerate(probs):
            g.step(name, logits, lambda *zs, i=i: _softmax(zs, p.temperature)[i])
        g.group("probs", probs)
        g.step("entropy", probs, lambda *ps: -sum(q * math.log(q) for q in ps if q > 0))
        if p.samples is not None:
            for i, name in enumerate(probs):
                g.step(f"expected_counts[{i}]", [name], lambda q: q * p.samples)
            g.group("expected_counts", [f"expected_counts[{i}]" for i in range(len(probs))])
        if p.target is not None:
            g.step("cross_entropy", [probs[p.target]], lambda q: -math.log(q))
        return g


def _softmax(logits: tuple[float, ...], temperature: float) -> list[float]:
    top = max(logits)
    exps = [math.exp((z - top) / temperature) for z in logits]
    return [e / sum(exps) for e in exps]
