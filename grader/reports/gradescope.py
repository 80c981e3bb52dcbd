"""Gradescope autograder output (results.json) for one submission.

Each automatically graded part is one Gradescope test worth that part's automatic marks. Marks a
person awards are graded in Gradescope's own manual questions, so they are not tests here; the
top-level output names them so students know they are still to come. Everything written is
student-facing: criterion messages, never reasons.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.reports.feedback import STATUS_LABELS, format_score, student_label, student_view
from grader.results import PartResult, QuestionResult, SubmissionResult

_TOLERANCE = 1e-9


def _automatic_marks(part: PartResult) -> float:
    return part.marks - part.manual_marks


def _test_output(part: PartResult) -> str:
    lines = [f"Your answer: {part.answer}"] if part.answer is not None else []
    for criterion in part.criteria:
        if criterion.status == "manual":
            continue
        lines.append(f"{criterion.description}: {format_score(criterion.score or 0.0)} / "
                     f"{format_score(criterion.marks)} ({STATUS_LABELS[criterion.status]}). {criterion.message}")
        lines += [f"  Warning: {warning}" for warning in criterion.warnings]
        if criterion.expected is not None:
            lines.append(f"  Expected: {criterion.expected}")
    if part.feedback:
        lines.append(f"Hint: {part.feedback}")
    return "\n".join(lines)


def _test(number: str, question: QuestionResult, part: PartResult, readable: bool) -> dict[str, Any]:
    max_score = _automatic_marks(part)
    score = part.auto_score if readable else 0.0
    passed = readable and score >= max_score - _TOLERANCE
    title = f": {question.title}" if question.title else ""
    if not question.counted:  # shown, but the best questions of its group count instead
        max_score, score, title = 0.0, 0.0, title + " (not counted: the best questions of its group count)"
    return {
        "name": f"Question {question.id}{title}, part {part.id}",
        "number": number,
        "score": score,
        "max_score": max_score,
        "status": "passed" if passed else "failed",
        "output": _test_output(part),
        "output_format": "text",
        "visibility": "visible",
        "tags": [question.id],
    }


def _top_level_output(result: SubmissionResult, score: float, auto_max: float) -> str:
    lines = [f"Student: {student_label(result)}",
             f"Automatically graded: {format_score(score)} / {format_score(auto_max)}"]
    if result.late:
        lines.append(f"Late: handed in {result.late.days_late} day(s) after {result.late.due}: "
                     f"{result.late.penalty:.0%} off")
    if not result.readable:
        lines.append("Your submission could not be read, so every part scores 0.")
    lines += [f"Error: {error}" for error in result.errors]
    lines += [f"Warning: {warning}" for warning in result.warnings]
    manual = [(q, p) for q in result.questions for p in q.parts if p.manual_marks]
    if manual:
        lines.append("Marked by a person later (not included above):")
        lines += [f"  Question {q.id}, part {p.id}: {format_score(p.manual_marks)} marks" for q, p in manual]
    return "\n".join(lines)


def gradescope_results(result: SubmissionResult, execution_time: float | None = None) -> dict[str, Any]:
    """The results.json document; execution_time defaults to the time grading took."""
    result = student_view(result)
    tests = [
        _test(f"{qi}.{pi}", question, part, result.readable)
        for qi, question in enumerate(result.questions, start=1)
        for pi, part in enumerate(question.parts, start=1)
        if _automatic_marks(part) > _TOLERANCE
    ]
    score = sum(test["score"] for test in tests)
    auto_max = sum(test["max_score"] for test in tests)
    if result.late:  # the late penalty takes its share of what the tests earned
        score = round(score * (1 - result.late.penalty), 6)
    return {
        "score": score,
        "execution_time": round(execution_time if execution_time is not None else result.duration_s, 3),
        "output": _top_level_output(result, score, auto_max),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_gradescope(result: SubmissionResult, path: str | Path, execution_time: float | None = None) -> None:
    """Write results.json where Gradescope looks for it (/autograder/results/results.json)."""
    document = gradescope_results(result, execution_time)
    Path(path).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
