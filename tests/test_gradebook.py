"""The course gradebook: every run records into it, reruns grade only what changed, a second run
on the same gradebook is refused, and a run killed with SIGKILL at any moment, then run again,
ends with the same views, byte for byte, as one uninterrupted run: nothing lost, nothing twice."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.cli import main
from grader.store import Gradebook, GradebookError
from tests.conftest import ROOT

QUIZ = ROOT / "rubrics" / "dl-quiz.yaml"
SAMPLES = sorted((ROOT / "submissions" / "dl-quiz").glob("*.json"))


def make_class(folder: Path, size: int) -> Path:
    """`size` answer files made from the bundled samples, each with its own student id."""
    folder.mkdir(parents=True)
    for i in range(size):
        sample = SAMPLES[i % len(SAMPLES)]
        text = sample.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
            data["student_id"] = f"st{i:04d}"
            text = json.dumps(data)
        except json.JSONDecodeError:
            pass  # the broken sample stays broken
        (folder / f"st{i:04d}.json").write_text(text, encoding="utf-8")
    return folder


def views(out: Path) -> dict[str, bytes]:
    """Every file of the report folder but the gradebook itself."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith("gradebook.sqlite")}


def grade(*args: str) -> int:
    return main(["grade", str(QUIZ), *args, "--quiet"])


def test_a_rerun_grades_nothing_and_rebuilds_the_same_view(tmp_path, capsys):
    subs = make_class(tmp_path / "subs", 12)
    assert grade(str(subs), "--out", str(tmp_path / "out"), "--jobs", "1") == 0
    first = views(tmp_path / "out")
    assert main(["grade", str(QUIZ), str(subs), "--out", str(tmp_path / "out")]) == 0
    assert "nothing to grade: all 12 file(s) are unchanged" in capsys.readouterr().out
    assert views(tmp_path / "out") == first
    runs = sqlite3.connect(tmp_path / "out" / "gradebook.sqlite").execute(
        "SELECT status, graded, reused FROM runs ORDER BY id").fetchall()
    assert runs == [("finished", 12, 0), ("finished", 0, 12)]


def test_a_changed_file_is_graded_again_and_a_removed_one_leaves_the_view(tmp_path):
    subs = make_class(tmp_path / "subs", 6)
    out = tmp_path / "out"
    assert grade(str(subs), "--out", str(out), "--jobs", "1") == 0
    changed = json.loads((subs / "st0000.json").read_text())
    changed["answers"]["q3.c"] = 99
    (subs / "st0000.json").write_text(json.dumps(changed))
    (subs / "st0003.json").unlink()
    assert grade(str(subs), "--out", str(out), "--jobs", "1") == 0
    db = sqlite3.connect(out / "gradebook.sqlite")
    assert db.execute("SELECT graded, reused FROM runs ORDER BY id DESC LIMIT 1").fetchone() == (1, 4)
    assert db.execute("SELECT COUNT(*) FROM submissions WHERE source LIKE '%st0000.json'").fetchone() == (2,)
    assert not (out / "students" / "st0003").exists()
    rows = (out / "gradebook.csv").read_text().splitlines()
    assert len(rows) == 1 + 5 and not any(r.startswith("st0003,") for r in rows)
    # the history keeps which run gave which score
    scores = db.execute("SELECT s.content_hash, sc.score FROM scores sc JOIN submissions s ON s.id = sc.submission_id "
                        "WHERE s.source LIKE '%st0000.json' AND sc.part = 'q3.c'").fetchall()
    assert sorted(score for _, score in scores) == [0.0, 1.0]


def test_a_changed_rubric_grades_again(tmp_path):
    subs = make_class(tmp_path / "subs", 3)
    rubric = tmp_path / "quiz.yaml"
    rubric.write_text(QUIZ.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["grade", str(rubric), str(subs), "--out", str(out), "--quiet"]) == 0
    rubric.write_text(re.sub(r"^title:.*$", "title: Changed", QUIZ.read_text(encoding="utf-8"), count=1, flags=re.M),
                      encoding="utf-8")
    assert main(["grade", str(rubric), str(subs), "--out", str(out), "--quiet"]) == 0
    db = sqlite3.connect(out / "gradebook.sqlite")
    assert db.execute("SELECT graded, reused FROM runs ORDER BY id").fetchall() == [(3, 0), (3, 0)]


def test_a_second_run_on_the_same_gradebook_is_refused(tmp_path, capsys):
    subs = make_class(tmp_path / "subs", 2)
    holder = Gradebook(tmp_path / "out" / "gradebook.sqlite")
    try:
        assert grade(str(subs), "--out", str(tmp_path / "out")) == 2
        assert "another grader run is using" in capsys.readouterr().err
        with pytest.raises(GradebookError, match="another grader run"):
            Gradebook(tmp_path / "out" / "gradebook.sqlite")
    finally:
        holder.close()
    assert grade(str(subs), "--out", str(tmp_path / "out")) == 0


def test_a_gradebook_from_a_newer_grader_or_not_a_database_is_refused(tmp_path, capsys):
    subs = make_class(tmp_path / "subs", 1)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    assert grade(str(subs), "--out", str(tmp_path / "out"), "--gradebook", str(junk)) == 2
    assert "not a usable grader gradebook" in capsys.readouterr().err
    newer = tmp_path / "newer.sqlite"
    sqlite3.connect(newer).execute("PRAGMA user_version = 99")
    assert grade(str(subs), "--out", str(tmp_path / "out"), "--gradebook", str(newer)) == 2
    assert "newer than this grader" in capsys.readouterr().err


def run_cli(out: Path, subs: Path, jobs: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "grader.cli", "grade", str(QUIZ), str(subs), "--out", str(out),
                             "--jobs", jobs, "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def recorded(out: Path) -> int:
    try:
        with sqlite3.connect(f"file:{out / 'gradebook.sqlite'}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet


def kill_and_resume(out: Path, subs: Path, kills: int, seed: int, jobs: str = "2") -> list[int]:
    """Run, SIGKILL the whole process group at a random moment once it has recorded more, `kills`
    times, then run to the end. Returns the results recorded at each kill."""
    rng = random.Random(seed)
    at_kill = []
    for _ in range(kills):
        before = recorded(out)
        proc = run_cli(out, subs, jobs)
        while recorded(out) <= before and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.4))
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it had finished
        proc.wait()
        at_kill.append(recorded(out))
    proc = run_cli(out, subs, jobs)
    proc.communicate(timeout=600)
    assert proc.returncode == 0
    return at_kill


def test_killed_runs_resume_to_the_same_views_as_one_uninterrupted_run(tmp_path):
    subs = make_class(tmp_path / "subs", 500)
    assert grade(str(subs), "--out", str(tmp_path / "straight"), "--jobs", "1") == 0
    at_kill = kill_and_resume(tmp_path / "killed", subs, kills=3, seed=1)
    assert 0 < at_kill[0] < 500, at_kill  # killed mid-batch
    assert views(tmp_path / "killed") == views(tmp_path / "straight")
    killed = sqlite3.connect(tmp_path / "killed" / "gradebook.sqlite")
    straight = sqlite3.connect(tmp_path / "straight" / "gradebook.sqlite")
    assert killed.execute("SELECT COUNT(*), COUNT(DISTINCT submission_id) FROM results").fetchone() == (500, 500)
    count_scores = "SELECT COUNT(*) FROM scores"
    assert killed.execute(count_scores).fetchone() == straight.execute(count_scores).fetchone()


def test_what_a_killed_run_left_is_removed_by_the_next_and_nothing_else(tmp_path):
    """A run killed with SIGKILL leaves its documents folder, a half-built view and temporary files
    named after its process; the next run removes those of processes that have gone, and keeps a
    live process's and anything not named like them."""
    subs = make_class(tmp_path / "subs", 3)
    out = tmp_path / "out"
    out.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead, live = gone.pid, os.getppid()
    leftovers = [f".fresh.{dead}", f".students.{dead}.new", f".students.{dead}.old"]
    for name in leftovers + [f".fresh.{live}"]:
        (out / name / "0").mkdir(parents=True)
        (out / name / "0" / "feedback.md").write_text("stale", encoding="utf-8")
    (out / f".summary.md.{dead}.tmp").write_text("half", encoding="utf-8")
    (out / f".notes.{dead}").write_text("the instructor's", encoding="utf-8")
    assert grade(str(subs), "--out", str(out), "--jobs", "1") == 0
    names = {path.name for path in out.iterdir()}
    assert not names & {*leftovers, f".summary.md.{dead}.tmp"}
    assert {f".fresh.{live}", f".notes.{dead}", "students", "gradebook.csv"} <= names
    assert not any(name.startswith(f".fresh.{os.getpid()}") for name in names)  # this run's own, gone with it


def test_the_report_folder_inside_the_graded_folder_is_never_graded(tmp_path, capsys):
    subs = make_class(tmp_path / "subs", 2)
    for _ in range(2):  # the second run would find the first run's students/*/results.json
        assert main(["grade", str(QUIZ), str(subs), "--out", str(subs / "out"), "--jobs", "1"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert len((subs / "out" / "gradebook.csv").read_text().splitlines()) == 1 + 2


def test_links_out_of_the_folder_are_refused_and_any_case_of_suffix_is_collected(tmp_path, capsys):
    subs = make_class(tmp_path / "subs", 2)
    (subs / "st0001.json").rename(subs / "ST0001.JSON")
    (tmp_path / "outside.json").write_text((subs / "st0000.json").read_text())
    (subs / "sneaky.json").symlink_to(tmp_path / "outside.json")
    (subs / "inside.json").symlink_to(subs / "st0000.json")
    assert main(["grade", str(QUIZ), str(subs), "--out", str(tmp_path / "out"), "--jobs", "1", "--quiet"]) == 0
    assert "sneaky.json links to" in capsys.readouterr().err
    sources = [json.loads(line)["source"] for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted(Path(s).name for s in sources) == ["ST0001.JSON", "inside.json", "st0000.json"]


def test_a_version_1_gradebook_is_migrated_in_place(tmp_path):
    from grader.store import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(f"{MIGRATIONS[0]}; PRAGMA user_version = 1;")
    old.close()
    book = Gradebook(path)
    try:
        assert book.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
        assert book.db.execute("SELECT COUNT(*) FROM manual_marks").fetchone() == (0,)
    finally:
        book.close()


def test_documents_are_stored_compressed_and_an_older_gradebooks_text_ones_are_still_read(tmp_path):
    import zlib

    subs = make_class(tmp_path / "subs", 3)
    out = tmp_path / "out"
    assert grade(str(subs), "--out", str(out), "--jobs", "1") == 0
    first = views(out)
    db = sqlite3.connect(out / "gradebook.sqlite")
    stored = [documents for (documents,) in db.execute("SELECT documents FROM results")]
    texts = [zlib.decompress(documents).decode() for documents in stored]
    assert len(stored) == 3 and all(len(blob) * 3 < len(text) for blob, text in zip(stored, texts))
    assert all(set(json.loads(text)) == {"feedback.md", "feedback.html", "results.json"} for text in texts)
    db.executemany("UPDATE results SET documents = ? WHERE documents = ?", list(zip(texts, stored)))  # as schema 4 kept them
    db.commit()
    db.close()
    assert grade(str(subs), "--out", str(out), "--jobs", "1") == 0  # nothing graded: the view rebuilt from them
    assert views(out) == first


def test_a_version_3_gradebook_gains_the_runs_behind_each_score(tmp_path):
    subs = make_class(tmp_path / "subs", 3)
    out = tmp_path / "out"
    assert grade(str(subs), "--out", str(out), "--jobs", "1") == 0
    first = views(out)
    old = sqlite3.connect(out / "gradebook.sqlite")  # as grader's schema 3 left it
    old.executescript("DROP TABLE roster_students; DROP TABLE rosters; ALTER TABLE run_members DROP COLUMN digest; "
                      "ALTER TABLE scores DROP COLUMN run_id; PRAGMA user_version = 3;")
    old.close()
    assert grade(str(subs), "--out", str(out), "--jobs", "1") == 0  # migrated, and nothing to grade again
    assert views(out) == first
    db = sqlite3.connect(out / "gradebook.sqlite")
    assert db.execute("SELECT COUNT(*) FROM scores WHERE run_id IS NOT 1").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM run_members WHERE digest IS NULL").fetchone() == (0,)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_of_two_submissions_of_one_student_the_latest_handed_in_counts(tmp_path, jobs):
    import os

    subs = make_class(tmp_path / "subs", 3)
    late = json.loads((subs / "st0000.json").read_text())
    late["student_id"], late["answers"]["q3.c"] = "st0001", 99  # st0001 again, one part now wrong
    (subs / "a-late.json").write_text(json.dumps(late))
    os.utime(subs / "a-late.json", (time.time() + 60, time.time() + 60))  # handed in after the first
    out = tmp_path / "out"
    assert main(["grade", str(QUIZ), str(subs), "--out", str(out), "--jobs", jobs, "--quiet"]) == 0
    rows = [line.split(",") for line in (out / "gradebook.csv").read_text().splitlines()[1:]]
    st0001 = [row for row in rows if row[0] == "st0001"]
    assert len(st0001) == 1 and st0001[0][-1].endswith("a-late.json") and st0001[0][-5] == "8"
    summary = (out / "summary.md").read_text()
    assert "more than one submission" in summary and "st0001.json" in summary
    assert len(list((out / "students").iterdir())) == 4  # both keep their reports
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert any("which counts (the latest handed in)" in w for r in lines for w in r["warnings"])


def test_regrade_grades_again_the_students_named_or_everyone(tmp_path, capsys):
    subs = make_class(tmp_path / "subs", 4)
    out = tmp_path / "out"
    assert grade(str(subs), "--out", str(out), "--jobs", "1") == 0
    first = views(out)
    assert main(["regrade", str(QUIZ), str(subs), "--out", str(out), "--student", "st0001", "--quiet"]) == 0
    db = sqlite3.connect(out / "gradebook.sqlite")
    assert db.execute("SELECT graded, reused FROM runs ORDER BY id DESC LIMIT 1").fetchone() == (1, 3)
    assert db.execute("SELECT COUNT(*) FROM results").fetchone() == (4,)  # replaced, not doubled
    assert views(out) == first
    assert main(["regrade", str(QUIZ), str(subs), "--out", str(out), "--quiet"]) == 0
    assert db.execute("SELECT graded, reused FROM runs ORDER BY id DESC LIMIT 1").fetchone() == (4, 0)
    assert main(["regrade", str(QUIZ), str(subs), "--out", str(out), "--student", "nobody"]) == 2
    assert "no submission of nobody" in capsys.readouterr().err
