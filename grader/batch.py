"""Grading many submissions, handing each result on as soon as it is ready.

A batch is a list of pure tasks (`Task`: a file to grade and what it needs besides the rubric and
its key, all plain data), run by an `Executor` that yields each result, as JSON with the rendered
documents, as it finishes; the driver alone records them. Two executors: `Serial`, in the
grading process, and `LocalPool`, worker processes started once per batch and reused for every
task. A worker is handed the rubric's computed key (grader.key's cache entry, as JSON): it never
computes a key, so grading answer files never imports torch or runs a solver; it loads the
program section (torch) only when a notebook of a rubric with one comes. An executor running
elsewhere (grader.ray_executor's, on a Ray cluster) implements the same `run`.

Both executors share one guard: reading and scoring already confine a bad value to its own part,
and what still escapes (a bug) costs that file alone, recorded as an internal error. A file that
kills a worker is retried once in a fresh pool. Ctrl-C reaches the main process only: workers
ignore it and are stopped by the pool.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor
# the pool's modules (multiprocessing, concurrent.futures, ctypes) are imported when a pool starts

from grader.key import AnswerKey, CachedKey, Compiled, compiled, from_entry
from grader.kinds._values import short
from grader.results import SubmissionResult
from grader.rubric import Rubric
from grader.scoring import grade_submission, rescore_parts
from grader.store import pack_documents, unpack_documents
from grader.submission import Submission, read_answer_file

Render = Callable[[SubmissionResult], dict[str, str]]


@dataclass
class Graded:
    result: SubmissionResult
    packed: bytes  # the rendered reports by file name, packed (grader.store.pack_documents)
    path: Path | None = None  # the file graded
    program_run: str | None = None  # a notebook's sandboxed run (JSON) when it ran now, to record for reuse
    written: Path | None = None  # the folder the reports were also written into (`grade_stream`'s documents_to)

    @property
    def documents(self) -> dict[str, str]:
        return unpack_documents(self.packed)


SUBMISSION_SUFFIXES = (".json", ".ipynb")
PR_SET_PDEATHSIG = 1
IN_FLIGHT_PER_WORKER = 4  # tasks handed to the pool ahead of their results: a class of any size in bounded memory
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


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
           into: tuple[str, frozenset[str]] | None = None,
           content: bytes | None = None) -> tuple[SubmissionResult, str | None]:
    """The result, and the notebook's run as JSON when it ran now (None when `recorded_run`, an
    earlier run of the same content, was used instead, or there is no run). With `into` (a stored
    result's JSON and parts), only those parts are scored, into that result; with `content`, the
    file's bytes are those, not read from `path`."""

    def score(submission: Submission) -> SubmissionResult:
        if into is None:
            return grade_submission(rubric, key, submission)
        return rescore_parts(rubric, key, submission, SubmissionResult.model_validate_json(into[0]), into[1])

    try:
        if path.suffix.lower() != ".ipynb":
            return score(read_answer_file(path, content)), None
        from grader.program.submission import read_notebook_submission  # notebooks only: the sandbox, maybe torch

        reused = json.loads(recorded_run) if recorded_run is not None else None
        submission = read_notebook_submission(path, rubric.with_program(), recorded_run=reused, content=content)
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


def _internal_error(rubric: Rubric, key: AnswerKey, path: Path, why: str) -> SubmissionResult:
    failed = Submission(source=str(path), student_id=path.stem, readable=False,
                        errors=[f"{path}: internal error while grading ({why}); please report it"])
    return grade_submission(rubric, key, failed)


# --- tasks and executors ------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One submission to grade: plain data, so that any process (or machine) can run it."""

    path: str
    recorded_run: str | None = None  # an earlier sandboxed run of the notebook (JSON), to rescore instead of running
    into: tuple[str, frozenset[str]] | None = None  # a stored result (JSON) and the parts to rescore into it
    content: bytes | None = None  # the file's bytes, for a machine without the file (grader.ray_executor)
    documents_to: str | None = None  # a folder (not there yet) to write the rendered documents into too


@dataclass(frozen=True)
class Done:
    """A task's result: the SubmissionResult as JSON, its rendered documents (packed, as the
    gradebook stores them), a notebook's fresh run."""

    result_json: str
    documents: bytes
    program_run: str | None
    result: SubmissionResult | None = None  # the result itself, where the task ran in the driver's process
    written: bool = False  # the documents are in the task's `documents_to` folder too


@dataclass(frozen=True)
class Failed:
    """A task whose process died (`died`) or that raised past the guard (a bug): `why`."""

    why: str
    died: bool = False


class Executor(Protocol):
    """Runs pure tasks against one rubric and key, yielding each (task, outcome) as it finishes."""

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Done | Failed]]: ...


def _start_checker(rubric: Rubric) -> None:
    """Start the expression checker (sympy, half a second) now, for rubrics whose expression checks
    seek proofs (`simplify`), so that its start overlaps this process's work up to the first one."""
    if any(comparator.kind == "expression" and comparator.settings.simplify
           for comparator in rubric.comparators.values()):
        from grader.mathexpr.client import start_soon

        start_soon()


def run_task(rubric: Rubric, key: AnswerKey, render: Render | None, task: Task, here: bool = False) -> Done:
    """A task's result: what every executor computes; `here` (in the driver's process) keeps the
    result as it is rather than as JSON."""
    result, program_run = _grade(rubric, key, Path(task.path), task.recorded_run, task.into, task.content)
    documents = rendered(render, result)
    written = bool(documents) and task.documents_to is not None and _write_documents(Path(task.documents_to),
                                                                                    documents)
    return Done("" if here else result.model_dump_json(), pack_documents(documents), program_run,
                result if here else None, written)


def _write_documents(folder: Path, documents: dict[str, str]) -> bool:
    """Write the documents into `folder` (made here); False, leaving them to be written from the
    gradebook, where that fails."""
    try:
        folder.mkdir()
        for name, text in documents.items():
            (folder / name).write_text(text, encoding="utf-8", errors="backslashreplace")
    except OSError:
        return False
    return True


@dataclass
class Serial:
    """Tasks run one after another in this process."""

    rubric: Rubric
    key: AnswerKey
    render: Render | None

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Done | Failed]]:
        _start_checker(self.rubric)
        for task in _sandboxes_started(self.rubric, tasks):
            yield task, run_task(self.rubric, self.key, self.render, task, here=True)


def _sandboxes_started(rubric: Rubric, tasks: list[Task]) -> list[Task]:
    """The tasks in the order to run them here, once the warm sandboxes that their notebooks' cells
    run in have been started: answer files first, then the notebooks whose sandbox is quickest to
    start, so that a slow one (torch) starts while the others are graded."""
    notebooks = [task for task in tasks if task.path.lower().endswith(".ipynb") and task.content is None]
    if not notebooks:
        return tasks
    from grader.program.submission import prepare_notebooks  # what grading a notebook imports anyway

    try:
        order = prepare_notebooks(rubric, [Path(task.path) for task in notebooks])
    except Exception:  # noqa: BLE001 - only an optimisation: each notebook's own grading reports what is wrong
        return tasks
    chosen = {id(task) for task in notebooks}
    return [task for task in tasks if id(task) not in chosen] + [notebooks[i] for i in order]


_worker: tuple[Rubric, AnswerKey, Render | None] | None = None


def _die_with_parent() -> None:
    """A worker dies with the forkserver that forked it, which dies with grader: a grader killed
    with SIGKILL leaves no worker running (and each sandbox dies with its worker). The forkserver
    exits when the write end of its `alive` pipe closes, but it hands a copy to every child it
    forks, so the worker closes its copy first (it never starts processes through it)."""
    import ctypes
    import multiprocessing.forkserver

    alive = getattr(multiprocessing.forkserver._forkserver, "_forkserver_alive_fd", None)
    if alive is not None:
        os.close(alive)
        multiprocessing.forkserver._forkserver._forkserver_alive_fd = None
    parent = os.getppid()
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0 or os.getppid() != parent:
        os._exit(1)


def _steady_heap() -> None:
    """Buffers of 128 KB and more (a result's documents, handed from worker to driver) get mappings of
    their own, returned to the system when freed. glibc raises that threshold each time such a buffer
    is freed, after which they come from the heap, which cannot shrink past what is still in use:
    a driver handed 1,000 results of lab8 grew to 300 MB (50 MB with this)."""
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 128 << 10)
    except (OSError, AttributeError):  # not glibc: its own policy stands
        pass


def _init_worker(rubric_path: str, entry_json: str, render: Render | None) -> None:
    """A worker's start: the rubric read back with the key it was handed (nothing computed)."""
    global _worker
    _die_with_parent()
    _steady_heap()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    entry = CachedKey.model_validate_json(entry_json)
    _worker = (from_entry(Path(rubric_path), entry), entry.key, render)
    _start_checker(_worker[0])


def _run_in_worker(task: Task) -> Done:
    assert _worker is not None
    return run_task(*_worker, task)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop at once: queued files are dropped and running workers (and their sandboxes) killed."""
    for process in list(getattr(pool, "_processes", {}).values()):  # the executor has no public kill
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class LocalPool:
    """Tasks run by `jobs` worker processes, started once and reused for every task, a few per
    worker in flight. A worker that dies breaks the pool: the tasks that had not finished are
    suspects, run once more one at a time in a fresh pool, where the one that dies again is
    reported as died and costs no other; then the rest of the batch goes on as before."""

    rubric_path: str
    entry: CachedKey
    render: Render | None
    jobs: int

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Done | Failed]]:
        _steady_heap()
        queued, suspects = collections.deque(tasks), collections.deque()
        while queued or suspects:
            yield from self._until_broken(queued, suspects)

    def _until_broken(self, queued: collections.deque, suspects: collections.deque
                      ) -> Iterator[tuple[Task, Done | Failed]]:
        """Run the suspects, one at a time, then the queue, in one pool, until done or it breaks."""
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        # forkserver: a worker forked from a process that has run torch (the grader recomputes models)
        # inherits its thread pool's locks and can hang on its first torch call
        with ProcessPoolExecutor(max_workers=self.jobs, initializer=_init_worker,
                                 initargs=(self.rubric_path, self.entry.model_dump_json(), self.render),
                                 mp_context=multiprocessing.get_context("forkserver")) as pool:
            futures: dict = {}
            try:
                while queued or suspects or futures:
                    alone = bool(suspects)
                    while (suspects and not futures) or \
                            (not alone and queued and len(futures) < IN_FLIGHT_PER_WORKER * self.jobs):
                        task = suspects.popleft() if alone else queued.popleft()
                        futures[pool.submit(_run_in_worker, task)] = task
                        if alone:
                            break
                    finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in finished:
                        task = futures.pop(future)
                        try:
                            yield task, future.result()
                        except BrokenProcessPool:
                            if alone:
                                yield task, Failed("the grading process died", died=True)
                            else:
                                suspects.append(task)
                        except Exception as exc:  # a grading bug costs this file, never the batch
                            yield task, Failed(f"{type(exc).__name__}: {short(str(exc))}")
                    if finished and any(isinstance(f.exception(), BrokenProcessPool) for f in finished):
                        for future, task in futures.items():  # the others in flight went down with it
                            suspects.append(task)
                        return
            except BaseException:  # Ctrl-C, or the driver stopped reading
                _stop(pool)
                raise


# What a worker pool costs before it grades (each worker's interpreter, imports and rubric, read back
# with its key), and what grading an answer file costs: its reports, each automatic check, and more
# for the costly ones (expressions and feature maps: parsing and evaluating the student's formulas). The driver
# (grader's own process, the only writer of the gradebook and the view) does a share of every file
# itself whatever the workers do, so a pool pays only where the workers' share is large: batches
# with costly checks, large enough to cover the pool's start several times. On 2 cores 1,000 answer
# files of the 10-number quiz took 1.4x to 2.8x serial's time with 2 workers, and the four bundled
# rubrics 0.66x (benchmarks/RESULTS.md).
POOL_START_S = 0.5
FILE_S, CHECK_S, COSTLY_S = 0.004, 0.0002, 0.002
COSTLY = ("expression", "feature_map")
POOL_PAYS_AFTER = 4


def default_jobs(rubric: Rubric, files: list[Path]) -> int:
    """Workers where they pay: all cores for notebooks whose model is retrained (seconds to minutes
    each), and for batches of answer files or notebooks' values with costly checks whose estimated
    work is several times the pool's start-up; else this process alone."""
    cores = os.cpu_count() or 1
    if cores == 1:
        return 1
    if rubric.assessment.program is not None and any(path.suffix.lower() == ".ipynb" for path in files):
        return cores
    costly = sum(comparator.kind in COSTLY for comparator in rubric.comparators.values())
    work = len(files) * (FILE_S + CHECK_S * len(rubric.comparators) + COSTLY_S * costly)
    return cores if costly and work >= POOL_PAYS_AFTER * POOL_START_S else 1


def _no_checker_here() -> None:
    """Workers check expressions with checkers of their own, so one that this process started ahead
    of need (the command line starts it before it knows the batch) is stopped: 75 MB less."""
    client = sys.modules.get("grader.mathexpr.client")
    if client is not None:
        client.shutdown()


def grade_stream(rubric_path: str | Path, files: list[Path], jobs: int | None = None, render: Render | None = None,
                 recorded_runs: dict[Path, str] | None = None, rescore: Rescore | None = None,
                 prepared: Compiled | None = None, executor: Executor | None = None,
                 documents_to: Path | None = None) -> Iterator[Graded]:
    """Grade `files`, yielding each as it finishes (in no set order): with `executor`, or `jobs`
    local processes (default: `default_jobs`). `render` (a module-level function, as it runs in
    the workers) turns a result into documents; `recorded_runs` are earlier sandboxed runs of
    notebooks (JSON, by path) to use instead of running them; with `rescore`, only its parts are
    scored, into the files' stored results; `prepared` is the rubric and key where the caller has
    them already. With `documents_to` (an existing folder), the local processes that render a
    file's documents also write them there, into a folder named after its position in `files`
    (`Graded.written`), so that no one process writes every file of a class. Each file is yielded
    once, however often an executor delivers it (a cluster may run a task again after its first
    result arrived)."""
    recorded_runs = recorded_runs or {}
    prepared = prepared or compiled(rubric_path)
    rubric, key = prepared.rubric, prepared.key
    tasks, where = [], {}
    for position, path in enumerate(files):
        into = None if rescore is None else (rescore.stored[path], rescore.parts)
        task = Task(str(path), recorded_runs.get(path), into,
                    documents_to=str(documents_to / str(position)) if documents_to and executor is None else None)
        tasks.append(task)
        where[task.path] = path
    if executor is None:
        jobs = max(1, min(jobs if jobs is not None else default_jobs(rubric, files), len(files) or 1))
        if jobs == 1:
            executor = Serial(rubric, key, render)
        else:
            _no_checker_here()
            executor = LocalPool(str(rubric_path), prepared.entry, render, jobs)
    for task, outcome in executor.run(tasks):
        path = where.pop(task.path, None)
        if path is None:  # delivered before
            continue
        if isinstance(outcome, Done):
            result = outcome.result or SubmissionResult.model_validate_json(outcome.result_json)
            written = Path(task.documents_to) if outcome.written and task.documents_to else None
            yield Graded(result, outcome.documents, path, outcome.program_run, written)
        else:
            result = _internal_error(rubric, key, path, outcome.why)
            yield Graded(result, pack_documents(rendered(render, result)), path)


def grade_files(rubric_path: str | Path, files: list[Path], jobs: int | None = None, render: Render | None = None,
                on_result: Callable[[Graded], None] = lambda graded: None,
                recorded_runs: dict[Path, str] | None = None, rescore: Rescore | None = None) -> list[SubmissionResult]:
    """`grade_stream`'s results as a list, calling `on_result` as each finishes."""
    results = []
    for graded in grade_stream(rubric_path, files, jobs, render, recorded_runs, rescore):
        results.append(graded.result)
        on_result(graded)
    return results
