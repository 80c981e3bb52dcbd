"""The course gradebook under SIGKILL, and what a rerun costs.

A class of N answer files (the bundled dl-quiz samples, each with its own student id) is graded
once without interruption, and once killed with SIGKILL (the whole process group: grader and its
workers) at K random moments after it has recorded something, then run to the end. Reported:
results lost and recorded twice (the goal is 0 and 0), whether the final views equal the
uninterrupted run's byte for byte, and the wall time, command start-up included, of a first run,
of a rerun with nothing changed, and, after a tolerance change to one part (q5.c), of
`grader regrade --part q5.c` (that part rescored into the stored results) and of `grader grade`
(every part of every file graded again), each with its ratio to the first run.

    python benchmarks/bench_gradebook.py [--students 1000] [--kills 10] [--jobs 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_gradebook import QUIZ, kill_and_resume, make_class, views  # noqa: E402

Q5C_TOLERANCE = "options: {rtol: 0.01, atol: 0.0005, partial: true}\n        solution: softmax_t2.probs"


def timed(command: str, rubric: Path, subs: Path, out: Path, jobs: str, *options: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader.cli", command, str(rubric), str(subs), "--out", str(out),
                    "--jobs", jobs, "--quiet", *options], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subs = make_class(tmp / "subs", args.students)
        rubric = tmp / "quiz.yaml"
        rubric.write_text(QUIZ.read_text(encoding="utf-8"), encoding="utf-8")
        first = timed("grade", rubric, subs, tmp / "straight", args.jobs)
        unchanged = timed("grade", rubric, subs, tmp / "straight", args.jobs)
        text = rubric.read_text(encoding="utf-8")
        assert Q5C_TOLERANCE in text, "the quiz's q5.c options changed: update Q5C_TOLERANCE"
        rubric.write_text(text.replace(Q5C_TOLERANCE, Q5C_TOLERANCE.replace("rtol: 0.01", "rtol: 0.0")),
                          encoding="utf-8")
        part = timed("regrade", rubric, subs, tmp / "straight", args.jobs, "--part", "q5.c")
        whole = timed("grade", rubric, subs, tmp / "straight", args.jobs)
        rubric.write_text(QUIZ.read_text(encoding="utf-8"), encoding="utf-8")
        reference = tmp / "reference"
        timed("grade", rubric, subs, reference, args.jobs)

        at_kill = kill_and_resume(tmp / "killed", subs, kills=args.kills, seed=args.seed, jobs=args.jobs)
        db = sqlite3.connect(tmp / "killed" / "gradebook.sqlite")
        recorded, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT submission_id) FROM results").fetchone()
        same = views(tmp / "killed") == views(reference)
    print(f"## Course gradebook: {args.students} answer files, --jobs {args.jobs}\n")
    print(f"killed with SIGKILL {args.kills} times, with {', '.join(map(str, at_kill))} results recorded at the kills")
    print(f"lost: {args.students - distinct}, recorded twice: {recorded - distinct}, "
          f"views equal to an uninterrupted run's: {'yes' if same else 'NO'}\n")
    print("| run | seconds | ratio to the first run |")
    print("|---|---|---|")
    for label, seconds in (("first run", first), ("rerun, nothing changed", unchanged),
                           ("after a tolerance change: `regrade --part q5.c`", part),
                           ("after a tolerance change: `grade` (every part again)", whole)):
        print(f"| {label} | {seconds:.2f} | {seconds / first:.2f} |")
    return 0 if same and recorded == distinct == args.students else 1


if __name__ == "__main__":
    sys.exit(main())
