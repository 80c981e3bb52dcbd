"""One grading run into the course gradebook: find which files need grading (new or changed
content, or a changed rubric), grade only those, record each as it finishes, and rebuild the
report folder from the gradebook. A run killed at any moment and started again grades what is
left and ends with the same view as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch import Executor, Graded, Rescore, grade_stream
from grader.key import Compiled, compiled
from grader.output import Member, Shown, fresh_documents, remove_leftovers, render_student_reports, write_views
from grader.results import SubmissionResult
from grader.roster import Roster
from grader.rubric import Rubric
from grader.lateness import apply_lateness
from grader.manual import apply_marks
from grader.store import Gradebook, Indexed, Mark, SubmissionFile, grading_digest
from grader.textsafety import encodable


@dataclass
class RunOutcome:
    run_id: int
    shown: list[Shown]  # what the view shows of each submission, in batch order
    graded: int  # graded in this run
    reused: int  # unchanged since an earlier run
    roster: Roster | None  # the gradebook's, which the views used
    changed: list[str] = field(default_factory=list)  # a part regrade: students whose rescored parts score differently
    only: tuple[SubmissionResult, float] | None = None  # a one-file run's result and grading time (Gradescope's)


class Interrupted(Exception):
    """Ctrl-C during a run: `graded` submissions were recorded before it stopped."""

    def __init__(self, graded: int, total: int):
        super().__init__(f"{graded} of {total}")
        self.graded, self.total = graded, total


class NotStored(Exception):
    """A part regrade with nothing to rescore into: no finished run, files new or changed since it,
    or a rubric whose questions and parts are no longer those of the stored results."""


def _identify(path: Path, handed_in: str | None) -> SubmissionFile:
    try:
        found = SubmissionFile.of(path)
    except OSError:  # graded anyway (it becomes unreadable, with the reason); never reused
        return SubmissionFile(path, f"unreadable:{uuid.uuid4()}", handed_in)
    return SubmissionFile(found.path, found.content_hash, handed_in or found.handed_in)


def grade_into(gradebook: Gradebook, rubric_path: str | Path, rubric: Rubric, files: list[Path], out: Path,
               jobs: int | None = None, on_graded: Callable[[int, int], None] = lambda done, total: None,
               handed_in: str | None = None, force: set[Path] = frozenset(), rerun_code: bool = False,
               parts: frozenset[str] = frozenset(), roster: Roster | None = None,
               prepared: Compiled | None = None, executor: Executor | None = None) -> RunOutcome:
    """Grade `files` against the rubric into `gradebook` and rebuild the view in `out`. `handed_in`
    (ISO time) overrides the files' modification times, as Gradescope's metadata does. Files in
    `force` are graded again even if recorded; with `rerun_code`, their notebooks' code runs again
    too instead of their recorded runs being rescored. A `roster` is stored once the run has finished,
    for its views and every later command's.

    With `parts` (`grader regrade --part`), the files in `force` have only those parts rescored,
    into their results as the last finished run shows them; the other files keep those results
    whole. The run's digest then names the rubric, the parts, that run and the files rescored, so
    a killed part regrade resumes like a grade, and a later `grader grade` grades whole files.
    `prepared` is the rubric's key as `grader.key.compiled` gave it (default: from the key cache).
    `executor` runs the grading (default: `jobs` local processes); whichever runs it, this process
    alone records into the gradebook, each file once."""
    prepared = prepared or compiled(rubric_path)
    digest = grading_digest(Path(rubric_path), prepared.key.model_dump_json())
    identities = [_identify(path, handed_in) for path in files]
    shows = [digest] * len(files)  # the digest of the result each member of the run shows
    if parts:
        base_run, base = _stored_digests(gradebook, rubric, files, identities)
        digest = _part_digest(digest, parts, base_run, [i for path, i in zip(files, identities) if path in force])
        shows = [digest if path in force else stored for path, stored in zip(files, base)]
    run_id = gradebook.begin_run(encodable(str(rubric_path)), rubric.assessment.id, digest, len(files))
    seconds: list[float | None] = [None if path in force and not parts else gradebook.seconds(identity, shown)
                                   for path, identity, shown in zip(files, identities, shows)]
    pending = [i for i, taken in enumerate(seconds) if taken is None]
    where = {files[i]: i for i in pending}
    fingerprint = None
    if rubric.assessment.program is not None and any(files[i].suffix.lower() == ".ipynb" for i in pending):
        from grader.program.submission import program_fingerprint  # torch: for notebooks' programs only

        fingerprint = program_fingerprint(rubric.with_program())
    recorded_runs = {files[i]: run for i in pending if fingerprint and not (rerun_code and files[i] in force)
                     for run in [gradebook.program_run(identities[i], fingerprint)] if run is not None}
    reused = len(files) - len(pending)
    rescore = Rescore(parts, {files[i]: gradebook.result_json(identities[i], base[i]) for i in pending}) \
        if parts else None
    done, changed = 0, []
    remove_leftovers(out)
    fresh = fresh_documents(out)  # where the processes that render the documents write them
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    written: dict[int, Path] = {}  # position in the batch -> its documents' folder in `fresh`

    def record(graded: Graded) -> None:
        nonlocal done
        i = where[graded.path]
        seconds[i], result = graded.result.duration_s, graded.result.model_copy(update={"duration_s": 0.0})
        kept = None
        if parts:
            before = gradebook.part_scores(identities[i], base[i])
            kept = {part: run for part, (run, _) in before.items() if part not in parts}
            if any(before[p.id][1] != sorted((c.id, c.marks, c.score) for c in p.criteria)
                   for p in result.parts() if p.id in parts):
                changed.append(result.student_id)
        gradebook.record(run_id, identities[i], digest, result, graded.packed, seconds[i],
                         (fingerprint, graded.program_run) if fingerprint and graded.program_run else None,
                         replace=graded.path in force, kept=kept)
        if graded.written is not None:
            written[i] = graded.written
        done += 1
        on_graded(done, len(pending))

    try:
        try:
            for graded in grade_stream(rubric_path, [files[i] for i in pending], jobs=jobs,
                                       render=render_student_reports, recorded_runs=recorded_runs, rescore=rescore,
                                       prepared=prepared, executor=executor, documents_to=fresh):
                record(graded)
        except KeyboardInterrupt:
            gradebook.finish_run(run_id, "interrupted", done, reused)
            raise Interrupted(done, len(pending)) from None
        gradebook.finish_run(run_id, "finished", len(pending), reused, members=list(zip(identities, shows)))
        if roster is not None:
            gradebook.store_roster(roster)
        view = rebuild_views(gradebook, rubric, out, written)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    only = None
    if len(files) == 1:
        (result, _), = _final(gradebook, rubric)
        only = (result, seconds[0] or 0.0)
    return RunOutcome(run_id, view.shown, len(pending), reused, view.roster, sorted(changed), only)


def _stored_digests(gradebook: Gradebook, rubric: Rubric, files: list[Path],
                    identities: list[SubmissionFile]) -> tuple[int, list[str]]:
    """The last finished run and the digest of each file's result in it, if every file is there as
    it is now and the results have the rubric's questions and parts; NotStored otherwise."""
    last = gradebook.last_members(rubric.assessment.id)
    if last is None:
        raise NotStored(f"{gradebook.path} has no finished run of {rubric.assessment.id} to rescore; "
                        "run `grader grade` first")
    base_run, stored = last
    absent = [str(path) for path, i in zip(files, identities) if (i.source, i.content_hash) not in stored]
    if absent:
        raise NotStored(f"{len(absent)} file(s) are new or changed since the last run, so they have no stored "
                        f"scores to keep: {', '.join(absent[:10])}{' ...' if len(absent) > 10 else ''}; "
                        "grade them with `grader grade` (which grades whole files)")
    digests = [stored[i.source, i.content_hash] for i in identities]
    sample = SubmissionResult.model_validate_json(gradebook.result_json(identities[0], digests[0]))
    if [(q.id, [p.id for p in q.parts]) for q in sample.questions] != \
            [(q.id, [p.id for p in q.parts]) for q in rubric.assessment.questions]:
        raise NotStored(f"the rubric's questions and parts are no longer those of the stored results (run "
                        f"{base_run}), so parts cannot be rescored alone; regrade whole files with `grader regrade` "
                        "without --part")
    return base_run, digests


def _part_digest(digest: str, parts: frozenset[str], base_run: int, rescored: list[SubmissionFile]) -> str:
    key = [digest, sorted(parts), base_run, sorted((f.source, f.content_hash) for f in rescored)]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


@dataclass
class View:
    """What the report folder shows: the last finished run's results with the marks people gave,
    which of them a later submission of the same student supersedes, and the roster."""

    entries: list[tuple[SubmissionResult, dict[str, str]]]  # results and documents, in batch order
    superseded: dict[int, int]
    roster: Roster | None

    def counting(self) -> list[SubmissionResult]:
        """One result per student: the submission that counts."""
        return [result for i, (result, _) in enumerate(self.entries) if i not in self.superseded]


@dataclass
class Written:
    """What `rebuild_views` wrote, as the command line reports it (results are not kept)."""

    shown: list[Shown]  # in batch order
    superseded: dict[int, int]
    roster: Roster | None


def _final(gradebook: Gradebook, rubric: Rubric, written: dict[int, Path] | None = None
           ) -> Iterator[tuple[SubmissionResult, dict[str, str] | Path]]:
    """The last finished run's results one at a time, with the marks people gave and the late
    penalty (feedback rendered again for the students they concern), and their documents: the
    folder `written` holds them in at the member's position, where that run wrote them and they
    stand, else by file name."""
    written = written or {}
    marks: dict[tuple[str, str], dict[tuple[str, str], Mark]] = {}
    for (source, content_hash, part, criterion), mark in gradebook.marks().items():
        marks.setdefault((source, content_hash), {})[(part, criterion)] = mark
    for member in gradebook.iter_batch(rubric.assessment.id):
        own = marks.get((member.source, member.content_hash))
        final = apply_lateness(apply_marks(member.result, own or {}, rubric.assessment), member.handed_in,
                               rubric.assessment)
        if final is not member.result:
            yield final, render_student_reports(final)
        else:
            yield final, written.get(member.position) or member.documents


def current_results(gradebook: Gradebook, rubric: Rubric) -> View:
    """The assessment's last finished run, whole (for exports and the marking queue), with the
    marks people gave, and the gradebook's roster."""
    index = gradebook.batch_index(rubric.assessment.id)
    return View(list(_final(gradebook, rubric)), superseded(index), gradebook.roster())


def rebuild_views(gradebook: Gradebook, rubric: Rubric, out: Path, written: dict[int, Path] | None = None) -> Written:
    """Write the report folder from the gradebook, streaming its results; returns what it wrote.
    `written` are the folders that the run just finished wrote its members' documents into, by
    position: they are moved into place rather than read back and written again."""
    index = gradebook.batch_index(rubric.assessment.id)
    others, roster = superseded(index), gradebook.roster()
    members = [Member(i.student_id, i.shown_source, i.readable) for i in index]
    shown = write_views(out, rubric.assessment, _final(gradebook, rubric, written), members, others, roster)
    return Written(shown, others, roster)


def superseded(batch: list[Indexed]) -> dict[int, int]:
    """Where one student id has several submissions, the one that counts is the latest handed in
    (file modification time, or Gradescope's submission time), ties going to the later in batch
    order: {index of each other submission: index of the one that counts}. Unreadable files count
    only when the student has nothing else."""
    by_student: dict[str, list[int]] = {}
    for i, member in enumerate(batch):
        by_student.setdefault(member.student_id, []).append(i)
    others = {}
    for indices in by_student.values():
        if len(indices) > 1:
            counts = max(indices, key=lambda i: (batch[i].readable, batch[i].handed_in or "", i))
            others.update({i: counts for i in indices if i != counts})
    return others
