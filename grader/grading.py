"""One grading run into the course gradebook: find which files need grading (new or changed
content, or a changed rubric), grade only those, record each as it finishes, and rebuild the
report folder from the gradebook. A run killed at any moment and started again grades what is
left and ends with the same view as an uninterrupted run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.batch import Graded, grade_files
from grader.key import build_key
from grader.output import render_student_reports, write_views
from grader.program.submission import program_fingerprint
from grader.results import SubmissionResult
from grader.rubric import Rubric
from grader.lateness import apply_lateness
from grader.manual import apply_marks
from grader.store import Gradebook, Mark, SubmissionFile, grading_digest
from grader.textsafety import encodable


@dataclass
class Recorded:
    result: SubmissionResult
    documents: dict[str, str]
    seconds: float  # how long grading it took (kept in the gradebook, never in the view)


@dataclass
class RunOutcome:
    run_id: int
    entries: list[Recorded]  # in batch order
    graded: int  # graded in this run
    reused: int  # unchanged since an earlier run


class Interrupted(Exception):
    """Ctrl-C during a run: `graded` submissions were recorded before it stopped."""

    def __init__(self, graded: int, total: int):
        super().__init__(f"{graded} of {total}")
        self.graded, self.total = graded, total


def _identify(path: Path, handed_in: str | None) -> SubmissionFile:
    try:
        found = SubmissionFile.of(path)
    except OSError:  # graded anyway (it becomes unreadable, with the reason); never reused
        return SubmissionFile(path, f"unreadable:{uuid.uuid4()}", handed_in)
    return SubmissionFile(found.path, found.content_hash, handed_in or found.handed_in)


def grade_into(gradebook: Gradebook, rubric_path: str | Path, rubric: Rubric, files: list[Path], out: Path,
               jobs: int | None = None, on_graded: Callable[[int, int], None] = lambda done, total: None,
               handed_in: str | None = None, force: set[Path] = frozenset(), rerun_code: bool = False) -> RunOutcome:
    """Grade `files` against the rubric into `gradebook` and rebuild the view in `out`. `handed_in`
    (ISO time) overrides the files' modification times, as Gradescope's metadata does. Files in
    `force` are graded again even if recorded; with `rerun_code`, their notebooks' code runs again
    too instead of their recorded runs being rescored."""
    digest = grading_digest(Path(rubric_path), build_key(rubric).model_dump_json())
    run_id = gradebook.begin_run(encodable(str(rubric_path)), rubric.assessment.id, digest, len(files))
    identities = [_identify(path, handed_in) for path in files]
    seconds: list[float | None] = [None if path in force else gradebook.seconds(identity, digest)
                                   for path, identity in zip(files, identities)]
    pending = [i for i, taken in enumerate(seconds) if taken is None]
    where = {files[i]: i for i in pending}
    fingerprint = program_fingerprint(rubric) if any(files[i].suffix.lower() == ".ipynb" for i in pending) else None
    recorded_runs = {files[i]: run for i in pending if fingerprint and not (rerun_code and files[i] in force)
                     for run in [gradebook.program_run(identities[i], fingerprint)] if run is not None}
    reused = len(files) - len(pending)
    done = 0

    def record(graded: Graded) -> None:
        nonlocal done
        i = where[graded.path]
        seconds[i], result = graded.result.duration_s, graded.result.model_copy(update={"duration_s": 0.0})
        gradebook.record(run_id, identities[i], digest, result, graded.documents, seconds[i],
                         (fingerprint, graded.program_run) if fingerprint and graded.program_run else None,
                         replace=graded.path in force)
        done += 1
        on_graded(done, len(pending))

    try:
        if pending:
            grade_files(rubric_path, [files[i] for i in pending], jobs=jobs, render=render_student_reports,
                        on_result=record, recorded_runs=recorded_runs)
    except KeyboardInterrupt:
        gradebook.finish_run(run_id, "interrupted", done, reused)
        raise Interrupted(done, len(pending)) from None
    gradebook.finish_run(run_id, "finished", len(pending), reused, members=identities)
    shown = rebuild_views(gradebook, rubric, out)
    return RunOutcome(run_id, [Recorded(result, documents, taken or 0.0)
                               for (result, documents), taken in zip(shown, seconds)], len(pending), reused)


def current_results(gradebook: Gradebook, rubric: Rubric) -> tuple[list[tuple[SubmissionResult, dict[str, str]]],
                                                                   dict[int, int]]:
    """The assessment's last finished run, with the marks people gave (feedback rendered again for
    the students they concern), and which submissions a later one of the same student supersedes."""
    marks: dict[tuple[str, str], dict[tuple[str, str], Mark]] = {}
    for (source, content_hash, part, criterion), mark in gradebook.marks().items():
        marks.setdefault((source, content_hash), {})[(part, criterion)] = mark
    batch = gradebook.last_batch(rubric.assessment.id)
    shown = []
    for source, content_hash, handed_in, result, documents in batch:
        own = marks.get((source, content_hash))
        final = apply_lateness(apply_marks(result, own or {}, rubric.assessment), handed_in, rubric.assessment)
        shown.append((final, documents if final is result else render_student_reports(final)))
    return shown, superseded(batch)


def rebuild_views(gradebook: Gradebook, rubric: Rubric, out: Path) -> list[tuple[SubmissionResult, dict[str, str]]]:
    """Write the report folder from the gradebook; returns what it wrote, in batch order."""
    shown, others = current_results(gradebook, rubric)
    write_views(out, rubric.assessment, shown, others)
    return shown


def counting_results(gradebook: Gradebook, rubric: Rubric) -> list[SubmissionResult]:
    """One result per student: the submission that counts, with its marks."""
    shown, others = current_results(gradebook, rubric)
    return [result for i, (result, _) in enumerate(shown) if i not in others]


def superseded(batch: list) -> dict[int, int]:
    """Where one student id has several submissions, the one that counts is the latest handed in
    (file modification time, or Gradescope's submission time), ties going to the later in batch
    order: {index of each other submission: index of the one that counts}. Unreadable files count
    only when the student has nothing else."""
    by_student: dict[str, list[int]] = {}
    for i, (_, _, _, result, _) in enumerate(batch):
        by_student.setdefault(result.student_id, []).append(i)
    others = {}
    for indices in by_student.values():
        if len(indices) > 1:
            counts = max(indices, key=lambda i: (batch[i][3].readable, batch[i][2] or "", i))
            others.update({i: counts for i in indices if i != counts})
    return others
