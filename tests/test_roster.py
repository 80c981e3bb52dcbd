"""A roster given to `grader grade`: students on it with no submission are in the views as missing
(0, status `missing`), submissions not on it are reported, and the gradebook keeps the roster for
the commands that follow. (Bad roster files: tests/badinput/cases_roster.py.)"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from grader.cli import main
from tests.conftest import ROOT

QUIZ = ROOT / "rubrics" / "dl-quiz.yaml"
SAMPLES = ROOT / "submissions" / "dl-quiz"
ROSTER = ("ID,Name,Email,Section,Canvas ID,SIS User ID,SIS Login ID\n"
          "s001,Ada Lovelace,ada@example.edu,L01,1001,SIS001,ada\n"
          "s003,\"Hopper, Grace\",grace@example.edu,L02,1003,SIS003,grace\n"
          "s006,Alan Turing,alan@example.edu,L02,1006,SIS006,alan\n"
          "s099,Nobody Here,nobody@example.edu,L01,1099,SIS099,nobody\n"
          "s100,Also Absent,absent@example.edu,L02,1100,SIS100,absent\n")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rows(out: Path) -> dict[str, dict[str, str]]:
    return {r["student_id"]: r for r in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}


def test_students_with_no_submission_are_missing_and_submissions_not_on_the_roster_reported(tmp_path, capsys):
    roster, out = write(tmp_path / "roster.csv", ROSTER), tmp_path / "out"
    assert main(["grade", str(QUIZ), str(SAMPLES), "--out", str(out), "--jobs", "1", "--roster", str(roster)]) == 0
    printed = capsys.readouterr()
    assert "6 submission(s), 2 on the roster missing" in printed.out
    assert [line for line in printed.out.splitlines() if "s099" in line and "missing: no submission" in line]
    assert f"2 student(s) on the roster ({roster}) have no submission: s099, s100" in printed.err
    assert "warning: 3 submission(s) from students not on the roster" in printed.err
    assert "published-solution, s004, s005-broken" in printed.err

    book = rows(out)
    assert len(book) == 6 + 2
    assert {k: book["s099"][k] for k in ("student_name", "q1", "total", "max_score", "status", "source")} == \
        {"student_name": "Nobody Here", "q1": "0", "total": "0", "max_score": "18", "status": "missing", "source": ""}
    assert book["s001"]["total"] == "9" and book["s001"]["status"] == "pending marking"
    assert not (out / "students" / "s099").exists()
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "**Roster:** 5 students" in summary and "2 with no submission, 3 submissions not on it" in summary
    missing = summary.split("## Students on the roster with no submission")[1].split("##")[0]
    assert "| s099 | Nobody Here | L01 |" in missing and "| s100 | Also Absent | L02 |" in missing
    strangers = summary.split("## Submissions not on the roster")[1].split("##")[0]
    assert "s004-mallory.json" in strangers and "s001-ada.json" not in strangers


def test_the_roster_is_kept_in_the_gradebook_for_the_commands_that_follow(tmp_path, capsys):
    roster, out = write(tmp_path / "roster.csv", ROSTER), tmp_path / "out"
    assert main(["grade", str(QUIZ), str(SAMPLES), "--out", str(out), "--jobs", "1", "--quiet",
                 "--roster", str(roster)]) == 0
    assert main(["regrade", str(QUIZ), str(SAMPLES), "--out", str(out), "--jobs", "1", "--quiet",
                 "--student", "s001"]) == 0
    assert rows(out)["s099"]["status"] == "missing"
    capsys.readouterr()
    assert main(["export", str(QUIZ), "--out", str(out)]) == 0  # no --roster: the stored one
    assert f"the roster is {roster}" in capsys.readouterr().out
    canvas = list(csv.reader((out / "export" / "canvas.csv").open(encoding="utf-8")))
    assert [row[0] for row in canvas[2:]] == ["Ada Lovelace", "Hopper, Grace", "Alan Turing", "Nobody Here",
                                              "Also Absent"]
    # a roster given again replaces it, for the views too; the same one again is not stored twice
    newer = write(tmp_path / "newer.csv", "id,name\ns001,Ada Lovelace\ns200,Late Enrolment\n")
    for _ in range(2):
        assert main(["grade", str(QUIZ), str(SAMPLES), "--out", str(out), "--quiet", "--roster", str(newer)]) == 0
    assert "s099" not in rows(out) and rows(out)["s200"]["status"] == "missing"
    db = sqlite3.connect(out / "gradebook.sqlite")
    assert db.execute("SELECT file FROM rosters ORDER BY id").fetchall() == [(str(roster),), (str(newer),)]


def test_a_bad_roster_stops_the_run_before_anything_is_graded(tmp_path, capsys):
    roster = write(tmp_path / "roster.csv", ROSTER.replace('"Hopper, Grace"', "Hopper, Grace"))
    out = tmp_path / "out"
    assert main(["grade", str(QUIZ), str(SAMPLES), "--out", str(out), "--roster", str(roster)]) == 2
    err = capsys.readouterr().err
    assert f"--roster: {roster}:3: 8 cells, but the header has 7 columns" in err and "Traceback" not in err
    assert not out.exists()
