"""Grading on a Ray cluster (grader.ray_executor): a local cluster of two nodes on this machine
grades a mixed batch (ML quiz 1's notebooks, whose code runs in the sandbox, and answer files,
one too large to ship) into a gradebook equal to the local run's, also when a worker process is
killed mid-batch; and the resources notebook tasks ask for. The cluster tests skip, saying why,
where Ray is not installed or cannot start here."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest

from grader.batch import Done, Task, collect_answer_files, grade_stream
from grader.grading import grade_into
from grader.key import compiled
from grader.output import render_student_reports
from grader.ray_executor import MAX_CHUNK, RayExecutor, chunked, notebook_resources, runs_code
from grader.store import Gradebook
from tests.conftest import require_bwrap

ROOT = Path(__file__).parent.parent
QUIZ = ROOT / "rubrics" / "ml-quiz1.yaml"
NOTEBOOKS = ["s01-numpy", "s03-mistakes", "s04-errors", "s08-hostile"]


# --- what tasks ask for (no cluster) --------------------------------------------------------------
def _with_gpu_calibration(rubric, device: str = "auto"):
    """assignment1's rubric as if calibrated on cuda too, with the program's device `device`."""
    changed = copy.copy(rubric)
    program = rubric.assessment.program
    training = program.training.model_copy(update={"device": device})
    changed.assessment = rubric.assessment.model_copy(update={"program": program.model_copy(update={"training": training})})
    solutions = copy.deepcopy(rubric.solutions)
    solutions["program"]["convergence"]["cuda"] = solutions["program"]["convergence"]["cpu"]
    changed.solutions = solutions
    return changed


def test_a_retraining_asks_for_its_budgets_threads_and_a_gpu_share_only_on_a_calibrated_cuda():
    rubric = compiled(ROOT / "rubrics" / "assignment1.yaml").rubric  # budgets: cpu 1 thread, cuda 2; cpu calibrated
    assert notebook_resources(rubric, cluster_gpus=4, largest_node_cpus=16) == {"num_cpus": 1, "num_gpus": 0}
    both = _with_gpu_calibration(rubric)
    assert notebook_resources(both, cluster_gpus=4, largest_node_cpus=16) == {"num_cpus": 2, "num_gpus": 0.25}
    assert notebook_resources(both, cluster_gpus=4, largest_node_cpus=16, gpu_fraction=0.5)["num_gpus"] == 0.5
    assert notebook_resources(both, cluster_gpus=0, largest_node_cpus=16) == {"num_cpus": 1, "num_gpus": 0}
    forced = _with_gpu_calibration(rubric, device="cuda")
    assert notebook_resources(forced, cluster_gpus=0, largest_node_cpus=16)["num_gpus"] == 0.25
    assert notebook_resources(forced, cluster_gpus=1, largest_node_cpus=1)["num_cpus"] == 1  # else never scheduled


def test_notebooks_without_a_program_ask_for_one_cpu_and_answer_files_go_in_chunks():
    quiz = compiled(QUIZ).rubric
    assert runs_code(quiz) and notebook_resources(quiz, cluster_gpus=1, largest_node_cpus=8) == {"num_cpus": 1,
                                                                                               "num_gpus": 0}
    assert not runs_code(compiled(ROOT / "rubrics" / "lab8.yaml").rubric)
    tasks = [Task(f"a{i}.json") for i in range(1000)]
    chunks = chunked(tasks, cluster_cpus=4)
    assert [task for chunk in chunks for task in chunk] == tasks
    assert max(map(len, chunks)) == MAX_CHUNK and len(chunks) == 8
    assert [len(chunk) for chunk in chunked(tasks[:10], cluster_cpus=4)] == [3, 3, 3, 1]


def test_a_result_delivered_twice_is_yielded_once(tmp_path):
    answer = tmp_path / "s1.json"
    answer.write_text(json.dumps({"student_id": "s1", "answers": {}}), encoding="utf-8")
    prepared = compiled(ROOT / "rubrics" / "lab8.yaml")

    class Twice:
        def run(self, tasks):
            for task in tasks:
                result = grade_stream(prepared.rubric.source, [answer], jobs=1, prepared=prepared)
                done = Done(next(result).result.model_dump_json(), b"", None)
                yield task, done
                yield task, done

    graded = grade_stream(prepared.rubric.source, [answer], prepared=prepared, executor=Twice())
    assert [g.result.student_id for g in graded] == ["s1"]


# --- a local cluster of two nodes ---------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'grader[ray]')")
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = temp
    started = None

    def stop() -> None:
        ray.shutdown()
        if started is not None:
            started.shutdown()
        if before is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = before
        shutil.rmtree(temp, ignore_errors=True)

    try:
        started = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        started.add_node(num_cpus=1)
        ray.init(address=started.address, log_to_driver=False)
    except Exception as exc:  # noqa: BLE001 - whatever stops Ray here, the tests say so and skip
        stop()
        pytest.skip(f"Ray cannot start a local cluster on this machine: {type(exc).__name__}: {exc}")
    try:
        yield started
    finally:
        stop()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Four of the quiz's notebooks and answer files: the key's answers, wrong ones, broken JSON,
    and a file over the answer-file limit (not shipped: graded in the driver)."""
    require_bwrap("notebook cells run sandboxed")
    folder = tmp_path_factory.mktemp("mixed")
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "submissions" / "ml-quiz1" / f"{name}.ipynb", folder)
    key = {entry.part: entry.value for entry in compiled(QUIZ).key.entries}
    wrong = {part: ([v + 1 for v in value] if isinstance(value, list) else value + 1) for part, value in key.items()}
    for student, answers in [("a01-right", key), ("a02-wrong", wrong), ("a03-half", dict(list(key.items())[:5]))]:
        (folder / f"{student}.json").write_text(json.dumps({"format": "grader-answers/1", "student_id": student,
                                                            "assessment_id": "ml-quiz1", "answers": answers}))
    (folder / "a04-broken.json").write_text('{"student_id": "a04", "answers": {"q1": [1, 2,', encoding="utf-8")
    (folder / "a05-huge.json").write_text(" " * (5 * 1024 * 1024 + 1) + "{}", encoding="utf-8")
    return collect_answer_files([folder]).files


def _grade(files: list[Path], out: Path, executor=None, on_graded=lambda done, total: None) -> Path:
    prepared = compiled(QUIZ)
    gradebook = Gradebook(out / "gradebook.sqlite")
    try:
        grade_into(gradebook, QUIZ, prepared.rubric, files, out, on_graded=on_graded, prepared=prepared,
                   executor=executor, jobs=1)
    finally:
        gradebook.close()
    return out


def _recorded(out: Path) -> dict[str, tuple[str, dict]]:
    gradebook = Gradebook(out / "gradebook.sqlite")
    try:
        return {m.source: (m.result.model_dump_json(), m.documents) for m in gradebook.iter_batch("ml-quiz1")}
    finally:
        gradebook.close()


def _results_per_file(out: Path) -> list[int]:
    with sqlite3.connect(out / "gradebook.sqlite") as db:
        return [count for count, in db.execute("SELECT COUNT(*) FROM results GROUP BY submission_id")]


@pytest.fixture(scope="module")
def local(batch, tmp_path_factory):
    return _grade(batch, tmp_path_factory.mktemp("local"))


def _executor() -> RayExecutor:
    return RayExecutor(str(QUIZ), compiled(QUIZ), render_student_reports)


def test_a_mixed_batch_on_two_ray_nodes_gives_the_local_gradebook(cluster, batch, local, tmp_path):
    on_ray = _grade(batch, tmp_path, _executor())
    recorded = _recorded(on_ray)
    assert len(recorded) == len(batch) and recorded == _recorded(local)
    assert (on_ray / "gradebook.csv").read_text(encoding="utf-8") == (local / "gradebook.csv").read_text(encoding="utf-8")
    totals = {json.loads(result)["student_id"]: json.loads(result)["score"] for result, _ in recorded.values()}
    assert totals["a01-right"] == 20 and totals["a02-wrong"] == 0 and totals["s03-mistakes"] == 11
    assert _results_per_file(on_ray) == [1] * len(batch)


def _busy_worker() -> int | None:
    """A Ray worker process running a grading task (Ray names it by the task's function)."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::grade_on_node"):
                return int(entry.name)
        except OSError:
            continue
    return None


def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(cluster, batch, local, tmp_path):
    killed = []

    def kill_one(done: int, total: int) -> None:
        if killed or done < 1:
            return
        deadline = time.monotonic() + 20
        while not killed and time.monotonic() < deadline:
            pid = _busy_worker()
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            else:
                time.sleep(0.05)

    on_ray = _grade(batch, tmp_path, _executor(), on_graded=kill_one)
    assert killed, "no grading task was running after the first result"
    assert _recorded(on_ray) == _recorded(local)  # the killed task ran again; no internal error recorded
    assert _results_per_file(on_ray) == [1] * len(batch)


def test_a_node_without_bubblewrap_or_with_other_code_refuses_unless_allowed(monkeypatch):
    from grader.key import code_digest
    from grader.ray_executor import _refusal
    from grader.sandbox import bwrap

    monkeypatch.setattr(bwrap, "availability", lambda: bwrap.Availability(None, "bwrap is not installed"))
    refusal = _refusal(code_digest(), sandboxed=True, allow_unsandboxed=False)
    assert "bwrap is not installed" in refusal and "--ray-allow-unsandboxed" in refusal
    assert _refusal(code_digest(), sandboxed=True, allow_unsandboxed=True) is None
    assert _refusal(code_digest(), sandboxed=False, allow_unsandboxed=False) is None  # answer files run no code
    assert "not the driver's" in _refusal("other", sandboxed=False, allow_unsandboxed=True)


def test_grader_grade_ray_on_the_cluster(cluster, batch, local, tmp_path):
    from grader.cli import main

    answers = [str(path) for path in batch if path.suffix == ".json"]
    assert main(["grade", str(QUIZ), *answers, "--out", str(tmp_path), "--ray", "--quiet"]) == 0
    rows = (tmp_path / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    expected = {row for row in (local / "gradebook.csv").read_text(encoding="utf-8").splitlines() if row.startswith("a0")}
    assert {row for row in rows if row.startswith("a0")} == expected and len(expected) == len(answers)
    with pytest.raises(SystemExit) as refused:
        main(["grade", str(QUIZ), *answers, "--ray", "--jobs", "2"])
    assert refused.value.code == 2
