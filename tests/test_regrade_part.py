"""`grader regrade --part`: after a tolerance change, only that part is rescored from the stored
answers; every other part keeps its stored score (even where the rubric changed it too), manual
marks stay, and the gradebook keeps both runs' scores."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from grader.batch import collect_answer_files
from grader.cli import main
from grader.grading import Interrupted, grade_into
from grader.key import build_key
from grader.rubric import load_rubric
from grader.scoring import grade_submission, rescore_parts
from grader.store import Gradebook
from grader.submission import read_answer_file
from tests.conftest import ROOT
from tests.test_manual_marks import export, write_queue

QUIZ = ROOT / "rubrics" / "dl-quiz.yaml"
SAMPLES = ROOT / "submissions" / "dl-quiz"
TOLERANCE = "options: {rtol: 0.01, atol: 0.0005, partial: true}"  # q5.a's probabilities and q5.c's
STRICT = "options: {rtol: 0.0, atol: 0.0001, partial: true}"  # the published roundings fail it


@pytest.fixture
def course(tmp_path):
    subs = tmp_path / "subs"
    shutil.copytree(SAMPLES, subs)
    rubric = tmp_path / "quiz.yaml"
    shutil.copy(QUIZ, rubric)
    out = tmp_path / "out"
    assert main(["grade", str(rubric), str(subs), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    return rubric, subs, out


def tighten(rubric: Path) -> None:
    """Both q5.a's and q5.c's tolerances tightened: a regrade of q5.c alone must not apply q5.a's."""
    text = rubric.read_text(encoding="utf-8")
    assert text.count(TOLERANCE) == 2
    rubric.write_text(text.replace(TOLERANCE, STRICT), encoding="utf-8")


def parts(out: Path) -> dict[str, dict[str, dict]]:
    """Every part result in results.jsonl, by student and part."""
    records = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["student_id"]: {p["id"]: p for q in r["questions"] for p in q["parts"]} for r in records}


def rows(out: Path) -> dict[str, dict[str, str]]:
    return {r["student_id"]: r for r in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}


def regrade(rubric: Path, subs: Path, out: Path, *options: str, jobs: str = "1") -> int:
    return main(["regrade", str(rubric), str(subs), "--out", str(out), "--jobs", jobs, *options])


def test_only_the_part_named_is_rescored_and_the_history_keeps_both_runs(course, capsys):
    rubric, subs, out = course
    before_parts, before_rows = parts(out), rows(out)
    before_feedback = (out / "students" / "s001" / "feedback.md").read_bytes()
    tighten(rubric)
    capsys.readouterr()
    assert regrade(rubric, subs, out, "--part", "q5.c") == 0
    assert "rescored q5.c of 6 submission(s)" in capsys.readouterr().out
    after_parts, after_rows = parts(out), rows(out)
    differing = {(student, part) for student in before_parts for part in before_parts[student]
                 if before_parts[student][part] != after_parts[student][part]}
    assert {part for _, part in differing} == {"q5.c"}  # its reasons name the new tolerance; nothing else moved
    rescored = {student for student, part in differing
                if before_parts[student][part]["auto_score"] != after_parts[student][part]["auto_score"]}
    assert rescored == {"published-solution", "s006"}
    assert after_parts["published-solution"]["q5.c"]["auto_score"] == 0.4  # two of five roundings now too coarse
    for student, row in after_rows.items():
        differing = {column for column in row if row[column] != before_rows[student][column]}
        assert differing == ({"q5", "total"} if student in ("published-solution", "s006") else set())
    assert (after_rows["published-solution"]["q5"], after_rows["published-solution"]["total"]) == ("2.4", "8.4")
    assert (out / "students" / "s001" / "feedback.md").read_bytes() == before_feedback
    feedback = (out / "students" / "published-solution" / "feedback.md").read_text(encoding="utf-8")
    assert "**Total:** 8.4 / 18" in feedback

    db = sqlite3.connect(out / "gradebook.sqlite")
    assert db.execute("SELECT id, status, graded FROM runs").fetchall() == [(1, "finished", 6), (2, "finished", 6)]
    history = "SELECT sc.run_id, sc.score FROM scores sc JOIN submissions s ON s.id = sc.submission_id " \
              "WHERE s.student_id = ? AND sc.part = ? ORDER BY sc.run_id, sc.digest"
    assert db.execute(history, ("published-solution", "q5.c")).fetchall() == [(1, 1.0), (2, 0.4)]
    # the other parts of run 2's results are run 1's scores, and say so
    assert {run for run, _ in db.execute(history, ("published-solution", "q5.a"))} == {1}

    # a full grade scores q5.c just so, and applies the rubric's other change too: q5.a was kept, not rescored
    assert main(["grade", str(rubric), str(subs), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    full = parts(out)
    assert {student: full[student]["q5.c"] for student in full} == {s: after_parts[s]["q5.c"] for s in after_parts}
    assert full["published-solution"]["q5.a"]["auto_score"] < after_parts["published-solution"]["q5.a"]["auto_score"]


def test_manual_marks_outlast_a_part_regrade(course, capsys, tmp_path):
    rubric, subs, out = course
    queue = [row for row in export(rubric, out, capsys) if row["student_id"] == "s001"]
    for row in queue:
        row["mark"], row["comment"] = row["max_marks"], "well argued"
    assert main(["marks", "import", str(rubric), str(write_queue(tmp_path / "m.csv", queue)), "--out", str(out)]) == 0
    assert rows(out)["s001"]["total"] == "18"
    tighten(rubric)
    # q5.d is marked by a person; the workers rescore (the other tests take the serial path)
    assert regrade(rubric, subs, out, "--part", "q5.d", "--part", "q5.c", "--quiet", jobs="2") == 0
    assert (rows(out)["s001"]["total"], rows(out)["s001"]["status"]) == ("18", "complete")
    assert "well argued" in (out / "students" / "s001" / "feedback.md").read_text(encoding="utf-8")


def test_a_part_regrade_of_one_student_leaves_the_others_results_as_they_were(course):
    rubric, subs, out = course
    tighten(rubric)
    assert regrade(rubric, subs, out, "--part", "q5.c", "--student", "s006", "--quiet") == 0
    after = parts(out)
    assert after["s006"]["q5.c"]["auto_score"] == 0.4
    assert after["published-solution"]["q5.c"]["auto_score"] == 1.0  # not rescored
    db = sqlite3.connect(out / "gradebook.sqlite")
    assert db.execute("SELECT graded, reused FROM runs WHERE id = 2").fetchone() == (1, 5)
    assert db.execute("SELECT COUNT(*) FROM results").fetchone() == (7,)  # one new result, nothing copied


def test_an_unknown_part_is_refused_naming_it_and_the_parts_there_are(course, capsys):
    rubric, subs, out = course
    capsys.readouterr()
    assert regrade(rubric, subs, out, "--part", "q3b") == 2
    err = capsys.readouterr().err
    assert "no part 'q3b'" in err and "did you mean 'q3.b'" in err and "q1, q2.a, q2.b" in err and "q8" in err
    assert "Traceback" not in err


def test_a_part_regrade_needs_stored_results_of_the_files_as_they_are(course, capsys, tmp_path):
    rubric, subs, out = course
    original = (subs / "s006-alan.json").read_text(encoding="utf-8")
    (subs / "s006-alan.json").write_text(original.replace("0.43", "0.4287"), encoding="utf-8")
    capsys.readouterr()
    assert regrade(rubric, subs, out, "--part", "q5.c") == 2
    assert "1 file(s) are new or changed since the last run" in capsys.readouterr().err
    (subs / "s006-alan.json").write_text(original, encoding="utf-8")
    assert regrade(rubric, subs, tmp_path / "elsewhere", "--part", "q5.c") == 2
    assert "no gradebook at" in capsys.readouterr().err and not (tmp_path / "elsewhere" / "gradebook.sqlite").exists()
    Gradebook(tmp_path / "empty.sqlite").close()
    assert regrade(rubric, subs, out, "--part", "q5.c", "--gradebook", str(tmp_path / "empty.sqlite")) == 2
    assert "has no finished run of dl-quiz" in capsys.readouterr().err
    rubric.write_text(re.sub(r"      - id: q8\n", "      - id: q8x\n", rubric.read_text(encoding="utf-8")),
                      encoding="utf-8")
    assert regrade(rubric, subs, out, "--part", "q5.c") == 2
    assert "questions and parts are no longer those of the stored results" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["dl-quiz", "lab8", "exam"])
def test_a_part_rescored_alone_scores_as_in_a_full_grade_follow_through_included(name):
    rubric = load_rubric(ROOT / "rubrics" / f"{name}.yaml")
    key = build_key(rubric)
    carried = 0
    for path in sorted((ROOT / "submissions" / name).glob("*.json")):
        submission = read_answer_file(path)
        full = grade_submission(rubric, key, submission)
        for part in full.parts():
            alone = rescore_parts(rubric, key, submission, full.model_copy(deep=True), frozenset({part.id}))
            assert alone.model_dump(exclude={"duration_s"}) == full.model_dump(exclude={"duration_s"}), (path, part.id)
            carried += any(c.follow_through and c.follow_through.consistent for c in part.criteria)
    assert carried or name != "lab8"  # lab 8's samples carry errors forward: the case that needs care


def test_a_part_regrade_cut_short_resumes_where_it_stopped(course):
    rubric, subs, out = course
    tighten(rubric)
    files, loaded, q5c = collect_answer_files([subs]).files, load_rubric(rubric), frozenset({"q5.c"})

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    book = Gradebook(out / "gradebook.sqlite")
    try:
        with pytest.raises(Interrupted):
            grade_into(book, rubric, loaded, files, out, jobs=1, on_graded=stop_after_two, force=set(files), parts=q5c)
        outcome = grade_into(book, rubric, loaded, files, out, jobs=1, force=set(files), parts=q5c)
    finally:
        book.close()
    assert (outcome.graded, outcome.reused) == (4, 2)  # the two recorded before the stop stand
    assert {s: p["q5.c"]["auto_score"] for s, p in parts(out).items() if s in ("published-solution", "s006")} == \
        {"published-solution": 0.4, "s006": 0.4}
