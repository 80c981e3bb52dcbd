"""Rubric schema: an assessment's questions, parts, marks, answer kinds and canonical answers.

Rubrics are YAML files validated in two passes: the structure with pydantic, then each check's
kind, options and answer against that kind's comparator. Every problem is reported at once with
the file, the line and the field, before any submission is graded.

A part is graded by one or more criteria, each worth some marks. A part with `kind`/`answer` at
its top level is one criterion; a part with `criteria:` splits its marks, each criterion carrying
its own check (optionally on one `field` of the student's answer) or none, in which case a person
marks it. `kind: manual` marks the whole part for a person (essays).
"""

from __future__ import annotations

import datetime
import difflib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader import kinds
from grader.cells.spec import FUNCTIONS, NOTEBOOK, NotebookSpec
from grader.errors import Problem, RubricError
from grader.program.spec import ProgramSpec
from grader.yamlsource import SourceMap, load_yaml
from reference.graph import StepGraph

if TYPE_CHECKING:
    from grader.program.run import ProgramSetup
# grader.program.{calibration,run,functions} and the solvers (torch, numpy) are imported where a key
# is computed or a program section loaded: a rubric read back with its computed key never needs them

SCHEMA_VERSION = 1
PROGRAM = "program"  # the pseudo solver instance holding the program section's outputs
RESERVED_COLUMNS = {"student_id", "student_name", "total", "max_score", "manual_pending", "status", "source"}
Id = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)
MAX_MARKS = 1e6  # per part or criterion, so that every total stays finite


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Criterion(_Strict):
    """A share of a part's marks with its own check, or for a person to award when it has no kind."""

    id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)
    description: str = Field(min_length=1, description="what earns the marks; students see it only for "
                             "automatic checks or where answers are shown, since markers' notes often hold the answer")
    label: str | None = Field(None, description="a name for students that is always safe to show")
    marks: float = Field(gt=0, le=MAX_MARKS)
    kind: str | None = None
    options: dict[str, Any] = {}
    answer: Any = None
    solution: str | None = Field(None, description="the canonical answer is this solver output: INSTANCE.OUTPUT")
    value: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200, description=(
        "for notebook submissions: this criterion checks the value the notebook's code leaves in this variable "
        "(default: the part's `value`)"))
    field: str | None = Field(None, description="grade this key of the student's answer object instead of the whole answer")
    follow_through: float | None = Field(None, ge=0, le=1, description="share of the marks for a wrong answer that follows "
                                     "correctly from the student's own wrong earlier answers; overrides the assessment's")

    @property
    def manual(self) -> bool:
        return self.kind is None or self.kind == "manual"


class Part(_Strict):
    id: str = Id
    prompt: str = ""
    marks: float | None = Field(None, gt=0, le=MAX_MARKS)
    kind: str | None = None
    options: dict[str, Any] = {}
    answer: Any = None
    solution: str | None = Field(None, description="the canonical answer is this solver output: INSTANCE.OUTPUT")
    value: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200, description=(
        "for notebook submissions: the answer is the value the notebook's code leaves in this variable when its "
        "cells run (the notebook section); answer files answer the part by its id as usual"))
    criteria: list[Criterion] = []
    feedback: str = Field("", description="shown to the student when the part is not fully right")
    show_answer: bool | None = Field(None, description="overrides the assessment's show_answers for this part")
    follow_through: float | None = Field(None, ge=0, le=1, description="share of the marks for a wrong answer that follows "
                                     "correctly from the student's own wrong earlier answers; overrides the assessment's")

    @model_validator(mode="after")
    def _shape(self) -> "Part":
        if self.criteria:
            if self.kind not in (None, "manual"):
                raise ValueError("a part with criteria puts each check in its criterion, not kind at the part")
            if self.answer is not None or self.solution is not None or self.options:
                raise ValueError("a part with criteria puts answer, solution and options in its criteria")
            total = sum(c.marks for c in self.criteria)
            if self.marks is not None and abs(total - self.marks) > 1e-9:
                raise ValueError(f"marks is {self.marks:g} but its criteria add up to {total:g}")
            ids = [c.id or c.field for c in self.criteria if c.id or c.field]
            if len(ids) != len(set(ids)):
                raise ValueError("criterion ids must be unique within a part")
            if self.kind == "manual" and any(not c.manual for c in self.criteria):
                raise ValueError("a manual part cannot have criteria with automatic checks")
        else:
            if self.kind is None:
                raise ValueError("a part needs a kind (or criteria)")
            if self.marks is None:
                raise ValueError("a part needs marks")
        return self

    @property
    def total_marks(self) -> float:
        return self.marks if self.marks is not None else sum(c.marks for c in self.criteria)

    @property
    def manual(self) -> bool:
        return all(c.manual for c in self.items())

    def items(self) -> list[Criterion]:
        """The part's criteria; a part without any is one criterion with the part's own check."""
        if self.criteria:
            return [c.model_copy(update={"id": c.id or c.field or f"c{i + 1}", "value": c.value or self.value})
                    for i, c in enumerate(self.criteria)]
        return [Criterion(id="answer", description=self.prompt or self.id, marks=self.marks or 0.0, kind=self.kind,
                          options=self.options, answer=self.answer, solution=self.solution, value=self.value,
                          follow_through=self.follow_through)]

    def item_locs(self) -> list[tuple]:
        """Field paths (within the part) of each item's check, for error messages."""
        return [("criteria", i) for i in range(len(self.criteria))] if self.criteria else [()]


class SolverSpec(_Strict):
    """One run of a reference solver; its outputs are named INSTANCE.OUTPUT in `solution:`."""

    solver: str
    params: dict[str, Any] = {}
    note: str = Field("", description="how an inconsistent source was read, or anything a reviewer should know")


class Question(_Strict):
    id: str = Id
    title: str = ""
    prompt: str = ""
    parts: list[Part] = Field(min_length=1)

    @property
    def total_marks(self) -> float:
        return sum(p.total_marks for p in self.parts)


class LatePolicy(_Strict):
    """Marks lost for handing in after `due`: `per_day` of the total for each day or part of a
    day late, after `grace_minutes`; nothing is earned more than `max_days` late."""

    grace_minutes: float = Field(0, ge=0, le=10_080)
    per_day: float = Field(ge=0, le=1, description="share of the marks lost per day or part of a day late")
    max_days: int | None = Field(None, ge=0, le=365, description="beyond this many days late, 0 marks")


class QuestionGroup(_Strict):
    """Questions of which only the best `choose` count ("answer three of four"): a student who
    answers more gets the best scores counted, and the assessment's total counts the group's
    `choose` largest question totals."""

    id: str = Id
    title: str = ""
    questions: list[str] = Field(min_length=2, description="ids of the group's questions")
    choose: int = Field(ge=1, description="how many of them count")

    @model_validator(mode="after")
    def _sizes(self) -> "QuestionGroup":
        if len(set(self.questions)) != len(self.questions):
            raise ValueError("a question is listed twice in the group")
        if self.choose >= len(self.questions):
            raise ValueError(f"choose is {self.choose} of {len(self.questions)} questions; a group counts fewer than "
                             "it has (leave out the group to count them all)")
        return self


class Assessment(_Strict):
    """The root of a rubric file."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str = Id
    title: str = ""
    show_answers: bool = Field(False, description="let student feedback quote the expected answers")
    defaults: dict[str, dict[str, Any]] = Field({}, description="default options per answer kind")
    solvers: dict[str, SolverSpec] = Field({}, description="named reference-solver runs whose outputs checks use")
    notebook: NotebookSpec | None = Field(None, description="how a notebook's cells run for the parts with `value:` "
                                          "(limits), and the reference notebook whose values are solution: "
                                          "notebook.NAME; defaults apply where it is left out")
    program: ProgramSpec | None = Field(None, description="the notebook's model: how the `program` checks build, "
                                        "train and probe it; its outputs are solution: program.contract, "
                                        "program.convergence and program.functions")
    follow_through: float = Field(
        1.0, ge=0, le=1,
        description="share of a check's marks earned by a wrong answer that follows correctly from the student's "
        "own wrong earlier answers to the same solver's outputs (error carried forward); 0 turns it off")
    questions: list[Question] = Field(min_length=1)
    groups: list[QuestionGroup] = Field([], description="groups of questions of which only the best few count")
    due: datetime.datetime | None = Field(None, description="when submissions are due, with a time zone "
                                          "(2026-12-01T23:59:00+00:00); later ones lose marks by `late`")
    late: LatePolicy | None = None

    @model_validator(mode="after")
    def _due_has_a_zone_and_a_policy(self) -> "Assessment":
        if self.due is not None and self.due.tzinfo is None:
            raise ValueError("due needs a time zone, e.g. 2026-12-01T23:59:00+00:00 (or Z)")
        if (self.due is None) != (self.late is None):
            raise ValueError("due and late go together: a due date and the penalty for missing it")
        return self

    @model_validator(mode="after")
    def _groups_name_questions_once(self) -> "Assessment":
        ids = {q.id for q in self.questions}
        seen: dict[str, str] = {}
        for group in self.groups:
            for qid in group.questions:
                if qid not in ids:
                    raise ValueError(f"group {group.id!r} names question {qid!r}, which the rubric does not have")
                if qid in seen:
                    raise ValueError(f"question {qid!r} is in groups {seen[qid]!r} and {group.id!r}; one at most")
                seen[qid] = group.id
        return self

    @model_validator(mode="after")
    def _question_ids_are_not_gradebook_columns(self) -> "Assessment":
        clash = sorted({q.id for q in self.questions} & RESERVED_COLUMNS)
        if clash:
            raise ValueError(f"question id(s) {', '.join(clash)} would clash with gradebook columns")
        if PROGRAM in self.solvers:
            raise ValueError(f"the solver instance name {PROGRAM!r} is reserved for the program section's outputs")
        return self

    @property
    def total_marks(self) -> float:
        """Marks a student can earn: every question outside groups, and each group's best `choose`."""
        marks = {q.id: q.total_marks for q in self.questions}
        return sum(marks[qid] for qid in self.counted(marks))

    def counted(self, scores: dict[str, float]) -> list[str]:
        """The questions whose `scores` count: all outside groups, and in each group the `choose`
        best (ties to the question listed first), in rubric order."""
        dropped: set[str] = set()
        for group in self.groups:
            ranked = sorted(group.questions, key=lambda qid: (-scores.get(qid, 0.0), group.questions.index(qid)))
            dropped.update(ranked[group.choose:])
        return [q.id for q in self.questions if q.id not in dropped]

    def parts(self) -> list[tuple[Question, Part]]:
        return [(q, p) for q in self.questions for p in q.parts]


@dataclass(frozen=True)
class Computed:
    """What computing a rubric's key produced (grader.key keeps it in the key cache), so that the
    rubric can be read back without running a solver, the reference notebook or the program section."""

    references: dict[tuple[str, str], Any]  # each automatic check's canonical answer, as its comparator takes it
    sources: dict[tuple[str, str], str]  # check -> the solver output it comes from
    solutions: dict[str, dict[str, Any]]
    stepped: frozenset[str]  # the solver instances with a step graph (follow-through)
    preload: list[str]
    data: Any = None  # the rubric file's content, when it was kept: not parsed again


class _Graphs(Mapping[str, StepGraph]):
    """The step graphs of a rubric read back with its key. A graph is code, not data, so each is
    built again from its solver's parameters on first use (follow-through needs few); building
    one runs no solver."""

    def __init__(self, specs: dict[str, SolverSpec], names: frozenset[str]):
        self._specs, self._names, self._built = specs, names, {}

    def __getitem__(self, name: str) -> StepGraph:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._built:
            import reference as solvers
            from reference.registry import CHECKED

            solver = solvers.get(self._specs[name].solver)
            params = solver.Params.model_validate(self._specs[name].params, context=CHECKED)
            self._built[name] = solver(params).steps()
        return self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names))

    def __len__(self) -> int:
        return len(self._names)


class Rubric:
    """A validated assessment with the comparator of every automatic check, ready to grade with."""

    def __init__(self, assessment: Assessment, source: str):
        self.assessment = assessment
        self.source = source
        self.comparators: dict[tuple[str, str], kinds.Comparator] = {}
        self.references: dict[tuple[str, str], Any] = {}
        self.solutions: dict[str, dict[str, Any]] = {}  # solver instance -> output name -> value
        self.sources: dict[tuple[str, str], str] = {}  # check -> the solver output it comes from
        self.graphs: Mapping[str, StepGraph] = {}  # solver instance -> its step graph, for follow-through
        self.program: ProgramSetup | None = None  # what notebook runs share, when there is a program section
        self.preload: list[str] = []  # modules the warm sandbox imports for the `value:` parts' notebooks
        self.computed: Computed | None = None  # set when read back with its key: no solver ran, no program loaded

    def with_program(self) -> Rubric:
        """This rubric with its program section loaded (what a notebook's sandboxed run needs): itself,
        or, for one read back with its key, the rubric loaded afresh (once)."""
        if self.assessment.program is None or self.program is not None:
            return self
        return self._loaded

    @cached_property
    def _loaded(self) -> Rubric:
        return load_rubric(self.source)

    @cached_property
    def part_index(self) -> dict[str, tuple[Question, Part]]:
        return {p.id: (q, p) for q, p in self.assessment.parts()}

    @cached_property
    def part_items(self) -> dict[str, list[Criterion]]:
        """Each part's criteria (`Part.items`), made once: scoring asks for them per submission."""
        return {p.id: p.items() for _, p in self.assessment.parts()}

    def options_for(self, item: Criterion) -> dict[str, Any]:
        return {**self.assessment.defaults.get(item.kind or "", {}), **item.options}

    def follow_through_share(self, part: Part, item: Criterion) -> float:
        for share in (item.follow_through, part.follow_through):
            if share is not None:
                return share
        return self.assessment.follow_through


def _unexpected(exc: Exception) -> str:
    """An error no check anticipated: reported at its field like any other, never as a traceback."""
    return f"unexpected {type(exc).__name__}: {str(exc)[:300]} (a grader bug: please report it with this rubric)"


def _non_finite(value: Any, loc: tuple = ()) -> list[tuple]:
    """Where a validated value holds inf or nan."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [loc]
    if isinstance(value, dict):
        return [bad for key, item in value.items() for bad in _non_finite(item, loc + (key,))]
    if isinstance(value, (list, tuple)):
        return [bad for index, item in enumerate(value) for bad in _non_finite(item, loc + (index,))]
    return []


def _validate(model: type[BaseModel], data: Any, loc: tuple, where: SourceMap, problems: list[Problem]) -> Any:
    """`data` validated by `model` (a kind's options, a solver's parameters), or None with its problems
    added: pydantic's, an unexpected error, and inf or nan, which pydantic reads from the strings
    "inf" and "nan" in models that do not forbid them."""
    try:
        value = model.model_validate(data)
        bad = _non_finite(value.model_dump())
    except ValidationError as exc:
        problems += where.validation_problems(exc, loc)
        return None
    except Exception as exc:
        problems.append(where.problem(loc, _unexpected(exc)))
        return None
    problems += [where.problem(loc + field, "must be a finite number") for field in bad]
    return None if bad else value


def _solve(rubric: Rubric, where: SourceMap) -> list[Problem]:
    """Run every named solver on its validated parameters; an unusable one is a load error."""
    import reference as solvers

    problems: list[Problem] = []
    graphs: dict[str, StepGraph] = {}
    rubric.graphs = graphs
    for instance, spec in rubric.assessment.solvers.items():
        loc = ("solvers", instance)
        try:
            solver_cls = solvers.get(spec.solver)
        except KeyError as exc:
            problems.append(where.problem(loc + ("solver",), exc.args[0]))
            continue
        params = _validate(solver_cls.Params, spec.params, loc + ("params",), where, problems)
        if params is None:
            continue
        try:
            solver = solver_cls(params)
            outputs = solver.solve()
            graph = solver.steps()
            if graph is not None:
                graph.check_against(outputs)
                graphs[instance] = graph
            rubric.solutions[instance] = outputs
        except (ValueError, ArithmeticError) as exc:
            problems.append(where.problem(loc + ("params",), f"the {spec.solver} solver cannot solve these: {exc}"))
        except Exception as exc:
            problems.append(where.problem(loc + ("params",), f"the {spec.solver} solver failed: {_unexpected(exc)}"))
    return problems


def _load_program(rubric: Rubric, where: SourceMap, calibrated: bool) -> list[Problem]:
    """The program section's shared data and its outputs: `contract` (what checks compare with)
    and `convergence` (thresholds per calibrated device, from the calibration file)."""
    spec = rubric.assessment.program
    if spec is None:
        return []
    from grader.program.calibration import (Calibration, CalibrationError, calibration_path, read_calibration,
                                            reference_notebook, thresholds)
    from grader.program.functions import shown_inputs
    from grader.program.run import ProgramSetup, ProgramSetupError

    rubric_path = Path(rubric.source)
    try:
        setup = ProgramSetup.load(spec, rubric_path.parent)
        source = reference_notebook(setup).source
    except (ProgramSetupError, CalibrationError) as exc:
        return [where.problem(("program",), str(exc))]
    path = calibration_path(rubric_path, setup)
    try:
        calibration = read_calibration(path, rubric.source)
    except CalibrationError as exc:
        if calibrated:
            return [where.problem(("program",), str(exc))]
        calibration = Calibration()  # `grader calibrate` is about to replace the broken file
    rubric.program = setup
    convergence, problems = {}, []
    for device in spec.training.budgets:
        entry = calibration.devices.get(device)
        if entry is not None and entry.fingerprint == setup.fingerprint(device, source):
            convergence[device] = thresholds(entry, setup)
        elif calibrated and device == "cpu":
            why = "has no entry for it" if entry is None else \
                "is stale: the corpus, the budget, the contract, the harness or the reference notebook changed"
            problems.append(where.problem(("program", "training", "budgets", device), (
                f"the calibration file {path} {why}; run `grader calibrate {rubric.source} --device {device}`")))
    contract = {"chars": setup.chars, **spec.model.model_dump(), "generation": spec.generation.model_dump()}
    functions = {name: {"call": function.call, "labels": function.labels,
                        "cases": [{"name": case.name, "what": case.what, "show_inputs": case.show_inputs,
                                   "inputs": shown_inputs(case)} for case in function.cases]}
                 for name, function in spec.functions.items()}
    rubric.solutions[PROGRAM] = {"contract": contract, "convergence": convergence, "functions": functions}
    return problems


def _load_notebook(rubric: Rubric, where: SourceMap) -> list[Problem]:
    """Run the reference notebook's cells once, in the sandbox, for the values named by `solution:
    notebook.NAME` and the outputs of notebook.functions on their cases (`solution:
    notebook.functions`): those are the key (`rubric.solutions["notebook"]`)."""
    from grader.cells.computed import installed_imports, plain_of, run_cells  # only for rubrics that need them
    from grader.notebook import read_notebook
    from grader.program.functions import shown_inputs

    spec = rubric.assessment.notebook
    wanted = sorted({item.solution.partition(".")[2] for _, part in rubric.assessment.parts() for item in part.items()
                     if item.solution and item.solution.partition(".")[0] == NOTEBOOK} - {FUNCTIONS})
    rubric.preload = list(spec.preload or []) if spec else []
    if spec is None or spec.reference is None:
        if wanted or (spec and spec.functions):
            return [where.problem(("notebook",) if spec else (), "solution: notebook.NAME and notebook.functions "
                                  "need notebook.reference, the notebook whose cells compute the key")]
        return []
    path = Path(rubric.source).parent / spec.reference
    notebook = read_notebook(path)
    if not notebook.readable:
        return [where.problem(("notebook", "reference"), notebook.error or f"{path} cannot be read")]
    if spec.preload is None:
        rubric.preload = installed_imports(notebook)
    run = run_cells(notebook, spec, wanted, preload=rubric.preload)
    values, problems = {}, []
    for name in wanted:
        try:
            values[name] = plain_of(run, name, notebook)
        except ValueError as exc:
            problems.append(where.problem(("notebook", "reference"), f"the reference notebook {path}: {exc}"))
    values[FUNCTIONS] = {name: {"call": function.call, "labels": function.labels,
                                "cases": [{"name": case.name, "what": case.what, "show_inputs": case.show_inputs,
                                           "inputs": shown_inputs(case)} for case in function.cases],
                                "outputs": [case.model_dump(mode="json") for case in run.functions.get(name, [])]}
                         for name, function in spec.functions.items()}
    if run.ended and spec.functions:
        problems.append(where.problem(("notebook", "reference"), f"the reference notebook {path} was stopped: "
                                      f"{run.ended}"))
    rubric.solutions[NOTEBOOK] = values
    return problems


def _answer_of(rubric: Rubric, item: Criterion) -> tuple[Any, str | None]:
    """The check's canonical answer and, for solver outputs, where it came from; ValueError if unknown."""
    if item.solution is None:
        return item.answer, None
    instance, _, output = item.solution.partition(".")
    if instance not in rubric.assessment.solvers and instance not in (PROGRAM, NOTEBOOK):
        known = ", ".join(rubric.assessment.solvers) or "none"
        raise ValueError(f"no solver instance {instance!r} in solvers (defined: {known})")
    outputs = rubric.solutions.get(instance)
    if outputs is None and instance == PROGRAM and rubric.assessment.program is None:
        raise ValueError(f"{item.solution} needs a program: section describing the notebook's model")
    if outputs is None and instance == NOTEBOOK:
        raise ValueError(f"{item.solution} needs notebook.reference, the notebook whose cells compute the key")
    if outputs is None:
        failed = "the program section" if instance == PROGRAM else f"solver instance {instance!r}"
        raise ValueError(f"{failed} failed, see its own error")
    if output not in outputs:
        hint = difflib.get_close_matches(output, list(outputs), n=3)
        raise ValueError(f"solver {instance!r} has no output {output!r}"
                         + (f"; did you mean {', '.join(hint)}?" if hint else f"; it has {', '.join(list(outputs)[:20])}"))
    return outputs[output], item.solution


def _compile(rubric: Rubric, where: SourceMap, calibrated: bool) -> list[Problem]:
    """Build each check's comparator and reference; collect every problem with its place. A rubric
    read back with its key (`rubric.computed`) takes the references from it instead of computing them."""
    computed = rubric.computed
    problems: list[Problem] = []
    if computed is not None:
        rubric.solutions, rubric.preload = computed.solutions, computed.preload
        rubric.graphs = _Graphs(rubric.assessment.solvers, computed.stepped)
    else:
        problems += _solve(rubric, where)
        try:
            problems += _load_program(rubric, where, calibrated)
        except Exception as exc:
            problems.append(where.problem(("program",), _unexpected(exc)))
        try:
            problems += _load_notebook(rubric, where)
        except Exception as exc:
            problems.append(where.problem(("notebook",), _unexpected(exc)))
    seen_parts: dict[str, tuple] = {}
    seen_questions: set[str] = set()
    for kind, options in rubric.assessment.defaults.items():
        try:
            _validate(kinds.get(kind).Options, options, ("defaults", kind), where, problems)
        except KeyError as exc:
            problems.append(where.problem(("defaults", kind), exc.args[0]))
    for qi, question in enumerate(rubric.assessment.questions):
        if question.id in seen_questions:
            problems.append(where.problem(("questions", qi, "id"), f"question id {question.id!r} is used twice"))
        seen_questions.add(question.id)
        for pi, part in enumerate(question.parts):
            part_loc = ("questions", qi, "parts", pi)
            if part.id in seen_parts:
                problems.append(where.problem(part_loc + ("id",), f"part id {part.id!r} is used twice"))
            seen_parts[part.id] = part_loc
            for item, item_loc in zip(part.items(), part.item_locs()):
                loc = part_loc + item_loc
                if item.manual:
                    if item.answer is not None or item.solution is not None:
                        problems.append(where.problem(loc + ("answer",), "a manual check takes no answer"))
                    continue
                try:
                    comparator_cls = kinds.get(item.kind)
                except KeyError as exc:
                    problems.append(where.problem(loc + ("kind",), exc.args[0]))
                    continue
                options = _validate(comparator_cls.Options, rubric.options_for(item), loc + ("options",), where,
                                    problems)
                if options is None:
                    continue
                try:
                    comparator = comparator_cls(options)
                except Exception as exc:
                    message = str(exc) if isinstance(exc, ValueError) else _unexpected(exc)
                    problems.append(where.problem(loc + ("options",), message))
                    continue
                field = "solution" if item.solution is not None else "answer"
                if (item.answer is None) == (item.solution is None):
                    problems.append(where.problem(loc + (field,), f"kind {item.kind!r} needs exactly one of answer "
                                                  "(a literal) or solution (a solver output)"))
                    continue
                if computed is not None:
                    if (part.id, item.id) not in computed.references:
                        raise ValueError(f"the computed key has no answer for {part.id}/{item.id}")
                    rubric.comparators[(part.id, item.id)] = comparator
                    rubric.references[(part.id, item.id)] = computed.references[(part.id, item.id)]
                    if (part.id, item.id) in computed.sources:
                        rubric.sources[(part.id, item.id)] = computed.sources[(part.id, item.id)]
                    continue
                try:
                    value, source = _answer_of(rubric, item)
                    reference = comparator.reference(value)
                    if _non_finite(reference):  # the key and results are JSON, which has no inf or nan
                        raise ValueError("the answer holds a number that is not finite (inf or nan)")
                    json.dumps(reference)
                except (ValueError, TypeError) as exc:
                    problems.append(where.problem(loc + (field,), str(exc)))
                    continue
                except Exception as exc:
                    problems.append(where.problem(loc + (field,), _unexpected(exc)))
                    continue
                rubric.comparators[(part.id, item.id)] = comparator
                rubric.references[(part.id, item.id)] = reference
                if source:
                    rubric.sources[(part.id, item.id)] = source
    return problems


def load_rubric(path: str | Path, *, calibrated: bool = True, computed: Computed | None = None) -> Rubric:
    """Load and validate a rubric file; raise RubricError listing every problem with file and line.

    `calibrated=False` lets a program section load without a current CPU calibration (for `grader
    calibrate`, which writes it); its convergence checks then have no thresholds for that device.
    Nothing but RubricError escapes: an error no check anticipated becomes a problem too.
    With `computed` (grader.key's cache of what computing the key produced), nothing is computed.
    """
    try:
        return _load(path, calibrated, computed)
    except RubricError:
        raise
    except RecursionError:
        raise RubricError([Problem(str(path), None, "", "nested too deeply to check; flatten it")]) from None
    except Exception as exc:
        raise RubricError([Problem(str(path), None, "", _unexpected(exc))]) from None


def _load(path: str | Path, calibrated: bool, computed: Computed | None) -> Rubric:
    if computed is not None and computed.data is not None:
        data, where = computed.data, SourceMap(str(path), {})
    else:
        data, where = load_yaml(path)
    if not isinstance(data, dict):
        raise RubricError([where.problem((), "a rubric is a mapping with id, title and questions")])
    try:
        assessment = Assessment.model_validate(data)
    except ValidationError as exc:
        raise RubricError(where.validation_problems(exc)) from None
    rubric = Rubric(assessment, str(path))
    rubric.computed = computed
    problems = _compile(rubric, where, calibrated)
    if problems:
        raise RubricError(problems)
    return rubric


def json_schema() -> dict[str, Any]:
    """JSON Schema of rubric files, for editors' completion: each kind's options are attached to it."""
    schema = Assessment.model_json_schema(ref_template="#/$defs/{model}")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "grader rubric"
    defs = schema.setdefault("$defs", {})
    rules = []
    for name in kinds.names():
        options = kinds.get(name).Options.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(options.pop("$defs", {}))
        defs[f"options.{name}"] = options
        rules.append({"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
                      "then": {"properties": {"options": {"$ref": f"#/$defs/options.{name}"}}}})
    for model in ("Part", "Criterion"):
        defs[model]["properties"]["kind"] = {"enum": kinds.names(), "description": "answer kind"}
        defs[model]["allOf"] = rules
    return schema
