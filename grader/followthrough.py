"""Follow-through marking (error carried forward): a wrong answer that follows correctly from the
student's own wrong earlier answers earns a share of its marks.

Only checks whose canonical answer is a solver output take part, and only through that solver's
step graph (`Solver.steps`): the student's wrong answers to the outputs this check is computed
from replace the canonical intermediates, the graph recomputes the check's output, and the
student's answer is judged against that with the check's own comparator and tolerance. The
student's right answers upstream are substituted too (they may be rounded, and the student went
on from the rounded value), unreadable and missing ones never are. Only a check with at least one
wrong antecedent is re-judged, only wrong checks are, and nothing here can lower a score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from grader.key import KeyEntry
from grader.kinds import InvalidAnswer
from grader.results import Antecedent, CriterionResult, FollowThrough
from grader.rubric import Criterion, Part, Rubric

CheckId = tuple[str, str]  # (part id, criterion id)
_WRONG = ("incorrect", "partial")
_ANSWERED = ("correct", *_WRONG)


def _split(solution: str) -> tuple[str, str]:
    instance, _, output = solution.partition(".")
    return instance, output


def apply_follow_through(
    rubric: Rubric,
    key: Mapping[CheckId, KeyEntry],
    items: Mapping[CheckId, tuple[Part, Criterion]],
    raw_answer: Callable[[CheckId], Any],
    results: dict[CheckId, CriterionResult],
) -> dict[CheckId, CriterionResult]:
    """Return `results` with every wrong solver-backed check re-judged against the value its
    wrong antecedents give; `raw_answer(check)` is the student's raw value for that check."""
    wrong_checks = [check for check, result in results.items()
                    if result.status in _WRONG and (entry := key.get(check)) is not None and entry.solution
                    and _split(entry.solution)[0] in rubric.graphs]
    if not wrong_checks:
        return results
    instances = {_split(key[check].solution)[0] for check in wrong_checks}
    values: dict[str, dict[str, tuple[CheckId, Any]]] = {}  # instance -> output -> (check, value)
    for check, result in results.items():
        entry = key.get(check)
        if result.status not in _ANSWERED or entry is None or entry.solution is None:
            continue
        instance, output = _split(entry.solution)
        if instance not in instances:
            continue
        try:
            value = rubric.comparators[check].value_of(raw_answer(check))
        except InvalidAnswer:
            continue
        if value is not None:
            values.setdefault(instance, {})[output] = (check, value)

    updated = dict(results)
    for check in wrong_checks:
        result = results[check]
        instance, output = _split(key[check].solution)
        graph = rubric.graphs[instance]
        if output not in graph:
            continue
        ancestors = graph.ancestors(output)
        upstream = {o: cv for o, cv in values.get(instance, {}).items() if o in ancestors}
        wrong = {o: cv for o, cv in upstream.items() if results[cv[0]].status in _WRONG}
        if not wrong:
            continue  # the first wrong step: nothing earlier to carry the error from
        # name the nearest wrong steps: those not themselves upstream of another wrong one
        antecedents = {o: cv for o, cv in wrong.items() if not any(o in graph.ancestors(other) for other in wrong)}
        part, item = items[check]
        try:
            recomputed = graph.evaluate({o: value for o, (_, value) in upstream.items()})[output]
        except (ValueError, ArithmeticError):
            continue  # e.g. the student's values lead outside a function's domain
        updated[check] = _rejudge(rubric, check, part, item, results, raw_answer, recomputed, antecedents)
    return updated


def _rejudge(rubric: Rubric, check: CheckId, part: Part, item: Criterion, results: Mapping[CheckId, CriterionResult],
             raw_answer: Callable[[CheckId], Any], recomputed: Any,
             antecedents: dict[str, tuple[CheckId, Any]]) -> CriterionResult:
    comparator, result = rubric.comparators[check], results[check]
    try:
        recomputed = comparator.reference(recomputed)
        verdict = comparator.check(raw_answer(check), recomputed)
    except (ValueError, ArithmeticError, InvalidAnswer):
        return result
    share = rubric.follow_through_share(part, item)
    sources = [Antecedent(part=c[0], criterion=c[1], output=o, answer=results[c].answer)
               for o, (c, _) in antecedents.items()]
    consistent = verdict.fraction >= 1.0
    info = FollowThrough(consistent=consistent, share=share, recomputed=comparator.show(recomputed), antecedents=sources)
    named = ", ".join(f"{a.part}" + ("" if a.criterion == "answer" else f" ({a.criterion})") for a in sources)
    if not consistent:
        return result.model_copy(update={
            "follow_through": info,
            "reason": f"{result.reason}; the student's earlier answers ({named}) give {info.recomputed}, "
                      f"so this step is wrong on its own",
            "message": f"{result.message}; it does not follow from your earlier answers ({named}) either",
        })
    score = round(item.marks * share, 6)
    if score <= (result.score or 0.0):
        return result.model_copy(update={"follow_through": info})
    status = "correct" if share >= 1.0 else "partial"
    return result.model_copy(update={
        "follow_through": info, "score": score, "status": status,
        "reason": f"{result.reason}; follows from the student's wrong {named}: they give {info.recomputed} "
                  f"(error carried forward, {share:.0%} of the marks)",
        "message": f"not the expected value, but it follows correctly from your earlier answers ({named}), "
                   f"which were wrong: {share:.0%} of the marks (error carried forward)",
    })

