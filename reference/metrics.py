"""Classification metrics over decision thresholds: precision, recall, their products, the best threshold.

A score at or above the threshold predicts positive (the quiz's rule). Precision with no positive
prediction is undefined; it is reported as 0 so that the threshold is never chosen by accident.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from reference.graph import StepGraph
from reference.registry import Params, Solver, register


MAX_EXAMPLES = 10_000
MAX_THRESHOLDS = 100  # each counts every example, twice (solve and its step graph)


class ThresholdParams(Params):
    scores: list[float] = Field(min_length=1, max_length=MAX_EXAMPLES, description="P(y = 1 | x_i) for each example")
    labels: list[Literal[0, 1]] = Field(min_length=1, max_length=MAX_EXAMPLES, description="true labels")
    thresholds: list[float] = Field(min_length=1, max_length=MAX_THRESHOLDS)
    metric: Literal["precision", "recall", "f1", "precision_x_recall", "accuracy"] = "f1"

    @model_validator(mode="after")
    def _sizes(self) -> "ThresholdParams":
        if len(self.scores) != len(self.labels):
            raise ValueError(f"labels: expected {len(self.scores)} labels, one per score, got {len(self.labels)}")
        printed: dict[str, int] = {}
        for i, t in enumerate(self.thresholds):
            first = printed.setdefault(f"{t:g}", i)
            if first != i:
                raise ValueError(f"thresholds[{i}]: {t!r} repeats thresholds[{first}] ({self.thresholds[first]!r}): "
                                 f"both would be output as at[{t:g}]; give each threshold once")
        return self


def _rates(scores: list[float], labels: list[int], threshold: float) -> dict[str, float]:
    predicted = [s >= threshold for s in scores]
    tp = sum(p and y == 1 for p, y in zip(predicted, labels))
    fp = sum(p and y == 0 for p, y in zip(predicted, labels))
    fn = sum(not p and y == 1 for p, y in zip(predicted, labels))
    tn = len(labels) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall, "f1": f1,
            "precision_x_recall": precision * recall, "accuracy": (tp + tn) / len(labels)}


@register
class ThresholdMetrics(Solver):
    name = "threshold_metrics"
    Params = ThresholdParams

    def solve(self) -> dict[str, Any]:
        p: ThresholdParams = self.params
        by_threshold = {t: _rates(p.scores, p.labels, t) for t in p.thresholds}
        out: dict[str, Any] = {f"at[{t:g}].{name}": value for t, rates in by_threshold.items()
                               for name, value in rates.items()}
        best = max(p.thresholds, key=lambda t: by_threshold[t][p.metric])  # the first of equals
        out["best.threshold"] = best
        out["best.value"] = by_threshold[best][p.metric]
        out["table"] = [[t, r["precision"], r["recall"], r[p.metric]] for t, r in by_threshold.items()]
        return out

    def steps(self) -> StepGraph:
        """Counts at each threshold, then the rates computed from them: a wrong precision or recall
        carries into their product and F1."""
        p: ThresholdParams = self.params
        g = StepGraph()
        for t in p.thresholds:
            at = f"at[{t:g}]."
            rates = _rates(p.scores, p.labels, t)
            for count in ("tp", "fp", "fn", "tn"):
                g.given(at + count, rates[count])
            g.step(at + "precision", [at + "tp", at + "fp"], lambda tp, fp: tp / (tp + fp) if tp + fp else 0.0)
            g.step(at + "recall", [at + "tp", at + "fn"], lambda tp, fn: tp / (tp + fn) if tp + fn else 0.0)
            g.step(at + "f1", [at + "precision", at + "recall"], lambda pr, rc: 2 * pr * rc / (pr + rc) if pr + rc else 0.0)
            g.step(at + "precision_x_recall", [at + "precision", at + "recall"], lambda pr, rc: pr * rc)
            g.step(at + "accuracy", [at + "tp", at + "tn"], lambda tp, tn: (tp + tn) / len(p.labels))
        return g
