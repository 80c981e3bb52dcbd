"""Final grades out of the gradebook: a Canvas gradebook import CSV joined with the course roster,
and a plain CSV. Each student's grade is the submission that counts (grader.grading.superseded),
with the marks people gave; a grade still pending marking, or a student with no submission, is
left blank (an LMS import leaves a blank cell alone) and reported, never exported as a zero.

The roster (grader.roster) is the one given to `grader export`, or else the one stored in the
gradebook. Canvas matches rows by its own ID or the SIS ids, so those come from the roster.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from grader.reports.feedback import format_score
from grader.reports.gradebook import defuse_formula, gradebook_status
from grader.results import SubmissionResult
from grader.roster import Roster, Student, roster_gaps
from grader.rubric import Assessment


@dataclass
class FinalGrades:
    rows: list[tuple[Student, SubmissionResult | None]]  # roster order, then students not on it
    missing: list[str] = field(default_factory=list)  # on the roster, no submission
    not_on_roster: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # a person has still to mark something


def final_grades(results: list[SubmissionResult], roster: Roster | None) -> FinalGrades:
    """Join the counting results with the roster (or, without one, list the students graded)."""
    if roster is None:
        return FinalGrades([(Student(r.student_id, r.student_name), r) for r in sorted(results, key=lambda r: r.student_id)],
                           pending=sorted(r.student_id for r in results if _pending(r)))
    by_id = {result.student_id: result for result in results}
    gaps = roster_gaps(results, roster)
    rows = [(student, by_id.get(student.id)) for student in roster.students]
    rows += [(Student(sid, by_id[sid].student_name), by_id[sid]) for sid in gaps.not_on_roster]
    return FinalGrades(rows, missing=[s.id for s in gaps.missing], not_on_roster=gaps.not_on_roster,
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
