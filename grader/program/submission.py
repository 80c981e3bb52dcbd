"""A notebook (.ipynb) as a submission: its answer cells are answers, and when the rubric has a
program section its code is run in the sandbox once, the run going to `Submission.program`.

What the notebook reader noticed that a student should act on (cells skipped, known bugs, saved
errors) becomes a warning; cells left out because they run work are normal and are not listed.
"""

from __future__ import annotations

from pathlib import Path

from grader.notebook import read_notebook
from grader.program.run import observe
from grader.rubric import PROGRAM, Rubric
from grader.submission import Submission

REPORTED_NOTES = {"format", "syntax", "unbound", "check", "interrupted", "answer"}


def read_notebook_submission(path: str | Path, rubric: Rubric, backend: str = "auto") -> Submission:
    """Read one notebook and run its program; never raises for bad content."""
    path = Path(path)
    submission = Submission(source=str(path), student_id=path.stem)
    notebook = read_notebook(path)
    if not notebook.readable:
        submission.readable = False
        submission.errors.append(notebook.error or f"{path}: unreadable")
        return submission
    submission.answers = dict(notebook.answers)
    submission.warnings += list(dict.fromkeys(f"notebook {note}" for note in notebook.notes if note.kind in REPORTED_NOTES))
    if rubric.program is None:
        return submission
    calibrated = set(rubric.solutions[PROGRAM]["convergence"])
    run = observe(notebook, rubric.program, rubric.program.device(calibrated), backend=backend)
    submission.program = run.model_dump(mode="json")
    if run.ended:
        submission.errors.append(f"{path}: the notebook's code was stopped: {run.ended}; checks it had finished "
                                 "are kept")
    if run.tampering:
        submission.errors.append(f"{path}: the run's structured output was tampered with: {'; '.join(run.tampering[:3])}")
    submission.warnings += run.notices + run.warnings
    return submission
