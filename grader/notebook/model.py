"""What reading a student notebook yields. Plain data, JSON-able, so reports and the sandbox can
take it as it is."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

NoteKind = Literal[
    "format",  # the file, harmlessly: converted from nbformat 3, not valid against the schema, an output or
    # execution count that is not what the format says (ignored), ... (instructor-facing: nothing graded is lost)
    "cell",  # a malformed cell, skipped: not an object, a source that is not text, metadata a string, ...
    "limit",  # beyond a bound: too many cells, a cell too large or nested too deeply, an answer or output too long
    "syntax",  # a code cell that does not parse: skipped
    "magic",  # an IPython magic or shell escape removed, or a non-Python cell magic skipped
    "dropped",  # a top-level statement left out of the module because it runs work
    "superseded",  # a definition replaced by a later one
    "unbound",  # kept code reads a name that nothing kept defines
    "check",  # a known bug pattern in kept code (hard-coded .cuda(), typos, misplaced arguments)
    "error",  # a saved traceback
    "interrupted",  # a saved KeyboardInterrupt
    "order",  # cells were run out of order
    "answer",  # an answer cell that is empty, repeated or badly labelled
]


class CellNote(BaseModel):
    """Something the reader noticed, located by cell (1-based, in notebook order) and line within
    that cell (1-based); cell None means the notebook as a whole."""

    cell: int | None
    line: int | None = None
    kind: NoteKind
    message: str

    def __str__(self) -> str:
        if self.cell is None:
            return f"notebook: {self.message}"
        where = f"cell {self.cell}" + (f", line {self.line}" if self.line else "")
        return f"{where}: {self.message}"


class RecordedLoss(BaseModel):
    """One printed training log line with a loss in it, as the notebook saved it."""

    cell: int
    text: str = Field(description="the line as printed")
    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    steps: int | None = None
    loss: float | None = Field(None, description="training loss")
    val_loss: float | None = Field(None, description="validation loss")


class SourceSpan(BaseModel):
    """Lines `module_line`.. `module_line + lines - 1` of the module text are lines `cell_line`..
    of cell `cell`: how a traceback line in the module is located in the notebook."""

    module_line: int
    lines: int
    cell: int
    cell_line: int


class CodeCell(BaseModel):
    """A code cell as it would run: IPython syntax made `pass`; cells that do not parse are left out."""

    cell: int
    source: str
    binds: list[str] = Field(default_factory=list, description="names its top-level statements bind")

    def assigns(self, name: str) -> bool:
        return name in self.binds


class StudentNotebook(BaseModel):
    """A notebook read without running it: its definitions as module text, the literal values they
    set, its answer cells and what its saved outputs recorded."""

    path: str
    readable: bool = True
    error: str | None = Field(None, description="why the file could not be read at all")
    nbformat: str | None = Field(None, description="the version the file declares, e.g. 4.0")
    colab: bool = Field(False, description="saved by Google Colab")
    source: str = Field("", description="imports, definitions and constants, as a Python module")
    spans: list[SourceSpan] = Field(default_factory=list, description="where each kept definition came from")
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="top-level names the module binds to literals, last value"
    )
    answers: dict[str, str] = Field(default_factory=dict, description="part id -> answer cell text")
    code_cells: list[CodeCell] = Field(default_factory=list, description="the code cells in order, for the cells runner")
    losses: list[RecordedLoss] = Field(default_factory=list)
    notes: list[CellNote] = Field(default_factory=list)

    def notes_of(self, kind: NoteKind) -> list[CellNote]:
        return [note for note in self.notes if note.kind == kind]

    def locate(self, module_line: int) -> tuple[int, int] | None:
        """(cell, line in cell) of a line of `source`, or None for a line no definition holds."""
        for span in self.spans:
            if span.module_line <= module_line < span.module_line + span.lines:
                return span.cell, span.cell_line + module_line - span.module_line
        return None
