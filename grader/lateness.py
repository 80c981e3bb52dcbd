"""Late hand-ins: the rubric's penalty applied to a result from the time it was handed in (the
file's modification time, or Gradescope's `created_at` in submission_metadata.json). Applied when
the reports are built, after manual marks, so that it takes its share of the final score."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

from grader.results import Lateness, SubmissionResult
from grader.rubric import Assessment

MAX_METADATA_BYTES = 1 << 20


def apply_lateness(result: SubmissionResult, handed_in: str | None, assessment: Assessment) -> SubmissionResult:
    """The result with the late penalty taken off; unchanged when on time or without a due date."""
    if assessment.due is None or assessment.late is None or handed_in is None or not result.readable:
        return result
    when = datetime.datetime.fromisoformat(handed_in)
    overdue = when - assessment.due - datetime.timedelta(minutes=assessment.late.grace_minutes)
    if overdue <= datetime.timedelta(0):
        return result
    days = math.ceil(overdue / datetime.timedelta(days=1))
    too_late = assessment.late.max_days is not None and days > assessment.late.max_days
    penalty = 1.0 if too_late else min(1.0, days * assessment.late.per_day)
    late = Lateness(handed_in=handed_in, due=assessment.due.isoformat(), days_late=days, penalty=penalty,
                    before=result.score)
    return result.model_copy(update={"late": late, "score": round(result.score * (1 - penalty), 6)})


def gradescope_handed_in(path: Path) -> str | None:
    """Gradescope's hand-in time for a submission folder (/autograder/submission): `created_at` in
    the submission_metadata.json beside it, when there is one and it reads."""
    metadata = path.parent / "submission_metadata.json"
    try:
        if not metadata.is_file() or metadata.stat().st_size > MAX_METADATA_BYTES:
            return None
        created = json.loads(metadata.read_text(encoding="utf-8")).get("created_at")
        when = datetime.datetime.fromisoformat(created) if isinstance(created, str) else None
    except (OSError, ValueError, AttributeError):
        return None
    return when.isoformat(timespec="seconds") if when and when.tzinfo else None
