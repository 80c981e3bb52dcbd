"""Kind `text`: a short written answer matched exactly, by regular expression, or against alternatives.

Both sides are normalised first: Unicode NFKC, surrounding and repeated whitespace collapsed,
case folded unless `case_sensitive`, and a trailing full stop dropped. `match`:
- `exact` (default): the answer or any of `accept` (alternative spellings) after normalising;
- `regex`: the rubric's answer is a pattern that must match the whole normalised text
  (the instructor writes it; the student's text is only ever the subject, and is length-bounded).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from pydantic import Field

from grader.kinds import register
from grader.kinds._values import read_text, short
from grader.kinds.base import Comparator, NoOptions, Verdict

MAX_LENGTH = 1000


class TextOptions(NoOptions):
    match: Literal["exact", "regex"] = "exact"
    accept: list[str] = Field([], description="other accepted answers (exact mode)")
    case_sensitive: bool = False


@register
class Text(Comparator):
    kind = "text"
    Options = TextOptions

    def _normal(self, text: str) -> str:
        text = " ".join(unicodedata.normalize("NFKC", text).split()).removesuffix(".").strip()
        return text if self.options.case_sensitive else text.casefold()

    def reference(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("answer must be non-empty text")
        if self.options.match == "regex":
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"answer is not a valid regular expression: {exc}") from None
        return value

    def show(self, reference: str) -> str:
        if self.options.match == "regex":
            return f"text matching /{reference}/"
        return " or ".join(repr(a) for a in [reference, *self.options.accept])

    def check(self, answer: Any, reference: str) -> Verdict:
        got = self._normal(read_text(answer, MAX_LENGTH))
        if self.options.match == "regex":
            flags = 0 if self.options.case_sensitive else re.IGNORECASE
            ok = re.fullmatch(reference, got, flags) is not None
        else:
            ok = got in {self._normal(a) for a in [reference, *self.options.accept]}
        if ok:
            return Verdict.of(1.0, f"{short(got)!r} is accepted", "correct")
        return Verdict.of(0.0, f"expected {self.show(reference)}, got {short(got)!r}", f"{short(got)!r} is not accepted")
