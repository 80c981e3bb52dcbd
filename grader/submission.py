"""Reading student answer files. Nothing in them is ever executed; bad content is reported, and
only the part it affects is lost.

Format (JSON, UTF-8), documented in docs/answer-files.md:

    {"format": "grader-answers/1", "student_id": "s001", "student_name": "Ada Lovelace",
     "assessment_id": "demo-quiz", "answers": {"q1.a": 13, "q2.a": [0.64, 0.23], "q3": "ACD"}}

Numbers are read as `Decimal` so the typed digits survive (comparators warn about coarse
rounding). What cannot be held becomes an `Unusable` marker that every kind refuses, so that only
its own part fails: `NaN`/`Infinity`, numbers beyond Decimal's exponent range, and a part's
answer nested more than MAX_DEPTH levels deep or holding more than MAX_VALUES values.
Undecodable bytes survive as lone surrogates that the comparators reject in that part alone.
UTF-16 and UTF-32 files (Windows editors write them) are read, with a warning.
"""

from __future__ import annotations

import codecs
import json
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from grader.kinds._values import NonFinite, Unusable, short

FORMAT = "grader-answers/1"
MAX_BYTES = 5 * 1024 * 1024
MAX_INT_DIGITS = 400
MAX_JSON_NESTING = 1000  # the decoder recurses; deeper files are unreadable, whatever called the reader
MAX_DEPTH = 32  # levels of lists and objects in one part's answer; answers need three at most
MAX_VALUES = 20_000  # numbers, strings and containers in one part's answer
_WIDE = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16")]


@dataclass
class Submission:
    source: str
    student_id: str
    student_name: str = ""
    assessment_id: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    file_notes: list[str] = field(default_factory=list)  # the file's format, read anyway: for the instructor only
    readable: bool = True
    program: dict[str, Any] | None = None  # a notebook's sandboxed run (grader.program), set only by the grader
    values: dict[str, Any] | None = None  # notebook variable -> its value as an answer (grader.cells), for `value:`
    functions: dict[str, Any] | None = None  # function id -> its cases' outputs (grader.cells), for `kind: function`


def _parse_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= MAX_INT_DIGITS else Decimal(text)


def _parse_float(text: str) -> Decimal | Unusable:
    try:
        return Decimal(text)
    except ArithmeticError:  # an exponent beyond Decimal's range, such as 1e9999999999999999999
        return Unusable(short(text, 40), f"{short(text)} is out of the range of numbers this question accepts")


def _bounded(answer: Any) -> Any:
    """The answer, or an Unusable marker if it is nested too deeply or holds too many values.
    Iterative, so the check itself cannot recurse too deeply."""
    stack, count = [(answer, 1)], 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            return Unusable(f"(more than {MAX_VALUES} values)",
                            f"the answer holds more than {MAX_VALUES} values; no answer here needs that many")
        if isinstance(value, (list, dict)):
            if depth > MAX_DEPTH:
                return Unusable(f"(nested more than {MAX_DEPTH} levels deep)",
                                f"the answer is nested more than {MAX_DEPTH} lists or objects deep")
            stack += [(item, depth + 1) for item in (value.values() if isinstance(value, dict) else value)]
    return answer


def _decode_text(raw: bytes) -> tuple[str, str | None]:
    """The file's text and, for UTF-16/32, a warning. Bytes that are not UTF-8 survive as lone
    surrogates (rejected in the part that holds them)."""
    wide = next((codec for bom, codec in _WIDE if raw.startswith(bom)), None)
    if wide is None and len(raw) >= 4 and raw[1] == 0 and raw[1::2].count(0) > len(raw) // 4:
        wide = "utf-16-le"  # mostly ASCII text as UTF-16, without a byte-order mark
    elif wide is None and len(raw) >= 4 and raw[0] == 0 and raw[0::2].count(0) > len(raw) // 4:
        wide = "utf-16-be"
    if wide:
        try:
            return raw.decode(wide), f"the file is {wide.upper()[:6]} text; it was read, but save answer files as UTF-8"
        except UnicodeDecodeError:
            pass
    return raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff"), None


def _decode_json(text: str, duplicates: list[str]) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + MAX_JSON_NESTING + 50)  # the same nesting limit on every path
    try:
        return json.loads(text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=NonFinite,
                          object_pairs_hook=pairs)
    finally:
        sys.setrecursionlimit(limit)


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def _text_field(data: dict, name: str, errors: list[str], limit: int = 128) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, str) and any("\ud800" <= ch <= "\udfff" for ch in value):
        errors.append(f"{name} holds bytes that are not valid UTF-8; save the file as UTF-8")
    elif isinstance(value, str) and not isinstance(value, Unusable) and value.strip() and not value.isprintable():
        errors.append(f"{name} holds control or formatting characters ({short(value)}); write plain text")
    elif not isinstance(value, str) or isinstance(value, Unusable) or not value.strip() or len(value) > limit:
        errors.append(f"{name} must be non-empty text of at most {limit} characters, got {short(value)}")
    else:
        return value.strip()
    return None


def read_answer_file(path: str | Path, content: bytes | None = None) -> Submission:
    """Read one answer file (or `content`, its bytes read elsewhere: on a machine without the file).
    Never raises for bad content: problems land in `errors`."""
    try:
        return _read(Path(path), content)
    except Exception as exc:  # a reader bug costs this file, with the reason, never the batch
        return Submission(source=str(path), student_id=Path(path).stem, readable=False,
                          errors=[f"{path}: internal error while reading ({type(exc).__name__}: {short(str(exc))}); "
                                  "please report it"])


def _read(path: Path, content: bytes | None) -> Submission:
    source = str(path)
    fallback_id = path.stem
    sub = Submission(source=source, student_id=fallback_id)

    def unreadable(message: str) -> Submission:
        sub.readable = False
        sub.errors.append(f"{source}: {message}")
        return sub

    try:
        size = path.stat().st_size if content is None else len(content)
        if size > MAX_BYTES:
            return unreadable(f"file is {size} bytes; answer files are limited to {MAX_BYTES}")
        raw = path.read_bytes() if content is None else content
    except OSError as exc:
        return unreadable(f"cannot read file: {exc.strerror or exc}")
    if not raw.strip():
        return unreadable("the file is empty")
    text, encoding_warning = _decode_text(raw)
    if encoding_warning:
        sub.warnings.append(encoding_warning)
    elif any("\udc80" <= ch <= "\udcff" for ch in text):
        line = text[: next(i for i, ch in enumerate(text) if "\udc80" <= ch <= "\udcff")].count("\n") + 1
        sub.warnings.append(f"line {line}: the file is not valid UTF-8; text with such bytes is not read "
                            "(save the file as UTF-8)")
    duplicates: list[str] = []
    try:
        data = _decode_json(text, duplicates)
    except json.JSONDecodeError as exc:
        return unreadable(f"line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}")
    except RecursionError:
        return unreadable(f"the JSON is nested more than {MAX_JSON_NESTING} levels deep")
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
    sub.answers = {part: _bounded(answer) for part, answer in answers.items()}
    for key in sorted(set(duplicates)):
        sub.warnings.append(f"{short(key)!r} appears more than once; the last value was used")
    return sub
