"""The course roster: who should hand in. Given to `grader grade`, `regrade` or `export`, it is
stored in the gradebook (grader.store) and used by every later command until another is given,
so the views list students on it with no submission as missing, and submissions from students
not on it are reported.

The roster is a CSV with a header: `id` (the student id grader sees) and, optionally, `name`,
`email`, `section`, `canvas_id`, `sis_user_id`, `sis_login_id` (any case; spaces or dashes for
underscores; other columns are ignored). A bad roster is refused whole, with the file, the line
and the problem: a row with more cells than the header has columns is one (most often a name
with a comma, unquoted), so that no value lands in the wrong column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grader.results import SubmissionResult

ROSTER_FIELDS = ("id", "name", "email", "section", "canvas_id", "sis_user_id", "sis_login_id")
MAX_ROSTER_BYTES = 10 * 1024 * 1024


class RosterError(ValueError):
    """A roster that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""
    email: str = ""
    section: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""


@dataclass(frozen=True)
class Roster:
    students: list[Student]
    file: str  # where it was read from


@dataclass(frozen=True)
class Gaps:
    missing: list[Student]  # on the roster, no submission
    not_on_roster: list[str]  # student ids of submissions, sorted


def read_roster(path: Path) -> Roster:
    """The roster in the CSV file at `path`; RosterError naming the file, line and problem."""
    if not path.is_file():
        raise RosterError(f"{path}: no such roster file" if not path.exists() else f"{path}: not a file")
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise RosterError(f"{path}: the roster is over {MAX_ROSTER_BYTES} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise RosterError(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); "
                          "save the roster as CSV UTF-8") from None
    rows = _rows(path, csv.reader(io.StringIO(text, newline=""), strict=True))
    header = [re.sub(r"[\s\-]+", "_", h.strip().casefold()) for h in next(rows, (1, []))[1]]
    if "id" not in header:
        raise RosterError(f"{path}:1: the roster's header has no `id` column (the student id grader sees); "
                          f"it has {', '.join(header) or 'nothing'}")
    for name in ROSTER_FIELDS:
        if header.count(name) > 1:
            raise RosterError(f"{path}:1: the header names the column `{name}` {header.count(name)} times")
    students, seen = [], {}
    for line, row in rows:
        if len(row) > len(header) and any(cell.strip() for cell in row[len(header):]):
            raise RosterError(f"{path}:{line}: {len(row)} cells, but the header has {len(header)} columns "
                              "(a comma inside a value that is not in double quotes?)")
        values = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header) if name in ROSTER_FIELDS}
        if not any(values.values()):
            continue
        if not values["id"]:
            raise RosterError(f"{path}:{line}: the row has no id")
        if not values["id"].isprintable():
            raise RosterError(f"{path}:{line}: the id {values['id']!r} holds control characters or line breaks")
        if values["id"] in seen:
            raise RosterError(f"{path}:{line}: id {values['id']!r} is already on line {seen[values['id']]}")
        seen[values["id"]] = line
        students.append(Student(**values))
    return Roster(students, str(path))


def _rows(path: Path, reader) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on; RosterError where the text is not CSV."""
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RosterError(f"{path}:{line}: not readable as CSV ({exc}); a value holding a comma, a double quote "
                              "or a line break goes in double quotes, its own double quotes doubled") from None
        yield line, row


def roster_gaps(results: list[SubmissionResult], roster: Roster) -> Gaps:
    """Who on the roster handed nothing in, and whose submissions are from students not on it."""
    handed_in = {result.student_id for result in results}
    on_roster = {student.id for student in roster.students}
    return Gaps([s for s in roster.students if s.id not in handed_in], sorted(handed_in - on_roster))
