"""A notebook's sandboxed run is recorded in the gradebook with its program fingerprint: after a
rubric change that leaves the program alone (marks, wording, a tolerance), a rerun rescores the
recorded run without running the student's code again."""

from __future__ import annotations

import csv
import sqlite3

import grader.program.run as program_runs  # where grading a notebook finds observe_patiently
from grader.cli import main
from tests.conftest import require_bwrap
from tests.program_support import notebook_with, tiny_assignment


def totals(out):
    return {row["student_id"]: row for row in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}


def test_a_rubric_change_rescores_notebooks_from_their_recorded_runs(tmp_path, monkeypatch):
    require_bwrap("notebook runs are sandboxed")
    rubric = tiny_assignment(tmp_path / "tiny")
    subs = tmp_path / "subs"
    subs.mkdir()
    notebook_with(subs / "s1.ipynb")
    out = tmp_path / "out"
    assert main(["grade", str(rubric), str(subs), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    first = totals(out)["s1"]
    assert float(first["total"]) == 12  # every automatic mark of the coding question

    def no_running(*args, **kwargs):
        raise AssertionError("the student's code ran again")

    monkeypatch.setattr(program_runs, "observe_patiently", no_running)
    rubric.write_text(rubric.read_text(encoding="utf-8").replace("title: Tiny CharLSTM", "title: Tiny CharLSTM, again"),
                      encoding="utf-8")
    assert main(["grade", str(rubric), str(subs), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert totals(out)["s1"]["total"] == first["total"]
    db = sqlite3.connect(out / "gradebook.sqlite")
    assert db.execute("SELECT graded, reused FROM runs ORDER BY id").fetchall() == [(1, 0), (1, 0)]
    assert db.execute("SELECT COUNT(*) FROM program_runs").fetchone() == (1,)
