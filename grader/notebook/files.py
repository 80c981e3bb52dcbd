"""Opening .ipynb files with nbformat, with a message naming the file and the problem.

What nbformat does on its own, and why this module checks first: `nbformat.read` raises
`NotJSONError` ("Notebook does not appear to be JSON: '<first bytes>'") without the file name or
position, an `AttributeError` for a JSON list, and a jsonschema error about converting "version 1
to version 2" for a JSON object without `nbformat`. It does not raise for schema violations: it
logs "Notebook JSON is invalid" and returns the notebook. Old 4.x minor versions (Colab still saves
4.0) read and validate against their own minor's schema; a 4.5 file whose cells lack ids gets random
ids with a warning; nbformat 3 is converted to 4. Here JSON problems are reported with line and
column, other versions than 3 and 4 are refused, and schema violations become a note (the cells
are read defensively), because a slightly malformed student notebook is still worth reading.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grader.notebook.model import CellNote

MAX_BYTES = 50 * 1024 * 1024  # notebooks with saved plots run to megabytes; beyond this is not a submission


class NotebookError(ValueError):
    """A file that cannot be read as a notebook; the message starts with the file's path."""


def open_notebook(path: str | Path) -> tuple[NotebookNode, str, list[CellNote]]:
    """(notebook as nbformat 4, the version the file declares, notes). Raises NotebookError."""
    path = Path(path)

    def fail(problem: str) -> NotebookError:
        return NotebookError(f"{path}: {problem}")

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise fail(f"is {len(raw)} bytes, more than the {MAX_BYTES} a notebook may have")
    if not raw.strip():
        raise fail("is empty, not a notebook")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"is not UTF-8 text (byte {exc.start}), so not a notebook") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"is not JSON, so not a notebook: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise fail("is JSON nested too deeply to be a notebook") from None
    major = data.get("nbformat") if isinstance(data, dict) else None
    if major is None:
        raise fail(f"is JSON ({type(data).__name__}) but not a notebook: it has no 'nbformat' version")
    if major not in (3, 4):
        raise fail(f"declares nbformat {major!r}; only 4.x (and 3, converted) can be read")
    declared = f"{major}.{data.get('nbformat_minor', 0)}"
    notes: list[CellNote] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing cell ids: nbformat fills them in, and we do not use them
        try:
            notebook = nbformat.convert(nbformat.reader.reads(text), 4)
        except Exception as exc:  # nbformat raises assorted types for malformed structure
            raise fail(f"is not a readable notebook: {exc}") from None
        try:
            nbformat.validate(notebook)
        except nbformat.ValidationError as exc:
            where = getattr(exc, "json_path", "")
            message = getattr(exc, "message", str(exc).splitlines()[0])
            notes.append(CellNote(cell=None, kind="format", message=f"does not follow the nbformat {declared} "
                                  f"schema ({message}{' at ' + where if where else ''}); read anyway"))
    if major == 3:
        notes.append(CellNote(cell=None, kind="format", message=f"nbformat {declared}, converted to 4"))
    if not isinstance(notebook.get("cells"), list):
        raise fail("has no list of cells")
    return notebook, declared, notes


def joined(text) -> str:
    """A multiline string field as one string: nbformat joins lists of lines, a malformed file may not."""
    if isinstance(text, list):
        return "".join(part for part in text if isinstance(part, str))
    return text if isinstance(text, str) else ""


def cell_source(cell) -> str:
    """A cell's text, whatever shape a malformed file gives it."""
    return joined(cell.get("source", "")) if isinstance(cell, dict) else ""
