"""Kind `integer`: an exact whole number, such as a parameter count or an output size.

`13`, `13.0` and `"13"` are all 13; `13.5` is rejected as not whole; no tolerance applies.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from grader.kinds import register
from grader.kinds._values import Unusable, read_text, short, type_name
from grader.kinds.base import Comparator, InvalidAnswer, Verdict

MAX_DIGITS = 60


def read_integer(raw: Any) -> int:
    if isinstance(raw, Unusable):
        raise InvalidAnswer(raw.why)
    if isinstance(raw, bool) or raw is None:
        raise InvalidAnswer(f"expected a whole number, got {type_name(raw)}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        text = read_text(raw, 200).strip().replace("\u2212", "-").replace("_", "")
        try:
            raw = Decimal(text)
        except ArithmeticError:
            raise InvalidAnswer(f"{short(text)} is not a whole number within the range this question accepts") from None
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise InvalidAnswer("the answer is not a finite number")
        if raw.adjusted() >= MAX_DIGITS:
            raise InvalidAnswer(f"the number has more than {MAX_DIGITS} digits")
        if raw != raw.to_integral_value():
            raise InvalidAnswer(f"{raw} is not a whole number")
        return int(raw)
    raise InvalidAnswer(f"expected a whole number, got {type_name(raw)}")


@register
class Integer(Comparator):
    kind = "integer"

    def reference(self, value: Any) -> int:
        try:
            return read_integer(value)
        except InvalidAnswer as exc:
            raise ValueError(f"answer must be a whole number: {exc}") from None

    def value_of(self, answer: Any) -> int:
        return read_integer(answer)

    def check(self, answer: Any, reference: int) -> Verdict:
        got = read_integer(answer)
        if got == reference:
            return Verdict.of(1.0, f"{got} is exactly right", "correct")
        return Verdict.of(0.0, f"expected exactly {reference}, got {got}", f"{got} is not correct")
