"""Manual marking: the queue of criteria a person marks, exported as CSV with each student's full
answer, and the marks imported back, validated and applied to results.

The queue has one row per manual criterion per student, with the submission's path and content
hash so that a mark always lands on the answer the marker read: a student who hands in a new
file needs marking again. Marks live in the gradebook beside the automatic results and are
applied whenever the reports are rebuilt, so an automatic regrade never overwrites them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.results import CriterionResult, PartResult, SubmissionResult
from grader.rubric import Assessment, Rubric
from grader.scoring import part_status, retotal
from grader.store import Mark
from grader.submission import read_answer_file

COLUMNS = ["student_id", "part", "criterion", "max_marks", "description", "answer", "mark", "comment",
           "source", "content_hash"]
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ANSWER = 20_000  # characters of an answer quoted in the queue


@dataclass(frozen=True)
class QueueRow:
    """A validated row of an imported queue."""

    source: str
    content_hash: str
    part: str
    criterion: str
    mark: float
    comment: str


def _answer_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_ANSWER else text[:MAX_ANSWER] + " [...]"


def _full_answers(path: Path) -> dict[str, Any]:
    """The submission's answers read again (never run): the stored results hold them abbreviated."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return {}
    except OSError:
        return {}
    if path.suffix.lower() == ".ipynb":
        from grader.notebook import read_notebook  # nbformat: only where a notebook's answer is quoted

        notebook = read_notebook(path)
        return dict(notebook.answers) if notebook.readable else {}
    submission = read_answer_file(path)
    return submission.answers if submission.readable else {}


def export_queue(rubric: Rubric, members: list[tuple[str, str, SubmissionResult]],
                 marks: dict[tuple[str, str, str, str], Mark]) -> str:
    """The marking queue as CSV: (source, content hash, result) per submission of the batch; rows
    already marked carry their mark and comment, so the file can be edited and imported again."""
    items = {(part.id, item.id): item for _, part in rubric.assessment.parts() for item in part.items()}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for source, content_hash, result in members:
        if not result.readable:
            continue
        answers = None
        for part in result.parts():
            for criterion in part.criteria:
                item = items.get((part.id, criterion.id))
                if item is None or not item.manual:
                    continue
                if answers is None:
                    answers = _full_answers(Path(source))
                raw = answers.get(part.id)
                if item.field is not None and isinstance(raw, dict):
                    raw = raw.get(item.field)
                answer = "" if raw is None else _answer_text(raw)
                given = marks.get((source, content_hash, part.id, criterion.id))
                writer.writerow([result.student_id, part.id, criterion.id, f"{criterion.marks:g}", item.description,
                                 answer, "" if given is None else f"{given.mark:g}", "" if given is None else given.comment,
                                 source, content_hash])
    return buffer.getvalue()


class MarksError(ValueError):
    """An imported queue with problems; each names the file, the line and the column."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def read_queue(path: Path, rubric: Rubric, members: set[tuple[str, str]]) -> list[QueueRow]:
    """The marked rows of an edited queue (rows with an empty mark are skipped), validated against
    the rubric and the batch; MarksError listing every problem otherwise."""
    items = {(part.id, item.id): item for _, part in rubric.assessment.parts() for item in part.items()}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MarksError([f"{path}: cannot be read as UTF-8 text: {exc}"]) from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    missing = [c for c in ("part", "criterion", "mark", "source", "content_hash") if c not in (header or [])]
    if missing:
        raise MarksError([f"{path}:1: the header lacks {', '.join(missing)}; export the queue with "
                          "`grader marks export` and fill in its mark column"])
    column = {name: i for i, name in enumerate(header)}
    problems, rows = [], []
    for line, row in enumerate(reader, start=2):
        cell = {name: (row[i].strip() if i < len(row) else "") for name, i in column.items()}
        if not any(cell.values()) or not cell["mark"]:
            continue
        where = f"{path}:{line}"
        item = items.get((cell["part"], cell["criterion"]))
        if item is None:
            problems.append(f"{where}: column {column['part'] + 1}: no criterion {cell['criterion']!r} of part "
                            f"{cell['part']!r} in {rubric.assessment.id}")
            continue
        if not item.manual:
            problems.append(f"{where}: column {column['criterion'] + 1}: {cell['part']}/{cell['criterion']} is marked "
                            "automatically, not by a person")
            continue
        if (cell["source"], cell["content_hash"]) not in members:
            problems.append(f"{where}: column {column['source'] + 1}: {cell['source']!r} with this content is not in "
                            "the gradebook's last run (handed in again? export the queue afresh)")
            continue
        try:
            mark = float(cell["mark"])
        except ValueError:
            problems.append(f"{where}: column {column['mark'] + 1}: the mark {cell['mark']!r} is not a number")
            continue
        if not math.isfinite(mark) or not 0 <= mark <= item.marks + 1e-9:
            problems.append(f"{where}: column {column['mark'] + 1}: the mark {cell['mark']} is not between 0 and "
                            f"{item.marks:g}, the criterion's marks")
            continue
        rows.append(QueueRow(cell["source"], cell["content_hash"], cell["part"], cell["criterion"], mark,
                             cell.get("comment", "")))
    if problems:
        raise MarksError(problems)
    return rows


def apply_marks(result: SubmissionResult, marks: dict[tuple[str, str], Mark], assessment: Assessment) -> SubmissionResult:
    """The result with the marks a person gave in place of its pending manual criteria (which may
    change the best questions of a `choose` group)."""
    if not marks:
        return result
    result = result.model_copy(deep=True)  # the stored result stays as graded
    for question in result.questions:
        for part in question.parts:
            for criterion in part.criteria:
                given = marks.get((part.id, criterion.id))
                if given is not None and criterion.status == "manual":
                    _mark(criterion, given)
            _total_part(part)
    retotal(assessment, result)
    return result


def _mark(criterion: CriterionResult, given: Mark) -> None:
    fraction = given.mark / criterion.marks if criterion.marks else 0.0
    criterion.score = given.mark
    criterion.status = "correct" if fraction >= 1 - 1e-9 else "partial" if fraction > 0 else "incorrect"
    criterion.reason = f"marked {given.mark:g} of {criterion.marks:g} by {given.marker} ({given.imported_at})"
    criterion.message = given.comment or f"marked by a person: {given.mark:g} of {criterion.marks:g}"


def _total_part(part: PartResult) -> None:
    """A part's earned marks and status from its criteria, manual marks included."""
    earned = round(sum(c.score or 0.0 for c in part.criteria), 6)
    part.auto_score = earned
    part.score = None if any(c.status == "manual" for c in part.criteria) else earned
    part.status = part_status(part.criteria, part.marks, earned)
