"""Reading student answer files. Nothing in them is ever executed; bad content is reported, and
only the part it affects is lost.

Format (JSON, UTF-8), documented in docs/answer-files.md:

    {"format": "grader-answers/1", "student_id": "s001", "student_name": "Ada Lovelace",
     "assessment_id": "demo-quiz", "answers": {"q1.a": 13, "q2.a": [0.64, 0.23], "q3": "ACD"}}

Numbers are read as `Decimal` so the typed digits survive (comparators warn about coarse
rounding); `NaN`/`Infinity` become `NonFinite` markers so only their part fails; undecodable
bytes survive as lone surrogates that the comparators reject in that part alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from grader.kinds._values import NonFinite, short

FORMAT = "grader-answers/1"
MAX_BYTES = 5 * 1024 * 1024
MAX_INT_DIGITS = 400


@dataclass
class Submission:
    source: str
    student_id: str
    student_name: str = ""
    assessment_id: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    readable: bool = True
    program: dict[str, Any] | None = None  # a notebook's sandboxed run (grader.program), set only by the grader


def _parse_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= MAX_INT_DIGITS else Decimal(text)


def _decode_json(text: str, duplicates: list[str]) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    return json.loads(text, parse_float=Decimal, parse_int=_parse_int, parse_constant=NonFinite,
                      object_pairs_hook=pairs)


def _text_field(data: dict, name: str, errors: list[str], limit: int = 128) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or isinstance(value, NonFinite) or not value.strip() or len(value) > limit \
            or any("\ud800" <= ch <= "\udfff" for ch in value):
        errors.append(f"{name} must be non-empty text of at most {limit} characters, got {short(value)}")
        return None
    return value.strip()


def read_answer_file(path: str | Path) -> Submission:
    """Read one answer file. Never raises for bad content: problems land in `errors`."""
    path = Path(path)
    source = str(path)
    fallback_id = path.stem
    sub = Submission(source=source, student_id=fallback_id)

    def unreadable(message: str) -> Submission:
        sub.readable = False
        sub.errors.append(f"{source}: {message}")
        return sub

    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return unreadable(f"file is {size} bytes; answer files are limited to {MAX_BYTES}")
        raw = path.read_bytes()
    except OSError as exc:
        return unreadable(f"cannot read file: {exc.strerror or exc}")
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    duplicates: list[str] = []
    try:
        data = _decode_json(text, duplicates)
    except json.JSONDecodeError as exc:
        return unreadable(f"line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}")
    except RecursionError:
        return unreadable("the JSON is nested too deeply")
    except ValueError as exc:
        return unreadable(f"not valid JSON: {exc}")
    if not isinstance(data, dict):
        return unreadable("an answer file is a JSON object with student_id, assessment_id and answers")

    if data.get("format", FORMAT) != FORMAT:
        sub.warnings.append(f"format {short(data.get('format'))!s} is not {FORMAT}; read as {FORMAT}")
    sub.student_id = _text_field(data, "student_id", sub.errors) or fallback_id
    if "student_id" not in data:
        sub.errors.append(f"no student_id; using the file name {fallback_id!r}")
    sub.student_name = _text_field(data, "student_name", sub.errors, 200) or ""
    sub.assessment_id = _text_field(data, "assessment_id", sub.errors) or ""
    known = {"format", "student_id", "student_name", "assessment_id", "answers"}
    extra = sorted(set(data) - known)
    if extra:
        sub.warnings.append(f"ignored unknown top-level field(s): {', '.join(short(k) for k in extra[:10])}")
    answers = data.get("answers")
    if not isinstance(answers, dict):
        return unreadable("there is no 'answers' object mapping part ids to answers")
    sub.answers = answers
    for key in sorted(set(duplicates)):
        sub.warnings.append(f"{short(key)!r} appears more than once; the last value was used")
    return sub
