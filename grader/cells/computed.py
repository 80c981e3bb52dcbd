"""Grader side of the cells runner: one sandboxed run of a notebook's cells, and its values as answers.

`run_cells` runs grader/cells/runner.py in the sandbox and validates what it sent as untrusted
data (`CellsRun`); `answer_of` turns a value into an answer as an answer file's would be read
(arrays as nested lists, NaN and infinities as NonFinite; floats stay floats, since no digits were
typed), so every kind, tolerance and follow-through rule applies unchanged; a value that is
missing or cannot be read becomes an Unusable marker whose reason names the cell that failed.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from grader.cells.spec import NotebookSpec
from grader.kinds._values import NonFinite, Unusable
from grader.notebook import StudentNotebook
from grader.program.calls import imported_names
from grader.program.functions import Array, function_task, rebuild
from grader.program.observations import MAX_NODES, CaseOutput, OutputNode, tree_problem
from grader.sandbox.models import Limits
from grader.sandbox.runner import run_python
from grader.sandbox.warm import prepare, run_warm

RUNNER = Path(__file__).with_name("runner.py")
WARM_ENTRY = "grader.cells.runner:warm"  # what the warm sandbox's child runs
MAX_ERROR = 1000


class CellOutcome(BaseModel):
    cell: int = Field(ge=1)
    ok: bool
    error: str | None = Field(None, max_length=MAX_ERROR)
    seconds: float = Field(ge=0)


class ValueOutcome(BaseModel):
    """One value asked for: its plain data, or why there is none (None: the name was never set)."""

    name: str = Field(max_length=200)
    ok: bool
    error: str | None = Field(None, max_length=MAX_ERROR)
    nodes: list[OutputNode] = Field([], max_length=MAX_NODES)

    @model_validator(mode="after")
    def _one_value(self) -> ValueOutcome:
        if self.ok and (problem := tree_problem(self.nodes)):
            raise ValueError(f"{self.name}: not one value ({problem})")
        return self


class CellsRun(BaseModel):
    """What one sandboxed run of a notebook's cells established, validated in the grader."""

    cells: list[CellOutcome] = []
    values: dict[str, ValueOutcome] = {}
    functions: dict[str, list[CaseOutput]] = Field({}, description="per function id, its cases in the order run")
    ended: str | None = Field(None, description="why the run stopped before it finished, if it did")
    problems: list[str] = Field([], description="messages that were not what the runner sends")
    seconds: float = 0.0

    def failed_cells(self) -> list[CellOutcome]:
        return [cell for cell in self.cells if not cell.ok]


def limits_for(spec: NotebookSpec, values: int) -> Limits:
    encoded = 4 * spec.max_value_bytes // 3 + (64 << 10)  # one value's message: base64 and its nodes
    cases = [4 * function.max_output_bytes // 3 + (64 << 10) for function in spec.functions.values()
             for _ in function.cases]
    return Limits(wall_seconds=spec.wall_seconds, cpu_seconds=spec.wall_seconds, memory_mib=spec.memory_mb,
                  threads=1, channel_line_bytes=max([encoded, *cases]),
                  channel_bytes=min(encoded * max(values, 1) + sum(cases), 256 << 20))


def run_cells(notebook: StudentNotebook, spec: NotebookSpec, names: list[str], backend: str = "auto",
              preload: list[str] = ()) -> CellsRun:
    """Run the notebook's code cells in order in the sandbox and read the values `names`; the warm
    sandbox imports those of `preload` that the notebook imports (`sandbox_preload`) once for all
    notebooks that import the same."""
    task = {"cells": [{"cell": cell.cell, "source": cell.source} for cell in notebook.code_cells],
            "values": names, "cell_seconds": spec.cell_seconds, "max_value_bytes": spec.max_value_bytes,
            "functions": function_task(spec.functions)}
    limits = limits_for(spec, len(names))
    result = run_warm(WARM_ENTRY, task, limits, sandbox_preload(notebook, preload)) \
        if backend in ("auto", "bwrap") else None
    if result is None:
        result = run_python(RUNNER, files={"task.json": json.dumps(task).encode()}, limits=limits, backend=backend)
    run = CellsRun(seconds=round(result.wall_seconds, 3), ended=result.reason if not result.completed else None,
                   problems=[str(problem) for problem in result.channel_problems][:5])
    for message in result.messages:
        try:
            if message.kind == "cells" and not run.cells:
                run.cells = [CellOutcome.model_validate(cell) for cell in message.data.get("cells", [])][:10_000]
            elif message.kind == "value":
                value = ValueOutcome.model_validate(message.data)
                if value.name in names and value.name not in run.values:
                    run.values[value.name] = value
            elif message.kind == "function":
                function = message.data.get("function")
                case = CaseOutput.model_validate({key: item for key, item in message.data.items() if key != "function"})
                known = [c.name for c in spec.functions[function].cases] if function in spec.functions else []
                cases = run.functions.setdefault(function, []) if known else []
                if case.name in known and all(c.name != case.name for c in cases):
                    cases.append(case)
        except (ValidationError, TypeError, AttributeError) as exc:
            why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            run.problems.append(f"a {message.kind!r} message that is not what the runner sends ({why[:200]})")
    if result.completed and not run.cells and notebook.code_cells:
        run.problems.append("the run sent no account of its cells")
    return run


def sandbox_preload(notebook: StudentNotebook, preload: list[str]) -> list[str]:
    """What the warm sandbox imports before this notebook's run: numpy (the runner's), and those of
    the rubric's `preload` modules that the notebook's own cells import. A notebook that never
    imports torch is not held up by a sandbox importing it (seconds), and what a run can see of
    the modules loaded before it depends on that notebook alone."""
    imported = set().union(*(imported_names(cell.source) for cell in notebook.code_cells))
    return ["numpy", *sorted(name for name in preload if name in imported and name != "numpy")]


def prepare_runs(notebooks: list[StudentNotebook], spec: NotebookSpec, names: list[str],
                 preload: list[str]) -> list[int]:
    """Start, without waiting, each warm sandbox that these notebooks' runs will use, and return the
    notebooks' indices in the order to run them: those whose sandbox imports least first, so that
    they are graded while a slower sandbox (torch) starts."""
    wanted = [sandbox_preload(notebook, preload) for notebook in notebooks]
    limits = limits_for(spec, len(names))
    for modules in sorted(set(map(tuple, wanted)), key=len):
        prepare(WARM_ENTRY, limits, list(modules))
    return sorted(range(len(notebooks)), key=lambda i: len(wanted[i]))


def answer_of(run: CellsRun, name: str, notebook: StudentNotebook) -> tuple[Any, int | None]:
    """The value of `name` as an answer, or an Unusable marker saying why there is none, and the
    cell whose failure that reason tells (so it need not be told again)."""
    value = run.values.get(name)
    failed = _failed_setter(run, name, notebook)
    if value is not None and value.ok:
        answer = _answer(rebuild(value.nodes))
        if answer is None and failed:  # nbgrader's template: `q1 = None`, then raise NotImplementedError()
            return Unusable("(not set)", f"`{name}` is None: cell {failed.cell}, which sets it, failed: "
                                         f"{failed.error}"), failed.cell
        return answer, None
    if value is not None and value.error:
        return Unusable("(could not be read)", f"`{name}` could not be read as an answer: {value.error}"), None
    why, cell = _why_unset(run, name, notebook, failed)
    return Unusable("(not set)", f"`{name}` is not set when the notebook's cells have run: {why}"), cell


def _failed_setter(run: CellsRun, name: str, notebook: StudentNotebook) -> CellOutcome | None:
    """The last cell that assigns `name`, if it failed."""
    assigning = [cell.cell for cell in notebook.code_cells if cell.assigns(name)]
    failed = {cell.cell: cell for cell in run.failed_cells()}
    return failed.get(assigning[-1]) if assigning else None


def installed_imports(notebook: StudentNotebook) -> list[str]:
    """The installed top-level modules the notebook's cells import: what a course's notebooks load."""
    names = imported_names("\n".join(cell.source for cell in notebook.code_cells))
    return sorted(name for name in names if name != "grader" and importlib.util.find_spec(name) is not None)


def plain_of(run: CellsRun, name: str, notebook: StudentNotebook) -> Any:
    """The value of `name` as plain Python (floats, ints, text, nested lists) for a key; ValueError
    saying why there is none."""
    value = run.values.get(name)
    if value is None or not value.ok:
        why = value.error if value is not None and value.error else \
            _why_unset(run, name, notebook, _failed_setter(run, name, notebook))[0]
        raise ValueError(f"`{name}` has no value: {why}")
    return _plain(rebuild(value.nodes))


def _plain(value: Any) -> Any:
    if isinstance(value, Array):
        return value.values.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _why_unset(run: CellsRun, name: str, notebook: StudentNotebook,
               failed_setter: CellOutcome | None) -> tuple[str, int | None]:
    if run.ended:
        return f"the run was stopped ({run.ended})", None
    if failed_setter:
        return f"cell {failed_setter.cell}, which sets it, failed: {failed_setter.error}", failed_setter.cell
    assigning = [cell.cell for cell in notebook.code_cells if cell.assigns(name)]
    if assigning:
        return f"cell {assigning[-1]} sets it but did not finish", None
    failed = run.failed_cells()
    if failed:
        return f"no cell assigns `{name}` (the first cell that failed is cell {failed[0].cell}: {failed[0].error})", None
    return f"no cell assigns `{name}`", None


def _answer(value: Any) -> Any:
    """Rebuilt output -> answer form: floats, ints, bools, text, None and nested lists, as an answer
    file's would be read except that floats stay floats (computed, not typed: no digits to count)
    and NaN and infinities are NonFinite markers, as in answer files."""
    value = _plain(value)
    if isinstance(value, list):
        return [_answer(item) for item in value]
    if type(value) is float and not math.isfinite(value):
        return NonFinite("NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity")
    return value
