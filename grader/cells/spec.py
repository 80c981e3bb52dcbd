"""The rubric's `notebook:` section: how a notebook's cells are run to read the values parts ask for."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

NOTEBOOK = "notebook"  # solution: notebook.NAME is the reference notebook's value of NAME


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
