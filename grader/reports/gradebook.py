"""The class gradebook as CSV, one row per student, for import into an LMS or a spreadsheet."""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path
from typing import TextIO

from grader.reports.feedback import format_score
from grader.results import SubmissionResult
from grader.rubric import Assessment
from grader.textsafety import printable

# Spreadsheets run a cell starting with one of these as a formula (OWASP, "CSV Injection").
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def defuse_formula(text: str) -> str:
    """Student-supplied text made inert for a spreadsheet: control characters (newlines, NUL,
    escapes) shown as escapes, and a would-be formula prefixed with an apostrophe."""
    text = printable(text)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def gradebook_status(result: SubmissionResult) -> str:
    """unreadable, graded with errors, graded, for review, pending marking (a person has still to
    mark some criteria), or complete."""
    if not result.readable:
        return "unreadable"
    if result.errors:
        return "graded with errors"
    if result.reviews():
        return "graded, for review"
    return "pending marking" if result.manual_pending > 0 else "complete"


def _row(result: SubmissionResult, question_ids: list[str]) -> list[str]:
    question_scores = {q.id: q.auto_score for q in result.questions}
    return [
        defuse_formula(result.student_id),
        defuse_formula(result.student_name),
        *(format_score(question_scores.get(qid, 0.0)) for qid in question_ids),
        format_score(result.score),
        format_score(result.max_score),
        format_score(result.manual_pending),
        gradebook_status(result),
        defuse_formula(result.source),
    ]


def write_gradebook_csv(results: list[SubmissionResult], assessment: Assessment, target: str | Path | TextIO) -> None:
    """Write automatic scores per question and in total, sorted by student id so reruns diff cleanly,
    to a path or an open text stream."""
    question_ids = [q.id for q in assessment.questions]
    header = ["student_id", "student_name", *question_ids, "total", "max_score", "manual_pending", "status", "source"]
    with (open(target, "w", newline="", encoding="utf-8") if isinstance(target, (str, Path))
          else contextlib.nullcontext(target)) as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for result in sorted(results, key=lambda r: (r.student_id, r.source)):
            writer.writerow(_row(result, question_ids))
