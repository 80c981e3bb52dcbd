"""Step graphs: how a solver's outputs are computed from one another, step by step, as a person
would compute them by hand.

A solver's canonical answers come from `solve()` (autograd for gradients). Its step graph states
the same computation as a chain of small named steps, so that follow-through marking can replace
some intermediate values with a student's own (wrong) ones and recompute what follows from them,
and so that a report can name the step an error came from. `check_against` ties the two together:
with no replacements the graph must reproduce `solve()`, which makes the hand chain answerable to
autograd rather than the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any


class StepGraph:
    """Named scalar values computed from named inputs, in the order they were added.

    - `given(name, value)`: a problem parameter (an input, a weight, a target);
    - `step(name, inputs, fn)`: `fn(*values of inputs)`;
    - `group(name, members)`: a vector or matrix output made of other nodes (members may be
      groups); replacing a group replaces each member;
    - `alias(name, target)`: another name for a node (e.g. `grad.h1` for `grad.a[0][0]`).
    """

    def __init__(self) -> None:
        self._inputs: dict[str, tuple[str, ...]] = {}
        self._functions: dict[str, Callable[..., float] | None] = {}
        self._given: dict[str, float] = {}
        self._groups: dict[str, tuple[str, ...]] = {}
        self._aliases: dict[str, str] = {}
        self._ancestors: dict[str, frozenset[str]] = {}  # memo; graphs are built once, then queried per answer

    def given(self, name: str, value: float) -> None:
        self._add(name, (), None)
        self._given[name] = value

    def step(self, name: str, inputs: Sequence[str], fn: Callable[..., float]) -> None:
        inputs = tuple(self.resolve(i) for i in inputs)
        for i in inputs:
            if i not in self._functions:
                raise KeyError(f"step {name!r} uses {i!r} before it is defined")
        self._add(name, inputs, fn)

    def group(self, name: str, members: Sequence[str]) -> None:
        members = tuple(self.resolve(m) for m in members)
        for m in members:
            if m not in self._functions and m not in self._groups:
                raise KeyError(f"group {name!r} names {m!r}, which is not defined")
        self._check_new(name)
        self._groups[name] = members

    def alias(self, name: str, target: str) -> None:
        target = self.resolve(target)
        if target not in self._functions and target not in self._groups:
            raise KeyError(f"alias {name!r} names {target!r}, which is not defined")
        self._check_new(name)
        self._aliases[name] = target

    def _add(self, name: str, inputs: tuple[str, ...], fn: Callable[..., float] | None) -> None:
        self._check_new(name)
        self._inputs[name] = inputs
        self._functions[name] = fn

    def _check_new(self, name: str) -> None:
        self._ancestors.clear()
        if name in self._functions or name in self._groups or name in self._aliases:
            raise KeyError(f"{name!r} is defined twice")

    def resolve(self, name: str) -> str:
        return self._aliases.get(name, name)

    def __contains__(self, name: str) -> bool:
        name = self.resolve(name)
        return name in self._functions or name in self._groups

    def names(self) -> list[str]:
        return [*self._functions, *self._groups, *self._aliases]

    def _nodes(self, name: str) -> list[str]:
        """The scalar nodes a name stands for."""
        name = self.resolve(name)
        if name in self._groups:
            return [n for member in self._groups[name] for n in self._nodes(member)]
        return [name]

    def ancestors(self, name: str) -> frozenset[str]:
        """Every name whose value `name` is computed from (groups and aliases included when all
        their nodes are ancestors), not counting `name` itself."""
        if name not in self._ancestors:
            self._ancestors[name] = frozenset(self._find_ancestors(name))
        return self._ancestors[name]

    def _find_ancestors(self, name: str) -> set[str]:
        seen: set[str] = set()
        stack = [i for node in self._nodes(name) for i in self._inputs[node]]
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self._inputs[node])
        covering = {g for g in [*self._groups, *self._aliases] if set(self._nodes(g)) <= seen}
        return seen | covering

    def evaluate(self, replace: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every name's value, with the values in `replace` (name -> number or nested list, the
        shape of the name) used in place of what the graph would compute for them."""
        fixed: dict[str, float] = {}
        for name, value in (replace or {}).items():
            self._assign(self.resolve(name), value, fixed)
        values: dict[str, Any] = {}
        for node, fn in self._functions.items():
            if node in fixed:
                values[node] = fixed[node]
            elif fn is None:
                values[node] = self._given[node]
            else:
                values[node] = fn(*(values[i] for i in self._inputs[node]))
        for name in self._groups:
            values[name] = self._value(name, values)
        for name, target in self._aliases.items():
            values[name] = values[target]
        return values

    def _assign(self, name: str, value: Any, fixed: dict[str, float]) -> None:
        if name in self._groups:
            members = self._groups[name]
            if not isinstance(value, list) or len(value) != len(members):
                raise ValueError(f"{name} holds {len(members)} values")
            for member, v in zip(members, value):
                self._assign(self.resolve(member), v, fixed)
        elif name in self._functions:
            fixed[name] = float(value)
        else:
            raise KeyError(f"no step {name!r}")

    def _value(self, name: str, values: dict[str, Any]) -> Any:
        if name in self._groups:
            return [self._value(m, values) for m in self._groups[name]]
        return values[name]

    def check_against(self, outputs: Mapping[str, Any], rel_tol: float = 1e-9, abs_tol: float = 1e-12) -> None:
        """Raise if the graph, unreplaced, disagrees with a solver's outputs on any shared name."""
        values = self.evaluate()
        for name, expected in outputs.items():
            if name in values and not _close(values[name], expected, rel_tol, abs_tol):
                raise ArithmeticError(
                    f"internal error: the step-by-step chain gives {name} = {values[name]}, "
                    f"autograd gives {expected}"
                )


def _close(a: Any, b: Any, rel_tol: float, abs_tol: float) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(_close(x, y, rel_tol, abs_tol) for x, y in zip(a, b)))
    return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=abs_tol)
