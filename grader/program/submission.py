"""A notebook (.ipynb) as a submission: its answer cells are answers, and when the rubric has a
program section its code is run in the sandbox once, the run going to `Submission.program`.

What the notebook reader noticed that a student should act on (cells skipped or cut, known bugs,
saved errors and interruptions, cells run out of order, bad answer cells) becomes a warning naming
the file and the cell, at most MAX_WARNINGS of each kind, each cause once: a saved SyntaxError is
not repeated beside the `syntax` note on the cell it comes from. Cells left out because they run
work are normal and are not listed. `format` notes (a schema violation such as the cell ids Colab
writes into nbformat 4.0, a conversion from nbformat 3, an output that is not an object) are the
instructor's, in `file_notes`: reading went on unharmed and no mark depends on them, while what
such a file does cost (a cell skipped) has its own note, which the student gets.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from grader import __version__
from grader.cells.computed import answer_of, prepare_runs, run_cells
from grader.cells.spec import NotebookSpec
from grader.notebook import CellNote, read_notebook
from grader.rubric import PROGRAM, Rubric
from grader.submission import Submission

_CODE = [Path(__file__).parent, Path(__file__).parent.parent / "notebook", Path(__file__).parent.parent / "sandbox"]

REPORTED_NOTES = {"cell", "limit", "syntax", "unbound", "check", "error", "interrupted", "order", "answer"}
_SAVED_SYNTAX_ERROR = re.compile(r"saved output ends in (?:SyntaxError|IndentationError|TabError)\b")
MAX_WARNINGS = 10  # of each kind: a notebook with thousands of bad cells gets the first ones and a count


def program_fingerprint(rubric: Rubric) -> str | None:
    """What a notebook's sandboxed run depends on besides the notebook itself: the program setup on
    the device it runs on (corpus, held-out text, contract, budget, harness, reference notebook),
    the function cases and the code that reads, runs and observes it. A run recorded under the same fingerprint for the
    same notebook content is reused, so a rubric change elsewhere rescores without running code."""
    if rubric.program is None:
        return None
    from grader.program.calibration import reference_notebook

    device = rubric.program.device(set(rubric.solutions[PROGRAM]["convergence"]))
    digest = hashlib.sha256(rubric.program.fingerprint(device, reference_notebook(rubric.program).source).encode())
    digest.update(rubric.program.spec.model_dump_json(include={"functions"}).encode())  # the cases run with it
    digest.update(__version__.encode())
    for source in sorted(p for folder in _CODE for p in folder.glob("*.py")):
        digest.update(hashlib.sha256(source.read_bytes()).digest())
    return digest.hexdigest()


def read_notebook_submission(path: str | Path, rubric: Rubric, backend: str = "auto",
                             recorded_run: dict | None = None, content: bytes | None = None) -> Submission:
    """Read one notebook (or `content`, its bytes read elsewhere) and run its program (or take
    `recorded_run`, an earlier run of the same content under the same program fingerprint); never
    raises for bad content."""
    path = Path(path)
    submission = Submission(source=str(path), student_id=path.stem)
    notebook = read_notebook(path, content)
    if not notebook.readable:
        submission.readable = False
        submission.errors.append(notebook.error or f"{path}: unreadable")
        return submission
    submission.answers = dict(notebook.answers)
    submission.warnings += _warnings(path.name, _reported(notebook.notes))
    submission.file_notes += _warnings(path.name, notebook.notes_of("format"))
    _computed_values(submission, notebook, rubric, backend)
    if rubric.program is None:
        return submission
    from grader.program import baseline  # torch: for rubrics with a program section only
    from grader.program.observations import ProgramRun
    from grader.program.run import observe_patiently

    thresholds = rubric.solutions[PROGRAM]["convergence"]
    if recorded_run is not None:
        run = ProgramRun.model_validate(recorded_run)
    else:
        run, rerun = observe_patiently(notebook, rubric.program, rubric.program.device(set(thresholds)),
                                       backend=backend)
        if rerun:
            submission.file_notes.append(f"{path.name}: {rerun}")
    baseline.attach(run, rubric.program, thresholds.get(run.device))
    submission.program = run.model_dump(mode="json")
    if run.ended:
        submission.errors.append(f"{path}: the notebook's code was stopped: {run.ended}; checks it had finished "
                                 "are kept")
    if run.tampering:
        submission.errors.append(f"{path}: the run's structured output was tampered with: {'; '.join(run.tampering[:3])}")
    submission.warnings += run.notices + run.warnings
    return submission


def prepare_notebooks(rubric: Rubric, paths: list[Path]) -> list[int]:
    """The order in which to grade these notebooks, once the warm sandboxes their cells will run in
    have been started (`grader.cells.computed.prepare_runs`); as given where no cells run."""
    wanted = _wanted(rubric)
    spec = rubric.assessment.notebook or NotebookSpec()
    if not wanted and not spec.functions:
        return list(range(len(paths)))
    return prepare_runs([read_notebook(path) for path in paths], spec, list(wanted), rubric.preload)


def _wanted(rubric: Rubric) -> dict[str, object]:
    """The variables the `value:` checks read, each with a part that reads it."""
    return {item.value: part for _, part in rubric.assessment.parts() for item in part.items() if item.value}


def _computed_values(submission: Submission, notebook, rubric: Rubric, backend: str) -> None:
    """The values the `value:` checks read, from one sandboxed run of the notebook's cells."""
    wanted = _wanted(rubric)
    spec = rubric.assessment.notebook or NotebookSpec()
    if not wanted and not spec.functions:
        return
    name = Path(submission.source).name
    run = run_cells(notebook, spec, list(wanted), backend, rubric.preload)
    submission.functions = {name: [case.model_dump(mode="json") for case in cases]
                            for name, cases in run.functions.items()}
    submission.values, told = {}, set()
    for variable in wanted:
        submission.values[variable], cell = answer_of(run, variable, notebook)
        told.add(cell)
    for _, part in rubric.assessment.parts():
        if part.value:
            submission.answers[part.id] = submission.values[part.value]
    failed = [cell for cell in run.failed_cells() if cell.cell not in told]  # the others are told at their checks
    submission.warnings += [f"{name}: cell {cell.cell} failed when its cells ran in order: {cell.error}"
                            for cell in failed[:MAX_WARNINGS]]
    if len(failed) > MAX_WARNINGS:
        submission.warnings.append(f"{name}: {len(failed) - MAX_WARNINGS} more cells failed")
    if run.ended:
        submission.errors.append(f"{submission.source}: running the notebook's cells was stopped: {run.ended}; the "
                                 "values it had not sent by then are not graded")
    if run.problems:
        submission.errors.append(f"{submission.source}: the run of its cells sent messages that are not the "
                                 f"runner's: {'; '.join(run.problems[:3])}")


def _reported(notes: list[CellNote]) -> list[CellNote]:
    """The notes a student gets; a cell that does not parse has its `syntax` note, so the SyntaxError
    its saved output shows is the same cause and is left out."""
    unparsed = {note.cell for note in notes if note.kind == "syntax"}
    return [note for note in notes if note.kind in REPORTED_NOTES
            and not (note.kind == "error" and note.cell in unparsed and _SAVED_SYNTAX_ERROR.match(note.message))]


def _warnings(name: str, notes: list[CellNote]) -> list[str]:
    """The notes as lines naming the file, the first MAX_WARNINGS of each kind, and a count of those
    left out (so the rarer kinds are not crowded out by a thousand of one)."""
    counts: dict[str, int] = {}
    warnings: list[str] = []
    for text, kind in dict.fromkeys((f"{name}, {note}" if note.cell else f"{name}: {note.message}", note.kind)
                                    for note in notes):
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] <= MAX_WARNINGS:
            warnings.append(text)
    return warnings + [f"{name}: {count - MAX_WARNINGS} more notes of this kind ({kind}) are not listed"
                       for kind, count in counts.items() if count > MAX_WARNINGS]
