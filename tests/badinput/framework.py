"""The bad-input corpus: each case is a grader command line on files written fresh for it, run as
the `grader` console script would run it, in its own child process with a time bound.

A child is forked from a forkserver that has imported grader once, so a case costs what the
command itself costs, not an interpreter and torch start-up. The child's output goes to a file at
the descriptor level, so what sandboxed programs and worker processes print is caught too.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_ANSWERS = (ROOT / "submissions" / "dl-quiz" / "s001-ada.json").read_text(encoding="utf-8")
QUIZ = "{repo}/rubrics/dl-quiz.yaml"


@dataclass
class Case:
    """One bad input and what the grader must do with it.

    `argv` may use {tmp} (the case's own folder, where `files` are written) and {repo}. `expect`
    are substrings (case-insensitive) of the output, results.jsonl or gradebook.csv; `graded`
    maps student ids to the totals {tmp}/out/gradebook.csv must show, proving that the rest of
    the batch was graded; `check` may assert anything else on (folder, output).
    """

    name: str
    argv: list[str]
    files: dict[str, str | bytes | Callable[[], str | bytes]] = field(default_factory=dict)
    exit: int = 0
    expect: list[str] = field(default_factory=list)
    graded: dict[str, float] = field(default_factory=dict)
    seconds: float = 20.0
    check: Callable[[Path, str], None] | None = None
    setup: Callable[[Path], None] | None = None  # what `files` cannot make (links), run after writing them


@dataclass
class Outcome:
    exit: int | None  # None: killed at the time bound
    output: str
    seconds: float


def _child(argv: list[str], cwd: str, output: str) -> None:
    os.setpgrp()  # its own group, so a timeout kills the workers and sandboxes it started too
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    os.chdir(cwd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from grader.cli import main

        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what the console script would print: the thing the corpus forbids
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    Path(output).with_suffix(".exit").write_text(str(code or 0), encoding="utf-8")
    os._exit(code or 0)


_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["grader.cli"])


def write_files(case: Case, folder: Path) -> None:
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content = content() if callable(content) else content
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def expand(argv: list[str], folder: Path) -> list[str]:
    return [a.replace("{tmp}", str(folder)).replace("{repo}", str(ROOT)) for a in argv]


def run_case(case: Case, folder: Path) -> Outcome:
    """Run the case's command in a fresh child; kill it (and its group) at twice the bound."""
    write_files(case, folder)
    if case.setup:
        case.setup(folder)
    log = folder / "output.txt"
    started = time.perf_counter()
    child = _context.Process(target=_child, args=(expand(case.argv, folder), str(folder), str(log)))
    child.start()
    child.join(case.seconds * 2)
    if child.is_alive():
        os.killpg(child.pid, signal.SIGKILL)
        child.join()
        code = None
    else:
        # The code the child wrote, not the forkserver's report: under load CPython's forkserver
        # can lose a child's status and report 255 (python/cpython#140867).
        written = log.with_suffix(".exit")
        code = int(written.read_text(encoding="utf-8")) if written.exists() else child.exitcode
    elapsed = time.perf_counter() - started
    return Outcome(code, log.read_text(encoding="utf-8", errors="replace") if log.exists() else "", elapsed)


def gradebook_totals(folder: Path) -> dict[str, float]:
    path = folder / "out" / "gradebook.csv"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as file:
        return {row["student_id"]: float(row["total"]) for row in csv.DictReader(file)}


def searchable(folder: Path, output: str) -> str:
    """The output and the batch's instructor record, where messages about a submission land."""
    texts = [output]
    for name in ("results.jsonl", "gradebook.csv"):
        path = folder / "out" / name
        if path.exists():
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts).casefold()


def assert_handled(case: Case, folder: Path, outcome: Outcome) -> None:
    """The corpus's contract: the documented exit, no traceback, in time, said clearly, the rest graded."""
    assert outcome.exit is not None, f"{case.name}: still running after {case.seconds * 2:.0f} s (hang)\n{outcome.output[-3000:]}"
    assert "Traceback (most recent call last)" not in outcome.output, f"{case.name}: traceback\n{outcome.output[-5000:]}"
    assert outcome.exit == case.exit, f"{case.name}: exit {outcome.exit}, expected {case.exit}\n{outcome.output[-3000:]}"
    assert outcome.seconds <= case.seconds, f"{case.name}: took {outcome.seconds:.1f} s, bound {case.seconds} s"
    text = searchable(folder, outcome.output)
    for wanted in case.expect:
        assert wanted.casefold() in text, f"{case.name}: {wanted!r} not said\n{outcome.output[-3000:]}"
    if case.graded:
        totals = gradebook_totals(folder)
        for student, total in case.graded.items():
            assert student in totals, f"{case.name}: {student} was not graded; gradebook has {sorted(totals)}"
            assert totals[student] == pytest.approx(total, abs=1e-6), f"{case.name}: {student} scored {totals[student]}, expected {total}"
    if case.check:
        case.check(folder, outcome.output)



def ensure(ok: bool, message: str) -> None:
    """An assertion usable inside a case's `check` lambda."""
    assert ok, message
