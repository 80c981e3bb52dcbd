"""Kinds `choice` (one option) and `multi` (a set of options, e.g. "ACD").

Options are letters or short labels; answers are matched ignoring case, spaces, commas and
brackets, so "b", "(B)", "B." all choose B, and "A, C, D", "acd" and ["A","C","D"] choose A, C, D.

Partial credit for `multi` (`partial`):
- `all_or_nothing` (default): the exact set, or 0.
- `per_option`: each of the n offered options judged right (chosen iff it should be); score = right/n.
- `right_minus_wrong`: (correct chosen - wrong chosen) / number of correct options, floored at 0
  (the Canvas/Moodle style that punishes ticking everything).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from grader.kinds import register
from grader.kinds._values import read_text, short, type_name
from grader.kinds.base import Comparator, InvalidAnswer, NoOptions, Verdict

_LABEL = re.compile(r"^[A-Za-z0-9]{1,20}$")


class ChoiceOptions(NoOptions):
    choices: list[str] = Field(default_factory=lambda: list("ABCD"), min_length=2, description="the offered options")

    @model_validator(mode="after")
    def _labels(self) -> "ChoiceOptions":
        upper = [c.upper() for c in self.choices]
        if any(not _LABEL.match(c) for c in self.choices) or len(set(upper)) != len(upper):
            raise ValueError("choices must be distinct labels of letters or digits")
        return self


class MultiOptions(ChoiceOptions):
    partial: Literal["all_or_nothing", "per_option", "right_minus_wrong"] = "all_or_nothing"


def _tokens(raw: Any, offered: list[str]) -> list[str]:
    """The options a student chose, spelt as the rubric offers them; single letters may run together ("ACD")."""
    items = raw if isinstance(raw, list) else [raw]
    chosen: list[str] = []
    offered_upper = {c.upper(): c for c in offered}
    single_letters = all(len(c) == 1 for c in offered)
    for item in items:
        if not isinstance(item, str):
            raise InvalidAnswer(f"expected option labels, got {type_name(item)}")
        words = [w for w in re.split(r"[\s,;/()\[\].&]+|\band\b", read_text(item, 200), flags=re.I) if w]
        for word in words:
            parts = list(word) if single_letters and word.upper() not in offered_upper else [word]
            for label in parts:
                if label.upper() not in offered_upper:
                    raise InvalidAnswer(f"{short(label)!r} is not one of the options {', '.join(offered)}")
                chosen.append(offered_upper[label.upper()])
    return chosen


@register
class Choice(Comparator):
    kind = "choice"
    Options = ChoiceOptions

    def reference(self, value: Any) -> str:
        chosen = _tokens(value, self.options.choices) if isinstance(value, str) else []
        if len(chosen) != 1:
            raise ValueError(f"answer must be exactly one of {', '.join(self.options.choices)}")
        return chosen[0]

    def check(self, answer: Any, reference: str) -> Verdict:
        chosen = _tokens(answer, self.options.choices)
        if len(set(chosen)) != 1:
            raise InvalidAnswer("choose exactly one option" if chosen else "no option was chosen")
        got = chosen[0]
        if got == reference:
            return Verdict.of(1.0, f"chose {got}", "correct")
        return Verdict.of(0.0, f"expected {reference}, chose {got}", f"{got} is not correct")


@register
class Multi(Comparator):
    kind = "multi"
    Options = MultiOptions

    def reference(self, value: Any) -> str:
        try:
            chosen = _tokens(value, self.options.choices)
        except InvalidAnswer as exc:
            raise ValueError(str(exc)) from None
        return "".join(sorted(set(chosen)))

    def _split(self, labels: str) -> set[str]:
        return set(_tokens(labels, self.options.choices)) if labels else set()

    def check(self, answer: Any, reference: str) -> Verdict:
        chosen = set(_tokens(answer, self.options.choices)) if answer != [] else set()
        correct = self._split(reference)
        offered = set(self.options.choices)
        hits, false_hits = len(chosen & correct), len(chosen - correct)
        mode = self.options.partial
        if mode == "all_or_nothing":
            fraction = 1.0 if chosen == correct else 0.0
        elif mode == "per_option":
            fraction = sum((c in chosen) == (c in correct) for c in offered) / len(offered)
        else:
            fraction = max(0.0, (hits - false_hits) / len(correct)) if correct else float(not chosen)
        got = "".join(sorted(chosen)) or "nothing"
        reason = f"expected {reference or 'nothing'}, chose {got} ({mode.replace('_', ' ')})"
        message = "correct" if chosen == correct else f"{got} is not the right set of options"
        return Verdict.of(fraction, reason, message)
