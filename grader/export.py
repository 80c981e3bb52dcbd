"""Final grades out of the gradebook: a Canvas gradebook import CSV joined with the course roster,
and a plain CSV. Each student's grade is the submission that counts (grader.grading.superseded),
with the marks people gave; a grade still pending marking, or a student with no submission, is
left blank (an LMS import leaves a blank cell alone) and reported, never exported as a zero.

The roster is a CSV with a header: `id` (the student id grader sees) and, optionally, `name`,
`email`, `section`, `canvas_id`, `sis_user_id`, `sis_login_id` (any case; spaces or dashes for
underscores). Canvas matches rows by its own ID or the SIS ids, so those come from the roster.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.reports.feedback import format_score
from grader.reports.gradebook import defuse_formula, gradebook_status
from grader.results import SubmissionResult
from grader.rubric import Assessment

ROSTER_FIELDS = ("id", "name", "email", "section", "canvas_id", "sis_user_id", "sis_login_id")
MAX_ROSTER_BYTES = 10 * 1024 * 1024


class RosterError(ValueError):
    """A roster that cannot be used; the message names the file and line."""


@dataclass
class Student:
    id: str
    name: str = ""
    email: str = ""
    section: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""


@dataclass
class FinalGrades:
    rows: list[tuple[Student, SubmissionResult | None]]  # roster order, then students not on it
    missing: list[str] = field(default_factory=list)  # on the roster, no submission
    not_on_roster: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # a person has still to mark something


def read_roster(path: Path) -> list[Student]:
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise RosterError(f"{path}: the roster is over {MAX_ROSTER_BYTES} bytes")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"{path}: cannot be read as UTF-8 text: {exc}") from None
    reader = csv.reader(io.StringIO(text))
    header = [re.sub(r"[\s\-]+", "_", h.strip().casefold()) for h in next(reader, [])]
    if "id" not in header:
        raise RosterError(f"{path}:1: the roster's header has no `id` column (the student id grader sees); "
                          f"it has {', '.join(header) or 'nothing'}")
    students, seen = [], {}
    for line, row in enumerate(reader, start=2):
        values = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header) if name in ROSTER_FIELDS}
        if not any(values.values()):
            continue
        if not values["id"]:
            raise RosterError(f"{path}:{line}: the row has no id")
        if values["id"] in seen:
            raise RosterError(f"{path}:{line}: id {values['id']!r} is already on line {seen[values['id']]}")
        seen[values["id"]] = line
        students.append(Student(**values))
    return students


def final_grades(results: list[SubmissionResult], roster: list[Student] | None) -> FinalGrades:
    """Join the counting results with the roster (or, without one, list the students graded)."""
    by_id = {result.student_id: result for result in results}
    if roster is None:
        return FinalGrades([(Student(r.student_id, r.student_name), r) for r in sorted(results, key=lambda r: r.student_id)],
                           pending=sorted(r.student_id for r in results if _pending(r)))
    on_roster = {student.id for student in roster}
    rows = [(student, by_id.get(student.id)) for student in roster]
    extra = sorted(set(by_id) - on_roster)
    rows += [(Student(sid, by_id[sid].student_name), by_id[sid]) for sid in extra]
    return FinalGrades(rows, missing=[s.id for s in roster if s.id not in by_id], not_on_roster=extra,
                       pending=sorted(sid for sid, r in by_id.items() if _pending(r)))


def _pending(result: SubmissionResult) -> bool:
    return result.readable and result.manual_pending > 0


def _grade(result: SubmissionResult | None) -> str:
    return "" if result is None or _pending(result) else format_score(result.score)


def canvas_csv(grades: FinalGrades, assessment: Assessment, column: str | None = None) -> str:
    """Canvas's gradebook import layout: Student, ID, SIS User ID, SIS Login ID, Section, the
    assignment, and a Points Possible row."""
    column = column or assessment.title or assessment.id
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
    writer.writerow(["Points Possible", "", "", "", "", format_score(assessment.total_marks)])
    for student, result in grades.rows:
        if student.id in grades.not_on_roster:
            continue  # Canvas cannot match a student it does not know
        writer.writerow([defuse_formula(v) for v in (student.name or student.id, student.canvas_id, student.sis_user_id,
                                                     student.sis_login_id, student.section)] + [_grade(result)])
    return buffer.getvalue()


def plain_csv(grades: FinalGrades, assessment: Assessment) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student_id", "name", "email", "section", "score", "max_score", "status"])
    for student, result in grades.rows:
        status = "missing" if result is None else gradebook_status(result)
        if student.id in grades.not_on_roster:
            status += ", not on the roster"
        writer.writerow([defuse_formula(v) for v in (student.id, student.name, student.email, student.section)]
                        + [_grade(result), format_score(assessment.total_marks), status])
    return buffer.getvalue()
