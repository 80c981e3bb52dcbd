"""The report folder: a view of the batch's results in the course gradebook (grader.store),
rebuilt whole after each run. Every file is written under a temporary name and renamed into
place, and the students' folders are built beside the old ones and swapped in, so a reader never
sees half a file and a student who is no longer in the batch keeps no folder that looks current.
A run that is interrupted leaves the previous view as it was; its finished results are in the
gradebook, and the next run resumes from them.

    OUT/results.jsonl                 every SubmissionResult, one JSON per line (instructor record)
    OUT/gradebook.csv                 one row per student (with a roster, those missing too), one column per question
    OUT/summary.md                    score distribution and item analysis
    OUT/students/<id>/feedback.md     student-facing feedback
    OUT/students/<id>/feedback.html   the same as a self-contained page
    OUT/students/<id>/results.json    Gradescope autograder results

Views hold no timings, so the same results always give the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

from grader.reports import (gradescope_results, render_html, render_markdown, render_summary_markdown,
                            write_gradebook_csv)
from grader.results import SubmissionResult
from grader.roster import Roster, roster_gaps
from grader.rubric import Assessment


def render_student_reports(result: SubmissionResult) -> dict[str, str]:
    """Every per-student document, by file name; runs in the grading workers."""
    gradescope = gradescope_results(result)
    gradescope.pop("execution_time")  # a timing would make the view differ from run to run
    return {"feedback.md": render_markdown(result), "feedback.html": render_html(result),
            "results.json": json.dumps(gradescope, indent=2)}


def safe_name(student_id: str) -> str:
    """A folder name from a student-supplied id that cannot escape OUT/students or hide."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", student_id).strip("._") or "student"
    return name[:80]


def student_folders(results: list[SubmissionResult]) -> list[str]:
    """One distinct folder name per result, in order; ids that collide once made safe get -2, -3...
    (and a warning naming the other file)."""
    used: dict[str, str] = {}
    names = []
    for result in results:
        name = safe_name(result.student_id)
        candidate, n = name, 1
        while candidate.casefold() in used:
            n += 1
            candidate = f"{name}-{n}"
        if candidate != name:
            note = (f"student id {result.student_id!r} also appears in {used[name.casefold()]}; "
                    f"this report is in students/{candidate}")
            if note not in result.warnings:
                result.warnings.append(note)
        used[candidate.casefold()] = result.source
        names.append(candidate)
    return names


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8", errors="backslashreplace")
    os.replace(temporary, path)


def write_views(out: Path, assessment: Assessment, entries: list[tuple[SubmissionResult, dict[str, str]]],
                superseded: dict[int, int] | None = None, roster: Roster | None = None) -> None:
    """Rebuild the report folder from `entries` (results and their documents, in batch order).
    `superseded` maps a student's other submissions to the one that counts: all keep their
    reports, only the counting one is in gradebook.csv and the statistics. Students on the
    `roster` with no submission are rows of gradebook.csv (0, missing) and listed in summary.md,
    with the submissions not on it."""
    superseded = superseded or {}
    results = [result for result, _ in entries]
    for other, counts in superseded.items():
        note = (f"student {results[other].student_id} also handed in {results[counts].source}, which counts (the "
                "latest handed in); this submission does not")
        results[other] = results[other].model_copy(update={"warnings": [*results[other].warnings, note]})
    counting = [result for i, result in enumerate(results) if i not in superseded]
    duplicates = [(results[counts], [results[i] for i, c in superseded.items() if c == counts])
                  for counts in sorted(set(superseded.values()))]
    folders = student_folders(results)
    staging = out / f".students.{os.getpid()}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for folder, (_, documents) in zip(folders, entries):
        (staging / folder).mkdir()
        for name, text in documents.items():
            (staging / folder / name).write_text(text, encoding="utf-8", errors="backslashreplace")
    _replace(out / "results.jsonl", "".join(result.model_dump_json() + "\n" for result in results))
    gaps = roster_gaps(counting, roster) if roster is not None else None
    csv_text = io.StringIO()
    write_gradebook_csv(counting, assessment, csv_text, missing=gaps.missing if gaps else ())
    _replace(out / "gradebook.csv", csv_text.getvalue())
    _replace(out / "summary.md", render_summary_markdown(counting, assessment, duplicates, roster, gaps))
    current, retired = out / "students", out / f".students.{os.getpid()}.old"
    if current.exists():
        os.replace(current, retired)
    os.replace(staging, current)
    shutil.rmtree(retired, ignore_errors=True)
