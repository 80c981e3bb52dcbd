"""Kind `number`: one real number within a tolerance (see `_tolerance` for the modes).

Accepts JSON numbers and strings such as `0.0364`, `-3.2e-4` and fractions like `3/4`; rejects
NaN, infinities and values beyond float range with a message. Warns when the typed precision is
coarser than the tolerance (e.g. `0.05` against a 1% window around 0.0364).
"""

from __future__ import annotations

from typing import Any

from grader.kinds import register
from grader.kinds._tolerance import Tolerance, fmt
from grader.kinds._values import read_number
from grader.kinds.base import Comparator, InvalidAnswer, Verdict


@register
class Number(Comparator):
    kind = "number"
    Options = Tolerance

    def reference(self, value: Any) -> float:
        try:
            return read_number(value).value
        except InvalidAnswer as exc:
            raise ValueError(f"answer must be a finite number: {exc}") from None

    def show(self, reference: float) -> str:
        return f"{fmt(reference)} ({self.options.describe()})"

    def value_of(self, answer: Any) -> float:
        return read_number(answer).value

    def check(self, answer: Any, reference: float) -> Verdict:
        typed = read_number(answer)
        tol: Tolerance = self.options
        warning = tol.precision_warning(typed, reference)
        if tol.accepts(typed.value, reference):
            return Verdict.of(1.0, f"{typed.text} is {tol.describe()} of {fmt(reference)}",
                              "correct", [warning] if warning else [])
        return Verdict.of(
            0.0,
            f"expected {fmt(reference)} {tol.describe()}, got {typed.text}",
            f"{typed.text} is not correct ({tol.describe()} of the expected value)",
            [warning] if warning else [],
        )
