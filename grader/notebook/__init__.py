"""Reading student Jupyter notebooks (.ipynb) without running anything in them.

`read_notebook(path)` returns a `StudentNotebook`: the notebook's definitions as the text of a
Python module (for the sandbox to import), the literal hyperparameters they set, the answers in
answer cells, the training losses its saved outputs recorded, and notes on everything notable
(cells skipped or left out, saved tracebacks, known bugs), each naming the cell. It never raises
for a bad file: one that cannot be read comes back with `readable` False and the reason.

Answer cells (written answers to non-code parts) carry the part id in their metadata, the same
id as in JSON answer files (docs/answer-files.md):

    {"cell_type": "markdown", "metadata": {"grader": {"part": "coding.convergence"}}, "source": "..."}

or, for instructors who label cells with JupyterLab's tag editor, a tag `answer:coding.convergence`
(metadata wins where a cell has both). The assignment's starter notebook ships them; Colab and
Jupyter keep cell metadata through edits, but a cell deleted and retyped loses it. A labelled
cell's text is the answer whatever the cell's
type (a student who turned it into a code cell still has the text read, and it is not code).

See docs/notebooks.md for the rules: grader.notebook.files (opening), .definitions (the module
text), .checks (bug patterns), .outputs (recorded losses and errors).
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.notebook.checks import check_definitions
from grader.notebook.definitions import extract_definitions
from grader.notebook.files import NotebookError, cell_source, open_notebook
from grader.notebook.model import CellNote, RecordedLoss, SourceSpan, StudentNotebook
from grader.notebook.outputs import execution_order_note, read_outputs

__all__ = ["CellNote", "NotebookError", "RecordedLoss", "StudentNotebook", "open_notebook", "read_notebook"]

ANSWER_METADATA = "grader"
ANSWER_TAG = "answer:"
PART_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")  # as rubric part ids


def answer_part(cell: dict) -> str | None:
    """The part id an answer cell is labelled with (metadata grader.part, else a tag
    `answer:ID`), or None for other cells."""
    metadata = cell.get("metadata")
    if not isinstance(metadata, dict):
        return None
    label = metadata.get(ANSWER_METADATA)
    if isinstance(label, dict) and "part" in label:
        return label["part"]
    tags = metadata.get("tags")
    labels = [t.removeprefix(ANSWER_TAG) for t in tags if isinstance(t, str) and t.startswith(ANSWER_TAG)] \
        if isinstance(tags, list) else []
    return labels[0] if labels else None


def _answers(cells: list[tuple[int, dict]], notes: list[CellNote]) -> dict[str, str]:
    answers: dict[str, str] = {}
    where: dict[str, int] = {}
    for number, cell in cells:
        part = answer_part(cell)
        if not isinstance(part, str) or not PART_ID.fullmatch(part):
            notes.append(CellNote(cell=number, kind="answer", message=(
                f"metadata {ANSWER_METADATA}.part must be a part id (letters, digits, . _ -), got {part!r}")))
            continue
        text = cell_source(cell).strip()
        if not text:
            notes.append(CellNote(cell=number, kind="answer", message=f"the answer cell for {part} is empty"))
            continue
        if part in answers:
            notes.append(CellNote(cell=number, kind="answer", message=(
                f"a second answer cell for {part} (the first is cell {where[part]}): the two are joined")))
            answers[part] += "\n\n" + text
        else:
            answers[part], where[part] = text, number
    return answers


def read_notebook(path: str | Path) -> StudentNotebook:
    """Read one notebook; see the module docstring. Never raises for bad content."""
    try:
        notebook, declared, notes = open_notebook(path)
    except NotebookError as exc:
        return StudentNotebook(path=str(path), readable=False, error=str(exc))
    cells = [(number, cell) for number, cell in enumerate(notebook.cells, start=1) if isinstance(cell, dict)]
    answer_cells = [(n, cell) for n, cell in cells if answer_part(cell) is not None]
    code_cells = [(n, cell) for n, cell in cells if cell.get("cell_type") == "code" and answer_part(cell) is None]

    answers = _answers(answer_cells, notes)
    extraction = extract_definitions([(n, cell_source(cell)) for n, cell in code_cells])
    notes += extraction.notes + check_definitions(extraction.definitions, extraction.aliases)
    losses, output_notes = read_outputs(code_cells)
    order = execution_order_note(code_cells)
    notes += output_notes + ([order] if order else [])
    metadata = notebook.get("metadata") if isinstance(notebook.get("metadata"), dict) else {}
    return StudentNotebook(
        path=str(path),
        nbformat=declared,
        colab="colab" in metadata,
        source=extraction.source,
        spans=[SourceSpan(module_line=d.module_line, lines=d.text.count("\n") + 1, cell=d.cell, cell_line=d.first_line)
               for d in extraction.definitions],
        hyperparameters=extraction.hyperparameters,
        answers=answers,
        losses=losses,
        notes=sorted(notes, key=lambda note: (note.cell or 0, note.line or 0)),
    )
