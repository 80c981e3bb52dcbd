"""The instructor's summary of a batch: who could not be graded, how scores spread, how each part fared.

Instructor-facing, so it may show answers and reasons; student text is still escaped so that a
hostile answer cannot break the Markdown tables.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

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


@dataclass
class _Part:
    """One part's figures so far: what the item analysis needs of each result, not the results."""

    count: int = 0
    scores: float = 0.0
    pending: int = 0
    full: int = 0
    invalid_or_missing: int = 0
    wrong: Counter = field(default_factory=Counter)

    def add(self, part: PartResult) -> None:
        self.count += 1
        self.scores += part.score if part.score is not None else part.auto_score
        self.pending += part.score is None
        self.full += part.status == "correct"
        self.invalid_or_missing += part.status in ("invalid", "missing")
        if part.status not in ("correct", "manual") and part.answer:
            self.wrong[part.answer] += 1


def _thin(result: SubmissionResult) -> SubmissionResult:
    """What a listing in the summary shows of a result (who, which file, what went wrong), without its parts."""
    return result.model_copy(update={"questions": [], "errors": result.errors + result.reviews()})


class SummaryCollector:
    """The summary of a batch, gathered one result at a time (results are streamed from the
    gradebook, so a class of any size is summarised in memory that does not hold its results):
    per part its counts, and only the few results that are listed."""

    def __init__(self, assessment: Assessment):
        self.assessment = assessment
        self.submissions = 0
        self.totals: list[float] = []  # of the readable results, for the distribution
        self.pending = 0
        self.attention: list[tuple[str, SubmissionResult, str]] = []
        self.noted: list[tuple[tuple[str, str], SubmissionResult]] = []
        self.ids: list[tuple[str, str, str]] = []  # (student id, source, name) of each, for the roster's listing
        self.parts = {part.id: _Part() for _, part in assessment.parts()}

    def add(self, result: SubmissionResult) -> None:
        self.submissions += 1
        self.ids.append((result.student_id, result.source, result.student_name))
        if result.errors or not result.readable or result.reviews():
            self.attention.append((result.student_id, _thin(result), gradebook_status(result)))
        if result.file_notes:
            self.noted.append(((result.student_id, result.source), _thin(result)))
        if not result.readable:
            return
        self.totals.append(result.score)
        self.pending += result.manual_pending > 0
        for part in result.parts():
            if part.id in self.parts:
                self.parts[part.id].add(part)

    def render(self, duplicates: list[tuple[SubmissionResult, list[SubmissionResult]]] = (),
               roster: Roster | None = None, gaps: Gaps | None = None) -> str:
        """The summary (`render_summary_markdown`'s)."""
        def percent(matching: int, count: int) -> float:
            return 100.0 * matching / count if count else 0.0

        items = [ItemAnalysis(question_id=q.id, part_id=p.id, marks=p.total_marks, count=f.count,
                              mean_score=f.scores / f.count if f.count else 0.0, pending=f.pending,
                              full_marks_pct=percent(f.full, f.count),
                              invalid_or_missing_pct=percent(f.invalid_or_missing, f.count),
                              common_wrong_answers=f.wrong.most_common(_TOP_WRONG_ANSWERS))
                 for q, p in self.assessment.parts() for f in [self.parts[p.id]]]
        absent = sorted(key for key in self.ids if gaps and key[0] in gaps.not_on_roster)
        return MARKDOWN.get_template("summary.md.j2").render(
            assessment=self.assessment,
            submission_count=self.submissions,
            readable_count=len(self.totals),
            needing_attention=[(result, status) for _, result, status in sorted(self.attention, key=lambda a: a[0])],
            distribution=_distribution(self.totals),
            pending_count=self.pending,
            items=items,
            duplicates=duplicates,
            roster=roster,
            missing=gaps.missing if gaps else [],
            not_on_roster=[SubmissionResult.model_construct(student_id=sid, source=source, student_name=name)
                           for sid, source, name in absent],
            with_file_notes=[result for _, result in sorted(self.noted, key=lambda n: n[0])],
        )


def render_summary_markdown(results: list[SubmissionResult], assessment: Assessment,
                            duplicates: list[tuple[SubmissionResult, list[SubmissionResult]]] = (),
                            roster: Roster | None = None, gaps: Gaps | None = None) -> str:
    """Summarise a graded batch; statistics cover readable submissions, unreadable ones are listed
    apart, and so are students with several submissions (the one that counts and the others) and,
    with a roster, the students on it with no submission and the submissions not on it. Notes on
    the files' format, which students never see, close it."""
    collector = SummaryCollector(assessment)
    for result in results:
        collector.add(result)
    return collector.render(duplicates, roster, gaps)
