"""Grade the CharRNN course's sample notebooks at the rubric's real budget and say how fair it is:

- a table per notebook: marks per check, the retrained held-out loss, time (the sandboxed run,
  which is nearly all of a notebook's grading, and its retraining), the checks flagged for review
  (a time limit's 0 is one: it says the machine, not the model, stopped it);
- false partials: correct models (`-correct-` in the file name) below full marks on a model or the
  convergence check (the goal is none);
- bugs caught: for each `-bug-` notebook, the checks that lost marks (none: not caught);
- blanks: their totals.

    python benchmarks/bench_charrnn.py [--jobs 2] [--budget steps=400,wall_seconds=1200]

The grading is `grader grade`'s (grader.batch.grade_files, the sandboxed runs included). With
--budget, the rubric is copied with those CPU budget fields changed and calibrated first (the
thresholds belong to the budget). Prints Markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.batch import Graded, grade_files  # noqa: E402
from grader.program.calibration import calibrate, calibration_path, machine, write_calibration  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402

MODEL_CHECKS = ["builds", "init_hidden", "forward", "variable_shapes", "parameter_count", "required_layers"]
CHECKS = [*MODEL_CHECKS, "get_batches", "trains", "retrained", "generation", "reproducible"]


def budget_changes(text: str) -> dict:
    """`steps=400,wall_seconds=1200` -> {"steps": 400, "wall_seconds": 1200.0}."""
    changes = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        changes[name.strip()] = float(value) if "." in value or name.strip() == "wall_seconds" else int(value)
    return changes


def rubric_with_budget(rubric: Path, changes: dict, folder: Path) -> Path:
    """A copy of the rubric (paths made absolute) with the CPU budget changed, calibrated."""
    data = yaml.safe_load(rubric.read_text(encoding="utf-8"))
    program = data["program"]
    program["corpus"] = str((rubric.parent / program["corpus"]).resolve())
    if program.get("holdout", {}).get("path"):
        program["holdout"]["path"] = str((rubric.parent / program["holdout"]["path"]).resolve())
    program["reference"]["notebook"] = str((rubric.parent / program["reference"]["notebook"]).resolve())
    program["training"]["budgets"]["cpu"].update(changes)
    copy = folder / rubric.name
    copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    setup = load_rubric(copy, calibrated=False).program
    started = time.perf_counter()
    write_calibration(calibration_path(copy, setup), "cpu",
                      calibrate(setup, "cpu", progress=lambda line: print(f"<!-- {line} -->", file=sys.stderr)))
    print(f"calibrated the budget {program['training']['budgets']['cpu']} in {time.perf_counter() - started:.0f} s\n")
    return copy


def criteria(graded: Graded) -> dict:
    return {c.id: c for q in graded.result.questions for p in q.parts for c in p.criteria}


def scores(graded: Graded) -> dict[str, tuple[float | None, float]]:
    return {name: (c.score, c.marks) for name, c in criteria(graded).items()}


def fmt(score: float | None, marks: float) -> str:
    if score is None:
        return "-"
    return f"{score:g}" if score in (0, marks) else f"**{score:.2f}**"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rubric", type=Path, default=ROOT / "rubrics" / "charrnn.yaml")
    parser.add_argument("--submissions", type=Path, default=ROOT / "submissions" / "charrnn")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--budget", default="", help="CPU budget fields to change, e.g. steps=400,wall_seconds=1200")
    args = parser.parse_args()
    files = sorted(args.submissions.glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as folder:
        changes = budget_changes(args.budget)
        rubric = rubric_with_budget(args.rubric, changes, Path(folder)) if changes else args.rubric
        budget = load_rubric(rubric).program.spec.training.budgets["cpu"]
        graded: dict[str, Graded] = {}
        started = time.perf_counter()
        grade_files(rubric, files, jobs=args.jobs, on_result=lambda g: graded.setdefault(g.path.stem, g))
        total = time.perf_counter() - started

    print(f"# CharRNN course: {len(files)} notebooks, budget {budget.model_dump()}, --jobs {args.jobs}\n")
    print(f"{machine()}; {total:.0f} s in all\n")
    print("| notebook | " + " | ".join(CHECKS) + " | total | held-out loss | sandbox s | retraining s | for review |")
    print("|---" * (len(CHECKS) + 6) + "|")
    false_partials, caught, seconds = [], {}, {}
    for name in sorted(graded):
        found = scores(graded[name])
        run = json.loads(graded[name].program_run) if graded[name].program_run else {}
        loss = run.get("holdout_loss")
        train = (run.get("train") or {}).get("seconds")
        seconds[name] = run.get("wall_seconds", 0.0)
        print(f"| {name} | " + " | ".join(fmt(*found[c]) for c in CHECKS)
              + f" | {graded[name].result.score:g} | {f'{loss:.3f}' if loss is not None else '-'}"
              + f" | {seconds[name]:.0f} | {f'{train:.0f}' if train is not None else '-'}"
              + f" | {', '.join(c for c, found in criteria(graded[name]).items() if found.review) or '-'} |")
        lost = [c for c in CHECKS if found[c][0] is not None and found[c][0] < found[c][1]]
        if "-correct-" in name and any(c in lost for c in [*MODEL_CHECKS, "trains", "retrained"]):
            false_partials.append(f"{name}: " + ", ".join(f"{c} {fmt(*found[c])}/{found[c][1]:g}" for c in lost))
        if "-bug-" in name:
            caught[name] = lost
    times = sorted(seconds.values())
    print(f"\nSandboxed run per notebook: median {times[len(times) // 2]:.0f} s, max {times[-1]:.0f} s.\n")
    correct = sum("-correct-" in name for name in graded)
    print(f"**False partials on correct models** ({len(false_partials)} of {correct}):\n")
    print("\n".join(f"- {line}" for line in false_partials) or "- none")
    print(f"\n**Bugs caught** ({sum(bool(v) for v in caught.values())} of {len(caught)}):\n")
    print("\n".join(f"- {name}: {', '.join(lost) if lost else 'NOT CAUGHT'}" for name, lost in caught.items()))
    blanks = {name: g.result.score for name, g in graded.items() if "-blank-" in name}
    print("\n**Blanks:** " + ", ".join(f"{name} {score:g}" for name, score in sorted(blanks.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
