"""Audit a published worked solution (or a TA's answer sheet) against the computed key.

Grading answers "how many marks"; an audit answers "which printed numbers are wrong, and where did
each error start". Every automatic check that does not match the key is a finding, classified by
the solver's step graph:

- `error`: wrong, and nothing it is computed from was answered wrongly: the error starts here;
- `carried`: wrong against the key but exactly what the solution's own wrong earlier answers give
  (the arithmetic is right; the error came from those steps);
- `error-after`: wrong even given the solution's wrong earlier answers: a second, separate error;
- `unreadable`: the printed answer could not be read as its kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from grader.key import AnswerKey
from grader.results import CriterionResult, SubmissionResult
from grader.rubric import Rubric
from grader.scoring import grade_submission
from grader.submission import read_answer_file

FindingKind = Literal["error", "carried", "error-after", "unreadable"]


class Finding(BaseModel):
    part: str
    criterion: str
    description: str
    kind: FindingKind
    given: str | None  # the solution's answer as printed
    expected: str  # the computed key, with its tolerance
    came_from: list[str] = []  # the wrong earlier steps, as part ids
    recomputed: str | None = None  # what those earlier steps give
    detail: str  # the grader's reason, for the reviewer


class AuditReport(BaseModel):
    rubric: str
    answers: str
    readable: bool
    checked: int  # automatic checks answered
    matching: int  # of those, matching the key
    unanswered: list[str]  # automatic checks the solution does not answer
    manual: int  # checks left to a person
    findings: list[Finding]
    errors: list[str]  # file-level problems (unreadable file, unknown parts)

    @property
    def clean(self) -> bool:
        return not self.findings and not self.errors


def _classify(criterion: CriterionResult) -> FindingKind | None:
    follow = criterion.follow_through
    if criterion.status == "invalid":
        return "unreadable"
    if follow is not None:
        return "carried" if follow.consistent else "error-after"
    if criterion.status in ("incorrect", "partial"):
        return "error"
    return None


def audit_result(rubric: Rubric, key: AnswerKey, result: SubmissionResult) -> AuditReport:
    lookup = key.lookup()
    findings, unanswered = [], []
    checked = matching = manual = 0
    for part in result.parts():
        for criterion in part.criteria:
            if criterion.status == "manual":
                manual += 1
                continue
            if criterion.status == "missing":
                unanswered.append(part.id if criterion.id == "answer" else f"{part.id} ({criterion.id})")
                continue
            checked += 1
            kind = _classify(criterion)
            if kind is None:
                matching += 1
                continue
            entry = lookup.get((part.id, criterion.id))
            follow = criterion.follow_through
            findings.append(Finding(
                part=part.id, criterion=criterion.id, description=criterion.guidance or criterion.description,
                kind=kind, given=criterion.answer,
                expected=entry.shown if entry else "(no key entry)",
                came_from=[a.part if a.criterion == "answer" else f"{a.part} ({a.criterion})" for a in follow.antecedents]
                if follow else [],
                recomputed=follow.recomputed if follow else None, detail=criterion.reason))
    return AuditReport(rubric=rubric.source, answers=result.source, readable=result.readable, checked=checked, matching=matching,
                       unanswered=unanswered, manual=manual, findings=findings,
                       errors=[*result.errors, *result.warnings])


def audit_file(rubric: Rubric, key: AnswerKey, path: Path) -> AuditReport:
    return audit_result(rubric, key, grade_submission(rubric, key, read_answer_file(path)))


_EXPLAIN = {
    "error": "wrong; the error starts at this step",
    "carried": "follows correctly from the wrong {came_from}",
    "error-after": "wrong even given the wrong {came_from} (they give {recomputed})",
    "unreadable": "could not be read",
}


def render_audit(report: AuditReport) -> str:
    """Plain text, one block per finding, for a terminal or a review comment."""
    if not report.readable:
        return "\n".join([f"cannot audit {report.answers}: the file could not be read", *report.errors]) + "\n"
    lines = [f"Audit of {report.answers} against {report.rubric}",
             f"{report.checked} automatic checks answered: {report.matching} match the computed key, "
             f"{len(report.findings)} do not."]
    counts = {k: sum(f.kind == k for f in report.findings) for k in _EXPLAIN}
    if report.findings:
        lines.append("  " + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    for f in report.findings:
        where = f.part if f.criterion == "answer" else f"{f.part} ({f.criterion})"
        lines.append("")
        lines.append(f"[{f.kind}] {where}: {f.description}")
        lines.append(f"    given:    {f.given}")
        lines.append(f"    computed: {f.expected}")
        lines.append("    " + _EXPLAIN[f.kind].format(came_from=", ".join(f.came_from), recomputed=f.recomputed))
    if report.unanswered:
        lines += ["", f"Not answered ({len(report.unanswered)}): {', '.join(report.unanswered)}"]
    if report.manual:
        lines.append(f"{report.manual} checks are for a person and were not audited.")
    for error in report.errors:
        lines.append(f"note: {error}")
    return "\n".join(lines) + "\n"
