"""The `grader` command line.

Exit codes:
  0  every answer file was graded; an unreadable file is graded too (0 marks, with the reason),
     so a CI job still uploads its results
  1  with --strict: at least one answer file could not be read; for `audit`: discrepancies found
  2  bad command line: unknown option, a path that does not exist, no answer files found
  3  the rubric is invalid; nothing was graded
  4  internal error: a bug in grader; the message names a file with the details to report
130  interrupted (Ctrl-C or SIGTERM); every submission graded until then is kept in the gradebook
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import inspect
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from typing import TYPE_CHECKING

from grader import __version__
from grader.errors import RubricError
from grader.textsafety import encodable, printable, terminal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from grader.key import Compiled
    from grader.output import Shown
    from grader.roster import Gaps, Roster, Student
    from grader.rubric import Rubric
    from grader.store import Gradebook

# Each command imports what it needs when it runs (the grading engine, the solvers and torch, the
# notebook reader, the exporters), so that `grader grade` can start the expression checker first
# and one submission is graded in a fraction of a second.

EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE, EXIT_RUBRIC, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_DISCREPANCIES = 1
MAX_PROBLEMS_SHOWN = 50
GRADEBOOK_NAME = "gradebook.sqlite"
MAX_ID_WIDTH = 30
PROGRESS_AFTER_S = 2.0  # a batch that takes longer shows a progress bar with the time left


def Text(*args, **kwargs):  # noqa: N802 - rich's class, imported where a message is made
    from rich.text import Text as RichText

    return RichText(*args, **kwargs)


class _LazyConsole:
    """A rich Console made when first used: a run that prints nothing (`grader grade --quiet`, a CI
    job) never imports rich, which costs a tenth of the time one submission takes."""

    def __init__(self, **options):
        self._options, self._console = options, None

    def __getattr__(self, name: str):
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


class _ProgressBar:
    """A progress bar on the terminal, shown once a batch has run for PROGRESS_AFTER_S."""

    def __init__(self, console: Console, enabled: bool):
        self.console, self.enabled = console, enabled and console.is_terminal
        self.started = time.perf_counter()
        self.progress: Progress | None = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.progress is None and time.perf_counter() - self.started >= PROGRESS_AFTER_S:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TextColumn("left:"),
                                     TimeRemainingColumn(), console=self.console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("grading", total=total)
        if self.progress is not None:
            self.progress.update(self.task, completed=done)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


class UsageError(Exception):
    """A command line that cannot be carried out (a path of the wrong kind); exit 2 with the message."""


def _output_file(value: str, option: str) -> Path:
    """A file to write, its folder created; UsageError if it is a folder or cannot be made."""
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"{option} {value} is a folder; give the path of a file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {value}: cannot create its folder: {exc.strerror or exc}") from None
    return path


def _output_folder(value: str, option: str) -> Path:
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {value} is a file; give a folder for the reports")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {value}: cannot create the folder: {exc.strerror or exc}") from None
    return path


def _write(path: Path, text: str, option: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None


def _report_problems(exc: RubricError, err: Console) -> int:
    err.print(f"[bold red]invalid rubric[/] ({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}):",
              highlight=False)
    for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
        err.print(f"  {problem}", markup=False, highlight=False)
    if len(exc.problems) > MAX_PROBLEMS_SHOWN:
        err.print(f"  ... and {len(exc.problems) - MAX_PROBLEMS_SHOWN} more; fix these and check again", highlight=False)
    return EXIT_RUBRIC


def _load(path: str, err: Console, out: str | None = None) -> Compiled | None:
    """The rubric and its key, from the key cache where it is current (beside the rubric, or in the
    report folder `out`); None, with the problems reported, for an invalid rubric."""
    from grader.key import compiled

    try:
        return compiled(path, Path(out) if out else None)
    except RubricError as exc:
        _report_problems(exc, err)
        return None


def _fmt(x: float) -> str:
    return f"{round(x, 2):g}"


def cmd_grade(args: argparse.Namespace, out: Console, err: Console) -> int:
    from grader.batch import collect_answer_files
    from grader.grading import Interrupted, NotStored, grade_into
    from grader.lateness import gradescope_handed_in
    from grader.roster import roster_gaps
    from grader.store import GradebookError, Gradebook

    prepared = _load(args.rubric, err, args.out)
    if prepared is None:
        return EXIT_RUBRIC
    rubric = prepared.rubric
    for part in getattr(args, "part", None) or ():
        if part not in rubric.part_index:
            hint = "".join(f" (did you mean {close!r}?)" for close in difflib.get_close_matches(part, rubric.part_index, 1))
            raise UsageError(f"--part: no part {part!r} in {args.rubric}{hint}; its parts are {', '.join(rubric.part_index)}")
    collected = collect_answer_files(args.paths, exclude=[Path(args.out)])
    files, problems = collected.files, collected.problems
    for problem in problems:
        err.print(Text(printable(problem), style="red"))
    for skipped in collected.skipped:
        err.print(Text(f"warning: {printable(skipped)}", style="yellow"))
    if problems or not files:
        if not files:
            err.print("no submissions (*.json answer files, *.ipynb notebooks) found", highlight=False)
        return EXIT_USAGE
    if args.gradescope and len(files) != 1:
        err.print(f"--gradescope grades one submission, but {len(files)} answer files were found", highlight=False)
        return EXIT_USAGE
    gradescope = _output_file(args.gradescope, "--gradescope") if args.gradescope else None
    roster = _roster(args)
    out_folder = _output_folder(args.out, "--out")
    path = _output_file(args.gradebook, "--gradebook") if args.gradebook else out_folder / GRADEBOOK_NAME
    if getattr(args, "part", None) and not path.is_file():
        raise UsageError(f"--part: no gradebook at {path} to rescore; run `grader grade` first (with the same --out "
                         "or --gradebook)")
    try:
        gradebook = Gradebook(path)
    except GradebookError as exc:
        raise UsageError(str(exc)) from None
    executor, cluster_errors = None, ()
    if args.ray is not None:  # Ray is imported only here: answer files graded locally never load it
        from grader.output import render_student_reports
        from grader.ray_executor import ClusterError, RayExecutor

        executor = RayExecutor(args.rubric, prepared, render_student_reports, args.ray or None,
                               args.ray_allow_unsandboxed, args.ray_gpu_fraction)
        cluster_errors = (ClusterError,)
    started = time.perf_counter()
    progress = _ProgressBar(err, enabled=not args.quiet)
    parts = frozenset(getattr(args, "part", None) or ())
    try:
        handed_in = gradescope_handed_in(Path(args.paths[0])) if gradescope else None
        force = _regrade_selection(gradebook, files, args) if args.command == "regrade" else set()
        outcome = grade_into(gradebook, args.rubric, rubric, files, out_folder, jobs=args.jobs, on_graded=progress,
                             handed_in=handed_in, force=force, rerun_code=getattr(args, "rerun_code", False),
                             parts=parts, roster=roster, prepared=prepared, executor=executor)
    except NotStored as exc:
        raise UsageError(f"--part: {exc}") from None
    except cluster_errors as exc:
        progress.close()
        err.print(Text(f"grader {args.command}: {printable(str(exc))}; what was graded before is kept in the gradebook "
                       f"{terminal(gradebook.path)}, and the same command grades the rest", style="red"))
        return EXIT_USAGE
    except Interrupted as stop:
        progress.close()
        err.print(f"interrupted: {stop.graded} of {stop.total} submission(s) were graded and are kept in the "
                  f"gradebook {terminal(gradebook.path)}; run the same command again to grade the rest "
                  "(the report folder still shows the previous run)", highlight=False)
        return EXIT_INTERRUPTED
    finally:
        progress.close()
        gradebook.close()
    elapsed = time.perf_counter() - started
    results = list(outcome.shown)
    if gradescope:
        from grader.reports import write_gradescope

        result, seconds = outcome.only
        try:
            write_gradescope(result, gradescope, execution_time=seconds)
        except OSError as exc:
            raise UsageError(f"--gradescope {args.gradescope}: cannot write: {exc.strerror or exc}") from None
    results.sort(key=lambda r: (r.student_id, r.source))
    gaps = roster_gaps(results, outcome.roster) if outcome.roster else None
    if not args.quiet:
        out.print(_totals_table(rubric, results, gaps.missing if gaps else ()))
        if parts:
            changed = outcome.changed
            scores = (f"scores changed for {len(changed)}: {', '.join(map(printable, changed[:20]))}"
                      f"{' ...' if len(changed) > 20 else ''}" if changed else "no score changed")
            done = (f"rescored {', '.join(sorted(parts))} of {outcome.graded} submission(s) in {elapsed:.2f} s, every "
                    f"other part as stored; {scores}")
        elif outcome.graded:
            unchanged = f"; {outcome.reused} unchanged since an earlier run, not graded again" if outcome.reused else ""
            done = f"graded {outcome.graded} file(s) in {elapsed:.2f} s{unchanged}"
        else:
            done = f"nothing to grade: all {outcome.reused} file(s) are unchanged since an earlier run"
        out.print(f"{done}; reports in {terminal(args.out)}", highlight=False)
    if gaps:
        _report_gaps(gaps, outcome.roster, len(results), err)
    unreadable = [printable(r.source) for r in results if not r.readable]
    if unreadable and not args.quiet:
        err.print(Text(f"{len(unreadable)} answer file(s) could not be read: {', '.join(unreadable)}"))
    return EXIT_UNREADABLE if (unreadable and args.strict) else EXIT_OK


def _roster(args: argparse.Namespace) -> Roster | None:
    """The roster named by --roster, read whole before anything is graded or stored."""
    from grader.roster import RosterError, read_roster

    if not args.roster:
        return None
    try:
        return read_roster(Path(args.roster))
    except RosterError as exc:
        raise UsageError(f"--roster: {exc}") from None


def _listed(ids: list[str], limit: int = 20) -> str:
    return printable(", ".join(ids[:limit])) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _report_gaps(gaps: Gaps, roster: Roster, submissions: int, err: Console) -> None:
    """The warning lines for a roster: who handed nothing in, and which submissions it does not know."""
    where = printable(roster.file)
    if gaps.missing:
        err.print(Text(f"{len(gaps.missing)} student(s) on the roster ({where}) have no submission: "
                       f"{_listed([s.id for s in gaps.missing])} (in the reports as missing, with 0)", style="yellow"))
    if gaps.not_on_roster:
        hint = ("; none of the submissions is on it: does its `id` column hold the student ids grader sees?"
                if len(gaps.not_on_roster) == submissions and len(gaps.missing) == len(roster.students) else "")
        err.print(Text(f"warning: {len(gaps.not_on_roster)} submission(s) from students not on the roster ({where}): "
                       f"{_listed(gaps.not_on_roster)}{hint}", style="yellow"))


def _regrade_selection(gradebook: Gradebook, files: list[Path], args: argparse.Namespace) -> set[Path]:
    """The files `grader regrade` grades again: those of the students named (by the student id
    recorded for the file, else its name), or all of them."""
    from grader.store import SubmissionFile

    if not args.student:
        return set(files)
    students = {}
    for path in files:
        try:
            students[path] = gradebook.student_of(SubmissionFile.of(path)) or path.stem
        except OSError:
            students[path] = path.stem
    unknown = set(args.student) - set(students.values())
    if unknown:
        raise UsageError(f"no submission of {', '.join(sorted(unknown))} among the files given")
    return {path for path, student in students.items() if student in args.student}


def _totals_table(rubric: Rubric, results: list[Shown], missing: list[Student] = ()) -> Table:
    """Scores per student, and those on the roster with no submission; every cell that comes from a
    submission or the roster is plain Text, never markup."""
    from rich.table import Table

    absent = f", {len(missing)} on the roster missing" if missing else ""
    title = f"{rubric.assessment.title or rubric.assessment.id}: {len(results)} submission(s){absent}"
    table = Table(title=Text(title))
    ids = [r.student_id for r in results] + [s.id for s in missing]
    id_width = min(MAX_ID_WIDTH, max(len(printable(i)) for i in ids))
    table.add_column("student", no_wrap=True, overflow="ellipsis", min_width=max(7, min(id_width, 20)),
                     max_width=MAX_ID_WIDTH)  # long ids (owner__repo__Exercise) are shortened, never the scores
    for column in ("score", "of", "manual"):
        table.add_column(column, justify="right", no_wrap=True, min_width=6)
    table.add_column("notes", no_wrap=True, overflow="ellipsis", max_width=40, ratio=1)
    for r in results:
        table.add_row(Text(printable(r.student_id)), _fmt(r.score), _fmt(r.max_score), _fmt(r.manual_pending),
                      Text(printable(r.notes)))
    for student in missing:
        table.add_row(Text(printable(student.id)), "0", _fmt(rubric.assessment.total_marks), "0",
                      Text("missing: no submission"))
    return table


@contextlib.contextmanager
def _existing_gradebook(args: argparse.Namespace):
    """The gradebook `grader grade` wrote (OUT/gradebook.sqlite or --gradebook), open until the block ends."""
    path = Path(args.gradebook) if args.gradebook else Path(args.out) / GRADEBOOK_NAME
    if not path.is_file():
        raise UsageError(f"no gradebook at {path}; run `grader grade` first (with the same --out or --gradebook)")
    from grader.store import GradebookError, Gradebook

    try:
        gradebook = Gradebook(path)
    except GradebookError as exc:
        raise UsageError(str(exc)) from None
    try:
        yield gradebook
    finally:
        gradebook.close()


def cmd_marks_export(args: argparse.Namespace, out: Console, err: Console) -> int:
    from grader.manual import export_queue

    prepared = _load(args.rubric, err)
    if prepared is None:
        return EXIT_RUBRIC
    rubric = prepared.rubric
    with _existing_gradebook(args) as gradebook:
        batch = gradebook.last_batch(rubric.assessment.id)
        if not batch:
            raise UsageError(f"{gradebook.path} has no finished run of {rubric.assessment.id}; run `grader grade` first")
        queue = export_queue(rubric, [(m.source, m.content_hash, m.result) for m in batch], gradebook.marks())
    if args.file:
        _write(_output_file(args.file, "--file"), queue, "--file")
        rows = queue.count("\n") - 1
        err.print(Text(f"wrote the marking queue ({rows} row(s)) to {printable(args.file)}; fill in the mark and "
                       f"comment columns, then `grader marks import {printable(args.rubric)} {printable(args.file)}`"))
    else:
        sys.stdout.write(queue)
    return EXIT_OK


def cmd_marks_import(args: argparse.Namespace, out: Console, err: Console) -> int:
    from grader.grading import rebuild_views
    from grader.manual import MarksError, read_queue

    prepared = _load(args.rubric, err)
    if prepared is None:
        return EXIT_RUBRIC
    rubric = prepared.rubric
    queue = Path(args.file)
    if not queue.is_file():
        raise UsageError(f"no such marks file: {args.file}")
    with _existing_gradebook(args) as gradebook:
        batch = gradebook.last_batch(rubric.assessment.id)
        try:
            rows = read_queue(queue, rubric, {(m.source, m.content_hash) for m in batch})
        except MarksError as exc:
            err.print(Text(f"{len(exc.problems)} problem(s) in the marks file; nothing was recorded:", style="red"))
            for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
                err.print(Text(f"  {printable(problem)}"))
            return EXIT_USAGE
        stored = gradebook.record_marks(rows, marker=args.by or os.environ.get("USER") or "unknown",
                                        import_file=encodable(str(queue)))
        shown = rebuild_views(gradebook, rubric, _output_folder(args.out, "--out")).shown
    pending = sum(result.manual_pending > 0 for result in shown)
    out.print(Text(f"recorded {stored} mark(s) ({len(rows) - stored} unchanged); {pending} of {len(shown)} "
                   f"submission(s) still await marking; reports rebuilt in {printable(args.out)}"))
    return EXIT_OK


def cmd_export(args: argparse.Namespace, out: Console, err: Console) -> int:
    from grader.grading import current_results, rebuild_views
    from grader.export import canvas_csv, final_grades, plain_csv

    prepared = _load(args.rubric, err)
    if prepared is None:
        return EXIT_RUBRIC
    rubric = prepared.rubric
    roster = _roster(args)
    with _existing_gradebook(args) as gradebook:
        if roster is not None and gradebook.last_members(rubric.assessment.id) and gradebook.store_roster(roster):
            rebuild_views(gradebook, rubric, _output_folder(args.out, "--out"))  # the reports list it too
        view = current_results(gradebook, rubric)
    results = view.counting()
    if not results:
        raise UsageError(f"no finished run of {rubric.assessment.id} in the gradebook; run `grader grade` first")
    grades = final_grades(results, view.roster)
    folder = Path(args.out) / "export"
    plain = _output_file(args.csv or str(folder / "grades.csv"), "--csv")
    _write(plain, plain_csv(grades, rubric.assessment), "--csv")
    written = [str(plain)]
    if view.roster is not None or args.canvas:
        canvas = _output_file(args.canvas or str(folder / "canvas.csv"), "--canvas")
        _write(canvas, canvas_csv(grades, rubric.assessment, args.assignment), "--canvas")
        written.append(str(canvas))
    for label, ids in (("on the roster with no submission (left blank)", grades.missing),
                       ("not on the roster (not in the Canvas file)", grades.not_on_roster),
                       ("still pending marking (left blank; `grader marks export`)", grades.pending)):
        if ids:
            err.print(Text(f"{len(ids)} student(s) {label}: {_listed(ids)}", style="yellow"))
    roster_note = f"; the roster is {printable(view.roster.file)}" if view.roster is not None and roster is None else ""
    out.print(Text(f"final grades of {len(grades.rows)} student(s) written to {printable(', '.join(written))}; "
                   f"feedback with the manual marks is in {printable(args.out)}/students{roster_note}"))
    return EXIT_OK


def cmd_key(args: argparse.Namespace, out: Console, err: Console) -> int:
    prepared = _load(args.rubric, err)
    if prepared is None:
        return EXIT_RUBRIC
    rubric = prepared.rubric
    text = prepared.key.model_dump_json(indent=2)
    if args.out:
        _write(_output_file(args.out, "--out"), text + "\n", "--out")
    else:
        sys.stdout.write(text + "\n")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace, out: Console, err: Console) -> int:
    prepared = _load(args.rubric, err)
    if prepared is None:
        return EXIT_RUBRIC
    rubric = prepared.rubric
    path = Path(args.answers)
    if path.is_dir():
        raise UsageError(f"{args.answers} is a folder; audit takes one answer file (.json), the worked solution")
    if not path.is_file():
        raise UsageError(f"no such answer file: {args.answers}")
    from grader.audit import audit_file, render_audit

    report = audit_file(rubric, prepared.key, path)
    sys.stdout.write(report.model_dump_json(indent=2) + "\n" if args.json else render_audit(report))
    return EXIT_OK if report.clean else EXIT_DISCREPANCIES


def cmd_check_rubric(args: argparse.Namespace, out: Console, err: Console) -> int:
    status = EXIT_OK
    for path in args.rubrics:
        prepared = _load(path, err)
        if prepared is None:
            status = EXIT_RUBRIC
            continue
        rubric = prepared.rubric
        a = rubric.assessment
        parts = [p for _, p in a.parts()]
        manual = sum(c.marks for p in parts for c in p.items() if c.manual)
        every = sum(q.total_marks for q in a.questions)
        groups = "".join(f"; {g.id}: best {g.choose} of {len(g.questions)}" for g in a.groups)
        counted = f", of which {_fmt(a.total_marks)} count{groups}" if a.groups else ""
        out.print(f"{path}: ok: {a.id}: {len(a.questions)} questions, {len(parts)} parts, {_fmt(every)} marks "
                  f"({_fmt(every - manual)} automatic, {_fmt(manual)} manual){counted}", highlight=False)
    return status


def cmd_solvers(args: argparse.Namespace, out: Console, err: Console) -> int:
    import reference

    if args.name is None:
        for name in reference.names():
            solver = reference.get(name)
            summary = (inspect.getdoc(sys.modules[solver.__module__]) or "").split("\n\n")[0].replace("\n", " ")
            follows = "follow-through" if solver.steps is not reference.Solver.steps else ""
            sys.stdout.write(f"{name:22} {follows:15} {summary}\n")
        return EXIT_OK
    try:
        solver = reference.get(args.name)
    except KeyError as exc:
        err.print(exc.args[0], highlight=False, markup=False)
        return EXIT_USAGE
    sys.stdout.write((inspect.getdoc(sys.modules[solver.__module__]) or "") + "\n\nParameters (JSON Schema):\n"
                     + json.dumps(solver.Params.model_json_schema(), indent=2) + "\n")
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from grader.rubric import load_rubric
    from grader.program.calibration import CalibrationError, calibrate, calibration_path, thresholds, write_calibration

    try:
        rubric = load_rubric(args.rubric, calibrated=False)
    except RubricError as exc:
        return _report_problems(exc, err)
    if rubric.program is None:
        err.print(f"{args.rubric} has no program section: nothing to calibrate", highlight=False)
        return EXIT_USAGE
    device = args.device
    if device not in rubric.program.spec.training.budgets:
        err.print(f"{args.rubric}: program.training.budgets has no {device} budget", highlight=False)
        return EXIT_USAGE
    path = calibration_path(Path(args.rubric), rubric.program)
    out.print(f"calibrating {args.rubric} on {device}: the reference notebook, seeds "
              f"{rubric.program.spec.reference.seeds}, {rubric.program.spec.training.budgets[device].steps} steps each",
              highlight=False)
    try:
        entry = calibrate(rubric.program, device, progress=lambda line: out.print(f"  {line}", highlight=False))
    except CalibrationError as exc:
        err.print(f"[bold red]calibration failed:[/] {exc}", highlight=False)
        return EXIT_RUBRIC
    write_calibration(path, device, entry)
    limits = thresholds(entry, rubric.program)
    out.print(f"full marks at <= {limits['full']:.3f} nats/char, none at >= {limits['zero']:.3f}; wrote {path}",
              highlight=False)
    return EXIT_OK


def cmd_import_nbgrader(args: argparse.Namespace, out: Console, err: Console) -> int:
    from grader.nbgrader import NbgraderError, import_nbgrader
    from grader.notebook import NotebookError

    notebook = Path(args.notebook)
    if not notebook.is_file():
        raise UsageError(f"no such notebook: {args.notebook}" + (" (it is a folder)" if notebook.is_dir() else ""))
    target = Path(args.out) if args.out else notebook.with_suffix(".yaml")
    if target.exists():
        raise UsageError(f"{target} already exists; give another --out, or remove it to write it afresh")
    try:
        imported = import_nbgrader(notebook, target, args.id)
    except (NotebookError, NbgraderError) as exc:
        raise UsageError(str(exc)) from None
    _write(_output_file(str(target), "--out"), imported.text, "--out")
    for line in imported.warnings:
        err.print(Text(printable(line), style="yellow"))
    for line in imported.skipped:
        err.print(Text(f"left out: {printable(line)}", style="yellow"))
    for line in imported.untranslated:
        err.print(Text(f"could not translate: {printable(line)}", style="yellow"))
    automatic = imported.marks - imported.manual_marks
    out.print(Text(f"wrote {printable(target)}: {imported.parts} part(s), {_fmt(imported.marks)} marks "
                   f"({_fmt(automatic)} automatic, {_fmt(imported.manual_marks)} marked by hand); check it, then "
                   f"`grader check-rubric {printable(target)}`"))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, out: Console, err: Console) -> int:
    from grader.rubric import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description="Grade ML course assessments against YAML rubrics.",
                                     epilog="exit codes: 0 graded; 1 unreadable answer files (with grade --strict) or audit "
                                            "discrepancies; "
                                            "2 usage; 3 invalid rubric")
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    grade = sub.add_parser("grade", help="grade answer files and write reports")
    regrade = sub.add_parser("regrade", help="grade again, even if unchanged: all submissions, or --student's, "
                             "whole or only --part (notebooks are rescored from their recorded runs unless --rerun-code)")
    for command in (grade, regrade):
        command.add_argument("rubric", help="rubric YAML file")
        command.add_argument("paths", nargs="+", help="answer files (.json), notebooks (.ipynb) or folders of them")
        command.add_argument("--out", default="grader-out", help="report folder (default: grader-out)")
        command.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores for notebooks "
                             "whose model is retrained, and for batches of answer files or notebooks' values large "
                             "enough to pay for the workers' start; else 1, in grader's own process)")
        command.add_argument("--gradescope", metavar="FILE",
                           help="also write Gradescope results.json here (one submission), e.g. /autograder/results/results.json")
        command.add_argument("--gradebook", metavar="FILE", help="the course gradebook (SQLite) to record into and resume "
                           f"from (default: OUT/{GRADEBOOK_NAME})")
        command.add_argument("--roster", metavar="FILE", help="CSV of the students who should hand in (id, and name, "
                             "email, section, canvas_id, sis_user_id, sis_login_id); stored in the gradebook for later "
                             "commands: those with no submission are listed as missing, submissions not on it reported")
        command.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                             help="grade on a Ray cluster (pip install 'grader[ray]'): the one at ADDRESS, else "
                             "RAY_ADDRESS's or one `ray start`ed here, else a local one (docs/ray.md)")
        command.add_argument("--ray-allow-unsandboxed", action="store_true",
                             help="let Ray nodes without usable bubblewrap run notebooks' code on the weaker "
                             "fallback (docs/sandbox.md); without it such a node refuses")
        command.add_argument("--ray-gpu-fraction", type=float, default=0.25, metavar="F",
                             help="the share of a GPU each cuda retraining asks Ray for (default 0.25: four "
                             "share a GPU)")
        command.add_argument("--quiet", action="store_true", help="do not print the table of totals")
        command.add_argument("--strict", action="store_true", help="exit with 1 if any answer file could not be read")
        command.set_defaults(run=cmd_grade)
    regrade.add_argument("--student", action="append", metavar="ID", help="only this student (repeat for more)")
    regrade.add_argument("--part", action="append", metavar="PART", help="rescore only this part (its rubric id, "
                         "e.g. q3.b; repeat for more) into the stored results, every other part kept as stored")
    regrade.add_argument("--rerun-code", action="store_true", help="run the notebooks' code again instead of "
                         "rescoring their recorded runs (after a run cut short by the machine, say)")

    marks = sub.add_parser("marks", help="manual marking: export the queue of criteria a person marks, import the marks")
    marks_sub = marks.add_subparsers(dest="marks_command", required=True)
    export = marks_sub.add_parser("export", help="write the marking queue as CSV: one row per manual criterion per "
                                  "student, with the full answer and empty mark and comment columns")
    export.add_argument("rubric")
    export.add_argument("--file", help="write here instead of standard output")
    imported = marks_sub.add_parser("import", help="record the marks of an edited queue and rebuild the reports")
    imported.add_argument("rubric")
    imported.add_argument("file", help="the queue with its mark (and comment) columns filled in")
    imported.add_argument("--by", help="who marked (default: $USER)")
    for command, run in ((export, cmd_marks_export), (imported, cmd_marks_import)):
        command.add_argument("--out", default="grader-out", help="the report folder of `grader grade` (default: grader-out)")
        command.add_argument("--gradebook", metavar="FILE", help=f"the course gradebook (default: OUT/{GRADEBOOK_NAME})")
        command.set_defaults(run=run)

    exporting = sub.add_parser("export", help="write final grades: a plain CSV and, with a roster, a Canvas "
                               "gradebook import CSV")
    exporting.add_argument("rubric")
    exporting.add_argument("--roster", metavar="FILE", help="CSV with id (and name, email, section, canvas_id, "
                           "sis_user_id, sis_login_id); stored in the gradebook in place of the one there (default: "
                           "the roster stored by an earlier command)")
    exporting.add_argument("--canvas", metavar="FILE", help="the Canvas import file (default: OUT/export/canvas.csv)")
    exporting.add_argument("--csv", metavar="FILE", help="the plain grades file (default: OUT/export/grades.csv)")
    exporting.add_argument("--assignment", help="the Canvas assignment column, e.g. 'Quiz 1 (12345)' (default: the "
                           "assessment's title)")
    exporting.add_argument("--out", default="grader-out", help="the report folder of `grader grade` (default: grader-out)")
    exporting.add_argument("--gradebook", metavar="FILE", help=f"the course gradebook (default: OUT/{GRADEBOOK_NAME})")
    exporting.set_defaults(run=cmd_export)

    key = sub.add_parser("key", help="print the computed answer key as JSON")
    key.add_argument("rubric")
    key.add_argument("--out", help="write to this file instead of standard output")
    key.set_defaults(run=cmd_key)

    audit = sub.add_parser("audit", help="list where a worked solution disagrees with the computed key, "
                           "and which step each error came from")
    audit.add_argument("rubric")
    audit.add_argument("answers", help="the solution as an answer file (.json)")
    audit.add_argument("--json", action="store_true", help="print the findings as JSON")
    audit.set_defaults(run=cmd_audit)

    check = sub.add_parser("check-rubric", help="validate rubric files")
    check.add_argument("rubrics", nargs="+")
    check.set_defaults(run=cmd_check_rubric)

    listing = sub.add_parser("solvers", help="list the reference solvers, or describe one: outputs and parameters")
    listing.add_argument("name", nargs="?")
    listing.set_defaults(run=cmd_solvers)

    calibration = sub.add_parser("calibrate", help="retrain the reference notebook over seeds and store the "
                                 "convergence thresholds for this device next to the rubric")
    calibration.add_argument("rubric")
    calibration.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    calibration.set_defaults(run=cmd_calibrate)

    importing = sub.add_parser("import", help="write a starting rubric from another grading tool's notebook")
    importing_sub = importing.add_subparsers(dest="import_command", required=True)
    nbgrader = importing_sub.add_parser("nbgrader", help="from an nbgrader source notebook: its autograder tests "
                                        "become checks of notebook variables, its manually graded cells manual parts")
    nbgrader.add_argument("notebook", help="the source notebook (.ipynb), with its solutions and hidden tests")
    nbgrader.add_argument("--out", metavar="RUBRIC", help="the rubric to write (default: the notebook's name with "
                          ".yaml); never overwritten")
    nbgrader.add_argument("--id", help="the assessment id (default: from the notebook's name)")
    nbgrader.set_defaults(run=cmd_import_nbgrader)

    schema = sub.add_parser("schema", help="print the JSON Schema of rubric files")
    schema.set_defaults(run=cmd_schema)
    return parser


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


def _internal_error(err: Console) -> int:
    """A bug: one line for the user, the traceback in a file they can attach to a report."""
    kind, exc, _ = sys.exc_info()
    with tempfile.NamedTemporaryFile("w", prefix="grader-crash-", suffix=".txt", delete=False) as file:
        traceback.print_exc(file=file)
    err.print(Text(f"grader: internal error ({kind.__name__}: {printable(exc)[:200]}); the details are in "
                   f"{file.name}; please report it"))
    return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "jobs", None) is not None and args.jobs < 1:
        build_parser().error("--jobs must be at least 1")
    if getattr(args, "ray", None) is not None and args.jobs is not None:
        build_parser().error("--jobs is for local worker processes; with --ray the cluster's CPUs are used")
    if getattr(args, "ray", None) is not None and not 0 < args.ray_gpu_fraction <= 1:
        build_parser().error("--ray-gpu-fraction must be more than 0 and at most 1")
    out, err = _LazyConsole(soft_wrap=True), _LazyConsole(stderr=True, soft_wrap=True)
    signal.signal(signal.SIGTERM, _terminated)  # stop as for Ctrl-C: workers and sandboxes stopped, results kept
    try:
        return args.run(args, out, err)
    except UsageError as exc:
        err.print(Text(f"grader {args.command}: {printable(exc)}", style="red"))
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `grader key RUBRIC | head`: the reader has gone, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception:
        return _internal_error(err)


if __name__ == "__main__":
    sys.exit(main())
