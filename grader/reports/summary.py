"""The instructor's summary of a batch: who could not be graded, how scores spread, how each part fared.

Instructor-facing, so it may show answers and reasons; student text is still escaped so that a
hostile answer cannot break the Markdown tables.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from grader.reports.feedback import MARKDOWN
from grader.reports.gradebook import gradebook_status
from grader.results import PartResult, SubmissionResult
from grader.roster import Gaps, Roster
from grader.rubric import Assessment, Part, Question

_TOP_WRONG_ANSWERS = 3


@dataclass(frozen=True)
class Distribution:
    mean: float
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class ItemAnalysis:
    """How one part went across the batch; `count` is the readable submissions that have it."""

    question_id: str
    part_id: str
    marks: float
    count: int
    mean_score: float
    pending: int
    full_marks_pct: float
    invalid_or_missing_pct: float
    common_wrong_answers: list[tuple[str, int]]


def _distribution(totals: list[float]) -> Distribution | None:
    if not totals:
        return None
    return Distribution(statistics.mean(totals), statistics.median(totals), min(totals), max(totals))


def _common_wrong_answers(parts: list[PartResult]) -> list[tuple[str, int]]:
    wrong = [p.answer for p in parts if p.status not in ("correct", "manual") and p.answer]
    return Counter(wrong).most_common(_TOP_WRONG_ANSWERS)


def _item_analysis(question: Question, part: Part, parts: list[PartResult]) -> ItemAnalysis:
    """Scores awaiting a person count as their automatic share, and `pending` says how many those are."""
    count = len(parts)
    scores = [p.score if p.score is not None else p.auto_score for p in parts]

    def percent(matching: int) -> float:
        return 100.0 * matching / count if count else 0.0

    return ItemAnalysis(
        question_id=question.id,
        part_id=part.id,
        marks=part.total_marks,
        count=count,
        mean_score=statistics.mean(scores) if scores else 0.0,
        pending=sum(p.score is None for p in parts),
        full_marks_pct=percent(sum(p.status == "correct" for p in parts)),
        invalid_or_missing_pct=percent(sum(p.status in ("invalid", "missing") for p in parts)),
        common_wrong_answers=_common_wrong_answers(parts),
    )


def render_summary_markdown(results: list[SubmissionResult], assessment: Assessment,
                            duplicates: list[tuple[SubmissionResult, list[SubmissionResult]]] = (),
                            roster: Roster | None = None, gaps: Gaps | None = None) -> str:
    """Summarise a graded batch; statistics cover readable submissions, unreadable ones are listed
    apart, and so are students with several submissions (the one that counts and the others) and,
    with a roster, the students on it with no submission and the submissions not on it. Notes on
    the files' format, which students never see, close it."""
    readable = [r for r in results if r.readable]
    parts_by_id: dict[str, list[PartResult]] = {}
    for result in readable:
        for part in result.parts():
            parts_by_id.setdefault(part.id, []).append(part)
    return MARKDOWN.get_template("summary.md.j2").render(
        assessment=assessment,
        submission_count=len(results),
        readable_count=len(readable),
        needing_attention=[(r, gradebook_status(r)) for r in sorted(results, key=lambda r: r.student_id)
                           if r.errors or not r.readable or r.reviews()],
        distribution=_distribution([r.score for r in readable]),
        pending_count=sum(r.manual_pending > 0 for r in readable),
        items=[_item_analysis(q, p, parts_by_id.get(p.id, [])) for q, p in assessment.parts()],
        duplicates=duplicates,
        roster=roster,
        missing=gaps.missing if gaps else [],
        not_on_roster=[r for r in sorted(results, key=lambda r: (r.student_id, r.source))
                       if gaps and r.student_id in gaps.not_on_roster],
        with_file_notes=[r for r in sorted(results, key=lambda r: (r.student_id, r.source)) if r.file_notes],
    )
