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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grader.reports import gradescope_results, render_html, render_markdown
from grader.reports.gradebook import gradebook_row, write_gradebook_rows
from grader.reports.summary import SummaryCollector
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


def folder_names(students: list[tuple[str, str]]) -> tuple[list[str], list[str | None]]:
    """For (student id, source) pairs in order: one distinct folder name each, and the warning for
    an id that collides with an earlier one once made safe (None for the others)."""
    used: dict[str, str] = {}
    names, notes = [], []
    for student_id, source in students:
        name = safe_name(student_id)
        candidate, n = name, 1
        while candidate.casefold() in used:
            n += 1
            candidate = f"{name}-{n}"
        notes.append(None if candidate == name else (f"student id {student_id!r} also appears in "
                                                     f"{used[name.casefold()]}; this report is in students/{candidate}"))
        used[candidate.casefold()] = source
        names.append(candidate)
    return names, notes


_LEFTOVER = re.compile(r"\.fresh\.(\d+)|\.students\.(\d+)\.(?:new|old)|\..+\.(\d+)\.tmp")


def fresh_documents(out: Path) -> Path:
    """This run's folder for the documents as they are rendered, before the view moves them into place."""
    return out / f".fresh.{os.getpid()}"


def remove_leftovers(out: Path) -> None:
    """Remove what a run killed before it finished left in `out` (its documents folder, a view half
    built, temporary files), named after its process, where that process has gone."""
    try:
        entries = list(os.scandir(out))
    except OSError:
        return
    for entry in entries:
        found = _LEFTOVER.fullmatch(entry.name)
        if found is None or _alive(int(next(pid for pid in found.groups() if pid))):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or never a process
        return False
    except PermissionError:  # another user's
        return True
    return True


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8", errors="backslashreplace")
    os.replace(temporary, path)


@dataclass(frozen=True)
class Shown:
    """What the command line reports of one result once the view is written (the table of totals,
    the unreadable files): the view streams results and keeps only this of each."""

    student_id: str
    source: str
    score: float
    max_score: float
    manual_pending: float
    readable: bool
    notes: str  # the first error, review reason and warning

    @classmethod
    def of(cls, result: SubmissionResult) -> "Shown":
        review = [f"for review: {result.reviews()[0]}"] if result.reviews() else []
        return cls(result.student_id, result.source, result.score, result.max_score, result.manual_pending,
                   result.readable, "; ".join(result.errors[:1] + review + result.warnings[:1]))


@dataclass(frozen=True)
class Member:
    """A batch member as the view needs it before its result is read: who, which file, read or not."""

    student_id: str
    source: str  # as the result shows it
    readable: bool


def write_views(out: Path, assessment: Assessment,
                entries: Iterable[tuple[SubmissionResult, dict[str, str] | Path]],
                members: list[Member], superseded: dict[int, int] | None = None,
                roster: Roster | None = None) -> list[Shown]:
    """Rebuild the report folder from `entries` (results and their documents, by file name or as a
    folder on the same file system that holds them and is moved into place, in batch order, one
    at a time: a result is written and let go, so the view of a class of any size fits in memory),
    whose `members` are known beforehand. `superseded` maps a student's other submissions to the
    one that counts: all keep their reports, only the counting one is in gradebook.csv and the
    statistics. Students on the `roster` with no submission are rows of gradebook.csv (0,
    missing) and listed in summary.md, with the submissions not on it. Returns what each shows."""
    superseded = superseded or {}
    folders, collisions = folder_names([(m.student_id, m.source) for m in members])
    counting = [member for i, member in enumerate(members) if i not in superseded]
    gaps = roster_gaps(counting, roster) if roster is not None else None
    involved = set(superseded) | set(superseded.values())
    listed: dict[int, SubmissionResult] = {}  # the results the summary lists as duplicates
    rows, shown = [], []
    summary = SummaryCollector(assessment)
    staging = out / f".students.{os.getpid()}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    jsonl = out / f".results.jsonl.{os.getpid()}.tmp"
    with jsonl.open("w", encoding="utf-8", errors="backslashreplace") as lines:
        for i, (result, documents) in enumerate(entries):
            notes = []
            if i in superseded:
                notes.append(f"student {result.student_id} also handed in {members[superseded[i]].source}, which "
                             "counts (the latest handed in); this submission does not")
            if collisions[i] and collisions[i] not in result.warnings:
                notes.append(collisions[i])
            if notes:
                result = result.model_copy(update={"warnings": [*result.warnings, *notes]})
            if isinstance(documents, Path):
                os.replace(documents, staging / folders[i])
            else:
                (staging / folders[i]).mkdir()
                for name, text in documents.items():
                    (staging / folders[i] / name).write_text(text, encoding="utf-8", errors="backslashreplace")
            lines.write(result.model_dump_json() + "\n")
            if i not in superseded:
                rows.append(gradebook_row(result, assessment))
                summary.add(result)
            if i in involved:
                listed[i] = result.model_copy(update={"questions": []})
            shown.append(Shown.of(result))
    os.replace(jsonl, out / "results.jsonl")
    csv_text = io.StringIO()
    write_gradebook_rows(rows, assessment, csv_text, missing=gaps.missing if gaps else ())
    _replace(out / "gradebook.csv", csv_text.getvalue())
    duplicates = [(listed[counts], [listed[i] for i, c in superseded.items() if c == counts])
                  for counts in sorted(set(superseded.values()))]
    _replace(out / "summary.md", summary.render(duplicates, roster, gaps))
    current, retired = out / "students", out / f".students.{os.getpid()}.old"
    if current.exists():
        os.replace(current, retired)
    os.replace(staging, current)
    shutil.rmtree(retired, ignore_errors=True)
    return shown
