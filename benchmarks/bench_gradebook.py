"""The course gradebook under SIGKILL, and what a rerun costs.

A class of N answer files (the bundled dl-quiz samples, each with its own student id) is graded
once without interruption, and once killed with SIGKILL (the whole process group: grader and its
workers) at K random moments after it has recorded something, then run to the end. Reported:
results lost and recorded twice (the goal is 0 and 0), whether the final views equal the
uninterrupted run's byte for byte, and the wall time of a first run, of a rerun with nothing
changed, and of a rerun after a rubric change (which grades everything again).

    python benchmarks/bench_gradebook.py [--students 500] [--kills 10] [--jobs 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_gradebook import QUIZ, kill_and_resume, make_class, views  # noqa: E402


def timed_run(rubric: Path, subs: Path, out: Path, jobs: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(rubric), str(subs), "--out", str(out),
                    "--jobs", jobs, "--quiet"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subs = make_class(tmp / "subs", args.students)
        rubric = tmp / "quiz.yaml"
        rubric.write_text(QUIZ.read_text(encoding="utf-8"), encoding="utf-8")
        first = timed_run(rubric, subs, tmp / "straight", args.jobs)
        unchanged = timed_run(rubric, subs, tmp / "straight", args.jobs)
        rubric.write_text(re.sub(r"^title:.*$", "title: Changed", rubric.read_text(encoding="utf-8"), count=1,
                                 flags=re.M), encoding="utf-8")
        changed = timed_run(rubric, subs, tmp / "straight", args.jobs)
        rubric.write_text(QUIZ.read_text(encoding="utf-8"), encoding="utf-8")
        reference = tmp / "reference"
        timed_run(rubric, subs, reference, args.jobs)

        at_kill = kill_and_resume(tmp / "killed", subs, kills=args.kills, seed=args.seed, jobs=args.jobs)
        db = sqlite3.connect(tmp / "killed" / "gradebook.sqlite")
        recorded, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT submission_id) FROM results").fetchone()
        same = views(tmp / "killed") == views(reference)
    print(f"## Course gradebook: {args.students} answer files, --jobs {args.jobs}\n")
    print(f"killed with SIGKILL {args.kills} times, with {', '.join(map(str, at_kill))} results recorded at the kills")
    print(f"lost: {args.students - distinct}, recorded twice: {recorded - distinct}, "
          f"views equal to an uninterrupted run's: {'yes' if same else 'NO'}\n")
    print("| run | seconds |")
    print("|---|---|")
    print(f"| first run | {first:.2f} |")
    print(f"| rerun, nothing changed | {unchanged:.2f} |")
    print(f"| rerun after a rubric change (grades all again) | {changed:.2f} |")
    return 0 if same and recorded == distinct == args.students else 1


if __name__ == "__main__":
    sys.exit(main())
