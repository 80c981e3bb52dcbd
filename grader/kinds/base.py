"""The comparator interface every answer kind implements.

A comparator is built from its validated options. It turns the rubric's literal answer into a
JSON-able reference value (`reference`, run at rubric load so mistakes surface before grading),
renders that reference for people (`show`), and judges a raw student value against it (`check`).
`check` must never execute or `eval` the student's value and must return, not raise, for any
input: `InvalidAnswer` is the only exception it may let out, and its message is shown to the
student, so it must not quote the reference.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["correct", "partial", "incorrect", "invalid"]


class Verdict(BaseModel):
    """The outcome of one check: a fraction of the marks, and why.

    `reason` is for the instructor and may quote the reference; `message` is for the student and
    must not (the scorer adds the reference itself where the rubric allows showing it).
    """

    fraction: float = Field(ge=0.0, le=1.0)
    status: Status
    reason: str
    message: str
    warnings: list[str] = []
    review: str | None = Field(None, description="why a person should look before the marks stand (instructor-facing)")
    cause: str | None = Field(None, description="the message or warning, when it states a problem other checks of the "
                              "same submission may share (a model that did not build): feedback says it once")

    @classmethod
    def of(cls, fraction: float, reason: str, message: str, warnings: list[str] | None = None,
           review: str | None = None, cause: str | None = None) -> "Verdict":
        fraction = min(1.0, max(0.0, fraction))
        status: Status = "correct" if fraction >= 1.0 else "incorrect" if fraction <= 0.0 else "partial"
        return cls(fraction=fraction, status=status, reason=reason, message=message, warnings=warnings or [],
                   review=review, cause=cause)


class InvalidAnswer(ValueError):
    """The student's value cannot be read as this kind. The message is shown to the student."""


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Comparator:
    """Base class of answer kinds; subclasses register themselves with `@register`."""

    kind: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions
    manual: ClassVar[bool] = False
    reads_program: ClassVar[bool] = False  # judges Submission.program (a grader-made notebook run), not an answer
    reads_functions: ClassVar[bool] = False  # judges Submission.functions (a notebook's functions called on cases)

    def __init__(self, options: BaseModel):
        self.options = options

    def reference(self, value: Any) -> Any:
        """Validate the rubric's answer and return it as a JSON-able value; raise ValueError if unusable."""
        raise NotImplementedError

    def show(self, reference: Any) -> str:
        """The reference as a person would write it, with its tolerance where one applies."""
        return str(reference)

    def check(self, answer: Any, reference: Any) -> Verdict:
        raise NotImplementedError

    def value_of(self, answer: Any) -> Any:
        """The student's answer as a value to compute with (follow-through marking recomputes later
        answers from it); None for kinds whose answers are not numbers. Raises InvalidAnswer."""
        return None
