"""The rubric's `notebook:` section: how a notebook's cells are run to read the values parts ask for."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grader.program.spec import MAX_FUNCTIONS, FunctionSpec, check_functions

NOTEBOOK = "notebook"  # solution: notebook.NAME is the reference notebook's value of NAME
FUNCTIONS = "functions"  # solution: notebook.functions is its functions' outputs on the rubric's cases


class NotebookSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    reference: str | None = Field(None, description="a notebook (relative to the rubric) whose cells compute the "
                                  "key: solution: notebook.NAME is its value of NAME")
    preload: list[str] | None = Field(None, max_length=50, description="modules imported once, before any notebook "
                                      "runs, so that no notebook waits for them (torch takes seconds); default: "
                                      "the installed modules the reference notebook imports")
    cell_seconds: float = Field(10.0, gt=0, le=600, description="each cell's time limit")
    wall_seconds: float = Field(60.0, gt=0, le=3600, description="the whole run's time limit")
    memory_mb: int = Field(2048, ge=64, le=65536, description="the run's memory limit")
    max_value_bytes: int = Field(1 << 20, ge=1, le=64 << 20, description="the most one value may hold, as raw numbers")
    functions: dict[str, FunctionSpec] = Field({}, max_length=MAX_FUNCTIONS, description=(
        "id -> a notebook function called on the rubric's cases after the cells have run, each output compared "
        "with the reference notebook's on the same inputs: kind function, solution: notebook.functions"))

    @model_validator(mode="after")
    def _functions_fit(self) -> NotebookSpec:
        check_functions(self.functions, self.wall_seconds / 2, f"half of wall_seconds ({self.wall_seconds:g} s)")
        return self
