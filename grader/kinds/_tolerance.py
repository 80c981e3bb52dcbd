"""Numeric tolerance semantics shared by the number, vector and matrix kinds.

Modes, with r the reference and s the student's value (the window always centres on r, never on
s, so the check is symmetric in nobody's favour):

- `relative` (default): correct when |s - r| <= atol + rtol*|r|; rtol 0.01, atol 1e-8 by default,
  as PrairieLearn's relabs. A zero reference leaves only atol.
- `absolute`: correct when |s - r| <= atol (atol required).
- `sigfig`: correct when r - eps < s < r + eps, eps = 0.51 * 10^-n, n = digits - 1 - floor(log10|r|):
  the student's value rounds to r at `digits` significant figures (with a little slack).
- `decimals`: as sigfig with eps = 0.51 * 10^-digits: r at `digits` decimal places.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grader.kinds._values import TypedNumber


def fmt(x: float) -> str:
    """Compact rendering of a float: 0.0364, -72, 1.5e-08."""
    if x == 0:
        return "0"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


class Tolerance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["relative", "absolute", "sigfig", "decimals"] = "relative"
    rtol: float = Field(0.01, ge=0, description="relative tolerance (relative mode)")
    atol: float | None = Field(None, ge=0, description="absolute tolerance; 1e-8 by default in relative mode")
    digits: int | None = Field(None, ge=0, le=15, description="significant figures or decimal places")

    @model_validator(mode="after")
    def _consistent(self) -> "Tolerance":
        if self.mode == "absolute" and self.atol is None:
            raise ValueError("mode 'absolute' needs atol")
        if self.mode in ("sigfig", "decimals") and self.digits is None:
            raise ValueError(f"mode {self.mode!r} needs digits")
        if self.mode == "sigfig" and self.digits == 0:
            raise ValueError("mode 'sigfig' needs digits >= 1")
        return self

    def half_width(self, r: float) -> float:
        """Half the width of the acceptance window around reference r."""
        if self.mode == "relative":
            return (1e-8 if self.atol is None else self.atol) + self.rtol * abs(r)
        if self.mode == "absolute":
            return self.atol or 0.0
        if self.mode == "sigfig":
            magnitude = math.floor(math.log10(abs(r))) if r != 0 else 0
            return 0.51 * 10.0 ** (-(self.digits - 1 - magnitude))
        return 0.51 * 10.0 ** (-self.digits)

    def accepts(self, s: float, r: float) -> bool:
        width = self.half_width(r)
        if self.mode in ("sigfig", "decimals"):
            return r - width < s < r + width
        return abs(s - r) <= width

    def describe(self) -> str:
        """The tolerance in words, e.g. 'within 1%' or 'to 3 significant figures'."""
        if self.mode == "relative":
            return f"within {self.rtol * 100:g}%"
        if self.mode == "absolute":
            return f"within ±{fmt(self.atol or 0.0)}"
        if self.mode == "sigfig":
            return f"to {self.digits} significant figure{'s' if self.digits != 1 else ''}"
        return f"to {self.digits} decimal place{'s' if self.digits != 1 else ''}"

    def precision_warning(self, typed: TypedNumber, r: float) -> str | None:
        """Warn when the digits typed are too few for the tolerance to judge them fairly."""
        half_unit = typed.half_unit()
        if half_unit is None or self.mode in ("sigfig", "decimals") or typed.value == r:
            return None
        if half_unit > self.half_width(r):
            return (
                f"you typed {typed.text} ({typed.decimals} decimal place{'s' if typed.decimals != 1 else ''}); "
                f"this answer is checked {self.describe()}, so give more digits"
            )
        return None
