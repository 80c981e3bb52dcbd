"""Opening .ipynb files: the JSON is read here, defensively and cell by cell, not by nbformat.

Why not `nbformat.read`: on a file that is not JSON it raises `NotJSONError` without the file
name or position, an `AttributeError` for a JSON list, a complaint about converting "version 1 to
version 2" for an object without `nbformat`; and on one malformed cell (a source that is a list
of numbers, metadata that is a string, outputs that are not a list) `reads`, `convert` and
`validate` raise assorted TypeErrors, AttributeErrors and AssertionErrors naming no cell, so one
bad cell cost the whole notebook. Its schema check also takes about a second per 3 MB of small
cells (3.6 s for 100,000). So here:

- the file must be at most MAX_BYTES of UTF-8 (UTF-16 is named as such) JSON, an object with
  `nbformat` 4 (any minor: Colab still saves 4.0) or 3 (its worksheets, `input` and `prompt_number`
  renamed to version 4's); anything else is unreadable, with what is wrong;
- each cell is checked on its own: one that is not an object, has no or an unknown `cell_type`,
  a source that is not text or metadata that is not an object is skipped, with a `cell` note
  naming it (its code is lost, as the student should know); outputs that are not a list, an
  output that is not an object and an execution count that is not a whole number are ignored,
  with a `format` note (nothing graded is lost); the rest of the notebook is read;
- the first MAX_CELLS cells are read (a `limit` note says where reading stopped);
- nbformat's JSON-schema check runs only on files of at most SCHEMA_BYTES; a violation is a
  `format` note, for the instructor: the notebook was read anyway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbformat.validator import iter_validate

from grader.kinds._values import short
from grader.notebook.model import CellNote

MAX_BYTES = 50 * 1024 * 1024  # notebooks with saved plots run to megabytes; beyond this is not a submission
MAX_CELLS = 2000  # a long course notebook has a few hundred
SCHEMA_BYTES = 2 * 1024 * 1024  # the schema check costs up to a second per 3 MB (of many small cells)
CELL_TYPES = ("code", "markdown", "raw")
_UTF16 = re.compile(rb"\A(?:\xff\xfe|\xfe\xff|(?:[\x01-\x7f]\x00){2}|(?:\x00[\x01-\x7f]){2})")


class NotebookError(ValueError):
    """A file that cannot be read as a notebook; the message starts with the file's path."""


@dataclass
class Cell:
    """One cell as read: its number (1-based, in the file), type, text, metadata and outputs."""

    number: int
    type: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    execution_count: int | None = None


@dataclass
class OpenedNotebook:
    declared: str  # the version the file declares, e.g. 4.0
    metadata: dict[str, Any]
    cells: list[Cell]
    notes: list[CellNote]


def describe(value: Any) -> str:
    """What a JSON value is, for messages: `an object`, `a list`, `a string`, `a number`, `null`."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return ("a number" if isinstance(value, (int, float)) else "a string" if isinstance(value, str)
            else "a list" if isinstance(value, list) else "an object")


def shown(value: Any) -> str:
    """A bounded rendering of a value from the file, strings quoted."""
    return short(repr(value[:100]) if isinstance(value, str) else value)


def joined(text: Any) -> str | None:
    """A multiline string field (a string or a list of lines) as one string; None when it is neither."""
    if isinstance(text, str):
        return text
    if isinstance(text, list) and all(isinstance(part, str) for part in text):
        return "".join(text)
    return None


def open_notebook(path: str | Path, content: bytes | None = None) -> OpenedNotebook:
    """The notebook's cells and notes on what was wrong in them (from `content`, its bytes, where
    they were read elsewhere). Raises NotebookError."""
    path = Path(path)

    def fail(problem: str) -> NotebookError:
        return NotebookError(f"{path}: {problem}")

    try:
        size = path.stat().st_size if content is None else len(content)
        if size > MAX_BYTES:
            raise fail(f"is {size} bytes, more than the {MAX_BYTES} a notebook may have")
        raw = path.read_bytes() if content is None else content
    except OSError as exc:
        raise fail(f"cannot be read: {exc.strerror or exc}") from None
    if not raw.strip():
        raise fail("is empty, not a notebook")
    if _UTF16.match(raw):
        raise fail("is UTF-16 text; save it as UTF-8 (as Jupyter and Colab do) and hand it in again")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise fail(f"is not UTF-8 text (byte {exc.start}), so not a notebook") from None
    except json.JSONDecodeError as exc:
        raise fail(f"is not JSON, so not a notebook: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise fail("is JSON nested too deeply to be a notebook") from None
    except (ValueError, MemoryError) as exc:  # a number of more than 4300 digits
        raise fail(f"is not JSON a notebook can hold: {short(str(exc), 120)}") from None
    major = data.get("nbformat") if isinstance(data, dict) else None
    if major is None:
        raise fail(f"is JSON ({describe(data)}) but not a notebook: it has no 'nbformat' version")
    if isinstance(major, bool) or major not in (3, 4):
        number = isinstance(major, (int, float)) and not isinstance(major, bool)
        why = ("a version that does not exist" if number and major > 4 else "an old version: open it in a current "
               "Jupyter and save it, which converts it" if number and major > 0 else "not a version number")
        raise fail(f"declares nbformat {shown(major)}, {why}; notebooks are nbformat 4, as Jupyter and Colab save them")
    major, minor = int(major), data.get("nbformat_minor", 0)
    notes: list[CellNote] = []
    if isinstance(minor, bool) or not isinstance(minor, int) or not 0 <= minor < 1000:
        notes.append(CellNote(cell=None, kind="format", message=(
            f"nbformat_minor is {shown(minor)}, not a minor version: read as nbformat {major}")))
        declared = str(major)
    else:
        declared = f"{major}.{minor}"
        if len(raw) <= SCHEMA_BYTES:
            notes += _schema_notes(data, major, minor, declared)
    cells = data.get("cells") if major == 4 else _v3_cells(data.get("worksheets"))
    if major == 3:
        notes.append(CellNote(cell=None, kind="format", message=f"nbformat {declared}, converted to 4"))
    if not isinstance(cells, list):
        key = "cells" if major == 4 else "worksheets"
        raise fail(f"has no list of cells (its {key!r} is {describe(data[key]) if key in data else 'missing'})")
    if len(cells) > MAX_CELLS:
        notes.append(CellNote(cell=MAX_CELLS + 1, kind="limit", message=(
            f"the notebook has {len(cells)} cells, more than the {MAX_CELLS} read: this cell and those after "
            "it are skipped")))
    read = [cell for number, raw_cell in enumerate(cells[:MAX_CELLS], start=1)
            if (cell := _read_cell(number, raw_cell, notes)) is not None]
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        notes.append(CellNote(cell=None, kind="format", message=(
            f"the notebook's metadata is {describe(metadata)}, not an object: ignored")))
    return OpenedNotebook(declared, metadata if isinstance(metadata, dict) else {}, read, notes)


def _schema_notes(data: dict, major: int, minor: int, declared: str) -> list[CellNote]:
    """The first schema violation, as a note: most are harmless (Colab writes cell ids into 4.0)."""
    try:
        error = next(iter_validate(data, version=major, version_minor=minor), None)
    except Exception as exc:  # noqa: BLE001 - nbformat's checker raises assorted types on odd input
        error = exc
    if error is None:
        return []
    where = getattr(error, "json_path", "")
    message = short((str(getattr(error, "message", "") or error).splitlines() or [""])[0], 160)
    return [CellNote(cell=None, kind="format", message=f"does not follow the nbformat {declared} schema "
                                                        f"({message}{' at ' + where if where else ''}); read anyway")]


def _v3_cells(worksheets: Any) -> list | None:
    """nbformat 3's cells, from its worksheets, with what this reader uses renamed to version 4's:
    `input` is the source, `prompt_number` the execution count, `pyerr` an error, `stream` a name."""
    if not isinstance(worksheets, list):
        return None
    cells = [cell for sheet in worksheets if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list)
             for cell in sheet["cells"]]
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        if cell.get("cell_type") in ("heading", "html"):
            cell["cell_type"] = "markdown"
        elif cell.get("cell_type") == "code":
            cell["source"], cell["execution_count"] = cell.pop("input", ""), cell.pop("prompt_number", None)
            for output in cell.get("outputs") if isinstance(cell.get("outputs"), list) else []:
                if isinstance(output, dict) and output.get("output_type") == "pyerr":
                    output["output_type"] = "error"
                elif isinstance(output, dict) and output.get("output_type") == "stream":
                    output["name"] = output.get("stream", "stdout")
    return cells


def _read_cell(number: int, raw: Any, notes: list[CellNote]) -> Cell | None:
    """The cell, or None (with a note) when it is too malformed to read."""

    def note(problem: str, kind: str = "cell") -> None:
        notes.append(CellNote(cell=number, kind=kind, message=problem))

    if not isinstance(raw, dict):
        return note(f"is {describe(raw)}, not a cell object: skipped")
    kind = raw.get("cell_type")
    if kind is None:
        return note("has no cell_type: skipped")
    if kind not in CELL_TYPES:
        return note(f"has cell_type {shown(kind) if isinstance(kind, str) else describe(kind)}, not code, markdown "
                    "or raw: skipped")
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict):
        return note(f"its metadata is {describe(metadata)}, not an object: skipped")
    source = joined(raw.get("source"))
    if source is None:
        value = raw.get("source")
        what = "missing" if "source" not in raw else (
            "a list with something other than text in it" if isinstance(value, list) else describe(value))
        return note(f"its source is {what}, not text: skipped")
    cell = Cell(number, kind, source, metadata)
    if kind != "code":
        return cell
    count = raw.get("execution_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        note(f"its execution_count is {shown(count)}, not a whole number: ignored", "format")
    else:
        cell.execution_count = count
    outputs = raw.get("outputs", [])
    if not isinstance(outputs, list):
        note(f"its outputs are {describe(outputs)}, not a list: ignored", "format")
        return cell
    for index, output in enumerate(outputs, start=1):
        if isinstance(output, dict):
            cell.outputs.append(output)
        else:
            note(f"its output {index} is {describe(output)}, not an object: ignored", "format")
    return cell
