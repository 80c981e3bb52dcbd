"""Grading many answer files in parallel, handing each result on as soon as it is ready.

Workers load the rubric themselves from its path (no rubric objects are pickled) and send back
each result as JSON. A file that breaks a worker is retried once in a fresh pool, then recorded as
an internal error; the rest of the batch is graded either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from grader.key import AnswerKey, build_key
from grader.results import SubmissionResult
from grader.rubric import Rubric, load_rubric
from grader.scoring import grade_submission
from grader.submission import Submission, read_answer_file

_worker: tuple[Rubric, AnswerKey] | None = None


def collect_answer_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Answer files named directly or found (recursively, *.json) under folders; plus missing paths."""
    files: list[Path] = []
    missing: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.json")
                            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(str(path))
    return list(dict.fromkeys(files)), missing


def grade_file(rubric: Rubric, key: AnswerKey, path: Path) -> SubmissionResult:
    return grade_submission(rubric, key, read_answer_file(path))


def _init_worker(rubric_path: str) -> None:
    global _worker
    rubric = load_rubric(rubric_path)
    _worker = (rubric, build_key(rubric))


def _grade_in_worker(path: str) -> str:
    assert _worker is not None
    return grade_file(*_worker, Path(path)).model_dump_json()


def _internal_error(rubric: Rubric, key: AnswerKey, path: Path, why: str) -> SubmissionResult:
    failed = Submission(source=str(path), student_id=path.stem, readable=False,
                        errors=[f"{path}: internal error while grading ({why}); please report it"])
    return grade_submission(rubric, key, failed)


def grade_files(rubric_path: str | Path, files: list[Path], jobs: int | None = None,
                on_result: Callable[[SubmissionResult], None] = lambda r: None) -> list[SubmissionResult]:
    """Grade `files` with `jobs` processes (default: all cores), calling `on_result` as each finishes."""
    rubric = load_rubric(rubric_path)
    key = build_key(rubric)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(files) or 1))
    results: list[SubmissionResult] = []

    def deliver(result: SubmissionResult) -> None:
        results.append(result)
        on_result(result)

    if jobs == 1:
        for path in files:
            deliver(grade_file(rubric, key, path))
        return results

    pending = list(files)
    for attempt in range(2):
        broken: list[Path] = []
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(str(rubric_path),)) as pool:
            futures = {pool.submit(_grade_in_worker, str(path)): path for path in pending}
            for future in as_completed(futures):
                try:
                    deliver(SubmissionResult.model_validate_json(future.result()))
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
