"""`grader import nbgrader`: a starting rubric from an nbgrader source notebook, read statically.

Courses switching from nbgrader keep their notebooks; this turns the source notebook's grading
into rubric parts so nobody retypes it (docs/nbgrader.md has the forms and the rules):

- an autograder test cell (code, `grade: true, solution: false`) is a part with the cell's grade_id
  and points; each assert of a recognised form (np.isclose, math.isclose, abs(X - V) < tol,
  np.allclose, np.testing.assert_allclose, X == literal) checks the notebook variable X (`value:
  X`) against what the source notebook itself computes (`solution: notebook.X`): its solution
  regions hold the working code, while the assert's literal was typed by hand, so that goes in a
  comment for the instructor to compare;
- a manually graded cell (`grade: true, solution: true`) or task cell is a `kind: manual` part;
- what cannot be translated is listed and keeps its share of the points, marked by hand, so the
  rubric's total is the notebook's.

Nothing is run: cells are parsed with `ast` as the notebook reader parses them, within its bounds
(grader.notebook.files, grader.notebook.definitions).
"""

from __future__ import annotations

import ast
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grader.notebook import NBGRADER, PART_ID
from grader.notebook.definitions import MAX_CODE, bound_names, extract_definitions, parse_cell, qualified_name
from grader.notebook.files import Cell, describe, open_notebook, shown
from grader.notebook.model import CellNote
from grader.textsafety import encodable, printable

MAX_PROMPT = 2000  # characters of a prompt cell kept; a question's text, not pages
MAX_SHOWN = 80  # characters of code quoted in a comment or message
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
SOLUTION_MARK = "### BEGIN SOLUTION"
ABS_CALLS = frozenset({"abs", "numpy.abs", "numpy.absolute", "math.fabs"})
ARRAY_CALLS = frozenset({"numpy.array", "numpy.asarray"})


@dataclass(frozen=True)
class _Tolerances:
    """A tolerance test: whether it compares numbers when V has no literal shape, and (parameter,
    option, default) for each tolerance it takes, in positional order (math.isclose's are keywords)."""

    number: bool
    parameters: tuple[tuple[str, str, float], ...]
    positional: bool = True
    asserts: bool = False  # raises by itself: a test as a statement, not in an assert


TOLERANCE_CALLS = {
    "numpy.isclose": _Tolerances(True, (("rtol", "rtol", 1e-05), ("atol", "atol", 1e-08))),
    "math.isclose": _Tolerances(True, (("rel_tol", "rtol", 1e-09), ("abs_tol", "atol", 0.0)), positional=False),
    "numpy.allclose": _Tolerances(False, (("rtol", "rtol", 1e-05), ("atol", "atol", 1e-08))),
    "numpy.testing.assert_allclose": _Tolerances(False, (("rtol", "rtol", 1e-07), ("atol", "atol", 0.0)), asserts=True),
}
BLOCKS = {  # what they test depends on running them
    (ast.For, ast.AsyncFor, ast.While): "a loop", ast.If: "an if-block", (ast.With, ast.AsyncWith): "a with-block",
    (ast.Try, ast.TryStar): "a try-block", ast.Match: "a match-block"}
HARMLESS_KEYWORDS = frozenset({"equal_nan", "err_msg", "verbose"})  # change nothing for finite answers
EXACT = {"rtol": 0.0, "atol": 0.0}


class _Flow(dict):
    """A mapping written on one line (`options: {rtol: 1.0e-05, atol: 1.0e-08}`)."""


class _Dumper(yaml.SafeDumper):
    """pyyaml's safe dumper, with _Flow mappings in flow style."""


_Dumper.add_representer(_Flow, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data.items(), flow_style=True))


class NbgraderError(ValueError):
    """A notebook that gives no rubric; the message starts with the file's path."""


class _Untranslatable(Exception):
    """Why one test could not be translated (a phrase)."""


@dataclass
class CellTest:
    """One thing a test cell tests: a check on a notebook variable, or `why` it could not be read."""

    line: int
    hidden: bool
    code: str  # the statement, shortened, for comments
    kind: str | None = None
    value: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    compared: str = ""  # what the test compares with, as written
    why: str = ""


@dataclass
class Imported:
    """The rubric's text and what the instructor should know about it."""

    text: str
    parts: int
    marks: float
    manual_marks: float
    untranslated: list[str]  # "cell 7 (grade_id q3_test), line 2: assert of a function call, `f(1)`"
    skipped: list[str]  # cells nbgrader grades that are left out of the rubric: "cell 3: it has 0 points"
    warnings: list[str]


def rubric_id(notebook: Path, given: str | None) -> str:
    """The rubric's id: `given`, else the notebook's name made into an id. Raises NbgraderError."""
    if given is not None:
        if not PART_ID.fullmatch(given):
            raise NbgraderError(f"--id {shown(given)} is not an id (letters, digits, . _ -, at most 64)")
        return given
    made = re.sub(r"[^A-Za-z0-9_.\-]+", "-", notebook.stem).lstrip("_.-")[:64]
    if not made:
        raise NbgraderError(f"{notebook}: its name makes no rubric id; give one with --id")
    return made


def import_nbgrader(notebook: str | Path, rubric: str | Path, given_id: str | None = None) -> Imported:
    """The starting rubric for the nbgrader source `notebook`, to be written at `rubric` (its
    `notebook.reference` is relative to it). Raises NotebookError, NbgraderError."""
    notebook, rubric = Path(notebook), Path(rubric)
    assessment_id = rubric_id(notebook, given_id)
    opened = open_notebook(notebook)
    cells = opened.cells
    aliases = extract_definitions([(c.number, c.source) for c in cells if c.type == "code"]).aliases
    labels, skipped = _labels(cells)
    questions: list[tuple[list[str], dict]] = []
    untranslated: list[str] = []
    budget = MAX_CODE
    for index, cell in enumerate(cells):
        label = labels.get(cell.number)
        if label is None:
            continue
        grade_id, points = label["grade_id"], label["points"]
        where = f"cell {cell.number} (grade_id {grade_id})"
        if cell.type == "code" and not label["solution"] and not label["task"]:
            if len(cell.source) > budget:
                tests = [CellTest(1, False, "", why=f"its {len(cell.source)} characters of code are more than the "
                                                f"{budget} left of the {MAX_CODE} read")]
            else:
                budget -= len(cell.source)
                tests = _tests(cell, aliases)
            untranslated += [f"{where}, line {t.line}: {t.why}" for t in tests if t.kind is None]
            comments, part = _tested_part(where, grade_id, points, tests)
        else:
            what = ("a task" if label["task"] else "a code answer, read in the notebook" if cell.type == "code"
                    else "a written answer (the student's text in this cell)")
            comments, part = [f"{where}: {what}, marked by hand"], {"id": grade_id, "kind": "manual", "marks": points}
        prompt = _bounded(cell.source.strip()) if label["task"] else _prompt(cells, index, labels)
        if prompt:
            part = {"id": part.pop("id"), "prompt": prompt, **part}
        questions.append((comments, {"id": grade_id, "parts": [part]}))
    if not questions:
        raise NbgraderError(f"{notebook}: has no cell nbgrader grades (metadata nbgrader with grade: true and "
                            "points, or task: true); is it an nbgrader source notebook?"
                            + "".join(f"\n  left out: {line}" for line in skipped))
    warnings = [f"{notebook}, {note}" for note in opened.notes if note.kind in ("cell", "limit")]  # cells not read
    if not any(SOLUTION_MARK in c.source for c in cells):
        warnings.append(f"{notebook}: no cell has a `{SOLUTION_MARK}` region: if it is a released notebook, its "
                        "code computes no key; import and reference the source notebook")
    parts = [q["parts"][0] for _, q in questions]
    manual = sum(p.get("marks", 0) for p in parts if p.get("kind") == "manual") + sum(
        c["marks"] for p in parts for c in p.get("criteria", []) if "kind" not in c)
    total = sum(p["marks"] for p in parts)
    text = _render(notebook, rubric, assessment_id, _title(cells, notebook), questions)
    return Imported(text, len(parts), total, manual, untranslated, skipped, warnings)


def _labels(cells: list[Cell]) -> tuple[dict[int, dict], list[str]]:
    """cell number -> its nbgrader metadata, for the cells graded (points) or tasks; and the cells
    that claim to be and are left out, with why."""
    labels: dict[int, dict] = {}
    skipped: list[str] = []
    seen: dict[str, int] = {}
    for cell in cells:
        meta = cell.metadata.get(NBGRADER)
        if meta is None:
            continue
        if not isinstance(meta, dict):
            skipped.append(f"cell {cell.number}: metadata nbgrader is {describe(meta)}, not an object")
            continue
        flags = {key: meta.get(key, False) for key in ("grade", "solution", "task")}
        bad = next((key for key, flag in flags.items() if not isinstance(flag, bool)), None)
        if bad is not None:
            skipped.append(f"cell {cell.number}: metadata nbgrader.{bad} is {shown(meta[bad])}, not true or false")
            continue
        if not (flags["grade"] or flags["task"]):
            continue
        grade_id, points = meta.get("grade_id"), meta.get("points")
        problem = (f"its grade_id {shown(grade_id)} is not a part id (letters, digits, . _ -, at most 64)"
                   if not isinstance(grade_id, str) or not PART_ID.fullmatch(grade_id)
                   else f"its grade_id {grade_id} is also cell {seen[grade_id]}'s" if grade_id in seen
                   else f"its points are {shown(points)}, not a number" if isinstance(points, bool)
                   or not isinstance(points, (int, float)) or not math.isfinite(points)
                   else f"it has {points:g} points" if points <= 0 else None)
        if problem:
            skipped.append(f"cell {cell.number}: {problem}")
            continue
        seen[grade_id] = cell.number
        labels[cell.number] = {"grade_id": grade_id, "points": points, **flags}
    return labels, skipped


def _prompt(cells: list[Cell], index: int, labels: dict[int, dict]) -> str:
    """The text of the markdown cell above cell `index`, past code and solution cells but not past
    another graded cell; "" when there is none."""
    for cell in reversed(cells[:index]):
        if cell.number in labels:
            return ""
        meta = cell.metadata.get(NBGRADER)
        solution = isinstance(meta, dict) and meta.get("solution") is True
        if cell.type == "markdown" and not solution:
            return _bounded(cell.source.strip())
    return ""


def _bounded(text: str) -> str:
    text = encodable(text)
    return text if len(text) <= MAX_PROMPT else text[: MAX_PROMPT - 1].rstrip() + "…"


def _title(cells: list[Cell], notebook: Path) -> str:
    """The notebook's first markdown heading, else its name."""
    for cell in cells:
        if cell.type == "markdown":
            heading = re.match(r"\s*#{1,6}\s+(\S.*)", cell.source)
            if heading:
                return _bounded(heading[1].strip())[:200]
    return encodable(notebook.stem)


def _code(node: ast.AST) -> str:
    """Code quoted in a message: its first line, shortened, escapes shown."""
    text = ast.unparse(node).split("\n")[0]
    return printable(text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…")


def _tests(cell: Cell, aliases: dict[str, str]) -> list[CellTest]:
    """What a test cell tests, in order, each translated or with why not."""
    notes: list[CellNote] = []
    parsed = parse_cell(cell.number, cell.source, notes)
    if parsed is None:
        return [CellTest((notes[-1].line or 1) if notes else 1, False, "",
                         why=notes[-1].message if notes else "the test cell has no code")]
    tree, lines = parsed
    hidden = _hidden_lines(lines)
    reader = _TestReader(aliases)
    tests: list[CellTest] = []
    for node in tree.body:
        test = CellTest(node.lineno, node.lineno in hidden, _code(node))
        try:
            if not reader.statement(node, test):
                continue
        except _Untranslatable as why:
            test.why = str(why)
        tests.append(test)
    return tests or [CellTest(1, False, "", why="the test cell has no assert")]


def _hidden_lines(lines: list[str]) -> set[int]:
    """Line numbers (1-based) between nbgrader's hidden-test markers."""
    hidden: set[int] = set()
    inside = False
    for number, line in enumerate(lines, start=1):
        if line.strip() in HIDDEN:
            inside = line.strip() == HIDDEN[0]
        elif inside:
            hidden.add(number)
    return hidden


_NOT_LITERAL = object()


class _TestReader:
    """Reads a test cell's top-level statements in order, knowing the notebook's import aliases
    and what the cell has set so far (`expected = [0.1, 0.2]` is read as that literal)."""

    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases
        self.local: dict[str, ast.expr | None] = {}  # names the cell sets -> the value of a plain assignment

    def statement(self, node: ast.stmt, test: CellTest) -> bool:
        """Fill in `test` from a statement that tests; False for setup. Raises _Untranslatable."""
        if isinstance(node, ast.Assert):
            self._assert(node.test, test)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            spec = TOLERANCE_CALLS.get(qualified_name(node.value.func, self.aliases))
            if spec is None or not spec.asserts:
                raise _Untranslatable(f"a call of a helper, `{_code(node.value)}`")
            self._tolerance(node.value, spec, test)
        elif isinstance(node, tuple(BLOCKS)):
            raise _Untranslatable(next(what for kinds, what in BLOCKS.items() if isinstance(node, kinds)))
        else:  # setup: assignments, imports, definitions, displayed values
            value = node.value if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) else None
            self.local.update(dict.fromkeys(bound_names(node), value))
            return False
        return True

    def _assert(self, node: ast.expr, test: CellTest) -> None:
        spec = TOLERANCE_CALLS.get(qualified_name(node.func, self.aliases)) if isinstance(node, ast.Call) else None
        if spec is not None:
            return self._tolerance(node, spec, test)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, op, right = node.left, node.ops[0], node.comparators[0]
            if isinstance(op, (ast.Gt, ast.GtE)):
                left, right = right, left
            if isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) and isinstance(left, ast.Call) \
                    and qualified_name(left.func, self.aliases) in ABS_CALLS and len(left.args) == 1 \
                    and not left.keywords and isinstance(left.args[0], ast.BinOp) \
                    and isinstance(left.args[0].op, ast.Sub):
                return self._absolute(node, left.args[0], right, test)
            if isinstance(op, ast.Eq):
                return self._equality(left, right, test)
        if any(isinstance(n, ast.Call) for n in ast.walk(node)):
            raise _Untranslatable(f"assert of a function call, `{_code(node)}`")
        raise _Untranslatable(f"an assert of a form not recognised, `{_code(node)}`")

    def _tolerance(self, call: ast.Call, spec: _Tolerances, test: CellTest) -> None:
        """np.isclose, math.isclose, np.allclose, np.testing.assert_allclose, with their tolerances."""
        names = [name for name, _, _ in spec.parameters]
        extra = call.args[2:]
        if len(call.args) < 2 or any(isinstance(a, ast.Starred) for a in call.args) \
                or (extra and not spec.positional) or len(extra) > len(names):
            raise _Untranslatable(f"`{_code(call)}` takes arguments other than two values and their tolerances")
        given = dict(zip(names, extra))
        for keyword in call.keywords:
            if keyword.arg not in HARMLESS_KEYWORDS:
                if keyword.arg not in names:
                    raise _Untranslatable(f"`{_code(call)}` has the argument {keyword.arg or '**'}, not a tolerance")
                given[keyword.arg] = keyword.value
        test.value, other = self._checked(call.args[0], call.args[1])
        test.options = {option: self._number(given[name], f"its {name}") if name in given else default
                        for name, option, default in spec.parameters}
        test.compared = self._shown(other)
        shape = _shape(self._literal(other))
        if shape is None and not spec.number:
            raise _Untranslatable(f"`{_code(call)}` compares with `{test.compared}`, not a literal, so whether the "
                                  "answer is a vector or a matrix is unknown")
        test.kind = ("number", "vector", "matrix")[shape or 0]

    def _absolute(self, node: ast.Compare, difference: ast.BinOp, tolerance: ast.expr, test: CellTest) -> None:
        """`abs(X - V) < tol`: within tol of the key."""
        test.value, other = self._checked(difference.left, difference.right)
        atol = self._number(tolerance, "its tolerance")
        if _shape(self._literal(other)) not in (None, 0):
            raise _Untranslatable(f"`{_code(node)}` compares arrays with abs(), which an assert cannot")
        test.kind, test.options, test.compared = "number", {"mode": "absolute", "atol": atol}, self._shown(other)

    def _equality(self, left: ast.expr, right: ast.expr, test: CellTest) -> None:
        """`X == V`, V a literal: its type gives the kind; == is exact."""
        test.value, other = self._checked(left, right)
        value, test.compared = self._literal(other), self._shown(other)
        shape = _shape(value)
        if value is _NOT_LITERAL:
            raise _Untranslatable(f"`{test.value} == {test.compared}` compares with something not a literal, so "
                                  "the answer's kind is unknown")
        if isinstance(value, bool) or value is None:
            raise _Untranslatable(f"`{test.value} == {test.compared}`: no kind grades {describe(value)}")
        if isinstance(value, int):
            test.kind = "integer"
        elif isinstance(value, float):
            test.kind, test.options = "number", dict(EXACT)
        elif isinstance(value, str):
            if len(value) == 1 and value.isascii() and value.isalpha():  # a choice; the kind offers A-D by default
                last = max("D", value.upper())
                test.kind, test.options = "choice", {"choices": [chr(c) for c in range(ord("A"), ord(last) + 1)]} \
                    if last > "D" else {}
            else:
                test.kind, test.options = "text", {"case_sensitive": True}
        elif shape in (1, 2):
            test.kind, test.options = ("vector", "matrix")[shape - 1], dict(EXACT)
        else:
            raise _Untranslatable(f"`{test.value} == {test.compared}` compares with a value that is not a number, "
                                  "text, or list of numbers")

    def _checked(self, a: ast.expr, b: ast.expr) -> tuple[str, ast.expr]:
        """The notebook variable one side checks (the first that is one) and the other side."""
        for x, other in ((a, b), (b, a)):
            if isinstance(x, ast.Name) and x.id not in self.local:
                return x.id, other
        checked = b if self._literal(a) is not _NOT_LITERAL and not isinstance(a, ast.Name) else a
        if any(isinstance(n, ast.Call) for n in ast.walk(checked)):
            raise _Untranslatable(f"assert of a function call, `{_code(checked)}`")
        if isinstance(checked, ast.Name):
            raise _Untranslatable(f"assert on `{checked.id}`, which the test cell sets itself")
        raise _Untranslatable(f"assert on `{_code(checked)}`, not a variable of the notebook")

    def _shown(self, node: ast.expr) -> str:
        """What a test compares with, for comments: `expected = [0.1, 0.2]` for a name the cell set."""
        value = self.local.get(node.id) if isinstance(node, ast.Name) else None
        return f"{node.id} = {_code(value)}" if value is not None else _code(node)

    def _literal(self, node: ast.expr) -> Any:
        """The literal value of an expression (np.array([...]) as its list, a name the cell set to
        a literal as that), or _NOT_LITERAL."""
        if isinstance(node, ast.Name) and self.local.get(node.id) is not None:
            node = self.local[node.id]
        if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords \
                and qualified_name(node.func, self.aliases) in ARRAY_CALLS:
            node = node.args[0]
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return _NOT_LITERAL

    def _number(self, node: ast.expr, what: str) -> float:
        value = self._literal(node)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise _Untranslatable(f"{what} `{_code(node)}` is not a number of at least 0")
        return value


def _shape(value: Any) -> int | None:
    """0 for a number, 1 for a flat non-empty list (or tuple) of numbers, 2 for a list of
    equal-length such lists; None for anything else."""
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if number(value):
        return 0
    if not isinstance(value, (list, tuple)) or not value:
        return None
    if all(map(number, value)):
        return 1
    return 2 if all(_shape(row) == 1 for row in value) and len({len(row) for row in value}) == 1 else None


def _tested_part(where: str, grade_id: str, points: float, tests: list[CellTest]) -> tuple[list[str], dict]:
    """The comments and the part for a test cell: one check is the part's own, several are its
    criteria with the points split evenly; what could not be translated is marked by hand."""
    comments = [f"{where}: the autograder tests, {len(tests)} of them" if len(tests) > 1
                else f"{where}: the autograder test"]
    for test in tests:
        hidden = " (hidden)" if test.hidden else ""
        if test.kind is None:
            comments.append(f"  line {test.line}{hidden}: could not translate ({test.why}): marked by hand")
        else:
            comments.append(f"  line {test.line}{hidden}: `{test.code}`: the key is notebook.{test.value}; the "
                            f"test compares with {test.compared}")
    if all(test.kind is None for test in tests):
        return comments, {"id": grade_id, "kind": "manual", "marks": points}
    if len(tests) == 1:
        return comments, {"id": grade_id, **_check(tests[0]), "marks": points}
    share = points / len(tests)
    share = int(share) if share.is_integer() else share
    ids: set[str] = set()
    criteria = []
    for test in tests:
        name = test.value[:60]  # room for a suffix within the 64 characters of an id
        base = "by-hand" if not test.kind else name if PART_ID.fullmatch(name) else "check"  # not ñ, _x
        criterion_id = next(candidate for n in range(1, len(tests) + 2)
                            if (candidate := f"{base}.{n}" if n > 1 else base) not in ids)
        ids.add(criterion_id)
        description = (f"{test.value} as the reference notebook computes it" + (" (a hidden test)" * test.hidden)
                       if test.kind else f"line {test.line} of the tests, which could not be translated")
        criteria.append({"id": criterion_id, "description": description, "marks": share, **_check(test)})
    return comments, {"id": grade_id, "marks": points, "criteria": criteria}


def _check(test: CellTest) -> dict:
    """A test's check fields: kind, value, solution and options; none for one marked by hand."""
    if test.kind is None:
        return {}
    return {"kind": test.kind, "value": test.value, "solution": f"notebook.{test.value}",
            **({"options": _Flow(test.options)} if test.options else {})}


def _render(notebook: Path, rubric: Path, assessment_id: str, title: str,
            questions: list[tuple[list[str], dict]]) -> str:
    """The rubric's YAML: the data dumped by pyyaml, each question under its comment lines."""
    try:
        reference = Path(os.path.relpath(notebook.resolve(), rubric.resolve().parent)).as_posix()
    except ValueError:  # another drive (Windows)
        reference = notebook.resolve().as_posix()
    head = yaml.safe_dump({"schema_version": 1, "id": assessment_id, "title": title,
                           "notebook": {"reference": encodable(reference)}}, sort_keys=False, allow_unicode=True)
    lines = [f"# A starting rubric written by `grader import nbgrader` from {printable(notebook.name)}; check it",
             "# before grading. Keys are what the reference notebook computes (solution: notebook.X); the literals the",
             "# tests compare with are in comments, to compare. Parts marked by hand are `kind: manual`.",
             head.rstrip("\n"), "questions:"]
    for comments, question in questions:
        lines += [f"# {printable(comment)}" for comment in comments]
        dumped = yaml.dump([question], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        lines += dumped.rstrip("\n").split("\n")
    return "\n".join(lines) + "\n"
