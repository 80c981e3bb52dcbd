"""`kind: function`: a notebook function called on the rubric's cases, each output compared with the
reference notebook's on the same inputs (`solution: notebook.functions`, `options: {function: ID}`).

The calls run in the sandbox after the notebook's cells (grader/cells/runner.py); their outputs
come back as plain data and are compared here, in the grader's process, by
grader.program.functions.judge: partial credit per case, feedback naming each failing case by what
it tests and never its inputs unless the case shows them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.kinds import register
from grader.kinds._tolerance import Tolerance
from grader.kinds.base import Comparator, InvalidAnswer, Verdict
from grader.kinds._function_key import case_reference, described


class FunctionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    function: str = Field(description="an id in notebook.functions")
    tolerance: Tolerance | None = Field(None, description="floats match within it; without it, exactly")


@register
class Function(Comparator):
    kind = "function"
    Options = FunctionOptions
    reads_functions: ClassVar[bool] = True

    def reference(self, value: Any) -> Any:
        return case_reference(value, self.options.function, "notebook")

    def show(self, reference: Any) -> str:
        return described(reference)

    def check(self, answer: Any, reference: Any) -> Verdict:
        from grader.program.functions import judge  # numpy and the run's models: for notebooks only
        from grader.program.observations import CaseOutput

        try:
            mine = [CaseOutput.model_validate(case) for case in answer.get(reference["name"], [])]
            theirs = [CaseOutput.model_validate(case) for case in reference["outputs"]]
        except (ValidationError, AttributeError, TypeError):
            raise InvalidAnswer("this check needs the notebook's function calls made by the grader") from None
        return judge(reference, mine, theirs, self.options.tolerance)
