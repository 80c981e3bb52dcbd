"""Answer files at the speed of the work (issue 15): every row is the whole `grader grade` command,
one process per configuration, timed in one run against the floor of a bare interpreter.

Rows: 1,000 copies of a quiz answer file (--jobs 1 and the default); one answer file of each
bundled rubric (all reports, warm key cache); 1,000 answer files of each of dl-quiz, lab8, exam
and assignment1 (the bundled samples re-labelled), serial, default and --jobs 2; a cold key
cache for one file. Peak memory is the whole process tree's (sampled, /proc). With --peers, the
peers' 20-notebook quiz workload through their own run_peers.sh, nbgrader timed in the same run.

    python benchmarks/bench_fast.py [--copies 1000] [--reps 3] [--peers ../shared/peers] [--root CHECKOUT]

--root times another checkout's grader (the same interpreter, its own code: PYTHONPATH and working
directory), e.g. the main branch before this work, so that before and after are one command apart.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRADER = [sys.executable, "-m", "grader"]
ENV: dict[str, str] = {}  # PYTHONPATH of the checkout timed
RUBRICS = ("dl-quiz", "lab8", "exam", "assignment1")
ONE = {"dl-quiz": "dl-quiz/s002-published-solution.json", "lab8": "lab8/published-solution.json",
       "exam": "exam/published-solution.json", "assignment1": "assignment1/s102-mistakes.json"}


def tree_rss(root: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 once it has gone)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def run(command: list[str], env: dict | None = None) -> tuple[float, int]:
    """Wall seconds and peak whole-tree memory (bytes, sampled every 20 ms) of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **ENV, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    peak = [0]

    def watch() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, peak[0]


def relabelled(rubric: str, copies: int, folder: Path) -> Path:
    """`copies` answer files made from the rubric's bundled samples, each with its own student id."""
    samples = []
    for path in sorted((ROOT / "submissions" / rubric).glob("*.json")):
        try:
            samples.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            continue
    target = folder / rubric
    target.mkdir(parents=True)
    for i in range(copies):
        answers = dict(samples[i % len(samples)], student_id=f"{rubric}-{i:05}")
        (target / f"{rubric}-{i:05}.json").write_text(json.dumps(answers), encoding="utf-8")
    return target


def quiz_answers(folder: Path, copies: int, peers_folder: Path | None) -> None:
    """`copies` answer files of ml-quiz1 (the peers' quiz as answer files): the peers' workload's
    answers cycled where its folder (--peers, else ../shared/peers) has them, else the key's own values."""
    peers = (peers_folder or ROOT.parent / "shared" / "peers") / "workload" / "answers.json"
    if peers.is_file():
        answers = list(json.loads(peers.read_text(encoding="utf-8")).values())
    else:
        key = json.loads(subprocess.run([*GRADER, "key", "rubrics/ml-quiz1.yaml"], cwd=ROOT, check=True,
                                        capture_output=True, env={**os.environ, **ENV}).stdout)
        answers = [{entry["part"]: entry["value"] for entry in key["entries"]}]
    for i in range(copies):
        document = {"format": "grader-answers/1", "student_id": f"q{i:05}", "assessment_id": "ml-quiz1",
                    "answers": {part: value for part, value in answers[i % len(answers)].items() if value is not None}}
        (folder / f"q{i:05}.json").write_text(json.dumps(document), encoding="utf-8")


def median_run(command: list[str], reps: int, fresh: Path, env: dict | None = None) -> tuple[float, int]:
    """The median wall and the largest peak of `reps` runs, each into a fresh report folder."""
    walls, peaks = [], []
    for rep in range(reps):
        shutil.rmtree(fresh, ignore_errors=True)
        wall, peak = run([*command, "--out", str(fresh)], env)
        walls.append(wall)
        peaks.append(peak)
    return statistics.median(walls), max(peaks)


def peers_row(peers: Path, scratch: Path) -> int:
    """The peers' 20 notebooks through their run_peers.sh (nbgrader and grader, in one run)."""
    results = scratch / "peers-results"
    # a fresh report folder (and gradebook) each repetition: a rerun would grade nothing
    command = (f"rm -rf \"$PEERS_WORK/ours\" && cd {ROOT} && {sys.executable} -m grader grade "
               f"{ROOT / 'rubrics' / 'ml-quiz1.yaml'} \"$PEERS_PLAIN_DIR\" --out \"$PEERS_WORK/ours\" --quiet")
    env = {**os.environ, **ENV, "SKIP_OTTER": "1", "PEERS_RESULTS": str(results),
           "PEERS_WORK": str(scratch / "peers"), "GRADER_CMD": command}
    subprocess.run(["bash", str(peers / "run_peers.sh")], check=True, env=env, stdout=subprocess.DEVNULL)
    summary = json.loads((results / "summary.json").read_text())
    nbgrader, ours = summary["nbgrader"]["median_all20_s"], summary["ours"]["median_wall_s"]
    print("\n### the peers' workload (20 notebooks, rubrics/ml-quiz1.yaml), in one run of run_peers.sh\n")
    print((results / "summary.md").read_text())
    print(f"\nnbgrader / grader, 20-notebook total wall: {nbgrader:.2f} s / {ours:.2f} s = {nbgrader / ours:.1f}x")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--peers", type=Path, help="the peers' folder (run_peers.sh): time nbgrader and grader")
    parser.add_argument("--class-reps", type=int, help="repetitions of the 4 x 1,000 rows (default: --reps)")
    parser.add_argument("--root", type=Path, help="time this checkout's grader instead of this one's")
    parser.add_argument("--only-peers", action="store_true", help="only the peers' workload (with --peers)")
    args = parser.parse_args()
    global ROOT
    if args.root:
        ROOT = args.root.resolve()
        ENV["PYTHONPATH"] = str(ROOT)
    scratch = Path(tempfile.mkdtemp(prefix="bench-fast-"))
    out = scratch / "out"
    rows: list[tuple[str, float, int, float | None]] = []  # label, wall, peak, serial wall (for the ratio)

    floor = statistics.median(run([sys.executable, "-c", "import pydantic, yaml"])[0] for _ in range(args.reps))
    if args.only_peers:
        peers_row(args.peers, scratch)
        shutil.rmtree(scratch, ignore_errors=True)
        return 0
    for rubric in RUBRICS:  # warm the key cache (beside the rubric) as a course's first run does
        run([*GRADER, "grade", f"rubrics/{rubric}.yaml", f"submissions/{ONE[rubric]}", "--quiet", "--out",
             str(scratch / "warm")])
    run([*GRADER, "key", "rubrics/ml-quiz1.yaml"])  # the quiz's too: its first row is timed with a warm cache

    copies = scratch / "copies"
    copies.mkdir()
    quiz_answers(copies, args.copies, args.peers)
    quiz_cmd = [*GRADER, "grade", "rubrics/ml-quiz1.yaml", str(copies), "--quiet"]
    serial, peak = median_run([*quiz_cmd, "--jobs", "1"], args.reps, out)
    rows.append((f"{args.copies:,} copies of a quiz answer file (ml-quiz1, 10 parts), --jobs 1", serial, peak, serial))
    for label, extra in (("default --jobs", []), ("--jobs 2", ["--jobs", "2"])):
        wall, peak = median_run([*quiz_cmd, *extra], args.reps, out)
        rows.append((f"{args.copies:,} copies of a quiz answer file (ml-quiz1, 10 parts), {label}", wall, peak, serial))

    for rubric in RUBRICS:
        wall, peak = median_run([*GRADER, "grade", f"rubrics/{rubric}.yaml", f"submissions/{ONE[rubric]}", "--quiet"],
                                args.reps, out)
        rows.append((f"one answer file, {rubric}, all reports (warm key cache)", wall, peak, None))
    cold = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    shutil.copy(ROOT / "rubrics" / "dl-quiz.yaml", cold / "dl-quiz.yaml")
    walls = []
    for _ in range(args.reps):
        for cached in cold.glob(".*.key.json"):
            cached.unlink()
        shutil.rmtree(out, ignore_errors=True)
        walls.append(run([*GRADER, "grade", str(cold / "dl-quiz.yaml"), f"submissions/{ONE['dl-quiz']}", "--quiet",
                          "--out", str(out)]))
    rows.append(("one answer file, dl-quiz, cold key cache (computed: torch, solvers)",
                 statistics.median(w for w, _ in walls), max(p for _, p in walls), None))

    classes = scratch / "classes"
    for rubric in RUBRICS:
        relabelled(rubric, args.copies, classes)
    four = [[*GRADER, "grade", f"rubrics/{rubric}.yaml", str(classes / rubric), "--quiet"] for rubric in RUBRICS]
    totals: dict[str, tuple[float, int]] = {}
    for label, extra in (("--jobs 1", ["--jobs", "1"]), ("default --jobs", []), ("--jobs 2", ["--jobs", "2"])):
        walls, peaks = [], []
        for _ in range(args.class_reps or args.reps):
            wall = peak = 0
            for rubric, command in zip(RUBRICS, four):
                shutil.rmtree(out / rubric, ignore_errors=True)
                w, p = run([*command, *extra, "--out", str(out / rubric)])
                wall, peak = wall + w, max(peak, p)
            walls.append(wall)
            peaks.append(peak)
        totals[label] = (statistics.median(walls), max(peaks))
    for label, (wall, peak) in totals.items():
        rows.append((f"{args.copies:,} answer files each of {', '.join(RUBRICS)}, all reports, {label} (sum of 4 "
                     "commands)", wall, peak, totals["--jobs 1"][0]))

    print(f"## grader grade, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, median of {args.reps}\n")
    print(f"floor: `python -c 'import pydantic, yaml'` {floor:.3f} s\n")
    print("| run | wall (s) | / serial | / floor | peak memory, whole tree (MB) |\n|---|---|---|---|---|")
    for label, wall, peak, serial in rows:
        ratio = f"{wall / serial:.2f}" if serial else ""
        print(f"| {label} | {wall:.2f} | {ratio} | {wall / floor:.1f}x | {peak / 1e6:.0f} |")

    if args.peers:
        peers_row(args.peers, scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(cold, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
