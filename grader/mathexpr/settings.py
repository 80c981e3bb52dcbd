"""What an expression check needs besides the two texts, and what it found: plain data that crosses
the pipe to the checking process (`worker`) and back, kept apart from the comparison itself
(`compare`, numpy) so that reading a rubric's settings costs no numpy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DOMAIN = (0.1, 0.9)


@dataclass(frozen=True)
class Settings:
    """What a check needs besides the two texts. Names must already be normalized."""

    variables: tuple[str, ...]
    functions: tuple[str, ...] = ()
    domain: tuple[tuple[str, float, float], ...] = ()  # (name, low, high); others DEFAULT_DOMAIN
    points: int = 10
    rtol: float = 1e-6
    simplify: bool = False  # seek a sympy proof too (it never changes the verdict)
    definitions: tuple[tuple[str, str], ...] = ()  # (name, expression), in order

    @property
    def names(self) -> tuple[str, ...]:
        """Every name an expression may use: the free variables, then the defined names."""
        return self.variables + tuple(name for name, _ in self.definitions)

    def __post_init__(self):
        if self.points < 1 or not self.rtol > 0:
            raise ValueError("need points >= 1 and rtol > 0")
        for name, lo, hi in self.domain:
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"bad interval for {name}: [{lo}, {hi}]")

    def interval(self, name: str) -> tuple[float, float]:
        for var, lo, hi in self.domain:
            if var == name:
                return (lo, hi)
        return DEFAULT_DOMAIN

    def to_json(self) -> dict[str, Any]:
        return {
            "variables": list(self.variables), "functions": list(self.functions),
            "domain": [list(d) for d in self.domain], "points": self.points, "rtol": self.rtol,
            "simplify": self.simplify, "definitions": [list(d) for d in self.definitions],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Settings":
        return cls(
            variables=tuple(str(v) for v in data["variables"]),
            functions=tuple(str(f) for f in data.get("functions", ())),
            domain=tuple((str(n), float(lo), float(hi)) for n, lo, hi in data.get("domain", ())),
            points=int(data.get("points", 10)), rtol=float(data.get("rtol", 1e-6)),
            simplify=bool(data.get("simplify", False)),
            definitions=tuple((str(n), str(text)) for n, text in data.get("definitions", ())),
        )


@dataclass(frozen=True)
class Outcome:
    """The result of a comparison.

    `method`: "identical", "symbolic" or "numeric" when equivalent; "different" when not.
    `point`, `answer_value`, `reference_value` describe the first disagreeing point (a value is
    None where it is undefined). `note` says why a symbolic proof is missing, for instructors.
    """

    equivalent: bool
    method: str
    points: int = 0
    proof: str = ""
    note: str = ""
    point: dict[str, float] | None = None
    answer_value: float | None = None
    reference_value: float | None = None
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "equivalent": self.equivalent, "method": self.method, "points": self.points,
            "proof": self.proof, "note": self.note, "point": self.point,
            "answer_value": self.answer_value, "reference_value": self.reference_value,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Outcome":
        point = data.get("point")
        return cls(
            equivalent=bool(data["equivalent"]), method=str(data["method"]),
            points=int(data.get("points", 0)), proof=str(data.get("proof", "")),
            note=str(data.get("note", "")),
            point={str(k): float(v) for k, v in point.items()} if point else None,
            answer_value=_opt_float(data.get("answer_value")),
            reference_value=_opt_float(data.get("reference_value")),
            warnings=tuple(str(w) for w in data.get("warnings", ())),
        )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
