"""Where a batch's reports go. Each student's files are written the moment their result arrives,
so an interrupted batch keeps every finished result; batch-wide files are written at the end.

    OUT/results.jsonl                 every SubmissionResult, one JSON per line (instructor record)
    OUT/gradebook.csv                 one row per student, one column per question
    OUT/summary.md                    score distribution and item analysis
    OUT/students/<id>/feedback.md     student-facing feedback
    OUT/students/<id>/feedback.html   the same as a self-contained page
    OUT/students/<id>/results.json    Gradescope autograder results
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.reports import (render_html, render_markdown, render_summary_markdown, write_gradebook_csv,
                            write_gradescope)
from grader.results import SubmissionResult
from grader.rubric import Assessment


def safe_name(student_id: str) -> str:
    """A folder name from a student-supplied id that cannot escape OUT/students or hide."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", student_id).strip("._") or "student"
    return name[:80]


class ReportWriter:
    def __init__(self, out: str | Path, assessment: Assessment):
        self.out = Path(out)
        self.assessment = assessment
        self.students = self.out / "students"
        self.students.mkdir(parents=True, exist_ok=True)
        self._used: dict[str, str] = {}
        self._log = (self.out / "results.jsonl").open("w", encoding="utf-8")

    def folder_for(self, result: SubmissionResult) -> Path:
        name = safe_name(result.student_id)
        candidate, n = name, 1
        while candidate in self._used:
            n += 1
            candidate = f"{name}-{n}"
        if candidate != name:
            result.warnings.append(f"student id {result.student_id!r} also appears in {self._used[name]}; "
                                   f"this report is in students/{candidate}")
        self._used[candidate] = result.source
        return self.students / candidate

    def add(self, result: SubmissionResult) -> None:
        folder = self.folder_for(result)
        folder.mkdir(exist_ok=True)
        (folder / "feedback.md").write_text(render_markdown(result), encoding="utf-8")
        (folder / "feedback.html").write_text(render_html(result), encoding="utf-8")
        write_gradescope(result, folder / "results.json")
        self._log.write(result.model_dump_json() + "\n")
        self._log.flush()

    def finish(self, results: list[SubmissionResult]) -> None:
        self._log.close()
        write_gradebook_csv(results, self.assessment, self.out / "gradebook.csv")
        (self.out / "summary.md").write_text(render_summary_markdown(results, self.assessment), encoding="utf-8")
