"""Manual marking end to end on the quiz's sample class: the queue exported with full answers, marks
imported and validated with file, line and column, applied to totals and feedback, idempotent,
and kept through automatic regrades."""

from __future__ import annotations

import csv
import io
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from grader.cli import main
from tests.conftest import ROOT

QUIZ = ROOT / "rubrics" / "dl-quiz.yaml"


@pytest.fixture
def course(tmp_path):
    subs = tmp_path / "subs"
    shutil.copytree(ROOT / "submissions" / "dl-quiz", subs)
    rubric = tmp_path / "quiz.yaml"
    shutil.copy(QUIZ, rubric)
    out = tmp_path / "out"
    assert main(["grade", str(rubric), str(subs), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    return rubric, subs, out


def export(rubric: Path, out: Path, capsys) -> list[dict[str, str]]:
    capsys.readouterr()
    assert main(["marks", "export", str(rubric), "--out", str(out)]) == 0
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


def write_queue(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def totals(out: Path) -> dict[str, dict[str, str]]:
    return {row["student_id"]: row for row in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}


def test_the_queue_lists_every_manual_criterion_with_the_full_answer(course, capsys):
    rubric, _, out = course
    rows = export(rubric, out, capsys)
    assert {r["student_id"] for r in rows} == {"s001", "published-solution", "s003", "s004", "s006"}  # not the unreadable
    s001 = [r for r in rows if r["student_id"] == "s001"]
    assert sum(float(r["max_marks"]) for r in s001) == 9.0  # the quiz's manual marks
    essay = next(r for r in s001 if r["part"] == "q1")
    assert essay["answer"].startswith("Finite differences need two forward passes") and essay["mark"] == ""
    assert all(r["source"] and len(r["content_hash"]) == 64 for r in rows)


def test_imported_marks_complete_the_grade_and_reach_the_feedback(course, capsys, tmp_path):
    rubric, subs, out = course
    rows = export(rubric, out, capsys)
    for row in rows:
        if row["student_id"] == "s001":
            row["mark"], row["comment"] = row["max_marks"], f"Good: {row['criterion']}"
    queue = write_queue(tmp_path / "marks.csv", rows)
    assert main(["marks", "import", str(rubric), str(queue), "--out", str(out), "--by", "ta1"]) == 0
    assert "still await marking" in capsys.readouterr().out
    book = totals(out)
    assert (book["s001"]["total"], book["s001"]["manual_pending"], book["s001"]["status"]) == ("18", "0", "complete")
    assert book["s003"]["status"] == "pending marking"
    feedback = (out / "students" / "s001" / "feedback.md").read_text(encoding="utf-8")
    assert "Good: " in feedback and "18 / 18" in feedback
    # importing the same file again records nothing new
    assert main(["marks", "import", str(rubric), str(queue), "--out", str(out)]) == 0
    assert "recorded 0 mark(s)" in capsys.readouterr().out
    db = sqlite3.connect(out / "gradebook.sqlite")
    assert db.execute("SELECT COUNT(*), MIN(marker) FROM manual_marks").fetchone() == (len([r for r in rows if r["mark"]]), "ta1")
    # an automatic regrade after a rubric change keeps the marks
    rubric.write_text(re.sub(r"^title:.*$", "title: Changed", rubric.read_text(encoding="utf-8"), count=1, flags=re.M),
                      encoding="utf-8")
    assert main(["grade", str(rubric), str(subs), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    assert totals(out)["s001"]["total"] == "18"
    # a new hand-in is a new answer to mark
    (subs / "s001-ada.json").write_text((subs / "s001-ada.json").read_text().replace("hopeless", "costly"))
    assert main(["grade", str(rubric), str(subs), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    assert (totals(out)["s001"]["total"], totals(out)["s001"]["status"]) == ("9", "pending marking")


def test_a_bad_marks_file_is_refused_whole_with_file_line_and_column(course, capsys, tmp_path):
    rubric, _, out = course
    rows = [r for r in export(rubric, out, capsys) if r["student_id"] == "s001"][:5]
    rows[0]["mark"] = "lots"
    rows[1]["mark"] = "7"  # above the criterion's marks
    rows[2]["mark"], rows[2]["part"] = "0.5", "q99"
    rows[3]["mark"], rows[3]["source"] = "0.5", "elsewhere.json"
    rows[4]["mark"] = "0.5"  # fine, but the file has problems: nothing is recorded
    queue = write_queue(tmp_path / "marks.csv", rows)
    assert main(["marks", "import", str(rubric), str(queue), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "4 problem(s)" in err
    assert f"{queue}:2: column 7: the mark 'lots' is not a number" in err
    assert f"{queue}:3: column 7: the mark 7 is not between 0 and" in err
    assert f"{queue}:4: column 2: no criterion" in err and f"{queue}:5: column 9:" in err
    assert sqlite3.connect(out / "gradebook.sqlite").execute("SELECT COUNT(*) FROM manual_marks").fetchone() == (0,)


def test_marking_before_any_grading_says_what_to_do(tmp_path, capsys):
    assert main(["marks", "export", str(QUIZ), "--out", str(tmp_path / "none")]) == 2
    assert "run `grader grade` first" in capsys.readouterr().err


def test_final_grades_go_out_to_canvas_joined_with_the_roster(course, capsys, tmp_path):
    rubric, _, out = course
    rows = export(rubric, out, capsys)
    for row in rows:
        if row["student_id"] in ("s001", "published-solution"):
            row["mark"] = row["max_marks"]
    assert main(["marks", "import", str(rubric), str(write_queue(tmp_path / "m.csv", rows)), "--out", str(out)]) == 0
    roster = tmp_path / "roster.csv"
    roster.write_text("ID,Name,Email,Section,Canvas ID,SIS User ID,SIS Login ID\n"
                      "s001,Ada Lovelace,ada@example.edu,L01,1001,SIS001,ada\n"
                      "s003,Grace Hopper,grace@example.edu,L02,1003,SIS003,grace\n"
                      "s099,Nobody Here,nobody@example.edu,L01,1099,SIS099,nobody\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["export", str(rubric), "--out", str(out), "--roster", str(roster), "--assignment", "Quiz (42)"]) == 0
    err = capsys.readouterr().err
    assert "1 student(s) on the roster with no submission" in err and "s099" in err
    assert "not on the roster" in err and "published-solution" in err and "pending marking" in err
    canvas = list(csv.reader((out / "export" / "canvas.csv").open(encoding="utf-8")))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Quiz (42)"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "18"]
    assert canvas[2] == ["Ada Lovelace", "1001", "SIS001", "ada", "L01", "18"]  # marked in full
    assert canvas[3] == ["Grace Hopper", "1003", "SIS003", "grace", "L02", ""]  # pending marking: blank
    assert canvas[4][0] == "Nobody Here" and canvas[4][5] == "" and len(canvas) == 5
    plain = {r["student_id"]: r for r in csv.DictReader((out / "export" / "grades.csv").open(encoding="utf-8"))}
    assert plain["s099"]["status"] == "missing" and plain["published-solution"]["status"].endswith("not on the roster")


def test_a_roster_without_ids_is_refused_with_its_line(course, capsys, tmp_path):
    rubric, _, out = course
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nAda,ada@example.edu\n", encoding="utf-8")
    assert main(["export", str(rubric), "--out", str(out), "--roster", str(roster)]) == 2
    assert "roster.csv:1: the roster's header has no `id` column" in capsys.readouterr().err
