"""Reading numbers out of raw student values without ever running them.

Answer files are parsed with `Decimal` for every number (see `grader.submission`), so the digits a
student typed survive: `0.050` keeps three decimal places. That lets comparators warn when the
typed precision is coarser than the tolerance.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from grader.kinds.base import InvalidAnswer
from grader.textsafety import printable

MAX_TEXT = 200  # longest string we try to read as a number
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_FRACTION = re.compile(r"([+-]?\d+)\s*/\s*([+-]?\d+)")


class Unusable(str):
    """A value the answer-file reader could not hold (a number out of range, nesting too deep, too
    many values): kept as short text for display, refused by every kind with `why`, so that it
    costs only its own part."""

    why: str

    def __new__(cls, text: str, why: str) -> "Unusable":
        value = super().__new__(cls, text)
        value.why = why
        return value

    def __getnewargs__(self) -> tuple[str, str]:
        return str(self), self.why


class NonFinite(Unusable):
    """A JSON `NaN`, `Infinity` or `-Infinity` literal."""

    def __new__(cls, text: str) -> "NonFinite":
        return super().__new__(cls, text, f"{text} is not a finite number")

    def __getnewargs__(self) -> tuple[str]:  # type: ignore[override]
        return (str(self),)


@dataclass(frozen=True)
class TypedNumber:
    """A finite number and, when it was typed as a decimal, how many decimal places were typed."""

    value: float
    text: str
    decimals: int | None = None

    def half_unit(self) -> float | None:
        """Half a unit in the last typed place: the rounding error the typed digits allow."""
        return None if self.decimals is None else 0.5 * 10.0 ** (-self.decimals)


def short(value: Any, limit: int = 60) -> str:
    """A bounded, printable rendering of a student value for messages."""
    try:
        text = value if isinstance(value, str) else repr(value)
    except RecursionError:
        text = f"({type_name(value)} nested too deeply to show)"
    text = printable(text[: limit * 2])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _from_decimal(number: Decimal, text: str) -> TypedNumber:
    if not number.is_finite():
        raise InvalidAnswer(f"{short(text)} is not a finite number")
    try:
        value = float(number)
    except (OverflowError, InvalidOperation):
        value = math.inf
    if not math.isfinite(value) or (value == 0.0 and number != 0):
        raise InvalidAnswer(f"{short(text)} is out of the range of numbers this question accepts")
    exponent = number.as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else None
    return TypedNumber(value, text, decimals)


def read_number(raw: Any) -> TypedNumber:
    """Read a finite number from an int, a Decimal, or a string such as `0.0364`, `-3.2e-4`, `3/4`, or a
    constant expression such as `sqrt(2)/2` or `e^{-1}` (parsed by the whitelist grammar, never eval'd)."""
    if isinstance(raw, bool) or raw is None:
        raise InvalidAnswer(f"expected a number, got {type_name(raw)}")
    if isinstance(raw, Unusable):
        raise InvalidAnswer(raw.why)
    if isinstance(raw, int):
        try:
            return TypedNumber(float(raw), str(raw))
        except OverflowError:
            raise InvalidAnswer("the number is out of the range this question accepts") from None
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise InvalidAnswer(f"{raw} is not a finite number")
        return TypedNumber(raw, repr(raw))
    if isinstance(raw, Decimal):
        return _from_decimal(raw, str(raw))
    if not isinstance(raw, str):
        raise InvalidAnswer(f"expected a number, got {type_name(raw)}")
    text = raw.strip().replace("\u2212", "-")
    if not text:
        raise InvalidAnswer("the answer is empty")
    if len(text) > MAX_TEXT:
        raise InvalidAnswer(f"the answer is {len(text)} characters long; a number has at most {MAX_TEXT}")
    if _NUMBER.fullmatch(text):
        return _from_decimal(Decimal(text), text)
    match = _FRACTION.fullmatch(text)
    if match:
        numerator, denominator = (int(match.group(1)), int(match.group(2)))
        if denominator == 0:
            raise InvalidAnswer(f"{short(text)} divides by zero")
        return TypedNumber(float(Fraction(numerator, denominator)), text)
    if re.fullmatch(r"[+-]?\d+,\d+", text):
        raise InvalidAnswer(f"{short(text)}: write decimals with a point, not a comma")
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise InvalidAnswer(f"{short(text)} is not a finite number")
    from grader.mathexpr import ExpressionError, evaluate_constant  # the parser, for the few numbers typed as formulas

    try:
        return TypedNumber(evaluate_constant(text), text)
    except ExpressionError as exc:
        raise InvalidAnswer(f"{short(text)} is not a number (write e.g. 0.25, 2.5e-3, 1/4 or sqrt(2)/2): {exc}") from None


def type_name(raw: Any) -> str:
    """What a JSON value is, with its article, for messages: "a list", "an object", "no answer (null)"."""
    if isinstance(raw, bool):
        return "a true/false value"
    if isinstance(raw, (int, float, Decimal)):
        return "a number"
    if isinstance(raw, str):
        return "text"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, dict):
        return "an object"
    if raw is None:
        return "no answer (null)"
    return f"a {type(raw).__name__}"


def read_text(raw: Any, limit: int) -> str:
    """A student string, bounded in length and free of undecodable bytes."""
    if isinstance(raw, Unusable):
        raise InvalidAnswer(raw.why)
    if isinstance(raw, (int, Decimal)) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise InvalidAnswer(f"expected text, got {type_name(raw)}")
    if any("\ud800" <= ch <= "\udfff" for ch in raw):
        raise InvalidAnswer("the answer contains bytes that are not valid UTF-8")
    if len(raw) > limit:
        raise InvalidAnswer(f"the answer is {len(raw)} characters long; at most {limit} are accepted")
    if not raw.strip():
        raise InvalidAnswer("the answer is empty")
    return raw
