"""End-to-end grading benchmark: a generated 64-part rubric and 1,000 answer files.

Grades the batch twice through the same path as `grader grade` (reading, checking, scoring and
writing every report): once serially, as nbgrader grades, and once with one process per core.
Prints submissions per second for both and their ratio, peak memory of the grading processes,
and the median / 95th-percentile time of one check for each answer kind (expression checks are
the slowest kind: they run in a time-bounded worker process).

    python benchmarks/bench_grading.py [--students 1000] [--jobs N] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from grader.batch import collect_answer_files
from grader.grading import grade_into
from grader.key import build_key
from grader.kinds import InvalidAnswer
from grader.rubric import load_rubric
from grader.store import Gradebook
from grader.submission import read_answer_file

EXPRESSIONS = {
    # variables, reference, equivalent student forms, wrong student forms
    "dw1": (["a1", "a2", "y", "w2", "x"], "(a2 - y)*w2*a1*(1 - a1)*x",
            ["(a2 - y)*w2*a1*(1 - a1)*x", "(a_2 - y) w_2 a_1 (1 - a_1) x", "x*a1*(1-a1)*w2*(a2-y)",
             "(a2*w2*x - y*w2*x)*(a1 - a1^2)"],
            ["(a2 - y)*w2*a1*(1 + a1)*x", "(y - a2)*w2*a1*(1 - a1)*x", "(a2 - y)*a1*(1 - a1)*x"]),
    "dsig": (["z"], "exp(-z)/(1 + exp(-z))^2",
             [r"\sigma(z)(1-\sigma(z))", "sigma(z)*(1 - sigma(z))", r"\frac{e^{-z}}{(1+e^{-z})^2}"],
             ["sigma(z)^2", "1 - sigma(z)"]),
    "dtanh": (["z"], "1 - tanh(z)^2", [r"1 - \tanh^2(z)", "1/cosh(z)^2", r"\frac{4}{(e^{z}+e^{-z})^2}"],
              ["1 + tanh(z)^2", "tanh(z)"]),
    "db2": (["a2", "y"], "a2 - y", ["a2 - y", "-(y - a2)", "a_2 - y"], ["y - a2", "a2*y"]),
    "delu": (["z", "alpha"], "alpha*exp(z)", [r"\alpha e^{z}", "alpha*exp(z)"], ["alpha*z", "exp(z)"]),
    "newton": (["g", "h"], "-g/h", ["-g/h", r"-\frac{g}{h}", "-(1/h)*g"], ["g/h", "-h/g"]),
}


def _distinct(rng: random.Random, form: str) -> str:
    """An equivalent rewrite with a random factor, so the worker's cache does not flatter the timings."""
    k = rng.randint(2, 10**6)
    return f"{k}*({form})/{k}"


def make_rubric(rng: random.Random) -> tuple[dict, dict]:
    """A 64-part rubric mixing every kind, and a generator spec for answers."""
    parts, spec = [], {}

    def add(part: dict, gen) -> None:
        parts.append(part)
        spec[part["id"]] = gen

    for i in range(20):
        r = rng.uniform(-10, 10)
        add({"id": f"num{i}", "kind": "number", "marks": 1, "answer": r},
            lambda g, r=r: [r * (1 + g.uniform(-0.005, 0.005)), round(r, 1) + 1, "NaN"])
    for i in range(8):
        n = rng.randint(1, 100_000)
        add({"id": f"int{i}", "kind": "integer", "marks": 1, "answer": n}, lambda g, n=n: [n, n + 1, "x"])
    for i in range(8):
        v = [rng.uniform(-1, 1) for _ in range(5)]
        add({"id": f"vec{i}", "kind": "vector", "marks": 2, "options": {"partial": True}, "answer": v},
            lambda g, v=v: [v, [x + 0.1 for x in v], [[x] for x in v]])
    for i in range(6):
        m = [[rng.randint(-50, 50) for _ in range(3)] for _ in range(3)]
        add({"id": f"mat{i}", "kind": "matrix", "marks": 2, "answer": m},
            lambda g, m=m: [m, [row[::-1] for row in m], [1, 2, 3]])
    for i in range(6):
        c = rng.choice("ABCD")
        add({"id": f"choice{i}", "kind": "choice", "marks": 1, "answer": c},
            lambda g, c=c: [c.lower(), "A" if c != "A" else "B", "Z"])
    for i in range(4):
        add({"id": f"multi{i}", "kind": "multi", "marks": 2, "options": {"partial": "right_minus_wrong"},
             "answer": "ACD"}, lambda g: ["a, c, d", "ABC", ""])
    for i in range(4):
        add({"id": f"text{i}", "kind": "text", "marks": 1, "answer": "the weight vector",
             "options": {"accept": ["w", "optimal weights"]}},
            lambda g: ["The weight  vector.", "the bias", "x" * 5000])
    for name, (variables, reference, right, wrong) in EXPRESSIONS.items():
        add({"id": f"expr_{name}", "kind": "expression", "marks": 2, "options": {"variables": variables},
             "answer": reference},
            lambda g, right=right, wrong=wrong: [_distinct(g, g.choice(right)), _distinct(g, g.choice(wrong)),
                                                 "__import__('os')"])
    for i in range(2):
        add({"id": f"essay{i}", "kind": "manual", "marks": 5}, lambda g: ["An essay. " * 50] * 3)
    questions = [{"id": f"q{i + 1}", "parts": parts[i * 8:(i + 1) * 8]} for i in range(8)]
    return {"id": "bench", "title": "Benchmark assessment", "questions": questions}, spec


def make_answers(spec: dict, student: int, rng: random.Random) -> dict:
    answers = {}
    for part_id, gen in spec.items():
        roll = rng.random()
        if roll < 0.05:
            continue  # missing
        right, wrong, invalid = gen(rng)
        answers[part_id] = right if roll < 0.75 else wrong if roll < 0.95 else invalid
    return {"format": "grader-answers/1", "student_id": f"s{student:04}", "student_name": f"Student {student}",
            "assessment_id": "bench", "answers": answers}


def check_timings(rubric_path: Path, files: list[Path], sample: int) -> dict[str, list[float]]:
    """Time each comparator.check call, per kind, on a sample of the answer files."""
    rubric = load_rubric(rubric_path)
    key = build_key(rubric).lookup()
    times: dict[str, list[float]] = {}
    for path in files[:sample]:
        answers = read_answer_file(path).answers
        for (part_id, criterion_id), comparator in rubric.comparators.items():
            if part_id not in answers:
                continue
            started = time.perf_counter()
            try:
                comparator.check(answers[part_id], key[(part_id, criterion_id)].value)
            except InvalidAnswer:
                pass
            times.setdefault(comparator.kind, []).append(time.perf_counter() - started)
    return times


def run_batch(rubric_path: Path, files: list[Path], out: Path, jobs: int) -> float:
    """A first run, as `grader grade` does it: recorded in a fresh gradebook, views written."""
    rubric = load_rubric(rubric_path)
    out.mkdir(parents=True)
    gradebook = Gradebook(out / "gradebook.sqlite")
    started = time.perf_counter()
    outcome = grade_into(gradebook, rubric_path, rubric, files, out, jobs=jobs)
    elapsed = time.perf_counter() - started
    gradebook.close()
    assert outcome.graded == len(files)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=200, help="answer files used for per-check timings")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rubric, spec = make_rubric(rng)
        rubric_path = tmp / "bench.yaml"
        rubric_path.write_text(json.dumps(rubric), encoding="utf-8")  # JSON is YAML
        for i in range(args.students):
            (tmp / "answers").mkdir(exist_ok=True)
            (tmp / "answers" / f"s{i:04}.json").write_text(json.dumps(make_answers(spec, i, rng)), encoding="utf-8")
        files = collect_answer_files([tmp / "answers"]).files
        n_parts = sum(len(q["parts"]) for q in rubric["questions"])

        serial = run_batch(rubric_path, files, tmp / "out-serial", jobs=1)
        parallel = run_batch(rubric_path, files, tmp / "out-parallel", jobs=args.jobs)
        timings = check_timings(rubric_path, files, args.sample)

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"## Grading {len(files)} answer files, {n_parts}-part rubric, end to end with reports\n")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    print("| mode | seconds | submissions/s |")
    print("|---|---|---|")
    print(f"| serial (1 process, as nbgrader) | {serial:.2f} | {len(files) / serial:.1f} |")
    print(f"| parallel ({args.jobs} processes) | {parallel:.2f} | {len(files) / parallel:.1f} |")
    print(f"\nparallel / serial throughput: {serial / parallel:.2f}x")
    print(f"peak memory (max RSS): main process {own:.0f} MiB, largest child {children:.0f} MiB\n")
    print(f"## Time per check, by kind ({args.sample} answer files)\n")
    print("| kind | checks | median ms | p95 ms |")
    print("|---|---|---|---|")
    for kind, values in sorted(timings.items(), key=lambda kv: -statistics.median(kv[1])):
        values.sort()
        p95 = values[int(0.95 * (len(values) - 1))]
        print(f"| {kind} | {len(values)} | {statistics.median(values) * 1e3:.3f} | {p95 * 1e3:.3f} |")


if __name__ == "__main__":
    main()
