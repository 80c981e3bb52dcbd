"""Grading many answer files in parallel, handing each result on as soon as it is ready.

Workers load the rubric themselves from its path (no rubric objects are pickled), grade, render
the student's reports (the costly part, so it runs in parallel too) and send back the result as
JSON with the rendered documents. A file that breaks a worker is retried once in a fresh pool,
then recorded as an internal error; the rest of the batch is graded either way.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from grader.key import AnswerKey, build_key
from grader.program.submission import read_notebook_submission
from grader.results import SubmissionResult
from grader.rubric import Rubric, load_rubric
from grader.scoring import grade_submission
from grader.submission import Submission, read_answer_file

Render = Callable[[SubmissionResult], dict[str, str]]
_worker: tuple[Rubric, AnswerKey, Render | None] | None = None


@dataclass
class Graded:
    result: SubmissionResult
    documents: dict[str, str] = field(default_factory=dict)  # rendered reports by file name


SUBMISSION_SUFFIXES = (".json", ".ipynb")


def collect_answer_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Submissions named directly or found (recursively, *.json and *.ipynb) under folders; plus
    missing paths. Hidden files and folders (.ipynb_checkpoints) are skipped."""
    files: list[Path] = []
    missing: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in SUBMISSION_SUFFIXES
                            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(str(path))
    return list(dict.fromkeys(files)), missing


def grade_file(rubric: Rubric, key: AnswerKey, path: Path) -> SubmissionResult:
    """Grade one answer file or notebook (whose code runs in the sandbox when the rubric has a program)."""
    if path.suffix == ".ipynb":
        return grade_submission(rubric, key, read_notebook_submission(path, rubric))
    return grade_submission(rubric, key, read_answer_file(path))


def _init_worker(rubric_path: str, render: Render | None) -> None:
    global _worker
    rubric = load_rubric(rubric_path)
    _worker = (rubric, build_key(rubric), render)


def _grade_in_worker(path: str) -> tuple[str, dict[str, str]]:
    assert _worker is not None
    rubric, key, render = _worker
    result = grade_file(rubric, key, Path(path))
    return result.model_dump_json(), render(result) if render else {}


def _internal_error(rubric: Rubric, key: AnswerKey, path: Path, why: str) -> SubmissionResult:
    failed = Submission(source=str(path), student_id=path.stem, readable=False,
                        errors=[f"{path}: internal error while grading ({why}); please report it"])
    return grade_submission(rubric, key, failed)


def grade_files(rubric_path: str | Path, files: list[Path], jobs: int | None = None, render: Render | None = None,
                on_result: Callable[[Graded], None] = lambda graded: None) -> list[SubmissionResult]:
    """Grade `files` with `jobs` processes (default: all cores), calling `on_result` as each finishes.

    `render` (a module-level function, as it runs in the workers) turns a result into documents.
    """
    rubric = load_rubric(rubric_path)
    key = build_key(rubric)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(files) or 1))
    results: list[SubmissionResult] = []

    def deliver(result: SubmissionResult, documents: dict[str, str] | None = None) -> None:
        results.append(result)
        on_result(Graded(result, documents if documents is not None else render(result) if render else {}))

    if jobs == 1:
        for path in files:
            deliver(grade_file(rubric, key, path))
        return results

    pending = list(files)
    for attempt in range(2):
        broken: list[Path] = []
        # forkserver: a worker forked from a process that has run torch (the grader recomputes models)
        # inherits its thread pool's locks and can hang on its first torch call
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(str(rubric_path), render),
                                 mp_context=multiprocessing.get_context("forkserver")) as pool:
            futures = {pool.submit(_grade_in_worker, str(path)): path for path in pending}
            for future in as_completed(futures):
                try:
                    result_json, documents = future.result()
                    deliver(SubmissionResult.model_validate_json(result_json), documents)
                except BrokenProcessPool:
                    broken.append(futures[future])
                except Exception as exc:  # a grading bug costs this file, never the batch
                    deliver(_internal_error(rubric, key, futures[future], f"{type(exc).__name__}: {exc}"))
        pending = broken
        if not pending:
            break
    for path in pending:
        deliver(_internal_error(rubric, key, path, "the grading process died"))
    return results
