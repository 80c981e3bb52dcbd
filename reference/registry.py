"""The solver registry. Each solver module in this package registers itself; adding a solver
touches one file."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo

from grader.registry import Registry
from reference.graph import StepGraph


class Params(BaseModel):
    """Base of solver parameter models: unknown parameters are errors, not silently ignored, and so
    are NaN and infinite numbers (also given as the strings "nan", "inf"), which would only surface
    later as NaN answers."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


CHECKED = {"checked": True}  # validation context: these parameters once computed a key, so numeric checks pass


def computing(info: ValidationInfo) -> bool:
    """Whether the parameters are validated to compute answers (not `CHECKED`, as where a step graph
    is built again for a cached key): only then do validators run the solver's arithmetic (torch)."""
    return not (info.context or {}).get("checked")


def matrix(rows: int, columns: int) -> Any:
    """Rows of numbers, at most `rows` of at most `columns` each: a bound on every matrix parameter
    keeps a solver's work (and the rubric's load) to a fraction of a second."""
    return Annotated[list[Annotated[list[float], Field(max_length=columns)]], Field(max_length=rows)]


class Solver:
    """Computes named outputs from validated parameters.

    `solve` returns a flat dict: output name -> JSON-able value (float, int, str, nested lists of
    numbers). Names use dots for structure, e.g. `grad.w1`, `forward.h1`, `updated.w1`.
    """

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = Params

    def __init__(self, params: BaseModel):
        self.params = params

    def solve(self) -> dict[str, Any]:
        raise NotImplementedError

    def steps(self) -> StepGraph | None:
        """The computation as a chain of named steps whose names match `solve()`'s outputs, so that
        follow-through marking can recompute later answers from a student's earlier ones. None for
        a solver whose outputs do not build on one another."""
        return None


_solvers: Registry[type[Solver]] = Registry("reference", "solver", "name", skip=("registry", "charlstm"))  # charlstm: a library, no solver
register, get, names = _solvers.register, _solvers.get, _solvers.names
