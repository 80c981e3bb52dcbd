"""Score records: what grading a submission produced, part by part, for reports to render.

Every score carries two explanations: `reason` for the instructor (may quote the key) and
`message` for the student (never quotes a hidden key). Manual items have `score = None` until a
person marks them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

ItemStatus = Literal["correct", "partial", "incorrect", "invalid", "missing", "manual"]


class Antecedent(BaseModel):
    """An earlier wrong answer a check was recomputed from."""

    part: str
    criterion: str
    output: str  # the solver output it answers
    answer: str | None  # as the student wrote it


class FollowThrough(BaseModel):
    """A wrong answer judged again against the value that follows from the student's own wrong
    earlier answers (error carried forward)."""

    consistent: bool  # does the answer follow from them?
    share: float  # the share of the marks a consistent answer earns
    recomputed: str  # what the earlier answers give, for the instructor
    antecedents: list[Antecedent]


class CriterionResult(BaseModel):
    id: str
    description: str  # student-facing
    guidance: str = ""  # the rubric's full description, for the instructor and markers
    marks: float
    score: float | None
    status: ItemStatus
    reason: str
    message: str
    warnings: list[str] = []
    review: str | None = None  # why a person should confirm these marks (instructor-facing, never in feedback)
    cause: str | None = None  # the message or a warning, when other checks may share its problem: feedback says it once
    expected: str | None = None  # the reference, shown to students only when the rubric allows
    answer: str | None = None  # what was checked: the answer, or its field, abbreviated for display
    follow_through: FollowThrough | None = None


class PartResult(BaseModel):
    id: str
    prompt: str
    marks: float
    score: float | None  # None when any of its criteria awaits a person
    auto_score: float  # marks earned from automatic checks
    status: ItemStatus
    answer: str | None  # what the student entered, abbreviated for display; None when nothing was (a program
    # part, whose checks judge the notebook's run, or a part left unanswered): feedback then shows no answer line
    criteria: list[CriterionResult]
    feedback: str = ""  # the rubric's hint, present when the part is not fully right

    @property
    def manual_marks(self) -> float:
        return sum(c.marks for c in self.criteria if c.status == "manual")


class QuestionResult(BaseModel):
    id: str
    title: str
    marks: float
    auto_score: float
    manual_marks: float
    parts: list[PartResult]
    counted: bool = True  # False for a question of a `choose` group that is not among the best


class Lateness(BaseModel):
    """How a late hand-in changed the score (the rubric's `due` and `late`)."""

    handed_in: str
    due: str
    days_late: int  # days or parts of a day past the due time and the grace
    penalty: float  # share of the marks taken off
    before: float  # the score without the penalty


class SubmissionResult(BaseModel):
    """The graded record of one answer file."""

    schema_version: Literal[1] = 1
    source: str
    student_id: str
    student_name: str = ""
    assessment_id: str
    assessment_title: str = ""
    readable: bool = True  # False when the file itself could not be read; every part then scores 0
    errors: list[str] = []  # file-level problems (unreadable JSON, wrong assessment, unknown parts)
    warnings: list[str] = []
    file_notes: list[str] = []  # the file's format, read anyway (a notebook off nbformat's schema): instructor-facing,
    # in results.jsonl and summary.md, never in feedback, since nothing graded depends on them
    questions: list[QuestionResult] = []
    score: float = 0.0  # marks earned in the questions that count: automatic ones, and manual ones once marked
    max_score: float = 0.0  # all marks, manual ones included
    manual_pending: float = 0.0  # marks awaiting a person
    duration_s: float = 0.0
    late: Lateness | None = None

    def parts(self) -> list[PartResult]:
        return [p for q in self.questions for p in q.parts]

    def reviews(self) -> list[str]:
        """What a person should confirm before these marks stand, one line per reason:
        `why (part/criterion, ...)`."""
        flagged: dict[str, list[str]] = {}
        for part in self.parts():
            for criterion in part.criteria:
                if criterion.review:
                    flagged.setdefault(criterion.review, []).append(f"{part.id}/{criterion.id}")
        return [f"{why} ({', '.join(where)})" for why, where in flagged.items()]
