"""Costs of grading the coding question, on this machine:

1. the per-notebook overhead of the harness, cold (a sandbox of its own: its start, the supervisor
   and the worker each importing torch) and warm (forked from the warm sandbox's image): loading
   the notebook's definitions, both verification builds, the shape/parameter/generation checks
   and the held-out scoring, i.e. a whole sandboxed run minus the time it spent retraining (run
   with a 1-step budget), and a whole run of a notebook that defines nothing; then the grader's
   recomputation of the drawn-size build, timed apart; side by side with the floor any runner
   pays, a bare `python -c "import torch"`, as a ratio;
2. the convergence check on CPU at the rubric's CPU budget (the retraining of one notebook), with
   1 and 2 torch threads;
3. the reference calibration (every seed of `grader calibrate`), unless --skip-calibration.

    python benchmarks/bench_program.py [--rubric rubrics/assignment1.yaml] [--repeat 3]

It prints a Markdown table; benchmarks/RESULTS.md keeps the figures with the machine they came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.notebook import read_notebook  # noqa: E402
from grader.program.calibration import calibrate, machine  # noqa: E402
from grader.program.observations import ProgramRun  # noqa: E402
from grader.program.run import ProgramSetup, observe  # noqa: E402
from grader.program.verify import VerificationProbe, verify  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402


def with_budget(setup: ProgramSetup, **changes) -> ProgramSetup:
    training = setup.spec.training
    budget = training.budgets["cpu"].model_copy(update=changes)
    spec = setup.spec.model_copy(update={"training": training.model_copy(update={"budgets": {"cpu": budget}})})
    return dataclasses.replace(setup, spec=spec)


DRAW_SEED = 5  # the benchmark's runs draw their verification sizes from this seed, so the timing can redo it


def timed_run(notebook, setup: ProgramSetup) -> ProgramRun:
    run = observe(notebook, setup, "cpu", rng=random.Random(DRAW_SEED))
    if run.ended or run.train is None or not run.train.ok or run.train.by != "grader":
        raise SystemExit(f"the benchmark notebook did not run cleanly: {run.ended or run.train}")
    for verification in (run.verify_own, run.verification):
        if verification is None or verification.status != "verified":
            raise SystemExit(f"the benchmark notebook's model was not verified: {verification}")
    return run


def verification_seconds(setup: ProgramSetup, run: ProgramRun) -> float:
    """The grader's recomputation of the run's drawn-size verification build, in this process."""
    probe = VerificationProbe.draw(setup.spec.model, len(setup.chars), random.Random(DRAW_SEED))
    started = time.perf_counter()
    verify(setup.spec.model, setup.chars, probe, run.verify)
    return time.perf_counter() - started


def bare_torch_import() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rubric", default=str(ROOT / "rubrics" / "assignment1.yaml"))
    parser.add_argument("--notebook", default=str(ROOT / "submissions" / "charlstm" / "s01-correct.ipynb"))
    parser.add_argument("--empty", default=str(ROOT / "submissions" / "charlstm" / "s03-blank-template.ipynb"),
                        help="a notebook that defines nothing: what a run costs beyond any work")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-calibration", action="store_true")
    args = parser.parse_args()
    setup = load_rubric(args.rubric, calibrated=False).program
    notebook = read_notebook(args.notebook)
    budget = setup.spec.training.budgets["cpu"]
    print(f"machine: {machine()}; notebook {Path(args.notebook).name}; CPU budget {budget.steps} steps of "
          f"{budget.batch_size} x {budget.seq_length}\n")
    print("| measure | median of runs | runs (s) |\n|---|---|---|")

    floor = [bare_torch_import() for _ in range(args.repeat)]
    overheads = {}
    for mode in ("cold", "warm"):  # warm: the notebook's run forked from the warm sandbox's image
        os.environ["GRADER_WARM"] = "1" if mode == "warm" else "0"
        if mode == "warm":
            timed_run(notebook, with_budget(setup, steps=1))  # the warm sandbox's start is not a notebook's
        runs = [timed_run(notebook, with_budget(setup, steps=1)) for _ in range(args.repeat)]
        overhead, backend = [run.wall_seconds - run.train.seconds for run in runs], runs[0].backend
        empty = [observe(read_notebook(args.empty), setup, "cpu").wall_seconds for _ in range(args.repeat)]
        overheads[mode] = statistics.median(overhead)
        print(f"| {mode}: harness overhead per notebook ({backend}), retraining excluded | "
              f"{statistics.median(overhead):.2f} s | {', '.join(f'{x:.2f}' for x in overhead)} |")
        print(f"| {mode}: a whole run of a notebook with no definitions (start, load, end) | "
              f"{statistics.median(empty):.3f} s | {', '.join(f'{x:.3f}' for x in empty)} |")
    os.environ.pop("GRADER_WARM")
    print(f"| floor: bare `python -c 'import torch'` | {statistics.median(floor):.2f} s | "
          f"{', '.join(f'{x:.2f}' for x in floor)} |")
    for mode, overhead in overheads.items():
        print(f"| ratio {mode} overhead / floor | {overhead / statistics.median(floor):.2f}x | |")
    print(f"| ratio cold / warm overhead | {overheads['cold'] / overheads['warm']:.1f}x | |")
    checks = [verification_seconds(setup, run) for run in runs]
    print(f"| verification: the grader recomputing the model from its reported weights (in the overhead's runs, "
          f"not part of it) | {statistics.median(checks) * 1000:.1f} ms | {', '.join(f'{x * 1000:.1f}' for x in checks)} |")

    for threads in (1, 2):
        run = timed_run(notebook, with_budget(setup, threads=threads))
        print(f"| convergence check at the CPU budget, {threads} thread(s): whole run / retraining | "
              f"{run.wall_seconds:.1f} s / {run.train.seconds:.1f} s | |")

    if not args.skip_calibration:
        started = time.perf_counter()
        entry = calibrate(setup, "cpu")
        total = time.perf_counter() - started
        print(f"| calibration, {len(entry.seeds)} seeds of the reference notebook | {total:.1f} s in all | "
              f"{', '.join(f'{x:.1f}' for x in entry.seconds)} |")


if __name__ == "__main__":
    main()
