"""What follow-through marking costs: time to grade one submission with and without it.

Grades lab 8's published worked solution (wrong hidden-layer gradients, so several checks are
re-judged through the dense network's step graph) and a fully correct one, N times each, once
with the rubric's step graphs and once with them removed (plain key comparison), and prints the
milliseconds per submission and the ratio.

    python benchmarks/bench_follow_through.py [--repeat 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from grader.key import build_key
from grader.rubric import load_rubric
from grader.scoring import grade_submission
from grader.submission import read_answer_file

ROOT = Path(__file__).resolve().parent.parent


def _perfect(rubric, key, folder: Path) -> Path:
    """An answer file that gives every automatic check its key value."""
    answers: dict = {}
    for entry in key.entries:
        part = rubric.part_index[entry.part][1]
        item = next(i for i in part.items() if i.id == entry.criterion)
        if item.field:
            answers.setdefault(entry.part, {})[item.field] = entry.value
        else:
            answers[entry.part] = entry.value
    path = folder / "perfect.json"
    path.write_text(json.dumps({"format": "grader-answers/1", "student_id": "perfect", "answers": answers}))
    return path


def _time(rubric, key, path: Path, repeat: int) -> float:
    submission = read_answer_file(path)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        grade_submission(rubric, key, submission)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    rubric = load_rubric(ROOT / "rubrics" / "lab8.yaml")
    key = build_key(rubric)
    graphs = dict(rubric.graphs)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"published solution": ROOT / "submissions" / "lab8" / "published-solution.json",
                 "key values as answers": _perfect(rubric, key, Path(tmp))}
        print(f"lab 8 rubric, {len(key.entries)} automatic checks; median of {args.repeat} gradings\n")
        print("| submission | wrong checks | re-judged | without follow-through ms | with ms | ratio |")
        print("|---|---|---|---|---|---|")
        for label, path in files.items():
            criteria = [c for p in grade_submission(rubric, key, read_answer_file(path)).parts() for c in p.criteria]
            wrong = sum(c.status in ("incorrect", "partial") or c.follow_through is not None for c in criteria)
            rejudged = sum(c.follow_through is not None for c in criteria)
            rubric.graphs = {}
            plain = _time(rubric, key, path, args.repeat)
            rubric.graphs = graphs
            with_ft = _time(rubric, key, path, args.repeat)
            print(f"| {label} | {wrong} | {rejudged} | {plain:.3f} | {with_ft:.3f} | {with_ft / plain:.2f}x |")


if __name__ == "__main__":
    main()
