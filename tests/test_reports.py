"""Report writers render real SubmissionResults: right numbers, safe text, and never the instructor's reasons."""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import re
import shutil

import pytest
import yaml

from grader.cli import main
from grader.reports import (
    gradescope_results,
    render_html,
    render_markdown,
    render_summary_markdown,
    write_gradebook_csv,
    write_gradescope,
)
from grader.reports.feedback import format_score
from grader.results import CriterionResult, PartResult, QuestionResult, SubmissionResult
from grader.rubric import Assessment
from tests.conftest import ROOT

SECRET = "SECRET-KEY-0.4213"
HOSTILE_ANSWER = "<script>alert('x')</script> | 1 |\nsecond line"
UNREADABLE_ERROR = "carol.json: not valid JSON (line 3, column 7)"

ASSESSMENT = Assessment.model_validate({
    "id": "hw1",
    "title": "Homework 1: Regression",
    "questions": [
        {"id": "1", "title": "Least squares", "parts": [
            {"id": "1a", "prompt": "Estimate the slope.", "kind": "number", "answer": 0.42, "marks": 2},
            {"id": "1b", "prompt": "Give slope and intercept.", "criteria": [
                {"id": "slope", "description": "slope", "marks": 1, "kind": "number", "answer": 0.42},
                {"id": "intercept", "description": "intercept", "marks": 1, "kind": "number", "answer": 3},
            ]},
        ]},
        {"id": "2", "title": "Discussion", "parts": [
            {"id": "2a", "prompt": "How many features?", "kind": "integer", "answer": 3, "marks": 1},
            {"id": "2b", "prompt": "Discuss overfitting.", "kind": "manual", "marks": 10},
        ]},
    ],
})


def crit(cid: str, marks: float, score: float | None, status: str, message: str = "", **extra) -> CriterionResult:
    """A criterion whose reason quotes the key, as the scorer's reasons may."""
    return CriterionResult(id=cid, description=f"criterion {cid}", marks=marks, score=score, status=status,
                           reason=f"{SECRET} for {cid}", message=message, **extra)


def part(pid: str, status: str, answer: str | None, criteria: list[CriterionResult], feedback: str = "") -> PartResult:
    automatic = [c.score for c in criteria if c.status != "manual"]
    pending = any(c.status == "manual" for c in criteria)
    return PartResult(id=pid, prompt=f"prompt {pid}", marks=sum(c.marks for c in criteria),
                      score=None if pending else sum(automatic), auto_score=sum(automatic),
                      status=status, answer=answer, criteria=criteria, feedback=feedback)


def question(qid: str, title: str, parts: list[PartResult]) -> QuestionResult:
    return QuestionResult(id=qid, title=title, marks=sum(p.marks for p in parts),
                          auto_score=sum(p.auto_score for p in parts),
                          manual_marks=sum(p.manual_marks for p in parts), parts=parts)


def submission(student_id: str, name: str, parts: dict[str, PartResult], **extra) -> SubmissionResult:
    questions = [question("1", "Least squares", [parts["1a"], parts["1b"]]),
                 question("2", "Discussion", [parts["2a"], parts["2b"]])]
    return SubmissionResult(
        source=f"submissions/{student_id}.json", student_id=student_id, student_name=name, assessment_id="hw1",
        assessment_title="Homework 1: Regression", questions=questions,
        score=sum(q.auto_score for q in questions), max_score=sum(q.marks for q in questions),
        manual_pending=sum(q.manual_marks for q in questions), duration_s=0.25, **extra)


def essay(answer: str | None = "Overfitting is when...") -> PartResult:
    return part("2b", "manual", answer, [crit("c1", 10, None, "manual", "")])


def alice() -> SubmissionResult:
    return submission("s001", "Alice Ng", {
        "1a": part("1a", "correct", "0.42", [crit("c1", 2, 2.0, "correct", "Correct.")]),
        "1b": part("1b", "correct", "{'slope': 0.42, 'intercept': 3}", [
            crit("slope", 1, 1.0, "correct", "Correct."), crit("intercept", 1, 1.0, "correct", "Correct.")]),
        "2a": part("2a", "correct", "3", [crit("c1", 1, 1.0, "correct", "Correct.")]),
        "2b": essay(),
    })


def bob() -> SubmissionResult:
    """Hostile text everywhere a student controls it; a partial part with a third of a mark."""
    return submission("s002", "=HYPERLINK(\"http://evil\")", {
        "1a": part("1a", "incorrect", HOSTILE_ANSWER,
                   [crit("c1", 2, 0.0, "incorrect", "Not within tolerance.", expected="0.42")],
                   feedback="Recall the normal equations."),
        "1b": part("1b", "partial", "{'slope': 0.42, 'intercept': 2}", [
            crit("slope", 1, 1 / 3, "partial", "Close, but rounded too early.", warnings=["Use 2 decimals."]),
            crit("intercept", 1, 0.0, "incorrect", "Not within tolerance.")]),
        "2a": part("2a", "invalid", "three", [crit("c1", 1, 0.0, "invalid", "Expected a whole number.")]),
        "2b": essay(),
    })


def carol_unreadable() -> SubmissionResult:
    missing = {pid: part(pid, "missing", None, [crit("c1", marks, 0.0, "missing", "No answer.")])
               for pid, marks in (("1a", 2), ("1b", 2), ("2a", 1))}
    return submission("s003", "Carol", {**missing, "2b": essay(None)}, readable=False, errors=[UNREADABLE_ERROR])


def dave() -> SubmissionResult:
    return submission("s000", "-Dave", {
        "1a": part("1a", "incorrect", "0.5", [crit("c1", 2, 0.0, "incorrect", "Not within tolerance.")]),
        "1b": part("1b", "correct", "{'slope': 0.42, 'intercept': 3}", [
            crit("slope", 1, 1.0, "correct", "Correct."), crit("intercept", 1, 1.0, "correct", "Correct.")]),
        "2a": part("2a", "missing", None, [crit("c1", 1, 0.0, "missing", "No answer.")]),
        "2b": essay(),
    }, errors=["unknown part '9z' ignored"])


def everyone() -> list[SubmissionResult]:
    return [alice(), bob(), carol_unreadable(), dave()]


@pytest.mark.parametrize("value, shown", [(1.0, "1"), (0.5, "0.5"), (7 / 3, "2.33"), (1.0000000001, "1"),
                                          (23.5, "23.5"), (0.0, "0"), (-0.0001, "0"), (100.0, "100")])
def test_scores_are_shown_compactly(value, shown):
    assert format_score(value) == shown


# --- student feedback -------------------------------------------------------------------------

@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_feedback_never_shows_reasons(render):
    for result in everyone():
        assert SECRET not in render(result)


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_feedback_shows_total_with_pending_manual_marks(render):
    text = render(alice())
    assert "5 / 15 (10 marks await manual grading)" in text
    assert "Alice Ng (s001)" in text
    assert "Homework 1: Regression" in text
    assert "Awaiting marking by a person" in text


def test_markdown_renders_every_part_with_its_criteria():
    text = render_markdown(bob())
    for pid in ("1a", "1b", "2a", "2b"):
        assert f"### Part {pid}:" in text
    assert ("| criterion slope | 0.33 / 1 | Partly correct | Close, but rounded too early.<br>Warning: Use 2 decimals. |"
            in text)
    assert "Expected: 0.42" in text
    assert "**Hint:** Recall the normal equations." in text
    assert "| criterion c1 | – / 10 | Awaiting marking by a person |" in render_markdown(alice())


def test_markdown_keeps_hostile_answers_inert_and_on_one_line():
    text = render_markdown(bob())
    answer_line = next(line for line in text.splitlines() if line.startswith("- **Your answer:**") and "alert" in line)
    assert answer_line == r"- **Your answer:** \<script\>alert('x')\</script\> \| 1 \|<br>second line"
    assert "<script>" not in text
    for row in (line for line in text.splitlines() if line.startswith("|")):
        assert len(re.findall(r"(?<!\\)\|", row)) == 5, row


def test_html_escapes_student_text_and_is_self_contained():
    page = render_html(bob())
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; | 1 |\nsecond line" in page
    assert "=HYPERLINK(&#34;http://evil&#34;)" in page
    assert not re.search(r"<link|src=|href=|@import|url\(", page)


def test_html_shows_expected_answer_warnings_and_badges():
    page = render_html(bob())
    assert "Expected: <code>0.42</code>" in page
    assert "Warning: Use 2 decimals." in page
    assert '<span class="badge partial">Partly correct</span>' in page
    assert page.count('<section class="part">') == 4


def test_a_part_with_nothing_entered_has_no_answer_line():
    """carol's parts have no answer (as a notebook's program parts never do): no "Your answer: (none)"."""
    for text in (render_markdown(carol_unreadable()), render_html(carol_unreadable()),
                 json.dumps(gradescope_results(carol_unreadable()))):
        assert "Your answer" not in text and "(none)" not in text
    assert render_markdown(alice()).count("- **Your answer:**") == 4
    assert render_html(alice()).count("<div>Your answer:</div>") == 4
    assert [t["output"].startswith("Your answer: ") for t in gradescope_results(alice())["tests"]] == [True] * 3


def shared_cause() -> SubmissionResult:
    """Three checks that fail for one cause, in two parts, and two that stand unconfirmed for another."""
    failed, unconfirmed = "building the model failed: NameError: name 'n' is not defined", "not confirmed: look"
    fails = dict(cause=failed)
    return submission("s005", "Fay", {
        "1a": part("1a", "incorrect", None, [crit("c1", 2, 0.0, "incorrect", failed, **fails)]),
        "1b": part("1b", "partial", None, [
            crit("slope", 1, 1.0, "correct", "Correct.", warnings=["Use 2 decimals.", unconfirmed], cause=unconfirmed),
            crit("intercept", 1, 0.0, "incorrect", failed, **fails)]),
        "2a": part("2a", "incorrect", None, [crit("c1", 1, 0.0, "incorrect", failed, warnings=[unconfirmed],
                                                  cause=failed)]),
        "2b": essay(),
    })


def test_a_cause_several_checks_share_is_stated_once_and_pointed_to():
    result = shared_cause()
    text = render_markdown(result)
    assert text.count("NameError") == 1 and text.count("not confirmed: look") == 1
    assert "| criterion intercept | 0 / 1 | Incorrect | the same problem as in part 1a |" in text
    assert "| criterion c1 | 0 / 1 | Incorrect | the same problem as in part 1a |" in text  # 2a's warning: stated in 1b
    assert "| criterion slope | 1 / 1 | Correct | Correct.<br>Warning: Use 2 decimals.<br>Warning: not confirmed: look |" \
        in text
    page, gradescope = render_html(result), json.dumps(gradescope_results(result))
    assert page.count("NameError") == 1 and gradescope.count("NameError") == 1
    assert gradescope.count("the same problem as in part 1a") == 2
    assert result.parts()[1].criteria[1].message.startswith("building the model failed")  # the record is untouched


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_unreadable_submission_feedback_says_so(render):
    text = render(carol_unreadable())
    assert "could not be read" in text
    assert UNREADABLE_ERROR in text


# --- gradebook ---------------------------------------------------------------------------------

def read_gradebook(tmp_path) -> list[dict[str, str]]:
    path = tmp_path / "gradebook.csv"
    write_gradebook_csv(everyone(), ASSESSMENT, path)
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_gradebook_has_one_row_per_student_with_question_scores(tmp_path):
    rows = read_gradebook(tmp_path)
    assert list(rows[0]) == ["student_id", "student_name", "1", "2", "total", "max_score", "manual_pending",
                             "status", "source"]
    assert [row["student_id"] for row in rows] == ["s000", "s001", "s002", "s003"]
    by_id = {row["student_id"]: row for row in rows}
    assert by_id["s001"] == {"student_id": "s001", "student_name": "Alice Ng", "1": "4", "2": "1",
                                  "total": "5", "max_score": "15", "manual_pending": "10", "status": "pending marking",
                                  "source": "submissions/s001.json"}
    assert (by_id["s002"]["1"], by_id["s002"]["total"]) == ("0.33", "0.33")
    assert by_id["s003"]["status"] == "unreadable"
    assert by_id["s003"]["total"] == "0"
    assert by_id["s000"]["status"] == "graded with errors"


def test_gradebook_defuses_spreadsheet_formulas(tmp_path):
    by_id = {row["student_id"]: row for row in read_gradebook(tmp_path)}
    assert by_id["s002"]["student_name"] == "'=HYPERLINK(\"http://evil\")"
    assert by_id["s000"]["student_name"] == "'-Dave"
    assert by_id["s001"]["student_name"] == "Alice Ng"


# --- Gradescope ----------------------------------------------------------------------------------

def test_gradescope_has_one_test_per_automatic_part():
    document = gradescope_results(bob(), execution_time=1.5)
    required = {"score", "execution_time", "output", "output_format", "visibility", "stdout_visibility", "tests"}
    assert required <= set(document)
    assert document["execution_time"] == 1.5
    tests = document["tests"]
    assert [t["number"] for t in tests] == ["1.1", "1.2", "2.1"]
    for test in tests:
        assert {"score", "max_score", "status", "name", "number", "output", "output_format", "visibility"} <= set(test)
    assert [t["status"] for t in tests] == ["failed", "failed", "failed"]
    assert [t["max_score"] for t in tests] == [2, 2, 1]
    assert document["score"] == pytest.approx(sum(t["score"] for t in tests)) == pytest.approx(1 / 3)
    assert "Close, but rounded too early." in tests[1]["output"]
    assert "Expected: 0.42" in tests[0]["output"]


def test_gradescope_full_marks_pass_and_manual_parts_are_named():
    document = gradescope_results(alice())
    assert all(t["status"] == "passed" for t in document["tests"])
    assert document["score"] == 5
    assert document["execution_time"] == 0.25
    assert "Question 2, part 2b: 10 marks" in document["output"]


def test_gradescope_unreadable_submission_fails_every_test():
    document = gradescope_results(carol_unreadable())
    assert document["score"] == 0
    assert document["tests"] and all(t["status"] == "failed" and t["score"] == 0 for t in document["tests"])
    assert UNREADABLE_ERROR in document["output"]


def test_gradescope_file_is_json_without_reasons(tmp_path):
    for result in everyone():
        path = tmp_path / f"{result.student_id}.json"
        write_gradescope(result, path)
        text = path.read_text(encoding="utf-8")
        assert SECRET not in text
        assert json.loads(text) == json.loads(json.dumps(gradescope_results(result)))


# --- instructor summary ---------------------------------------------------------------------------

def summary_row(text: str, part_id: str) -> list[str]:
    row = next(line for line in text.splitlines() if line.startswith(f"| {part_id[0]} | {part_id} |"))
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_summary_counts_submissions_and_lists_unreadable_ones():
    text = render_summary_markdown(everyone(), ASSESSMENT)
    assert "**Submissions:** 4 (3 readable, 1 unreadable)" in text
    assert "carol.json: not valid JSON (line 3, column 7)" in text
    assert "unknown part '9z' ignored" in text
    assert "| 2.44 | 2 | 0.33 | 5 |" in text  # mean, median, min, max of 5, 0.33 and 2


def test_summary_item_analysis_per_part():
    text = render_summary_markdown(everyone(), ASSESSMENT)
    hostile = r"\<script\>alert('x')\</script\> \| 1 \|<br>second line"
    assert summary_row(text, "1a") == ["1", "1a", "2", "3", "0.67", "33.33%", "0%", f'"{hostile}" ×1; "0.5" ×1']
    assert summary_row(text, "2a")[5:7] == ["33.33%", "66.67%"]
    assert summary_row(text, "2b")[4] == "0 (3 pending)"
    assert "<script>" not in text


# --- marks flagged for review ------------------------------------------------------------------------

REVIEW = "the model's report is not confirmed: it has 2 Linear layers (fc, fc2)"


def erin_for_review() -> SubmissionResult:
    """Full marks on 1b, both criteria flagged for the same reason, 1a flagged for another."""
    flagged = dict(review=REVIEW, warnings=["the grader could not confirm this; your instructor will look at it"])
    return submission("s004", "Erin", {
        "1a": part("1a", "correct", "0.42", [crit("c1", 2, 2.0, "correct", "Correct.", review="look at 1a")]),
        "1b": part("1b", "correct", "{'slope': 0.42, 'intercept': 3}", [
            crit("slope", 1, 1.0, "correct", "Correct.", **flagged),
            crit("intercept", 1, 1.0, "correct", "Correct.", **flagged)]),
        "2a": part("2a", "correct", "3", [crit("c1", 1, 1.0, "correct", "Correct.")]),
        "2b": essay(),
    })


def test_reviews_group_the_flagged_checks_by_reason():
    assert erin_for_review().reviews() == ["look at 1a (1a/c1)", f"{REVIEW} (1b/slope, 1b/intercept)"]
    assert alice().reviews() == []


def test_flagged_marks_stand_and_are_listed_for_the_instructor_never_in_feedback(tmp_path):
    erin = erin_for_review()
    path = tmp_path / "gradebook.csv"
    write_gradebook_csv([alice(), erin], ASSESSMENT, path)
    with open(path, newline="", encoding="utf-8") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file)}
    assert (rows["s004"]["status"], rows["s004"]["total"]) == ("graded, for review", "5")
    assert rows["s001"]["status"] == "pending marking"
    summary = render_summary_markdown([alice(), erin], ASSESSMENT)
    assert "it has 2 Linear layers (fc, fc2) (1b/slope, 1b/intercept)" in summary
    assert "graded, for review" in summary and "s001" not in summary.split("## Score distribution")[0]
    for feedback in (render_markdown(erin), render_html(erin), json.dumps(gradescope_results(erin))):
        assert "2 Linear layers" not in feedback and "look at 1a" not in feedback
    assert "your instructor will look at it" in render_markdown(erin)


# --- what a notebook's reader noticed, in the reports of real sample notebooks ---------------------

SAMPLES = ROOT / "submissions" / "charlstm"


@pytest.fixture(scope="module")
def sample_reports(tmp_path_factory) -> dict:
    """Sample notebooks graded by `grader grade` against assignment 1's coding question without its
    program checks (no code runs), plus s06 as Colab files often are: cell ids in nbformat 4.0.
    Returns the report folder's documents per student, results.jsonl by student and summary.md."""
    folder = tmp_path_factory.mktemp("samples")
    shipped = yaml.safe_load((ROOT / "rubrics" / "assignment1.yaml").read_text(encoding="utf-8"))
    [coding] = [q for q in shipped["questions"] if q["id"] == "coding"]
    coding["parts"] = [{**p, "criteria": [c for c in p["criteria"] if c.get("kind") != "program"]}
                       for p in coding["parts"] if p["id"] != "coding.model"]
    rubric = folder / "coding.yaml"
    rubric.write_text(yaml.safe_dump({"schema_version": 1, "id": "assignment1", "title": "Coding",
                                      "questions": [coding]}), encoding="utf-8")
    submissions = folder / "submissions"
    submissions.mkdir()
    for name in ("s02-out-of-order", "s03-blank-template", "s04-interrupted", "s07-common-bugs"):
        shutil.copy(SAMPLES / f"{name}.ipynb", submissions)
    colab = json.loads((SAMPLES / "s06-colab.ipynb").read_text(encoding="utf-8"))
    for cell in colab["cells"]:
        cell["id"] = cell["metadata"].pop("id")
    (submissions / "s06-colab.ipynb").write_text(json.dumps(colab), encoding="utf-8")
    out = folder / "out"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["grade", str(rubric), str(submissions), "--out", str(out), "--jobs", "1"]) == 0
    students = {p.name: {f.name: f.read_text(encoding="utf-8") for f in p.iterdir()} for p in (out / "students").iterdir()}
    results = {r["student_id"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    return {"students": students, "results": results, "summary": (out / "summary.md").read_text(encoding="utf-8")}


def feedback_documents(reports: dict, student: str) -> list[str]:
    """feedback.md, feedback.html (tags and escapes undone) and the text of results.json."""
    documents = reports["students"][student]
    html_text = html.unescape(re.sub(r"<[^>]+>", "", documents["feedback.html"]))
    return [documents["feedback.md"].replace("\\", ""), html_text, json.loads(documents["results.json"])["output"]]


@pytest.mark.parametrize("student, shown", [
    ("s02-out-of-order", "cell 15: ran as In [14], before cell 14 above it (In [15]): the cells were not run top to "
                         "bottom, which is how the grader reads them"),
    ("s03-blank-template", "cell 16: saved output ends in NameError: name 'hidden_size' is not defined (run as In [8])"),
    ("s04-interrupted", "cell 16: was interrupted (KeyboardInterrupt, run as In [8]): its outputs stop there"),
    ("s04-interrupted", "cell 19: saved output ends in RuntimeError: Expected all tensors to be on the same device"),
    ("s07-common-bugs", "cell 16: saved output ends in AttributeError: 'Tensor' object has no attribute 'contigious'"),
])
def test_saved_errors_interrupts_and_out_of_order_runs_reach_the_student_once(sample_reports, student, shown):
    for document in feedback_documents(sample_reports, student):
        assert document.count(f"{student}.ipynb, {shown}") == 1, document


def test_a_saved_syntax_error_is_not_repeated_beside_the_skipped_cell(sample_reports):
    """s03's cell 13 does not parse: the syntax note says so, and its saved SyntaxError is the same cause."""
    warnings = sample_reports["results"]["s03-blank-template"]["warnings"]
    assert [w for w in warnings if "cell 13" in w] == [
        "s03-blank-template.ipynb, cell 13, line 3: `n_hidden=`: invalid syntax; the cell is skipped"]


def test_colab_schema_noise_is_the_instructors_not_the_students(sample_reports):
    result = sample_reports["results"]["s06-colab"]
    assert result["warnings"] == [] and len(result["file_notes"]) == 1
    assert result["file_notes"][0].startswith("s06-colab.ipynb: does not follow the nbformat 4.0 schema (Additional "
                                              "properties are not allowed ('id' was unexpected) at $.cells[0]")
    for document in feedback_documents(sample_reports, "s06-colab"):
        assert "schema" not in document and "nbformat" not in document
    assert sample_reports["summary"].count("does not follow the nbformat 4.0 schema") == 1
    assert "| s06-colab | " in sample_reports["summary"].split("## Notes on the files")[1]
    assert all(not r["file_notes"] for s, r in sample_reports["results"].items() if s != "s06-colab")
