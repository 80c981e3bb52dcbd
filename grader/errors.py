"""Problems found in instructor-supplied files, located by file, line and field path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return f"{place}: {self.where}: {self.message}" if self.where else f"{place}: {self.message}"


class RubricError(Exception):
    """A rubric that cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def dotted(loc: tuple) -> str:
    """Render a field path like ('questions', 0, 'parts', 1, 'marks') as questions[0].parts[1].marks."""
    out = ""
    for item in loc:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            item = str(item) if str(item).isprintable() else repr(item)  # a key may hold escape sequences
            out += f".{item}" if out else item
    return out
