"""The class gradebook as CSV, one row per student, for import into an LMS or a spreadsheet."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from grader.reports.feedback import format_score
from grader.results import SubmissionResult
from grader.roster import Student
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


def gradebook_row(result: SubmissionResult, assessment: Assessment) -> tuple[tuple[str, str], list[str]]:
    """One result's row of gradebook.csv, with the key it is sorted by."""
    return (result.student_id, result.source), _row(result, [q.id for q in assessment.questions])


def write_gradebook_csv(results: list[SubmissionResult], assessment: Assessment, target: str | Path | TextIO,
                        missing: Iterable[Student] = ()) -> None:
    """Write automatic scores per question and in total, sorted by student id so reruns diff cleanly,
    to a path or an open text stream. Students `missing` (on the roster, no submission) score 0."""
    write_gradebook_rows([gradebook_row(r, assessment) for r in results], assessment, target, missing)


def write_gradebook_rows(rows: list[tuple[tuple[str, str], list[str]]], assessment: Assessment,
                         target: str | Path | TextIO, missing: Iterable[Student] = ()) -> None:
    """`write_gradebook_csv` from rows made by `gradebook_row` (the view keeps rows, not results)."""
    question_ids = [q.id for q in assessment.questions]
    header = ["student_id", "student_name", *question_ids, "total", "max_score", "manual_pending", "status", "source"]
    rows = rows + [((s.id, ""), [defuse_formula(s.id), defuse_formula(s.name), *("0" for _ in question_ids), "0",
                                 format_score(assessment.total_marks), "0", "missing", ""]) for s in missing]
    with (open(target, "w", newline="", encoding="utf-8") if isinstance(target, (str, Path))
          else contextlib.nullcontext(target)) as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(row for _, row in sorted(rows, key=lambda keyed: keyed[0]))
