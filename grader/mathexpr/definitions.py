"""Named intermediate quantities (`z1 = w1*x + b1`, `a1 = sigmoid(z1)`) that expressions may use.

Derivations name their intermediates, and students write answers in those names:
`(a2 - y)*w2*a1*(1 - a1)*x`. A definition is an expression over the free variables and the
definitions before it, in order (so there are no cycles), in the same grammar as answers. An
expression that uses defined names is a function of the free variables alone: numerically, the
definitions are evaluated in order at each point (`extend`); symbolically, each name is replaced
by its definition (`symbolic.with_definitions`). So `a1*(1-a1)`, `sigmoid(z1)*(1-sigmoid(z1))` and
`sigmoid(w1*x+b1)*(1-sigmoid(w1*x+b1))` are the same answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from grader.mathexpr.functions import FUNCTION_NAMES
from grader.mathexpr.lexer import normalize_name
from grader.mathexpr.nodes import CONSTANTS, ExpressionError, Node, variables_of
from grader.mathexpr.parser import parse

if TYPE_CHECKING:
    import numpy as np

Definitions = tuple[tuple[str, Node], ...]


def declared_names(names: Sequence[str]) -> list[str]:
    """Declared names as the lexer reads them (`x_1` is `x1`); ValueError if one is declared twice."""
    out = [normalize_name(n) for n in names]
    repeated = sorted({n for n in out if out.count(n) > 1})
    if repeated:
        raise ValueError(f"declared more than once: {', '.join(repeated)}")
    return out


def checked_definitions(definitions: Mapping[str, str], variables: Sequence[str] | None,
                        functions: Sequence[str] = ()) -> dict[str, str]:
    """Definitions keyed by normalised names and parsed against `variables` (skipped when None,
    i.e. when the variables are themselves invalid); ValueError naming the bad definition."""
    out: dict[str, str] = {}
    for raw, text in definitions.items():
        name = normalize_name(raw)
        if name in out:
            raise ValueError(f"{raw} and another definition are both named {name}")
        out[name] = text
    if variables is not None:
        try:
            parse_definitions(tuple(out.items()), variables, functions)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
    return out


def parse_definitions(definitions: Sequence[tuple[str, str]], variables: Sequence[str],
                      functions: Sequence[str] = ()) -> Definitions:
    """Parse ordered (name, text) definitions; raise ExpressionError saying which one is wrong and why.

    Names must already be normalized (see `lexer.normalize_name`).
    """
    names = [name for name, _ in definitions]
    for position, name in enumerate(names):
        if name in variables:
            raise ExpressionError(f"{name}: a definition cannot have the name of a variable")
        if name in FUNCTION_NAMES or name in functions or name in CONSTANTS:
            raise ExpressionError(f"{name}: a definition cannot have the name of a function or constant")
        if name in names[:position]:
            raise ExpressionError(f"{name}: defined more than once")
    allowed = tuple(variables) + tuple(names)
    out: list[tuple[str, Node]] = []
    for position, (name, text) in enumerate(definitions):
        try:
            node = parse(text, allowed, functions).node
        except ExpressionError as exc:
            raise ExpressionError(f"{name}: {exc}") from None
        used = variables_of(node)
        if name in used:
            raise ExpressionError(f"{name}: its definition uses {name} itself")
        later = [n for n in names[position + 1:] if n in used]
        if later:
            raise ExpressionError(f"{name}: uses {', '.join(later)}, defined after it; "
                                  f"definitions may only use variables and earlier definitions")
        out.append((name, node))
    return tuple(out)


Extend = Callable[[Mapping[str, "np.ndarray"]], dict[str, "np.ndarray"]]


def compile_definitions(definitions: Definitions, functions: Mapping[str, Callable] | None = None) -> Extend:
    """A function that adds each defined name's values to an environment of the free variables."""
    from grader.mathexpr.numeric import compile_tree  # numpy: where values are computed, not where text is read

    compiled = [(name, compile_tree(node, functions)) for name, node in definitions]

    def extend(env: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(env)
        for name, evaluate in compiled:
            out[name] = evaluate(out)
        return out

    return extend
