"""Safe YAML loading that remembers the line of every node, so errors can name it.

Rubrics are instructor-written but still untrusted input, so loading is bounded: the file is at
most MAX_BYTES, nesting at most MAX_DEPTH levels and the document at most MAX_NODES values with
its aliases expanded (an alias copies its anchor's whole content, so a few hundred bytes of
nested aliases would otherwise expand to billions of values: "billion laughs"). Depth and values
are counted while composing, before anything recursive or expanding runs, and each value is built
as soon as it is composed, so that every error names its field. A key repeated in one mapping and
a non-finite number (.inf, .nan) are problems too, never silently taken.
"""

from __future__ import annotations

import codecs
import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from grader.errors import Problem, RubricError, dotted

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_NODES = 100_000


class SourceMap:
    """Maps field paths of a loaded YAML document to 1-based line numbers."""

    def __init__(self, file: str, lines: dict[tuple, int]):
        self.file = file
        self._lines = lines

    def line(self, loc: tuple) -> int | None:
        """Line of the deepest node on `loc` that exists in the document."""
        loc = tuple(loc)
        while loc:
            if loc in self._lines:
                return self._lines[loc]
            loc = loc[:-1]
        return self._lines.get((), None)

    def problem(self, loc: tuple, message: str) -> Problem:
        return Problem(self.file, self.line(loc), dotted(loc), message)

    def validation_problems(self, exc: ValidationError, prefix: tuple = ()) -> list[Problem]:
        """One problem per pydantic error, placed at `prefix` + the error's own field path."""
        return [self.problem(prefix + tuple(item for item in e["loc"] if not str(item).startswith("function-")),
                             e["msg"].removeprefix("Value error, ")) for e in exc.errors()]


class _Loader(yaml.SafeLoader):
    """The safe loader, composing within MAX_DEPTH and MAX_NODES (aliases expanded) and building each
    value as soon as it is composed, so that every error, and every repeated key or non-finite
    number (collected as problems), is placed at its field path."""

    def __init__(self, text: str, file: str):
        super().__init__(text)
        self.file = file
        self.loc: list = []  # field path of the node being composed
        self.depth = 0  # collections open around it
        self.total = 0  # values composed so far, aliases expanded
        self.sizes: dict[yaml.Node, tuple[int, int]] = {}  # finished node -> (values, depth), aliases expanded
        self.problems: list[Problem] = []

    def _problem(self, mark: yaml.Mark, message: str, loc: tuple | None = None) -> Problem:
        return Problem(self.file, mark.line + 1, dotted(tuple(self.loc) if loc is None else loc), message)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if index is not None:  # a mapping value (index is its key node) or a list item
            self.loc.append(index.value if isinstance(index, yaml.Node) else index)
        try:
            return self._compose(parent, index)
        except yaml.MarkedYAMLError as exc:  # the innermost node places it; outer ones see a RubricError
            raise RubricError([self._problem(_mark(exc), f"invalid YAML: {_message(exc)}")]) from None
        finally:
            if index is not None:
                self.loc.pop()

    def _compose(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if node not in self.sizes:
                raise RubricError([self._problem(event.start_mark, f"alias *{event.anchor} is used inside its own "
                                                 f"anchor &{event.anchor}, which would make it infinite")])
            values, depth = self.sizes[node]
            if self.depth + depth > MAX_DEPTH:
                raise RubricError([self._problem(event.start_mark, f"alias *{event.anchor} nests its content more "
                                                 f"than {MAX_DEPTH} levels deep")])
            self.total += values
            if self.total > MAX_NODES:
                raise RubricError([self._problem(event.start_mark, (
                    f"alias *{event.anchor} repeats {values:,} values, taking the rubric past {MAX_NODES:,} "
                    "with its aliases expanded (each use of an alias copies its anchor's whole content); "
                    "use aliases for small shared options only"))])
            return node
        if self.depth >= MAX_DEPTH:
            raise RubricError([self._problem(event.start_mark, f"nested more than {MAX_DEPTH} levels deep; a rubric "
                                             "needs far fewer: is a bracket left unclosed?")])
        self.total += 1
        if self.total > MAX_NODES:
            raise RubricError([self._problem(event.start_mark, f"the rubric holds more than {MAX_NODES:,} values; "
                                             "split it")])
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        children = node.value if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
            self._check_keys(node)
        self.sizes[node] = (1 + sum(self.sizes[c][0] for c in children),
                            1 + max((self.sizes[c][1] for c in children), default=0))
        if parent is None or index is not None:  # keys are built with their mapping, which handles merge keys (<<)
            value = self.construct_object(node, deep=True)
            if isinstance(value, float) and not math.isfinite(value):  # invalid JSON in results; nan passes no bound
                self.problems.append(self._problem(node.start_mark, f"must be a finite number, got {node.value}"))
        return node

    def _check_keys(self, node: yaml.MappingNode) -> None:
        """A key given twice in one mapping would silently keep the last value."""
        seen: dict[Any, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag not in self.yaml_constructors:
                continue  # merge keys (<<), and keys that fail when their mapping is built
            value, line = self.construct_object(key), key.start_mark.line + 1
            if value in seen:
                self.problems.append(self._problem(key.start_mark, f"key {key.value!r} appears twice (lines "
                                                   f"{seen[value]} and {line}); keep one", (*self.loc, key.value)))
            else:
                seen[value] = line

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """As the safe loader's, but a value its constructors cannot build (`!!int abc`, a 5000-digit
        integer, the date 2024-13-45) is a YAML error at the node rather than a ValueError."""
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this {kind} value: {exc}",
                                                    node.start_mark) from None


def _mark(exc: yaml.MarkedYAMLError) -> yaml.Mark | None:
    return exc.problem_mark or exc.context_mark


def _message(exc: yaml.MarkedYAMLError) -> str:
    return " ".join(part for part in (exc.context, exc.problem) if part)


def _record(node: yaml.Node, loc: tuple, lines: dict[tuple, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _record(value_node, loc + (key_node.value,), lines)
                lines[loc + (key_node.value,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, loc + (index,), lines)


def _text(file: str, raw: bytes) -> str:
    """The file's text: UTF-8, with or without a byte-order mark."""
    if len(raw) > MAX_BYTES:
        raise RubricError([Problem(file, None, "", f"the file is over {MAX_BYTES:,} bytes; a rubric is far "
                                   "smaller: is this the right file?")])
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise RubricError([Problem(file, None, "", "the file is UTF-16 text; save it as UTF-8")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RubricError([Problem(file, line, "", f"not valid UTF-8 (byte {exc.start}); save it as UTF-8")]) from None


def load_yaml(path: str | Path) -> tuple[Any, SourceMap]:
    """Load one YAML document with the safe loader (no tags that build objects) and its line map."""
    path = Path(path)
    file = str(path)
    try:
        if path.exists() and not path.is_file():
            raise RubricError([Problem(file, None, "", "not a regular file")])
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RubricError([Problem(file, None, "", f"cannot read file: {exc.strerror or exc}")]) from None
    text = _text(file, raw)
    try:
        loader = _Loader(text, file)  # the reader checks every character here
        try:
            node = loader.get_single_node()
            if node is None:
                raise RubricError([Problem(file, None, "", "the file is empty")])
            if loader.problems:
                raise RubricError(loader.problems)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:  # outside any node: the stream's start or end
        mark = _mark(exc)
        line = mark.line + 1 if mark else None
        raise RubricError([Problem(file, line, "", f"invalid YAML: {_message(exc)}")]) from None
    except yaml.reader.ReaderError as exc:
        hint = " (a NUL byte: is this a binary or UTF-16 file?)" if exc.character == 0 else ""
        raise RubricError([Problem(file, text[: exc.position].count("\n") + 1, "",
                                   f"invalid YAML: character #x{exc.character:04x} is not allowed{hint}")]) from None
    except yaml.YAMLError as exc:
        raise RubricError([Problem(file, None, "", f"invalid YAML: {exc}")]) from None
    lines: dict[tuple, int] = {}
    _record(node, (), lines)
    return data, SourceMap(file, lines)
