"""Grading many answer files in parallel, handing each result on as soon as it is ready.

Workers load the rubric themselves from its path (no rubric objects are pickled), grade, render
the student's reports (the costly part, so it runs in parallel too) and send back the result as
JSON with the rendered documents. Both paths, serial and pooled, share one guard: reading and
scoring already confine a bad value to its own part, and what still escapes (a bug) costs that
file alone, recorded as an internal error. A file that kills a worker is retried once in a fresh
pool. Ctrl-C reaches the main process only: workers ignore it and are stopped by the pool.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import multiprocessing.forkserver
import os
import signal
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from grader.key import AnswerKey, build_key
from grader.kinds._values import short
from grader.program.submission import read_notebook_submission
from grader.results import SubmissionResult
from grader.rubric import Rubric, load_rubric
from grader.scoring import grade_submission, rescore_parts
from grader.submission import Submission, read_answer_file

Render = Callable[[SubmissionResult], dict[str, str]]
_worker: tuple[Rubric, AnswerKey, Render | None] | None = None


@dataclass
class Graded:
    result: SubmissionResult
    documents: dict[str, str] = field(default_factory=dict)  # rendered reports by file name
    path: Path | None = None  # the file graded
    program_run: str | None = None  # a notebook's sandboxed run (JSON) when it ran now, to record for reuse


SUBMISSION_SUFFIXES = (".json", ".ipynb")
PR_SET_PDEATHSIG = 1


@dataclass
class Collected:
    files: list[Path]
    problems: list[str]  # paths named on the command line that cannot be graded: nothing is graded
    skipped: list[str]  # files found in folders and left out, with why: the rest is graded


def collect_answer_files(paths: Iterable[str | Path], exclude: Iterable[Path] = ()) -> Collected:
    """Submissions named directly or found (recursively, *.json and *.ipynb, any case) under
    folders. A path named that is missing or not a regular file (a FIFO would block the reader) is
    a problem. Left out of folders: hidden files and folders (.ipynb_checkpoints), anything under
    `exclude` (the report folder, when it lies inside a graded folder), and links to files outside
    the folder (a link to /etc/passwd is not a submission)."""
    excluded = [p.resolve() for p in exclude]
    collected = Collected([], [], [])
    for path in map(Path, paths):
        if path.is_dir():
            root = path.resolve()
            for found in sorted(path.rglob("*")):
                if found.suffix.lower() not in SUBMISSION_SUFFIXES or not found.is_file() \
                        or any(part.startswith(".") for part in found.relative_to(path).parts):
                    continue
                target = found.resolve()
                if any(target.is_relative_to(folder) for folder in excluded):
                    continue
                if not target.is_relative_to(root):
                    collected.skipped.append(f"{found} links to {target}, outside {path}: not graded")
                    continue
                collected.files.append(found)
        elif path.is_file():
            collected.files.append(path)
        elif path.exists():
            collected.problems.append(f"not a regular file (a device, FIFO or socket): {path}")
        else:
            collected.problems.append(f"no such file or folder: {path}")
    collected.files = list(dict.fromkeys(collected.files))
    return collected


@dataclass(frozen=True)
class Rescore:
    """Score only `parts`, into each file's stored result (JSON, by path): `grader regrade --part`."""

    parts: frozenset[str]
    stored: dict[Path, str]


def grade_file(rubric: Rubric, key: AnswerKey, path: Path) -> SubmissionResult:
    """Grade one answer file or notebook (whose code runs in the sandbox when the rubric has a
    program); never raises: a grading bug becomes this file's internal error."""
    return _grade(rubric, key, path, None)[0]


def _grade(rubric: Rubric, key: AnswerKey, path: Path, recorded_run: str | None,
           into: tuple[str, frozenset[str]] | None = None) -> tuple[SubmissionResult, str | None]:
    """The result, and the notebook's run as JSON when it ran now (None when `recorded_run`, an
    earlier run of the same content, was used instead, or there is no run). With `into` (a stored
    result's JSON and parts), only those parts are scored, into that result."""

    def score(submission: Submission) -> SubmissionResult:
        if into is None:
            return grade_submission(rubric, key, submission)
        return rescore_parts(rubric, key, submission, SubmissionResult.model_validate_json(into[0]), into[1])

    try:
        if path.suffix.lower() != ".ipynb":
            return score(read_answer_file(path)), None
        reused = json.loads(recorded_run) if recorded_run is not None else None
        submission = read_notebook_submission(path, rubric, recorded_run=reused)
        fresh = json.dumps(submission.program) if submission.program is not None and reused is None else None
        return score(submission), fresh
    except Exception as exc:
        return _internal_error(rubric, key, path, f"{type(exc).__name__}: {short(str(exc))}"), None


def rendered(render: Render | None, result: SubmissionResult) -> dict[str, str]:
    """The result's documents; a renderer that fails leaves a plain note and an error on the result."""
    if render is None:
        return {}
    try:
        return render(result)
    except Exception as exc:
        result.errors.append(f"the reports could not be rendered ({type(exc).__name__}: {short(str(exc))}); "
                             "please report it")
        return {"feedback.md": "# Feedback\n\nYour feedback could not be rendered; your instructor has been told.\n"}


def _die_with_parent() -> None:
    """A worker dies with the forkserver that forked it, which dies with grader: a grader killed
    with SIGKILL leaves no worker running (and each sandbox dies with its worker). The forkserver
    exits when the write end of its `alive` pipe closes, but it hands a copy to every child it
    forks, so the worker closes its copy first (it never starts processes through it)."""
    alive = getattr(multiprocessing.forkserver._forkserver, "_forkserver_alive_fd", None)
    if alive is not None:
        os.close(alive)
        multiprocessing.forkserver._forkserver._forkserver_alive_fd = None
    parent = os.getppid()
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0 or os.getppid() != parent:
        os._exit(1)


def _init_worker(rubric_path: str, render: Render | None) -> None:
    global _worker
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rubric = load_rubric(rubric_path)
    _worker = (rubric, build_key(rubric), render)


def _grade_in_worker(path: str, recorded_run: str | None,
                     into: tuple[str, frozenset[str]] | None) -> tuple[str, dict[str, str], str | None]:
    assert _worker is not None
    rubric, key, render = _worker
    result, program_run = _grade(rubric, key, Path(path), recorded_run, into)
    documents = rendered(render, result)
    return result.model_dump_json(), documents, program_run


def _internal_error(rubric: Rubric, key: AnswerKey, path: Path, why: str) -> SubmissionResult:
    failed = Submission(source=str(path), student_id=path.stem, readable=False,
                        errors=[f"{path}: internal error while grading ({why}); please report it"])
    return grade_submission(rubric, key, failed)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop at once: queued files are dropped and running workers (and their sandboxes) killed."""
    for process in list(getattr(pool, "_processes", {}).values()):  # the executor has no public kill
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def grade_files(rubric_path: str | Path, files: list[Path], jobs: int | None = None, render: Render | None = None,
                on_result: Callable[[Graded], None] = lambda graded: None,
                recorded_runs: dict[Path, str] | None = None, rescore: Rescore | None = None) -> list[SubmissionResult]:
    """Grade `files` with `jobs` processes, calling `on_result` as each finishes. The default is all
    cores where the work per file pays for a worker's start (each loads the rubric, imports torch and
    computes the key: seconds): notebooks whose model is retrained. Answer files and notebooks graded
    by their values take milliseconds each, so they are graded here, serially (benchmarks/RESULTS.md).

    `render` (a module-level function, as it runs in the workers) turns a result into documents;
    `recorded_runs` are earlier sandboxed runs of notebooks (JSON, by path) to use instead of running them;
    with `rescore`, only its parts are scored, into the files' stored results.
    """
    recorded_runs = recorded_runs or {}

    def into(path: Path) -> tuple[str, frozenset[str]] | None:
        return None if rescore is None else (rescore.stored[path], rescore.parts)

    rubric = load_rubric(rubric_path)
    key = build_key(rubric)
    if jobs is None:
        heavy = rubric.program is not None and any(path.suffix.lower() == ".ipynb" for path in files)
        jobs = (os.cpu_count() or 1) if heavy else 1
    jobs = max(1, min(jobs, len(files) or 1))
    results: list[SubmissionResult] = []

    def deliver(path: Path, result: SubmissionResult, documents: dict[str, str] | None = None,
                program_run: str | None = None) -> None:
        results.append(result)
        on_result(Graded(result, documents if documents is not None else rendered(render, result), path, program_run))

    if jobs == 1:
        for path in files:
            result, program_run = _grade(rubric, key, path, recorded_runs.get(path), into(path))
            deliver(path, result, program_run=program_run)
        return results

    pending = list(files)
    for attempt in range(2):
        broken: list[Path] = []
        # forkserver: a worker forked from a process that has run torch (the grader recomputes models)
        # inherits its thread pool's locks and can hang on its first torch call
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(str(rubric_path), render),
                                 mp_context=multiprocessing.get_context("forkserver")) as pool:
            futures = {pool.submit(_grade_in_worker, str(path), recorded_runs.get(path), into(path)): path
                       for path in pending}
            try:
                for future in as_completed(futures):
                    try:
                        result_json, documents, program_run = future.result()
                        deliver(futures[future], SubmissionResult.model_validate_json(result_json), documents,
                                program_run)
                    except BrokenProcessPool:
                        broken.append(futures[future])
                    except Exception as exc:  # a grading bug costs this file, never the batch
                        path = futures[future]
                        deliver(path, _internal_error(rubric, key, path, f"{type(exc).__name__}: {short(str(exc))}"))
            except KeyboardInterrupt:
                _stop(pool)
                raise
        pending = broken
        if not pending:
            break
    for path in pending:
        deliver(path, _internal_error(rubric, key, path, "the grading process died"))
    return results
