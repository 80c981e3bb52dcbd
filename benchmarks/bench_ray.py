"""The local pool against a local two-node Ray cluster (issue 16), on the same machine and the same
CPUs: wall time, and Ray's overhead per task ((Ray's wall - the pool's) / tasks).

Rows: `--notebooks` copies of ML quiz 1's sample notebooks (their cells run in the warm sandbox,
about two seconds each), with `--jobs` local workers and on a cluster of `--jobs` one-CPU nodes;
`--answers` answer files of the same quiz in one process, on the cluster in chunks (the default)
and one per task (MAX_CHUNK 1, to show what chunking saves). Every configuration's results are
checked to be the local ones. The cluster's start is timed apart: a cluster outlives batches.

    python benchmarks/bench_ray.py [--notebooks 24] [--answers 1000] [--jobs 2]

Four CharLSTM retrainings sharing one GPU against one at a time need a GPU node and a cuda
calibration (`grader calibrate rubrics/assignment1.yaml --device cuda`); see docs/ray.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import ray_executor  # noqa: E402
from grader.batch import grade_stream  # noqa: E402
from grader.key import compiled  # noqa: E402
from grader.output import render_student_reports  # noqa: E402

QUIZ = ROOT / "rubrics" / "ml-quiz1.yaml"
SAMPLES = sorted((ROOT / "submissions" / "ml-quiz1").glob("*.ipynb"))


def batch(folder: Path, notebooks: int, answers: int) -> tuple[list[Path], list[Path]]:
    """Notebooks copied under new names, and answer files: the key's answers with one part varied."""
    folder.mkdir(parents=True)
    books = []
    for i in range(notebooks):
        books.append(folder / f"n{i:03d}-{SAMPLES[i % len(SAMPLES)].name}")
        shutil.copy(SAMPLES[i % len(SAMPLES)], books[-1])
    key = {entry.part: entry.value for entry in compiled(QUIZ).key.entries}
    files = []
    for i in range(answers):
        files.append(folder / f"a{i:04d}.json")
        files[-1].write_text(json.dumps({"student_id": f"a{i:04d}", "assessment_id": "ml-quiz1",
                                         "answers": {**key, "q3": i % 50}}), encoding="utf-8")
    return books, files


def timed(files: list[Path], **how) -> tuple[float, dict[str, str]]:
    prepared = compiled(QUIZ)
    started = time.perf_counter()
    results = {str(g.path): g.result.model_copy(update={"duration_s": 0.0}).model_dump_json()
               for g in grade_stream(QUIZ, files, render=render_student_reports, prepared=prepared, **how)}
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=int, default=24)
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="rb", dir="/tmp"))
    os.environ["RAY_TMPDIR"] = str(temp / "ray")  # short: Ray's socket paths must fit in 107 bytes
    (temp / "ray").mkdir()
    books, answers = batch(temp / "batch", args.notebooks, args.answers)
    chunk = ray_executor.MAX_CHUNK
    import ray
    from ray.cluster_utils import Cluster

    try:
        pool_s, local_books = timed(books, jobs=args.jobs)
        serial_s, local_answers = timed(answers, jobs=1)
        pool_answers_s, pool_answers = timed(answers, jobs=args.jobs)
        started = time.perf_counter()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        for _ in range(args.jobs - 1):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        start_s = time.perf_counter() - started
        try:
            def on_ray() -> ray_executor.RayExecutor:
                return ray_executor.RayExecutor(str(QUIZ), compiled(QUIZ), render_student_reports)

            cold_s, cold_books = timed(books, executor=on_ray())  # workers start, each writes the rubric once
            ray_books_s, ray_books = timed(books, executor=on_ray())
            ray_answers_s, ray_answers = timed(answers, executor=on_ray())
            ray_executor.MAX_CHUNK = 1
            single_s, single_answers = timed(answers, executor=on_ray())
        finally:
            ray.shutdown()
            cluster.shutdown()
        assert cold_books == ray_books == local_books, "notebooks' results differ"
        assert ray_answers == local_answers == single_answers == pool_answers, "answer files' results differ"
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    n, m = len(books), len(answers)
    rows = [(f"{n} notebooks, local pool ({args.jobs} workers)", pool_s, n, None),
            (f"{n} notebooks, Ray ({args.jobs} one-CPU nodes), first batch", cold_s, n, (cold_s - pool_s) / n),
            (f"{n} notebooks, Ray, workers already started", ray_books_s, n, (ray_books_s - pool_s) / n),
            (f"{m} answer files, one process (the default)", serial_s, m, None),
            (f"{m} answer files, local pool ({args.jobs} workers)", pool_answers_s, m, None),
            (f"{m} answer files, Ray, chunks of up to {chunk}", ray_answers_s, m, (ray_answers_s - pool_answers_s) / m),
            (f"{m} answer files, Ray, one per task", single_s, m, (single_s - pool_answers_s) / m)]
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, Ray {ray.__version__}")
    print(f"cluster start ({args.jobs} nodes): {start_s:.1f} s\n")
    print("| batch | wall s | per file ms | overhead per file vs the local pool, ms |\n|---|---|---|---|")
    for name, seconds, count, overhead in rows:
        extra = "" if overhead is None else f"{overhead * 1000:+.1f}"
        print(f"| {name} | {seconds:.2f} | {seconds / count * 1000:.1f} | {extra} |")


if __name__ == "__main__":
    main()
