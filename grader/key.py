"""The answer key: every automatic check's canonical answer, as JSON, computed from the rubric.

Today each answer is the rubric's literal; the reference solvers will compute them. The key is
what scoring compares against, and what `grader key` prints, so instructors can review it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from grader.rubric import Rubric


class KeyEntry(BaseModel):
    part: str
    criterion: str
    kind: str
    value: Any
    shown: str  # the answer as a person would write it, with its tolerance
    source: Literal["literal"] = "literal"


class AnswerKey(BaseModel):
    schema_version: Literal[1] = 1
    assessment_id: str
    entries: list[KeyEntry]

    def lookup(self) -> dict[tuple[str, str], KeyEntry]:
        return {(e.part, e.criterion): e for e in self.entries}


def build_key(rubric: Rubric) -> AnswerKey:
    entries = []
    for (part_id, criterion_id), comparator in rubric.comparators.items():
        value = rubric.references[(part_id, criterion_id)]
        entries.append(KeyEntry(part=part_id, criterion=criterion_id, kind=comparator.kind, value=value,
                                shown=comparator.show(value)))
    return AnswerKey(assessment_id=rubric.assessment.id, entries=entries)
