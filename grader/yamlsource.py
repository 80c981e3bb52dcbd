"""Safe YAML loading that remembers the line of every node, so errors can name it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from grader.errors import Problem, RubricError, dotted


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


def load_yaml(path: str | Path) -> tuple[Any, SourceMap]:
    """Load one YAML document with the safe loader (no tags that build objects) and its line map."""
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RubricError([Problem(file, None, "", f"cannot read file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RubricError([Problem(file, line, "", f"not valid UTF-8 (byte {exc.start})")]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RubricError([Problem(file, None, "", "the file is empty")])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise RubricError([Problem(file, line, "", f"invalid YAML: {message}")]) from None
    except yaml.YAMLError as exc:
        raise RubricError([Problem(file, None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}
    _record(node, (), lines)
    return data, SourceMap(file, lines)
