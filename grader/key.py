"""The answer key: every automatic check's canonical answer, as JSON, computed from the rubric.

An answer is either the rubric's literal or a reference-solver output (`source: solver`, with the
output it came from). The key carries every solver's full outputs, intermediates included, so an
instructor reviewing `grader key` sees how each answer was reached. Scoring compares against it.
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
    source: Literal["literal", "solver"] = "literal"
    solution: str | None = None  # INSTANCE.OUTPUT for solver answers
    depends_on: list[str] = []  # other checks ("part/criterion") whose answers this one is computed from


class AnswerKey(BaseModel):
    schema_version: Literal[1] = 1
    assessment_id: str
    entries: list[KeyEntry]
    solutions: dict[str, dict[str, Any]] = {}  # every solver run's outputs, intermediates included

    def lookup(self) -> dict[tuple[str, str], KeyEntry]:
        return {(e.part, e.criterion): e for e in self.entries}


def _dependencies(rubric: Rubric) -> dict[tuple[str, str], list[str]]:
    """For each solver-backed check, the checks upstream of it in its solver's step graph: what
    follow-through marking may recompute it from."""
    by_instance: dict[str, list[tuple[tuple[str, str], str]]] = {}
    for check, solution in rubric.sources.items():
        instance, _, output = solution.partition(".")
        by_instance.setdefault(instance, []).append((check, output))
    out = {}
    for instance, checks in by_instance.items():
        graph = rubric.graphs.get(instance)
        for check, output in checks:
            if graph is not None and output in graph:
                ancestors = graph.ancestors(output)
                out[check] = [f"{c[0]}/{c[1]}" for c, o in checks if o in ancestors]
    return out


def build_key(rubric: Rubric) -> AnswerKey:
    entries = []
    dependencies = _dependencies(rubric)
    for (part_id, criterion_id), comparator in rubric.comparators.items():
        value = rubric.references[(part_id, criterion_id)]
        solution = rubric.sources.get((part_id, criterion_id))
        entries.append(KeyEntry(part=part_id, criterion=criterion_id, kind=comparator.kind, value=value,
                                shown=comparator.show(value), source="solver" if solution else "literal",
                                solution=solution, depends_on=dependencies.get((part_id, criterion_id), [])))
    return AnswerKey(assessment_id=rubric.assessment.id, entries=entries, solutions=rubric.solutions)
