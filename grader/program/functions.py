"""Function checks, grader side: the cases' inputs, and the outputs compared.

The inputs are made here once per run, literals as they are and generated arrays from their seeds,
and travel in the task file as raw bytes, so the student's run and the reference notebook's get
the same ones. The outputs come back as preorder nodes (grader.program.observations.OutputNode),
validated as plain data; `compare` rebuilds them as Python lists and numpy arrays and says what
differs, in words that never quote an input or a value unless the case shows its inputs.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import numpy as np

from grader.kinds._tolerance import Tolerance
from grader.program.frames import wire_type
from grader.kinds.base import Verdict
from grader.program.observations import CaseOutput, OutputNode
from grader.program.spec import FunctionCase, FunctionSpec, Generated

MAX_DIFFERENCES = 50  # found per case, of which feedback says the first SHOWN and counts the rest
SHOWN = 2
SHIFTS = (1, -1, 2, -2, 3, -3)  # offsets along the last axis tried when an array's values differ


def generated(value: Generated) -> np.ndarray:
    """The array a generated input stands for: numpy's default generator from its seed."""
    rng = np.random.default_rng((value.ints or value.floats).seed)
    if value.ints is not None:
        return rng.integers(value.ints.low, value.ints.high, size=value.ints.shape, dtype=np.int64)
    return rng.uniform(value.floats.low, value.floats.high, size=value.floats.shape)


def function_task(functions: dict[str, FunctionSpec]) -> dict:
    """The functions part of a run's task: each call, its limits and its cases' inputs."""
    def inputs(case: FunctionCase) -> dict:
        arrays = {name: generated(value) for name, value in case.inputs.items() if isinstance(value, Generated)}
        return {"name": case.name,
                "literals": {name: value for name, value in case.inputs.items() if name not in arrays},
                "arrays": {name: {"dtype": wire_type(array), "shape": list(array.shape),
                                  "data": base64.b64encode(array.tobytes()).decode()}
                           for name, array in arrays.items()}}

    return {name: {"call": function.call, "seconds": function.seconds, "max_bytes": function.max_output_bytes,
                   "cases": [inputs(case) for case in function.cases]} for name, function in functions.items()}


def shown_inputs(case: FunctionCase) -> str:
    """The case's inputs in words, for a case that shows them."""
    def words(value) -> str:
        if isinstance(value, Generated):
            drawn = value.ints or value.floats
            shape = drawn.shape[0] if len(drawn.shape) == 1 else "x".join(map(str, drawn.shape))
            kind = f"whole numbers from {drawn.low} to {drawn.high - 1}" if value.ints else \
                f"numbers from {drawn.low:g} to {drawn.high:g}"
            return f"{shape} {kind} drawn with seed {drawn.seed}"
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."

    return ", ".join(f"{name} = {words(value)}" for name, value in case.inputs.items())


@dataclass(frozen=True)
class Array:
    """An array from an output: its values as they travelled, and what it was."""

    library: str
    dtype: str
    values: np.ndarray

    def words(self) -> str:
        return f"a {self.dtype} {'tensor' if self.library == 'torch' else 'array'} of shape {_shape(self.values)}"


def rebuild(nodes: list[OutputNode]):
    """The value the nodes stand for: lists and tuples of Arrays, numbers, text and None. The nodes
    were validated as one value of bounded depth (observations.tree_problem)."""
    position = 0

    def value():
        nonlocal position
        node = nodes[position]
        position += 1
        if node.kind == "array":
            return Array(node.library, node.dtype, node.array())
        if node.kind in ("list", "tuple"):
            items = [value() for _ in range(node.length)]
            return items if node.kind == "list" else tuple(items)
        return node.value

    return value()


def _shape(values: np.ndarray) -> str:
    return "(" + ", ".join(map(str, values.shape)) + ("," if values.ndim == 1 else "") + ")"


def _what(value) -> str:
    if isinstance(value, Array):
        return value.words()
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return "None" if value is None else f"{'an' if type(value) is int else 'a'} {type(value).__name__}"


class Labels:
    """Names for places in an output: `[batch, [x, y]]` says `batch 2, y` for output[1][1]."""

    def __init__(self, labels: list[str | list[str]]):
        self.labels = labels

    def place(self, path: tuple[int, ...]) -> str:
        if not path:
            return "the output"
        if not self.labels:
            return "output" + "".join(f"[{i}]" for i in path)
        parts = []
        for depth, index in enumerate(path):
            label = self.labels[depth] if depth < len(self.labels) else "item"
            parts.append(label[index] if isinstance(label, list) and index < len(label)
                         else f"{label if isinstance(label, str) else 'item'} {index + 1}")
        return ", ".join(parts)


def said(differences: list[str]) -> str:
    """The first SHOWN differences, and how many more there are."""
    more = len(differences) - SHOWN
    return "; ".join(differences[:SHOWN]) + (f" (and {more}{'+' if len(differences) >= MAX_DIFFERENCES else ''} "
                                            f"more difference{'s' if more > 1 else ''})" if more > 0 else "")


def compare(got, want, tolerance: Tolerance | None, labels: Labels, show_values: bool) -> list[str]:
    """What differs between an output and the reference's, at most MAX_DIFFERENCES, [] when equal.
    Lists and tuples count alike (both unpack the same); numbers are compared as numbers, floats
    within `tolerance` when given, exactly otherwise; arrays by shape, then dtype, then values."""
    found: list[str] = []
    want_leaves = [leaf for leaf in _leaves(want, ()) if isinstance(leaf[1], Array)]

    def walk(a, b, path: tuple[int, ...]) -> None:
        if len(found) >= MAX_DIFFERENCES:
            return
        place = labels.place(path)
        if isinstance(b, (list, tuple)):
            if not isinstance(a, (list, tuple)):
                found.append(f"{place} is {_what(a)}, expected a {type(b).__name__} of {len(b)}")
                return
            if len(a) != len(b):
                extra = f"; the first extra, {labels.place(path + (len(b),))}, has {_summary(a[len(b)])}" \
                    if len(a) > len(b) else ""
                found.append(f"{place} has {len(a)} item{'s' if len(a) != 1 else ''}, expected {len(b)}{extra}")
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, path + (i,))
        elif isinstance(b, Array):
            if not isinstance(a, Array):
                found.append(f"{place} is {_what(a)}, expected {b.words()}")
            else:
                problem = _array_problem(a, b, tolerance, want_leaves, path, labels)
                if problem:
                    found.append(f"{place}: {problem}")
        elif _kind(a) != _kind(b):
            found.append(f"{place} is {_what(a)}, expected {_what(b)}")
        elif isinstance(a, float) and math.isnan(a):
            found.append(f"{place} is NaN")
        elif a != b if _kind(b) != "number" else not _numbers_match(float(a), float(b), tolerance):
            found.append(f"{place} is {_short(a)}, expected {_short(b)}" if show_values else
                         f"{place} is not the expected {_kind(b)}")

    walk(got, want, ())
    return found


def _leaves(value, path: tuple[int, ...]):
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _leaves(item, path + (i,))
    else:
        yield path, value


def _summary(value) -> str:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Array) for v in value):
        return "shapes " + ", ".join(_shape(v.values) for v in value)
    return _what(value)


def _kind(value) -> str:
    if isinstance(value, (list, tuple, Array)):
        return "sequence" if isinstance(value, (list, tuple)) else "array"
    return {bool: "truth value", str: "text", type(None): "None"}.get(type(value), "number")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _numbers_match(a: float, b: float, tolerance: Tolerance | None) -> bool:
    if math.isnan(a) or math.isnan(b):
        return False
    if tolerance is None or math.isinf(b):
        return a == b
    return tolerance.accepts(a, b)


def _equal(a: np.ndarray, b: np.ndarray, tolerance: Tolerance | None) -> np.ndarray:
    """Element-wise agreement; floats within the tolerance (its window around each reference value)."""
    if tolerance is None or a.dtype.kind != "f" and b.dtype.kind != "f":
        return a == b
    a, b = a.astype(np.float64), b.astype(np.float64)
    width = np.vectorize(tolerance.half_width, otypes=[np.float64])(b) if b.size else b
    if tolerance.mode in ("sigfig", "decimals"):
        return (b - width < a) & (a < b + width) | (a == b)
    return (np.abs(a - b) <= width) | (a == b)


def _array_problem(a: Array, b: Array, tolerance: Tolerance | None, want_leaves, path, labels: Labels) -> str | None:
    if a.values.shape != b.values.shape:
        return f"shape {_shape(a.values)}, expected {_shape(b.values)}"
    if a.dtype != b.dtype:
        return f"dtype {a.dtype}, expected {b.dtype}"
    if a.values.dtype.kind == "f" and np.isnan(a.values).any():
        return "the values hold NaN"
    same = _equal(a.values, b.values, tolerance)
    if same.all():
        return None
    wrong = int(same.size - same.sum())
    text = f"{wrong} of {same.size} values differ" + (" (outside the tolerance)" if tolerance else "")
    return text + _hint(a, b, tolerance, want_leaves, path, labels)


def _hint(a: Array, b: Array, tolerance, want_leaves, path, labels: Labels) -> str:
    """A likely reason: the expected values offset along the last axis, or those of another place."""
    values, expected = a.values, b.values
    if values.ndim and values.shape[-1] > 2:
        for shift in SHIFTS:
            if abs(shift) * 2 > values.shape[-1]:
                continue
            mine, theirs = (values[..., shift:], expected[..., :-shift]) if shift > 0 else \
                (values[..., :shift], expected[..., -shift:])
            if _equal(mine, theirs, tolerance).all():
                return (f"; they are the expected values shifted {abs(shift)} place{'s' if abs(shift) > 1 else ''} "
                        f"{'right' if shift > 0 else 'left'} along the last axis")
    for other, leaf in want_leaves:
        if other != path and leaf.values.shape == values.shape and _equal(values, leaf.values, tolerance).all():
            return f"; they are what {labels.place(other)} should hold"
    return ""


def judge(spec: dict, mine: list[CaseOutput], theirs: list[CaseOutput], tolerance: Tolerance | None) -> Verdict:
    """Each case's output against the reference's on the same inputs; the fraction of cases right.
    A case the reference itself fails on is left out and sent to the instructor, and a case
    stopped by a time limit keeps its 0 with a review, as every time-limit 0 does. `spec` is the
    rubric's account of the function (name, labels, cases with what each tests)."""
    name = spec["name"]
    mine = {case.name: case for case in mine}
    theirs = {case.name: case for case in theirs}
    labels = Labels(spec["labels"])
    right, failed, reasons, reviews, stopped = [], [], [], [], []
    for case in spec["cases"]:
        got = mine.get(case["name"]) or CaseOutput(name=case["name"], ok=False, error="not run", seconds=0)
        want = theirs.get(case["name"])
        if want is None or not want.ok:
            reviews.append(f"the reference notebook's {name} fails on case {case['name']!r}, so it is not graded: "
                           f"{want.error if want else 'no output'}")
            continue
        if got.ok:
            problems = compare(rebuild(got.output), rebuild(want.output), tolerance, labels, case["show_inputs"])
        else:
            problems = [got.error]
            if got.timed_out:
                stopped.append(repr(case["name"]))
        if not problems:
            right.append(case)
            continue
        what = case["what"] + (f" ({case['inputs']})" if case["show_inputs"] else "")
        failed.append((what, said(problems)))
        reasons.append(f"case {case['name']!r} ({what}): {said(problems)}")
    if stopped:
        reviews.append(f"case{'s' if len(stopped) > 1 else ''} {', '.join(stopped)} stopped by the time limit of "
                       f"each case: rerun on a quieter machine before taking a 0 as the code's")
    judged = len(right) + len(failed)
    review = "; ".join(reviews) or None
    if not judged:
        text = f"{name} could not be checked: the reference solution fails on its cases"
        return Verdict.of(0.0, "; ".join(reviews), text + "; your instructor will look at it", review=review)
    if not failed:
        text = f"{name} gives the expected outputs on {'the case' if judged == 1 else f'all {judged} cases'}"
        return Verdict.of(1.0, text, text, review=review)
    if not right and len(failed) > 1 and len({problem for _, problem in failed}) == 1:
        message = f"{name} fails on every case the same way: {failed[0][1]}"
    else:
        message = f"{name} is right on {len(right)} of {judged} cases. " + " ".join(
            f"{what[0].upper()}{what[1:]}: {problem}." for what, problem in failed)
    return Verdict.of(len(right) / judged, f"{len(right)} of {judged} cases right; " + "; ".join(reasons),
                      message, review=review)
