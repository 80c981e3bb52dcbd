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

import json
import re
from pathlib import Path

from grader.batch import Graded
from grader.reports import (gradescope_results, render_html, render_markdown, render_summary_markdown,
                            write_gradebook_csv)
from grader.results import SubmissionResult
from grader.rubric import Assessment


def render_student_reports(result: SubmissionResult) -> dict[str, str]:
    """Every per-student document, by file name; runs in the grading workers."""
    return {"feedback.md": render_markdown(result), "feedback.html": render_html(result),
            "results.json": json.dumps(gradescope_results(result), indent=2)}


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
        self.count = 0  # results written so far
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

    def add(self, graded: Graded) -> None:
        result = graded.result
        folder = self.folder_for(result)
        folder.mkdir(exist_ok=True)
        for name, text in (graded.documents or render_student_reports(result)).items():
            (folder / name).write_text(text, encoding="utf-8", errors="backslashreplace")
        self._log.write(result.model_dump_json() + "\n")
        self._log.flush()
        self.count += 1

    def close(self) -> None:
        self._log.close()

    def finish(self, results: list[SubmissionResult]) -> None:
        self.close()
        write_gradebook_csv(results, self.assessment, self.out / "gradebook.csv")
        (self.out / "summary.md").write_text(render_summary_markdown(results, self.assessment), encoding="utf-8")
