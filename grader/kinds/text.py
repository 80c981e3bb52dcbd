"""Kind `text`: a short written answer matched exactly, by regular expression, or against alternatives.

Both sides are normalised first: Unicode NFKC, surrounding and repeated whitespace collapsed,
case folded unless `case_sensitive`, and a trailing full stop dropped. `match`:
- `exact` (default): the answer or any of `accept` (alternative spellings) after normalising;
- `regex`: the rubric's answer is a pattern that must match the whole normalised text
  (the instructor writes it; the student's text is only ever the subject, and is length-bounded).

Patterns are RE2 syntax (https://github.com/google/re2/wiki/Syntax), matched by Google's RE2 in
time linear in the text, so no pattern can hang grading whatever a student writes (Python's `re`
takes exponential time on `(a+)+$` against "aaaa...!"). The price: RE2 has no backreferences
(`\\1`) and no lookaround (`(?=...)`, `(?<!...)`), `\\Z` is spelled `\\z`, and repeat counts are at
most 1000. A pattern is compiled when the rubric loads, and refused there with the reason if RE2
cannot compile it, if it is over MAX_PATTERN characters, or if a repeat count is over 1000 (RE2
itself would read `a{4294967296}` as literal text rather than fail).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

import re2
from pydantic import Field

from grader.kinds import register
from grader.kinds._values import read_text, short
from grader.kinds.base import Comparator, NoOptions, Verdict

MAX_LENGTH = 1000
MAX_PATTERN = 1000
MAX_REPEAT = 1000  # RE2's own limit
MAX_MEM = 8 << 20  # bytes RE2 may use per compiled pattern
_REPEAT = re.compile(r"(?<!\\)(?:\\\\)*(\{(\d+)(?:,(\d*))?\})")  # {n}, {n,} or {n,m} not escaped by a backslash
_HINT = "RE2 syntax: no backreferences such as \\1, no lookaround such as (?=...), \\z rather than \\Z"
_HINT_LARGE = f"RE2 would need more than {MAX_MEM >> 20} MiB for it: use smaller repeat counts"


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

    def _regex(self, pattern: str) -> re2._Regexp:
        """The pattern compiled by RE2 (cached by re2, so checks reuse it); ValueError saying why not."""
        if len(pattern) > MAX_PATTERN:
            raise ValueError(f"the regular expression is {len(pattern):,} characters long; at most {MAX_PATTERN} "
                             "are accepted")
        for repeat in _REPEAT.finditer(pattern):
            braces, low, high = repeat.groups()
            if int(low) > MAX_REPEAT or (high and int(high) > MAX_REPEAT):
                raise ValueError(f"the regular expression repeats {braces} times; RE2 allows counts up to "
                                 f"{MAX_REPEAT}")
        options = re2.Options()
        options.log_errors = False
        options.case_sensitive = self.options.case_sensitive
        options.max_mem = MAX_MEM
        try:
            return re2.compile(pattern, options)
        except Exception as exc:
            why = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            hint = _HINT_LARGE if "too large" in why else _HINT
            raise ValueError(f"answer is not a valid regular expression: {why} ({hint})") from None

    def reference(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("answer must be non-empty text")
        if self.options.match == "regex":
            self._regex(value)
        return value

    def show(self, reference: str) -> str:
        if self.options.match == "regex":
            return f"text matching /{reference}/"
        return " or ".join(repr(a) for a in [reference, *self.options.accept])

    def check(self, answer: Any, reference: str) -> Verdict:
        got = self._normal(read_text(answer, MAX_LENGTH))
        if self.options.match == "regex":
            ok = self._regex(reference).fullmatch(got) is not None
        else:
            ok = got in {self._normal(a) for a in [reference, *self.options.accept]}
        if ok:
            return Verdict.of(1.0, f"{short(got)!r} is accepted", "correct")
        return Verdict.of(0.0, f"expected {self.show(reference)}, got {short(got)!r}", f"{short(got)!r} is not accepted")
