"""Per-student feedback pages, in Markdown and self-contained HTML.

Feedback is student-facing: it shows each criterion's `message`, `warnings` and `expected`, never
its `reason`, which is the instructor's and may quote a hidden key. Student text is hostile, so
HTML is autoescaped and every value placed in Markdown is escaped by the environment itself
(`finalize`), not by filters a template could forget.

Every student document is rendered from `student_view(result)`, which states each cause once:
checks that share one (a notebook's model that did not build fails every program check with the
same message) show it at the first and point to it after.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jinja2

from grader.results import ItemStatus, PartResult, QuestionResult, SubmissionResult
from grader.textsafety import printable

STATUS_LABELS: dict[ItemStatus, str] = {
    "correct": "Correct",
    "partial": "Partly correct",
    "incorrect": "Incorrect",
    "invalid": "Invalid answer",
    "missing": "Not answered",
    "manual": "Awaiting marking by a person",
}

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>|#])")


def format_score(value: float) -> str:
    """A score for people: at most 2 decimals and no trailing zeros (1, 0.5, 2.33), hiding float noise."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def escape_markdown(value: object) -> str:
    """Make any text safe inside a Markdown table cell: literal punctuation, no raw HTML, one line,
    and other control characters (escape sequences, NUL) shown as escapes."""
    if value is None:
        return ""
    text = str(value)
    if text.isprintable() and not _MARKDOWN_SPECIALS.search(text):  # most values: nothing to escape
        return text
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br>".join(_MARKDOWN_SPECIALS.sub(r"\\\1", printable(line)) for line in lines)


def score_line(earned: float, marks: float, pending: float) -> str:
    """'23.5 / 30 (10 marks await manual grading)': what is earned so far and what is still open."""
    line = f"{format_score(earned)} / {format_score(marks)}"
    if pending:
        verb = "awaits" if pending == 1 else "await"
        noun = "mark" if pending == 1 else "marks"
        line += f" ({format_score(pending)} {noun} {verb} manual grading)"
    return line


def total_line(result: SubmissionResult) -> str:
    return score_line(result.score, result.max_score, result.manual_pending)


def question_line(question: QuestionResult) -> str:
    return score_line(question.auto_score, question.marks, question.manual_marks)


def part_line(part: PartResult) -> str:
    earned = part.score if part.score is not None else part.auto_score
    return score_line(earned, part.marks, part.manual_marks)


def student_view(result: SubmissionResult) -> SubmissionResult:
    """`result`, or a copy of it in which a `cause` that an earlier criterion stated is not repeated:
    a message that is one becomes a pointer to it, a warning that is one is dropped. Scores and
    the instructor's record are untouched. Only what changes is copied (rendering runs three times
    per student)."""
    stated: dict[str, str] = {}  # cause -> the part that states it
    questions = []
    for question in result.questions:
        parts = []
        for part in question.parts:
            criteria = []
            for criterion in part.criteria:
                message = criterion.message
                if message in stated:
                    first = stated[message]
                    message = f"the same problem as {'above' if first == part.id else f'in part {first}'}"
                warnings = [warning for warning in criterion.warnings if warning not in stated]
                if message != criterion.message or len(warnings) != len(criterion.warnings):
                    criterion = criterion.model_copy(update={"message": message, "warnings": warnings})
                if criterion.cause is not None:
                    stated.setdefault(criterion.cause, part.id)
                criteria.append(criterion)
            changed = any(new is not old for new, old in zip(criteria, part.criteria))
            parts.append(part.model_copy(update={"criteria": criteria}) if changed else part)
        changed = any(new is not old for new, old in zip(parts, question.parts))
        questions.append(question.model_copy(update={"parts": parts}) if changed else question)
    if all(new is old for new, old in zip(questions, result.questions)):
        return result
    return result.model_copy(update={"questions": questions})


def student_label(result: SubmissionResult) -> str:
    return f"{result.student_name} ({result.student_id})" if result.student_name else result.student_id


def _compiled_templates(kind: str) -> jinja2.BytecodeCache | None:
    """Where the templates are kept compiled (compiling them costs a tenth of a second at every
    start): under GRADER_CACHE (default ~/.cache/grader), made private to the user; None, and
    compiled each time, where that folder cannot be made."""
    folder = Path(os.environ.get("GRADER_CACHE") or Path.home() / ".cache" / "grader") / "templates" / kind
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


def _environment(kind: str, **options) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("grader.reports", "templates"),
        bytecode_cache=_compiled_templates(kind),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **options,
    )
    env.filters.update(score=format_score, status_label=STATUS_LABELS.__getitem__)
    env.globals.update(total_line=total_line, question_line=question_line, part_line=part_line,
                       student_label=student_label)
    return env


HTML = _environment("html", autoescape=True)
MARKDOWN = _environment("markdown", autoescape=False, finalize=escape_markdown)


def render_markdown(result: SubmissionResult) -> str:
    """Feedback for one student as Markdown, e.g. to paste into an LMS comment or e-mail."""
    return MARKDOWN.get_template("feedback.md.j2").render(result=student_view(result))


def render_html(result: SubmissionResult) -> str:
    """Feedback for one student as a single HTML page that needs no other files and prints cleanly."""
    return HTML.get_template("feedback.html.j2").render(result=student_view(result))
