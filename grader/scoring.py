"""Scoring: judge every criterion of every part of one submission against the answer key.

Grading one submission never raises: an answer the comparator cannot read scores 0 on that
criterion with the comparator's message, and an unexpected error inside a comparator is recorded
on that criterion (the instructor sees the error, the student a neutral message).
"""

from __future__ import annotations

import difflib
import json
import time
from decimal import Decimal
from typing import Any

from grader.followthrough import apply_follow_through
from grader.key import AnswerKey, KeyEntry
from grader.kinds import InvalidAnswer
from grader.kinds._values import Unusable, short
from grader.results import CriterionResult, ItemStatus, PartResult, QuestionResult, SubmissionResult
from grader.rubric import Assessment, Criterion, Part, Rubric
from grader.submission import Submission
from grader.textsafety import encodable, printable

_MISSING = object()
MAX_UNKNOWN_LISTED = 10


def _display(raw: Any) -> str | None:
    """The student's answer as they typed it (numbers keep their digits), bounded for reports."""
    if raw is _MISSING:
        return None
    try:
        return short(raw if isinstance(raw, str) else _render(raw), 200)
    except (RecursionError, ValueError):  # the reader bounds answers; this guards what it did not foresee
        return "(cannot be shown)"


def _render(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value[:50]) + (", …]" if len(value) > 50 else "]")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_render(v)}" for k, v in list(value.items())[:50]) + "}"
    if isinstance(value, (Decimal, Unusable)):
        return str(value)
    if isinstance(value, (str, bool)) or value is None:
        return json.dumps(value)
    return str(value)


def _round(x: float) -> float:
    return round(x, 6)


def _check_item(rubric: Rubric, entry: KeyEntry | None, item: Criterion, raw: Any, reveal: bool,
                program: dict[str, Any] | None, functions: dict[str, Any] | None = None) -> CriterionResult:
    shown = item.label or (item.description if reveal or not item.manual else f"marked by a person ({item.id})")
    base = dict(id=item.id, description=shown, guidance=item.description, marks=item.marks)
    if item.manual:
        return CriterionResult(**base, score=None, status="manual", reason="awaits marking by a person",
                               message="to be marked by a person")
    expected = entry.shown if (entry and reveal) else None
    comparator = rubric.comparators[(entry.part, entry.criterion)] if entry else None
    reads_program = comparator is not None and (comparator.reads_program or comparator.reads_functions)
    if reads_program:
        run = program if comparator.reads_program else functions
        if run is None:
            return CriterionResult(**base, score=0.0, status="missing", expected=expected,
                                   reason="no notebook run: this check runs the code of a notebook (.ipynb) submission",
                                   message="this check runs the code in your notebook; submit the .ipynb file")
        raw = run
    elif item.field is not None and raw is not _MISSING:
        if not isinstance(raw, dict):
            return CriterionResult(**base, score=0.0, status="invalid", expected=expected,
                                   reason=f"answer is not an object with field {item.field!r}",
                                   message=f"expected an object with a field {item.field!r}")
        raw = raw.get(item.field, _MISSING)
    base["answer"] = None if reads_program else _display(raw)
    if raw is _MISSING:
        what = f"field {item.field!r}" if item.field else "answer"
        return CriterionResult(**base, score=0.0, status="missing", expected=expected,
                               reason=f"no {what}", message=f"no {what} was given")
    if entry is None:
        return CriterionResult(**base, score=0.0, status="invalid", reason="the answer key has no entry for this check",
                               message="this answer could not be checked; your instructor has been told")
    try:
        verdict = comparator.check(raw, entry.value)
    except InvalidAnswer as exc:
        return CriterionResult(**base, score=0.0, status="invalid", expected=expected,
                               reason=f"unreadable answer: {exc}", message=str(exc))
    except Exception as exc:  # a comparator bug must cost one criterion, not the batch
        return CriterionResult(**base, score=0.0, status="invalid", expected=expected,
                               reason=f"internal error in the {comparator.kind} check: {type(exc).__name__}: {exc}",
                               message="this answer could not be checked; your instructor has been told")
    return CriterionResult(**base, score=_round(item.marks * verdict.fraction), status=verdict.status,
                           reason=verdict.reason, message=verdict.message, warnings=verdict.warnings,
                           review=verdict.review, cause=verdict.cause, expected=expected)


def part_status(criteria: list[CriterionResult], marks: float, score: float) -> ItemStatus:
    statuses = {c.status for c in criteria}
    if statuses == {"manual"}:
        return "manual"
    if statuses <= {"missing", "manual"}:
        return "missing"
    if score >= marks - 1e-9:
        return "correct"
    if score > 0:
        return "partial"
    return "invalid" if statuses <= {"invalid", "manual"} else "incorrect"


def _aggregate_part(part: Part, criteria: list[CriterionResult], raw: Any) -> PartResult:
    auto = _round(sum(c.score or 0.0 for c in criteria))
    pending = any(c.status == "manual" for c in criteria)
    marks = part.total_marks
    status = part_status(criteria, marks, auto)
    return PartResult(id=part.id, prompt=part.prompt, marks=marks, score=None if pending else auto, auto_score=auto,
                      status=status, answer=_display(raw), criteria=criteria,
                      feedback=part.feedback if status not in ("correct", "manual") else "")


def _raw_for(item: Criterion, raw: Any) -> Any:
    """The value a criterion checks: the whole answer, or one field of an answer object."""
    if item.field is not None and isinstance(raw, dict):
        return raw.get(item.field, _MISSING)
    return raw


def count_totals(assessment: Assessment, questions: list[QuestionResult]) -> None:
    """Mark which questions count (the best of each `choose` group, by the marks earned so far)."""
    counted = set(assessment.counted({q.id: q.auto_score for q in questions}))
    for question in questions:
        question.counted = question.id in counted


def _items(rubric: Rubric) -> dict[tuple[str, str], tuple[Part, Criterion]]:
    return {(part.id, item.id): (part, item) for _, part in rubric.assessment.parts()
            for item in rubric.part_items[part.id]}


def _judge(rubric: Rubric, lookup: dict[tuple[str, str], KeyEntry], submission: Submission,
           items: dict[tuple[str, str], tuple[Part, Criterion]],
           errors: list[str]) -> dict[tuple[str, str], CriterionResult]:
    """Every check of `items` judged, follow-through included (which sees only checks among `items`)."""
    answers = submission.answers if submission.readable else {}
    values = submission.values if submission.readable else None

    def answer(part_id: str, item: Criterion) -> Any:
        """A notebook's computed value for a `value:` check; else the answer given for the part."""
        if item.value is not None and values is not None:
            return values.get(item.value, _MISSING)
        return answers.get(part_id, _MISSING)

    results = {}
    for (part_id, item_id), (part, item) in items.items():
        reveal = part.show_answer if part.show_answer is not None else rubric.assessment.show_answers
        results[(part_id, item_id)] = _check_item(rubric, lookup.get((part_id, item_id)), item,
                                                  answer(part_id, item), reveal,
                                                  submission.program if submission.readable else None,
                                                  submission.functions if submission.readable else None)
    try:
        results = apply_follow_through(rubric, lookup, items,
                                       lambda check: _raw_for(items[check][1], answer(check[0], items[check][1])),
                                       results)
    except Exception as exc:  # the marks already judged stand; only the follow-through credit is lost
        errors.append(f"follow-through marking failed ({type(exc).__name__}: {short(str(exc))}); "
                      "scores are without it; please report it")
    return results


def rescore_parts(rubric: Rubric, key: AnswerKey, submission: Submission, stored: SubmissionResult,
                  parts: frozenset[str]) -> SubmissionResult:
    """`stored` (changed in place) with `parts` scored again from `submission`, exactly as a full
    grade would score them, and its totals counted again; its other parts stay as they were.
    Follow-through judges a check from the other checks of its solver instance, so those are
    judged too, and set aside; no other check is (an expression check costs milliseconds)."""
    started = time.perf_counter()
    lookup = key.lookup()
    items = _items(rubric)
    instance = {check: entry.solution.partition(".")[0] for check, entry in lookup.items() if entry.solution}
    related = {instance[check] for check in items if check[0] in parts and check in instance}
    needed = {check: item for check, item in items.items() if check[0] in parts or instance.get(check) in related}
    errors = list(stored.errors)
    results = _judge(rubric, lookup, submission, needed, errors)
    answers = submission.answers if submission.readable else {}
    for question in stored.questions:
        for i, old in enumerate(question.parts):
            if old.id in parts:
                part = rubric.part_index[old.id][1]
                criteria = [results[(part.id, item.id)] for item in rubric.part_items[part.id]]
                question.parts[i] = _aggregate_part(part, criteria, answers.get(part.id, _MISSING))
    stored.errors = list(dict.fromkeys(encodable(e) for e in errors))
    retotal(rubric.assessment, stored)
    stored.duration_s = time.perf_counter() - started
    return stored


def retotal(assessment: Assessment, result: SubmissionResult) -> None:
    """Count a result's question and submission totals again from its parts, after parts were
    marked by a person or rescored (which may change the best questions of a `choose` group)."""
    for question in result.questions:
        question.marks = sum(p.marks for p in question.parts)
        question.auto_score = _round(sum(p.auto_score for p in question.parts))
        question.manual_marks = sum(p.manual_marks for p in question.parts)
    count_totals(assessment, result.questions)
    marks = {q.id: q.marks for q in result.questions}
    result.max_score = sum(marks[qid] for qid in assessment.counted(marks))
    result.score = _round(sum(q.auto_score for q in result.questions if q.counted))
    result.manual_pending = sum(q.manual_marks for q in result.questions)


def grade_submission(rubric: Rubric, key: AnswerKey, submission: Submission) -> SubmissionResult:
    """Score one submission; always returns a result, whatever the submission holds."""
    started = time.perf_counter()
    assessment = rubric.assessment
    lookup = key.lookup()
    answers = submission.answers if submission.readable else {}
    errors = list(submission.errors)
    results = _judge(rubric, lookup, submission, _items(rubric), errors)
    questions = []
    for question in assessment.questions:
        parts = [_aggregate_part(part, [results[(part.id, item.id)] for item in rubric.part_items[part.id]],
                                 answers.get(part.id, _MISSING)) for part in question.parts]
        questions.append(QuestionResult(id=question.id, title=question.title, marks=question.total_marks,
                                        auto_score=_round(sum(p.auto_score for p in parts)),
                                        manual_marks=sum(p.manual_marks for p in parts), parts=parts))
    warnings = list(submission.warnings)
    if submission.readable and submission.assessment_id and submission.assessment_id != assessment.id:
        errors.append(f"this file is for assessment {short(submission.assessment_id)!r}, "
                      f"but it was graded against {assessment.id!r}")
    part_ids = list(rubric.part_index)
    unknown_parts = sorted(set(answers) - set(part_ids))
    for unknown in unknown_parts[:MAX_UNKNOWN_LISTED]:
        hint = difflib.get_close_matches(unknown[:100], part_ids, n=1)
        warnings.append(f"answer for unknown part {short(unknown)!r} was ignored"
                        + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    if len(unknown_parts) > MAX_UNKNOWN_LISTED:
        warnings.append(f"and {len(unknown_parts) - MAX_UNKNOWN_LISTED} more answers for unknown parts were ignored")
    count_totals(assessment, questions)
    return SubmissionResult(
        source=printable(submission.source), student_id=printable(submission.student_id),
        student_name=printable(submission.student_name),
        assessment_id=assessment.id, assessment_title=assessment.title, readable=submission.readable,
        errors=[encodable(e) for e in errors], warnings=[encodable(w) for w in warnings],
        file_notes=[encodable(n) for n in submission.file_notes], questions=questions,
        score=_round(sum(q.auto_score for q in questions if q.counted)), max_score=assessment.total_marks,
        manual_pending=sum(q.manual_marks for q in questions),  # in every question: marking may change which count
        duration_s=time.perf_counter() - started)
