"""Equivalence of an answer and a reference expression: random points first, then sympy.

1. Both texts are parsed with the declared names (variables and defined names, see
   `definitions`). Identical trees are equivalent outright.
2. Both are evaluated at `points` random points drawn uniformly from each variable's interval
   (default `settings.DEFAULT_DOMAIN` = [0.1, 0.9]: positive, so log, sqrt and fractional powers are
   defined; inside (0, 1), where activations, probabilities and sigmoid outputs live, so
   expressions like a(1-a) or log(1-p) are meaningful; away from 0 and 1, where different
   formulas often coincide: x^2 = x, log(1) = 0, 1 - a = 0). Points are seeded from the two texts
   and the settings, so a grade is reproducible. Only the free variables are drawn; defined names
   are evaluated from them, in order, at each point. Points where the reference is undefined or not
   finite are redrawn (at most `20 * points` draws); where the reference is defined the answer
   must be too. Values agree when |s - r| <= rtol * max(|s|, |r|) + ATOL: relative, with an
   absolute floor ATOL = 1e-12 so a reference that is 0 (or nearly) still accepts rounding
   noise. One disagreeing point makes the answer wrong; the point is reported.
3. If every point agrees and `simplify` is on (it is off unless the rubric asks), sympy tries to
   reduce the difference to 0 within the time budget (see `symbolic`). Either way the answer is
   equivalent: "symbolic" when proven, "numeric" (agreement at N random points) when not. Defined
   names are replaced by their definitions first, so the proof is about functions of the free
   variables.

Steps 1 and 2 decide the verdict and are bounded by the parser's limits, so the grading process
runs them itself (`compare_points`, through `client.check`); step 3 only explains the verdict, and
runs in the checking process (`compare`, `worker`), which can be killed when sympy runs away.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from grader.mathexpr.definitions import Extend, compile_definitions, parse_definitions
from grader.mathexpr.nodes import ExpressionError, Node, to_text
from grader.mathexpr.numeric import Compiled, compile_tree, unknown_function
from grader.mathexpr.parser import parse
from grader.mathexpr.settings import Outcome, Settings

ATOL = 1e-12
ATTEMPTS_PER_POINT = 20


class ReferenceProblem(RuntimeError):
    """The reference (instructor's) expression is unusable: a rubric bug, not the student's."""


@dataclass(frozen=True)
class _Prepared:
    node: Node
    compiled: Compiled
    functions: dict
    extend: Extend


def _function_seed(reference: str, settings: Settings) -> int:
    digest = hashlib.sha256(json.dumps([reference, settings.to_json()]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@lru_cache(maxsize=64)
def _definitions(settings: Settings):
    try:
        return parse_definitions(settings.definitions, settings.variables, settings.functions)
    except ExpressionError as exc:
        raise ReferenceProblem(f"a definition is unusable: {exc}") from None


def _compile(node: Node, functions: dict, extend: Extend) -> Compiled:
    """Values of `node` at points of the free variables, the defined names evaluated first."""
    compiled = compile_tree(node, functions)
    return lambda env: compiled(extend(env))


@lru_cache(maxsize=256)
def _prepare_reference(reference: str, settings: Settings) -> _Prepared:
    try:
        node = parse(reference, settings.names, settings.functions).node
    except ExpressionError as exc:
        raise ReferenceProblem(f"the reference expression does not parse: {exc}") from None
    seed = _function_seed(reference, settings)
    functions = {name: unknown_function(name, seed) for name in settings.functions}
    extend = compile_definitions(_definitions(settings), functions)
    return _Prepared(node, _compile(node, functions, extend), functions, extend)


@lru_cache(maxsize=64)
def _reference_sympy(reference: str, settings: Settings):
    from grader.mathexpr.symbolic import make_symbols, to_sympy, with_definitions

    symbols = make_symbols({name: settings.interval(name) for name in settings.variables})
    symbols = with_definitions(symbols, _definitions(settings))
    return to_sympy(_prepare_reference(reference, settings).node, symbols), symbols


def _close(s: np.ndarray, r: np.ndarray, rtol: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.isfinite(s) & (np.abs(s - r) <= rtol * np.maximum(np.abs(s), np.abs(r)) + ATOL)


def sample_points(prepared_reference: Compiled, settings: Settings, seed: int):
    """(env of `points` points where the reference is finite, reference values there)."""
    rng = np.random.default_rng(seed)
    names = sorted(settings.variables)
    need = settings.points
    budget = ATTEMPTS_PER_POINT * need
    kept_env: dict[str, list[np.ndarray]] = {n: [] for n in names}
    kept_values: list[np.ndarray] = []
    count = drawn = 0
    while count < need and drawn < budget:
        batch = min(max(2 * (need - count), 8), budget - drawn)
        drawn += batch
        env = {n: rng.uniform(*settings.interval(n), batch) for n in names}
        values = np.broadcast_to(prepared_reference(env), (batch,))
        ok = np.isfinite(values)
        if ok.any():
            for n in names:
                kept_env[n].append(env[n][ok])
            kept_values.append(values[ok])
            count += int(ok.sum())
    if count == 0:
        return None, None
    env = {n: np.concatenate(kept_env[n])[:need] for n in names}
    return env, np.concatenate(kept_values)[:need]


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def compare_points(answer: str, reference: str, settings: Settings) -> Outcome:
    """Steps 1 and 2: the verdict, "identical", "numeric" or "different". ExpressionError: the
    answer does not parse (its message is for the student). ReferenceProblem: the reference is
    unusable. Bounded by the parser's limits alone (a few hundred nodes, at most `20 * points`
    points), so the grading process runs it itself."""
    prepared = _prepare_reference(reference, settings)
    parsed = parse(answer, settings.names, settings.functions)
    warnings = parsed.warnings
    if parsed.node == prepared.node:
        return Outcome(True, "identical", proof="the same expression", warnings=warnings)

    digest = hashlib.sha256(json.dumps([answer, reference, settings.to_json()]).encode()).digest()
    env, ref_values = sample_points(prepared.compiled, settings, int.from_bytes(digest[:8], "big"))
    if env is None:
        raise ReferenceProblem(f"the reference expression {to_text(prepared.node)} is undefined at every "
                              f"point tried in its domain")
    n = len(ref_values)
    answer_values = np.broadcast_to(_compile(parsed.node, prepared.functions, prepared.extend)(env), (n,))
    close = _close(answer_values, ref_values, settings.rtol)
    if not close.all():
        k = int(np.argmin(close))
        return Outcome(
            False, "different", points=n,
            point={name: float(env[name][k]) for name in sorted(env)},
            answer_value=_finite_or_none(float(answer_values[k])),
            reference_value=float(ref_values[k]), warnings=warnings)
    return Outcome(True, "numeric", points=n, note="no symbolic proof sought: simplify is off", warnings=warnings)


def compare(answer: str, reference: str, settings: Settings, budget_s: float = 1.0) -> Outcome:
    """Steps 1 to 3 (the checking process's work): `compare_points`, then, where the points agree
    and `settings.simplify` is on, a sympy proof within `budget_s`, which changes only how the
    verdict is explained, never the verdict."""
    outcome = compare_points(answer, reference, settings)
    if outcome.method != "numeric" or not settings.simplify:
        return outcome
    from grader.mathexpr.symbolic import OutOfTime, disarm, prove_zero, time_limit, to_sympy

    start = time.monotonic()
    try:
        with time_limit(budget_s):
            ref_expr, symbols = _reference_sympy(reference, settings)
            difference = to_sympy(parse(answer, settings.names, settings.functions).node, symbols) - ref_expr
        step, note = prove_zero(difference, budget_s - (time.monotonic() - start))
    except OutOfTime:
        step, note = None, "symbolic check ran out of time while building the expressions"
    except (RecursionError, MemoryError, ValueError, TypeError, ArithmeticError) as exc:
        step, note = None, f"symbolic check failed: {type(exc).__name__}"
    finally:
        disarm()
    if step is None:
        return replace(outcome, note=note)
    return replace(outcome, method="symbolic", proof=step, note="")
