"""Kinds `vector` and `matrix`: arrays of numbers compared element-wise within a tolerance.

The shape is checked first and exactly, with no broadcasting: a vector of 3 is not a 3x1 matrix,
and a 1x3 matrix is not a 3x1 one. Then every element is judged against its own reference element
with the number kind's tolerance semantics (see `_tolerance`). With `partial: true` the fraction of
correct elements is awarded; otherwise all must be right. Elements may be JSON numbers or number
strings (`"3/4"`); a JSON-encoded list given as one string (`"[1, 2]"`) is read as the list.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from grader.kinds import register
from grader.kinds._tolerance import Tolerance, fmt
from grader.kinds._values import TypedNumber, Unusable, read_number, read_text, type_name
from grader.kinds.base import Comparator, InvalidAnswer, Verdict

MAX_ELEMENTS = 10_000
MAX_DEPTH = 4  # deeper than any answer we grade; enough to say "a 5x1 matrix" instead of failing


class ArrayOptions(Tolerance):
    partial: bool = Field(False, description="award the fraction of elements that are correct")


def _shape_words(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"a vector of {shape[0]}"
    if len(shape) == 0:
        return "a single number"
    return "a " + "x".join(str(n) for n in shape) + (" matrix" if len(shape) == 2 else " array")


def _read_array(raw: Any, depth: int) -> tuple[tuple[int, ...], list[TypedNumber]]:
    """Shape and flat elements of a nested list; rejects ragged lists and non-numbers."""
    if isinstance(raw, Unusable):
        raise InvalidAnswer(raw.why)
    if isinstance(raw, str) and raw.lstrip().startswith("["):
        try:
            raw = json.loads(read_text(raw, 200_000))
        except json.JSONDecodeError as exc:
            raise InvalidAnswer(f"the list could not be read: {exc.msg} at character {exc.pos}") from None
        except RecursionError:
            raise InvalidAnswer(f"the list is nested more than {MAX_DEPTH} lists deep") from None
    if not isinstance(raw, list):
        raise InvalidAnswer(f"expected {'a list of numbers' if depth == 1 else 'a list of rows'}, got {type_name(raw)}")

    flat: list[TypedNumber] = []

    def walk(node: Any, level: int, path: str) -> tuple[int, ...]:
        if isinstance(node, list):
            if level > MAX_DEPTH:
                raise InvalidAnswer(f"{path} is nested {MAX_DEPTH} lists deep; expected at most {depth}")
            shapes = [walk(child, level + 1, f"{path}[{i}]") for i, child in enumerate(node)]
            if len(flat) > MAX_ELEMENTS:
                raise InvalidAnswer(f"the answer has more than {MAX_ELEMENTS} elements")
            if shapes and any(s != shapes[0] for s in shapes):
                raise InvalidAnswer(f"the rows of {path or 'the answer'} have different lengths")
            return (len(node),) + (shapes[0] if shapes else ())
        try:
            flat.append(read_number(node))
        except InvalidAnswer as exc:
            raise InvalidAnswer(f"element {path or '[0]'}: {exc}") from None
        return ()

    return walk(raw, 1, ""), flat


def _index(flat_index: int, shape: tuple[int, ...]) -> str:
    out = []
    for size in reversed(shape):
        out.append(flat_index % size)
        flat_index //= size
    return "[" + "][".join(str(i) for i in reversed(out)) + "]"


class _Array(Comparator):
    Options = ArrayOptions
    depth: int

    def reference(self, value: Any) -> list:
        try:
            shape, flat = _read_array(value, self.depth)
        except InvalidAnswer as exc:
            raise ValueError(f"answer must be {'a list of numbers' if self.depth == 1 else 'a list of equal-length rows of numbers'}: {exc}") from None
        if len(shape) != self.depth or 0 in shape:
            raise ValueError(f"answer must be {'a vector' if self.depth == 1 else 'a matrix'}, got {_shape_words(shape)}")
        return _nest([n.value for n in flat], shape)

    def value_of(self, answer: Any) -> list:
        shape, flat = _read_array(answer, self.depth)
        if len(shape) != self.depth or 0 in shape:
            raise InvalidAnswer(f"expected {'a vector' if self.depth == 1 else 'a matrix'}, got {_shape_words(shape)}")
        return _nest([n.value for n in flat], shape)

    def show(self, reference: list) -> str:
        return json.dumps(_map(reference, fmt)).replace('"', "") + f" ({self.options.describe()})"

    def check(self, answer: Any, reference: list) -> Verdict:
        ref_shape, ref_flat = _read_array(reference, self.depth)
        shape, flat = _read_array(answer, self.depth)
        if shape != ref_shape:
            return Verdict.of(0.0, f"expected {_shape_words(ref_shape)}, got {_shape_words(shape)}",
                              f"expected {_shape_words(ref_shape)}, got {_shape_words(shape)}")
        tol: ArrayOptions = self.options
        wrong = [i for i, (s, r) in enumerate(zip(flat, ref_flat)) if not tol.accepts(s.value, r.value)]
        warnings = sorted({w for s, r in zip(flat, ref_flat) if (w := tol.precision_warning(s, r.value))})[:1]
        total = len(ref_flat)
        if not wrong:
            return Verdict.of(1.0, f"all {total} elements {tol.describe()}", "correct", warnings)
        fraction = (total - len(wrong)) / total if tol.partial else 0.0
        first = wrong[0]
        where = ", ".join(_index(i, shape) for i in wrong[:5]) + (" …" if len(wrong) > 5 else "")
        reason = (f"{len(wrong)} of {total} elements outside the tolerance ({tol.describe()}); first {_index(first, shape)}: "
                  f"expected {fmt(ref_flat[first].value)}, got {flat[first].text}")
        message = f"{total - len(wrong)} of {total} elements are correct; check {where}"
        return Verdict.of(fraction, reason, message, warnings)


def _nest(flat: list, shape: tuple[int, ...]) -> list:
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [_nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _map(nested: Any, fn) -> Any:
    return [_map(x, fn) for x in nested] if isinstance(nested, list) else fn(nested)


@register
class Vector(_Array):
    kind = "vector"
    depth = 1


@register
class Matrix(_Array):
    kind = "matrix"
    depth = 2
