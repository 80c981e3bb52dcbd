"""The command line end to end, on the bundled example and on bad input."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.cli import main
from tests.conftest import ROOT

RUBRIC = ROOT / "rubrics" / "dl-quiz.yaml"
SUBMISSIONS = ROOT / "submissions" / "dl-quiz"
PWNED = Path("/tmp/grader-pwned")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    PWNED.unlink(missing_ok=True)
    out = tmp_path_factory.mktemp("out")
    proc = run("grade", str(RUBRIC), str(SUBMISSIONS), "--out", str(out), "--jobs", "2")
    return proc, out


def test_grading_the_bundled_example(graded):
    proc, out = graded
    assert proc.returncode == 0, proc.stderr
    assert "6 submission(s)" in proc.stdout and "1 answer file(s) could not be read" in proc.stderr
    rows = {r["student_id"]: r for r in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    assert set(rows) == {"s001", "published-solution", "s003", "s004", "s005-broken", "s006"}
    assert float(rows["s001"]["total"]) == 9.0  # every automatic mark; 9 await a person
    assert float(rows["s001"]["max_score"]) == 18.0 and float(rows["s001"]["manual_pending"]) == 9.0
    assert float(rows["published-solution"]["total"]) == 9.0  # its roundings are within tolerance
    assert float(rows["s004"]["total"]) == 0.0
    assert rows["s005-broken"]["status"] == "unreadable"
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and all(json.loads(line)["assessment_id"] == "dl-quiz" for line in lines)
    for student in rows:
        folder = out / "students" / student
        assert {p.name for p in folder.iterdir()} == {"feedback.md", "feedback.html", "results.json"}


def test_hostile_submission_executed_nothing(graded):
    _, out = graded
    assert not PWNED.exists()
    record = next(json.loads(line) for line in (out / "results.jsonl").open() if '"s004"' in line)
    parts = {p["id"]: p for q in record["questions"] for p in q["parts"]}
    assert parts["q4.a"]["status"] == "invalid"
    assert all(p["auto_score"] == 0 for p in parts.values())
    assert any("'score'" in w for w in record["warnings"])  # a forged score is an ignored unknown part
    html = (out / "students" / "s004" / "feedback.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html


def test_student_feedback_never_reveals_the_hidden_key(graded):
    _, out = graded
    feedback = (out / "students" / "s003" / "feedback.md").read_text(encoding="utf-8")
    assert "0.200249" not in feedback and "0.428656" not in feedback
    assert "independent of theta" not in feedback  # a marker's note for a manual criterion holds the answer
    assert "independent of theta" in (out / "results.jsonl").read_text(encoding="utf-8")
    assert "expected -0.200249 within 1%, got 0.2002" in (out / "results.jsonl").read_text(encoding="utf-8")


def test_gradescope_results_for_one_submission(tmp_path):
    target = tmp_path / "results.json"
    proc = run("grade", str(RUBRIC), str(SUBMISSIONS / "s003-grace.json"), "--out", str(tmp_path / "o"),
               "--gradescope", str(target), "--quiet")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(target.read_text())
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    assert {t["status"] for t in results["tests"]} <= {"passed", "failed"}
    assert all(set(t) >= {"name", "number", "score", "max_score", "status", "output", "visibility"}
               for t in results["tests"])


def test_exit_codes(tmp_path, capsys):
    assert main(["grade", str(RUBRIC), str(SUBMISSIONS), "--out", str(tmp_path / "a"), "--jobs", "1", "--strict",
                 "--quiet"]) == 1
    assert main(["grade", str(RUBRIC), str(tmp_path / "nothing-here"), "--out", str(tmp_path / "b")]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nquestions: []\n")
    assert main(["grade", str(bad), str(SUBMISSIONS), "--out", str(tmp_path / "c")]) == 3
    assert main(["check-rubric", str(bad)]) == 3
    err = capsys.readouterr().err
    assert f"{bad}:2: questions: List should have at least 1 item" in err
    with pytest.raises(SystemExit) as info:
        main(["grade", str(RUBRIC)])
    assert info.value.code == 2


def test_check_rubric_and_key(capsys):
    assert main(["check-rubric", str(RUBRIC)]) == 0
    assert "ok: dl-quiz: 8 questions, 18 parts, 18 marks (9 automatic, 9 manual)" in capsys.readouterr().out
    assert main(["key", str(RUBRIC)]) == 0
    key = json.loads(capsys.readouterr().out)
    values = {(e["part"], e["criterion"]): e["value"] for e in key["entries"]}
    assert values[("q3.c", "answer")] == 13
    assert values[("q5.a", "p")][0] == pytest.approx(0.636409, abs=1e-6)


def test_schema_is_json(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "expression" in schema["$defs"]["Part"]["properties"]["kind"]["enum"]


def test_solvers_listing_and_description(capsys):
    assert main(["solvers"]) == 0
    listing = capsys.readouterr().out
    assert "dense_network" in listing and "follow-through" in listing.split("dense_network")[1].split("\n")[0]
    assert main(["solvers", "dense_network"]) == 0
    described = capsys.readouterr().out
    assert "forward pass, loss, gradients" in described and '"learning_rate"' in described
    assert main(["solvers", "dense_netwrk"]) == 2


def assert_group_ends(group: int, within: float) -> None:
    """Nothing of the process group runs on after `within` seconds."""
    import os
    import time

    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    raise AssertionError(f"processes of group {group} still run after {within} s")


def start_grading_assignment1(out: Path, jobs: str = "2") -> subprocess.Popen:
    """`grader grade` (the installed command's entry point) on the notebooks, in a process group of its own."""
    return subprocess.Popen([sys.executable, "-m", "grader", "grade", str(ROOT / "rubrics" / "assignment1.yaml"),
                             str(ROOT / "submissions" / "charlstm"), "--out", str(out), "--jobs", jobs],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_a_sandbox(proc: subprocess.Popen, within: float = 600) -> None:
    """Wait until a process under grader runs in a session of its own: a sandbox a worker started for
    a notebook (sandboxes are not in grader's process group, so killpg and `pgrep -g` miss them)."""
    import os
    import time

    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        assert proc.poll() is None, f"grader ended (exit {proc.returncode}) before any sandbox ran"
        parents, sessions = {}, {}
        for entry in os.scandir("/proc"):
            try:
                stat = Path(entry.path, "stat").read_text() if entry.name.isdigit() else ""
            except OSError:
                continue  # it has ended
            if stat:
                fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session ...
                parents[int(entry.name)], sessions[int(entry.name)] = int(fields[1]), int(fields[3])
        for pid, session in sessions.items():
            ancestor = parents[pid]
            while ancestor not in (proc.pid, 0, 1) and ancestor in parents:
                ancestor = parents[ancestor]
            if ancestor == proc.pid and session != proc.pid:
                return
        time.sleep(0.1)
    raise AssertionError(f"no sandbox ran under grader within {within} s")


@pytest.mark.parametrize("jobs", ["2"])  # the pool path; --jobs 1 has no workers to leave behind
def test_ctrl_c_stops_promptly_without_a_traceback_or_leftover_processes(tmp_path, jobs):
    """Ctrl-C in a terminal signals the whole process group: grader, its workers, their sandboxes."""
    import os
    import signal
    import time

    proc = start_grading_assignment1(tmp_path / "out", jobs)
    wait_for_a_sandbox(proc)  # into the notebooks' sandboxed runs
    os.killpg(proc.pid, signal.SIGINT)
    started = time.perf_counter()
    stdout, stderr = proc.communicate(timeout=60)
    assert time.perf_counter() - started < 15
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr and "interrupted" in stderr
    assert_group_ends(proc.pid, within=15)  # workers killed by grader are reaped by its forkserver as it exits


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_ctrl_c_while_grader_is_still_importing_stops_it_before_it_grades(tmp_path, how):
    """The imports can take seconds (torch), and a KeyboardInterrupt raised inside them can be lost;
    the entry point holds the signal until they are done, then stops with the interrupted exit."""
    import os
    import signal
    import time

    # The entry point as the command runs it, with grader.cli's import held long enough for the signal
    # to land in it however fast the imports are: the finder says so on stdout, then waits.
    script = f"""
import sys, time
class Held:
    def find_spec(self, name, path=None, target=None):
        if name == "grader.cli":
            print("importing grader.cli", flush=True)
            time.sleep(3)
        return None
sys.meta_path.insert(0, Held())
from grader.__main__ import main
sys.argv = ["grader", "grade", {str(ROOT / "rubrics" / "assignment1.yaml")!r}, {str(ROOT / "submissions" / "charlstm")!r},
            "--out", {str(tmp_path / "out")!r}, "--jobs", "2"]
sys.exit(main())
"""
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    assert proc.stdout.readline() == "importing grader.cli\n"
    os.killpg(proc.pid, getattr(signal, how))
    started = time.perf_counter()
    stdout, stderr = proc.communicate(timeout=120)
    assert time.perf_counter() - started < 60  # the imports end, then grader does; grading the batch takes minutes
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr and stderr == "interrupted\n"
    assert not (tmp_path / "out").exists()  # nothing graded, not even the gradebook created


def test_long_student_ids_are_shortened_never_the_scores():
    from rich.console import Console

    from grader.cli import _totals_table
    from grader.output import Shown
    from grader.results import SubmissionResult
    from grader.rubric import load_rubric

    rubric = load_rubric(RUBRIC)
    results = [Shown.of(SubmissionResult(source="x.ipynb", student_id=f"owner{i}__repo__Character_Level_RNN_Exercise_{i}",
                                         assessment_id="dl-quiz", score=12.25 + i, max_score=18.0, manual_pending=9.0))
               for i in range(3)]
    console = Console(record=True, width=80)
    console.print(_totals_table(rubric, results))
    text = console.export_text()
    assert all(f"{12.25 + i:g}" in text for i in range(3)) and "18" in text
    assert "…" in text and max(len(line) for line in text.splitlines()) <= 80


def test_a_long_batch_on_a_terminal_shows_a_progress_bar():
    import io
    import time

    from rich.console import Console

    from grader import cli

    stream = io.StringIO()
    bar = cli._ProgressBar(Console(file=stream, force_terminal=True, width=80), enabled=True)
    bar.started -= cli.PROGRESS_AFTER_S  # as if it had run that long
    bar(3, 10)
    time.sleep(0.2)
    bar.close()
    assert "3/10" in stream.getvalue() and "left" in stream.getvalue()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_grader_stopped_or_killed_leaves_no_worker_or_sandbox_running(tmp_path, how):
    """SIGTERM stops like Ctrl-C; after SIGKILL of grader alone, its workers die with the forkserver."""
    import os
    import signal
    import time

    proc = start_grading_assignment1(tmp_path / "out")
    wait_for_a_sandbox(proc)  # workers are running notebooks in their sandboxes
    proc.send_signal(getattr(signal, how))
    stdout, stderr = proc.communicate(timeout=60)
    if how == "SIGTERM":
        assert proc.returncode == 130 and "Traceback" not in stdout + stderr and "interrupted" in stderr
    assert_group_ends(proc.pid, within=20)
