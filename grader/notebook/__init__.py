"""Reading student Jupyter notebooks (.ipynb) without running anything in them.

`read_notebook(path)` returns a `StudentNotebook`: the notebook's definitions as the text of a
Python module (for the sandbox to import), the literal hyperparameters they set, the answers in
answer cells, the training losses its saved outputs recorded, and notes on everything notable
(cells skipped or left out, saved tracebacks, known bugs), each naming the cell. It never raises
for a bad file: one that cannot be read comes back with `readable` False and the reason, and a
malformed cell costs only that cell. Every step is bounded in size, depth and time (see the limits
in .files, .definitions, .outputs and MAX_ANSWER here), so a 45 MB notebook reads in seconds.

Answer cells (written answers to non-code parts) carry the part id in their metadata, the same
id as in JSON answer files (docs/answer-files.md):

    {"cell_type": "markdown", "metadata": {"grader": {"part": "coding.convergence"}}, "source": "..."}

or, for instructors who label cells with JupyterLab's tag editor, a tag `answer:coding.convergence`
(metadata wins where a cell has both). Notebooks released by nbgrader need no relabelling: a
markdown or raw cell whose `nbgrader` metadata marks it a solution (the written answer the student
types) answers the part named by its `grade_id` (grader's own label wins over it); nbgrader's code
cells stay code. The assignment's starter notebook ships them; Colab and
Jupyter keep cell metadata through edits, but a cell deleted and retyped loses it. A labelled
cell's text is the answer whatever the cell's
type (a student who turned it into a code cell still has the text read, and it is not code); the
first MAX_ANSWER characters of it are kept.

See docs/notebooks.md for the rules: grader.notebook.files (opening), .definitions (the module
text), .checks (bug patterns), .outputs (recorded losses and errors).
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.notebook.checks import check_definitions
from grader.notebook.definitions import extract_definitions
from grader.notebook.files import Cell, NotebookError, open_notebook, shown
from grader.notebook.model import CellNote, CodeCell, RecordedLoss, SourceSpan, StudentNotebook
from grader.notebook.outputs import execution_order_note, read_outputs

__all__ = ["CellNote", "CodeCell", "NotebookError", "RecordedLoss", "StudentNotebook", "open_notebook", "read_notebook"]

ANSWER_METADATA = "grader"
ANSWER_TAG = "answer:"
NBGRADER = "nbgrader"  # nbgrader's cell metadata: {"grade_id": ..., "solution": true, "points": ..., ...}
PART_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")  # as rubric part ids
MAX_ANSWER = 20_000  # characters of one answer kept: pages of text; a text answer is judged on far less


def answer_part(cell: Cell) -> tuple[str, object] | None:
    """What labels an answer cell (for messages) and its label: metadata grader.part, else a tag
    `answer:ID`, else the grade_id of an nbgrader solution cell that is not code; None for other
    cells. The label is not necessarily a part id."""
    label = cell.metadata.get(ANSWER_METADATA)
    if isinstance(label, dict) and "part" in label:
        return f"metadata {ANSWER_METADATA}.part", label["part"]
    tags = cell.metadata.get("tags")
    labels = [t.removeprefix(ANSWER_TAG) for t in tags if isinstance(t, str) and t.startswith(ANSWER_TAG)] \
        if isinstance(tags, list) else []
    if labels:
        return f"the tag {ANSWER_TAG}PART", labels[0]
    nbgrader = cell.metadata.get(NBGRADER)
    if cell.type != "code" and isinstance(nbgrader, dict) and nbgrader.get("solution") is True:
        return f"metadata {NBGRADER}.grade_id", nbgrader.get("grade_id")
    return None


def _answers(cells: list[Cell], notes: list[CellNote]) -> dict[str, str]:
    answers: dict[str, str] = {}
    where: dict[str, int] = {}
    for cell in cells:
        (field, part), number = answer_part(cell), cell.number
        if not isinstance(part, str) or not PART_ID.fullmatch(part):
            notes.append(CellNote(cell=number, kind="answer", message=(
                f"{field} must be a part id (letters, digits, . _ -), got {shown(part)}")))
            continue
        text = cell.source.strip()
        if not text:
            notes.append(CellNote(cell=number, kind="answer", message=f"the answer cell for {part} is empty"))
            continue
        if part in answers:
            notes.append(CellNote(cell=number, kind="answer", message=(
                f"a second answer cell for {part} (the first is cell {where[part]}): the two are joined")))
            text = answers[part] + "\n\n" + text
        else:
            where[part] = number
        if len(text) > MAX_ANSWER and len(answers.get(part, "")) < MAX_ANSWER:
            notes.append(CellNote(cell=number, kind="limit", message=(
                f"the answer for {part} is {len(text)} characters; only the first {MAX_ANSWER} are read")))
        answers[part] = text[:MAX_ANSWER]
    return answers


def _mislabelled(cells: list[Cell]) -> list[CellNote]:
    """Cells with `grader` metadata that is not {"part": ...}, and text cells whose `nbgrader`
    metadata is not an object or whose `solution` is not true or false: read as ordinary cells,
    said so (a student's written answer may be in one)."""
    notes = [CellNote(cell=cell.number, kind="answer", message=(
        f"metadata {ANSWER_METADATA} is {shown(cell.metadata[ANSWER_METADATA])}, not {{\"part\": \"<part id>\"}}: "
        "not read as an answer cell")) for cell in cells
        if ANSWER_METADATA in cell.metadata and not (isinstance(cell.metadata[ANSWER_METADATA], dict)
                                                     and "part" in cell.metadata[ANSWER_METADATA])]
    for cell in cells:
        nbgrader = cell.metadata.get(NBGRADER)
        if cell.type == "code" or NBGRADER not in cell.metadata or answer_part(cell) is not None:
            continue
        if not isinstance(nbgrader, dict):
            problem = f"metadata {NBGRADER} is {shown(nbgrader)}, not an object"
        elif "solution" in nbgrader and not isinstance(nbgrader["solution"], bool):
            problem = f"metadata {NBGRADER}.solution is {shown(nbgrader['solution'])}, not true or false"
        else:
            continue
        notes.append(CellNote(cell=cell.number, kind="answer", message=f"{problem}: not read as an answer cell"))
    return notes


def read_notebook(path: str | Path, content: bytes | None = None) -> StudentNotebook:
    """Read one notebook; see the module docstring. Never raises for bad content: a failure of the
    reader itself also comes back as an unreadable notebook, so one file never stops a batch."""
    try:
        return _read(path, content)
    except NotebookError as exc:
        return StudentNotebook(path=str(path), readable=False, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a reader bug: this file is lost, not the batch
        return StudentNotebook(path=str(path), readable=False, error=(
            f"{path}: could not be read (internal error {type(exc).__name__}: {shown(str(exc))}); please report it"))


def _read(path: str | Path, content: bytes | None) -> StudentNotebook:
    opened = open_notebook(path, content)
    notes = list(opened.notes)
    answer_cells = [cell for cell in opened.cells if answer_part(cell) is not None]
    code_cells = [cell for cell in opened.cells if cell.type == "code" and answer_part(cell) is None]

    answers = _answers(answer_cells, notes)
    notes += _mislabelled(opened.cells)
    extraction = extract_definitions([(cell.number, cell.source) for cell in code_cells])
    notes += extraction.notes + check_definitions(extraction.definitions, extraction.aliases)
    losses, output_notes = read_outputs(code_cells)
    order = execution_order_note(code_cells)
    notes += output_notes + ([order] if order else [])
    return StudentNotebook(
        path=str(path),
        nbformat=opened.declared,
        colab="colab" in opened.metadata,
        source=extraction.source,
        spans=[SourceSpan(module_line=d.module_line, lines=d.text.count("\n") + 1, cell=d.cell, cell_line=d.first_line)
               for d in extraction.definitions],
        hyperparameters=extraction.hyperparameters,
        answers=answers,
        code_cells=[CodeCell(cell=number, source=source, binds=sorted(binds)) for number, source, binds in
                    extraction.runnable],
        losses=losses,
        notes=sorted(notes, key=lambda note: (note.cell or 0, note.line or 0)),
    )
