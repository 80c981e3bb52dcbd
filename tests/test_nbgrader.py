"""nbgrader and otter-grader notebooks: `grader import nbgrader` writes a starting rubric from an
nbgrader source notebook; released nbgrader notebooks' written answers are read as answer cells;
otter's init and check cells are left out of the definitions quietly."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from grader import kinds
from grader.cli import main
from grader.notebook import read_notebook
from grader.notebook.otter import otter_statements
from grader.program.submission import read_notebook_submission
from grader.rubric import Assessment, load_rubric
from grader.yamlsource import load_yaml


def nbgrader(grade_id, *, grade=False, solution=False, points=None, locked=False, task=False) -> dict:
    """Cell metadata as nbgrader's Create Assignment toolbar writes it (schema 3)."""
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": task}
    return {"nbgrader": meta | ({"points": points} if points is not None else {})}


def write_notebook(path, cells):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(new_notebook(cells=cells)), encoding="utf-8")
    return path


def graded_cell(source, points=2, grade_id="q1_test"):
    return new_code_cell(source, metadata=nbgrader(grade_id, grade=True, points=points, locked=True))


SOURCE_CELLS = [
    new_markdown_cell("# Quiz 1: NumPy warm-up\n\nAnswer every question.", metadata=nbgrader("intro", locked=True)),
    new_code_cell("import numpy as np\nimport math"),
    new_markdown_cell("**Q1.** Store the mean of `data` in `q1`.", metadata=nbgrader("q1_prompt", locked=True)),
    new_code_cell("data = np.array([1.0, 2.0, 4.0])\n### BEGIN SOLUTION\nq1 = data.mean()\n### END SOLUTION",
                  metadata=nbgrader("q1", solution=True)),
    graded_cell('"""Check q1"""\nassert np.isclose(q1, 2.333, atol=1e-3)\n### BEGIN HIDDEN TESTS\n'
              "assert abs(q1 - 2.3333333) < 1e-6\n### END HIDDEN TESTS"),
    new_markdown_cell("**Q2.** The softmax of `[1, 2, 3]`, in `probs`.", metadata=nbgrader("q2_prompt", locked=True)),
    new_code_cell("def softmax(z):\n    ### BEGIN SOLUTION\n    e = np.exp(z - np.max(z))\n    return e / e.sum()\n"
                  "    ### END SOLUTION\nprobs = softmax(np.array([1, 2, 3]))", metadata=nbgrader("q2", solution=True)),
    graded_cell("from numpy.testing import assert_allclose\nexpected = [0.090, 0.245, 0.665]\n"
              "assert_allclose(probs, expected, atol=0.01)", grade_id="q2_test"),
    graded_cell("assert np.allclose(W, [[1, 0], [0, 1]])", points=1, grade_id="q3_test"),
    graded_cell("assert n_params == 42\nassert answer_q4 == 'B'", grade_id="q4_test"),
    graded_cell("assert softmax([1, 2]).sum() == 1\nfor z in [[0, 0], [1, 5]]:\n    assert np.isclose(softmax(z).sum(), 1)",
              points=3, grade_id="q5_test"),
    new_markdown_cell("**Q6.** Why subtract the max in softmax?", metadata=nbgrader("q6_prompt", locked=True)),
    new_markdown_cell("To avoid overflow in exp.", metadata=nbgrader("q6", grade=True, solution=True, points=4)),
    graded_cell("result = q1 * 2", points=1, grade_id="q7_test"),
    # the solutions of q3 and q4, last: the reference notebook must compute every key it is asked for
    new_code_cell("### BEGIN SOLUTION\nW = np.eye(2)\nn_params = 42\nanswer_q4 = 'B'\n### END SOLUTION",
                  metadata=nbgrader("q3_q4", solution=True)),
]


@pytest.fixture
def imported(tmp_path, capsys):
    """The rubric written from SOURCE_CELLS' notebook into a folder of its own: (text, data, out, err)."""
    source = write_notebook(tmp_path / "source" / "quiz1.ipynb", SOURCE_CELLS)
    rubric = tmp_path / "rubrics" / "quiz1.yaml"
    assert main(["import", "nbgrader", str(source), "--out", str(rubric)]) == 0
    printed = capsys.readouterr()
    text = rubric.read_text(encoding="utf-8")
    return text, yaml.safe_load(text), rubric, printed


def parts(data) -> dict:
    return {p["id"]: p for q in data["questions"] for p in q["parts"]}


def test_a_source_notebook_becomes_a_rubric_of_notebook_values(imported):
    text, data, rubric, printed = imported
    assert {k: data[k] for k in ("schema_version", "id", "title", "notebook")} == {
        "schema_version": 1, "id": "quiz1", "title": "Quiz 1: NumPy warm-up",
        "notebook": {"reference": "../source/quiz1.ipynb"}}
    found = parts(data)
    assert list(found) == ["q1_test", "q2_test", "q3_test", "q4_test", "q5_test", "q6", "q7_test"]
    assert [q["id"] for q in data["questions"]] == list(found)
    assert found["q1_test"] == {  # a visible and a hidden assert: two criteria, the points split
        "id": "q1_test", "prompt": "**Q1.** Store the mean of `data` in `q1`.", "marks": 2, "criteria": [
            {"id": "q1", "description": "q1 as the reference notebook computes it", "marks": 1, "kind": "number",
             "value": "q1", "solution": "notebook.q1", "options": {"rtol": 1e-05, "atol": 0.001}},
            {"id": "q1.2", "description": "q1 as the reference notebook computes it (a hidden test)", "marks": 1,
             "kind": "number", "value": "q1", "solution": "notebook.q1",
             "options": {"mode": "absolute", "atol": 1e-06}}]}
    assert found["q2_test"] == {"id": "q2_test", "prompt": "**Q2.** The softmax of `[1, 2, 3]`, in `probs`.",
                                "kind": "vector", "value": "probs", "solution": "notebook.probs",
                                "options": {"rtol": 1e-07, "atol": 0.01}, "marks": 2}
    assert found["q3_test"] == {"id": "q3_test", "kind": "matrix", "value": "W", "solution": "notebook.W",
                                "options": {"rtol": 1e-05, "atol": 1e-08}, "marks": 1}
    assert [(c["kind"], c["value"], c["marks"]) for c in found["q4_test"]["criteria"]] == [
        ("integer", "n_params", 1), ("choice", "answer_q4", 1)]
    assert found["q5_test"] == {"id": "q5_test", "kind": "manual", "marks": 3}
    assert found["q6"] == {"id": "q6", "prompt": "**Q6.** Why subtract the max in softmax?", "kind": "manual",
                           "marks": 4}
    assert found["q7_test"] == {"id": "q7_test", "kind": "manual", "marks": 1}

    # the tests' literals are for the instructor to compare, in comments, never the key
    assert "#   line 4 (hidden): `assert abs(q1 - 2.3333333) < 1e-06`: the key is notebook.q1; the test compares " \
           "with 2.3333333\n" in text
    assert "the test compares with expected = [0.09, 0.245, 0.665]" in text
    assert "2.3333333" not in yaml.safe_dump(data) and "0.245" not in yaml.safe_dump(data)
    assert "#   line 1: could not translate (assert of a function call, `softmax([1, 2]).sum()`): marked by hand\n" \
           "#   line 2: could not translate (a loop): marked by hand\n- id: q5_test\n" in text
    assert printed.err.splitlines() == [
        "could not translate: cell 11 (grade_id q5_test), line 1: assert of a function call, `softmax([1, 2]).sum()`",
        "could not translate: cell 11 (grade_id q5_test), line 2: a loop",
        "could not translate: cell 14 (grade_id q7_test), line 1: the test cell has no assert"]
    assert f"wrote {rubric}: 7 part(s), 15 marks (7 automatic, 8 marked by hand)" in printed.out

    # what the rubric loader reads is what pyyaml reads, and each check's options are its kind's
    assert load_yaml(rubric)[0] == data
    for part in found.values():
        for check in [part, *part.get("criteria", [])]:
            if check.get("kind") not in (None, "manual"):
                kinds.get(check["kind"]).Options.model_validate(check.get("options", {}))


def test_the_imported_rubric_loads(imported):
    _, data, rubric, _ = imported
    loaded = load_rubric(rubric)
    assert loaded.assessment.total_marks == 15 and list(loaded.part_index) == list(parts(data))


def import_one(tmp_path, capsys, *cells, out="quiz.yaml"):
    solution = new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", metadata=nbgrader("x", solution=True))
    source = write_notebook(tmp_path / "quiz.ipynb", [new_code_cell("import numpy as np\nimport math"), solution, *cells])
    code = main(["import", "nbgrader", str(source), "--out", str(tmp_path / out)])
    printed = capsys.readouterr()
    return code, (yaml.safe_load((tmp_path / out).read_text()) if code == 0 else None), printed


@pytest.mark.parametrize("test, check", [
    ("assert math.isclose(x, 0.5, rel_tol=1e-3)", {"kind": "number", "value": "x", "options": {"rtol": 0.001, "atol": 0.0}}),
    ("assert np.isclose(0.5, x, 1e-3, 1e-6)", {"kind": "number", "value": "x", "options": {"rtol": 0.001, "atol": 1e-06}}),
    ("assert abs(0.5 - x) <= 0.01", {"kind": "number", "value": "x", "options": {"mode": "absolute", "atol": 0.01}}),
    ("assert 0.01 > np.abs(x - 0.5)", {"kind": "number", "value": "x", "options": {"mode": "absolute", "atol": 0.01}}),
    ("np.testing.assert_allclose(m, np.array([[1.0, 2.0], [3.0, 4.0]]), err_msg='m')",
     {"kind": "matrix", "value": "m", "options": {"rtol": 1e-07, "atol": 0.0}}),
    ("assert np.allclose(v, 0.5)", {"kind": "number", "value": "v", "options": {"rtol": 1e-05, "atol": 1e-08}}),
    ("assert np.isclose(x, np.sqrt(2))", {"kind": "number", "value": "x", "options": {"rtol": 1e-05, "atol": 1e-08}}),
    ("assert x == 0.25", {"kind": "number", "value": "x", "options": {"rtol": 0.0, "atol": 0.0}}),
    ("assert word == 'gradient'", {"kind": "text", "value": "word", "options": {"case_sensitive": True}}),
    ("assert pick == 'f'", {"kind": "choice", "value": "pick", "options": {"choices": list("ABCDEF")}}),
    ("assert v == [1, 2, 3]", {"kind": "vector", "value": "v", "options": {"rtol": 0.0, "atol": 0.0}}),
    ("assert isinstance(x, float)", "assert of a function call, `isinstance(x, float)`"),
    ("out = f(2)\nassert np.isclose(out, 1)", "assert on `out`, which the test cell sets itself"),
    ("assert model.weight == 3", "assert on `model.weight`, not a variable of the notebook"),
    ("assert 0 < x < 1", "an assert of a form not recognised, `0 < x < 1`"),
    ("assert np.allclose(v, v_expected)", "`np.allclose(v, v_expected)` compares with `v_expected`, not a literal, so whether the answer is a "
                                                                        "vector or a matrix is unknown"),
    ("assert flag == True", "`flag == True`: no kind grades true"),
    ("assert np.isclose(x, 1, rtol=tol)", "its rtol `tol` is not a number of at least 0"),
    ("check_answer(x)", "a call of a helper, `check_answer(x)`"),
    ("with np.errstate(all='ignore'):\n    assert x == 1", "a with-block"),
    ("assert x ==", "`assert x ==`: invalid syntax; the cell is skipped"),
])
def test_each_recognised_form_and_why_the_others_are_not(tmp_path, capsys, test, check):
    code, data, printed = import_one(tmp_path, capsys, graded_cell(test, points=1))
    assert code == 0
    [part] = parts(data).values()
    if isinstance(check, str):
        assert part == {"id": "q1_test", "kind": "manual", "marks": 1}
        [line] = printed.err.splitlines()
        assert line.startswith("could not translate: cell 3 (grade_id q1_test), line ") and line.endswith(check)
    else:
        assert part == {"id": "q1_test", **check, "solution": f"notebook.{check['value']}", "marks": 1}


def test_a_cell_partly_translated_keeps_the_rest_for_a_person(tmp_path, capsys):
    code, data, printed = import_one(tmp_path, capsys, graded_cell(
        "assert isinstance(q1, float)\nassert np.isclose(q1, 3.0)\n### BEGIN HIDDEN TESTS\nassert q1 == 3.0\n"
        "assert _n == 2\n### END HIDDEN TESTS", points=3))
    assert code == 0
    [part] = parts(data).values()
    assert [(c["id"], c["marks"], c.get("kind"), c.get("value")) for c in part["criteria"]] == [
        ("by-hand", 0.75, None, None), ("q1", 0.75, "number", "q1"), ("q1.2", 0.75, "number", "q1"),
        ("check", 0.75, "integer", "_n")]  # a criterion id is a rubric id, which `_n` is not
    assert part["criteria"][0]["description"] == "line 1 of the tests, which could not be translated"
    assert "could not translate: cell 3 (grade_id q1_test), line 1: assert of a function call" in printed.err


def test_bad_nbgrader_cells_are_left_out_with_the_reason(tmp_path, capsys):
    code, data, printed = import_one(
        tmp_path, capsys,
        graded_cell("assert x == 1", points="two", grade_id="q1"),
        graded_cell("assert x == 1", points=1, grade_id="bad id " * 100),
        graded_cell("assert x == 1", points=1, grade_id="q3"),
        graded_cell("assert x == 1", points=1, grade_id="q3"),
        graded_cell("assert x == 1", points=0, grade_id="q5"),
        new_markdown_cell("text", metadata={"nbgrader": ["not", "an", "object"]}),
        new_markdown_cell("text", metadata={"nbgrader": {"grade": "yes", "grade_id": "q7", "points": 1}}),
    )
    assert code == 0 and list(parts(data)) == ["q3"]
    lines = printed.err.splitlines()
    assert lines[:2] == ["left out: cell 3: its points are 'two', not a number",
                         "left out: cell 4: its grade_id 'bad id bad id bad id bad id bad id bad id bad id bad id ba… is "
                         "not a part id (letters, digits, . _ -, at most 64)"]  # quoted, cut
    assert lines[2:] == ["left out: cell 6: its grade_id q3 is also cell 5's",
                         "left out: cell 7: it has 0 points",
                         "left out: cell 8: metadata nbgrader is a list, not an object",
                         "left out: cell 9: metadata nbgrader.grade is 'yes', not true or false"]
    assert all(len(line) < 200 for line in lines)


def test_bad_usage_exits_2_naming_the_file(tmp_path, capsys):
    assert main(["import", "nbgrader", str(tmp_path / "missing.ipynb")]) == 2
    assert "grader import: no such notebook: " in capsys.readouterr().err
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"nbformat": 4, "cells": [', encoding="utf-8")
    assert main(["import", "nbgrader", str(broken)]) == 2
    assert f"{broken}: is not JSON, so not a notebook" in capsys.readouterr().err.replace("\n", "")
    plain = write_notebook(tmp_path / "plain.ipynb", [new_code_cell("x = 1")])
    assert main(["import", "nbgrader", str(plain)]) == 2
    assert f"{plain}: has no cell nbgrader grades" in capsys.readouterr().err.replace("\n", "")
    assert not (tmp_path / "plain.yaml").exists()
    graded = write_notebook(tmp_path / "graded.ipynb", [graded_cell("assert x == 1")])
    assert main(["import", "nbgrader", str(graded), "--id", "not an id"]) == 2
    assert "--id 'not an id' is not an id" in capsys.readouterr().err
    assert main(["import", "nbgrader", str(graded)]) == 0 and (tmp_path / "graded.yaml").is_file()
    assert "no cell has a `### BEGIN SOLUTION` region" in capsys.readouterr().err.replace("\n", "")
    assert main(["import", "nbgrader", str(graded)]) == 2  # an edited rubric is never overwritten
    assert "graded.yaml already exists" in capsys.readouterr().err.replace("\n", "")
    with pytest.raises(SystemExit) as exited:
        main(["import"])
    assert exited.value.code == 2


# --- released nbgrader notebooks: the student's written answers ------------------------------------


def test_a_released_notebooks_written_answers_are_answer_cells(tmp_path):
    read = read_notebook(write_notebook(tmp_path / "s01.ipynb", [
        new_markdown_cell("**Q6.** Why subtract the max?", metadata=nbgrader("q6_prompt", locked=True)),
        new_markdown_cell("Because exp overflows.", metadata=nbgrader("q6", grade=True, solution=True, points=4)),
        new_code_cell("q1 = 2.5", metadata=nbgrader("q1", solution=True)),
        new_code_cell("assert np.isclose(q1, 2.333, atol=1e-3)", metadata=nbgrader("q1_test", grade=True, points=2)),
        new_markdown_cell("Mine.", metadata={"grader": {"part": "q8"}, **nbgrader("q9", grade=True, solution=True)}),
        new_raw_cell("A raw answer.", metadata=nbgrader("q10", solution=True)),
    ]))
    assert read.answers == {"q6": "Because exp overflows.", "q8": "Mine.", "q10": "A raw answer."}
    assert read.hyperparameters == {"q1": 2.5} and read.notes_of("answer") == []


def test_malformed_nbgrader_metadata_is_noted_not_fatal(tmp_path):
    cells = [{"cell_type": "markdown", "metadata": metadata, "source": "my answer"} for metadata in (
        {"nbgrader": "q1"},
        {"nbgrader": {"solution": "yes", "grade_id": "q2"}},
        {"nbgrader": {"solution": True, "grade_id": {"a": 1}}},
        {"nbgrader": {"solution": True, "grade_id": "q" * 1_000_000}},
        {"nbgrader": {"solution": True}},
        {"nbgrader": {"solution": True, "grade_id": "q6"}},
    )] + [{"cell_type": "code", "metadata": {"nbgrader": "junk"}, "source": "x = 1", "outputs": [],
           "execution_count": None}]
    path = tmp_path / "s02.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}), encoding="utf-8")
    read = read_notebook(path)
    assert read.readable and read.answers == {"q6": "my answer"} and read.hyperparameters == {"x": 1}
    assert [(n.cell, n.message) for n in read.notes_of("answer")] == [
        (1, "metadata nbgrader is 'q1', not an object: not read as an answer cell"),
        (2, "metadata nbgrader.solution is 'yes', not true or false: not read as an answer cell"),
        (3, "metadata nbgrader.grade_id must be a part id (letters, digits, . _ -), got {'a': 1}"),
        (4, "metadata nbgrader.grade_id must be a part id (letters, digits, . _ -), got '" + "q" * 58 + "…"),
        (5, "metadata nbgrader.grade_id must be a part id (letters, digits, . _ -), got None"),
    ]


# --- otter-grader notebooks: its init and check cells are left out quietly -------------------------


def test_otter_cells_are_dropped_quietly(tmp_path):
    path = write_notebook(tmp_path / "s03.ipynb", [
        new_code_cell('# Initialize Otter\nimport otter\ngrader = otter.Notebook("quiz1.ipynb")'),
        new_code_cell("import numpy as np\nq1 = 2.5\n\ndef mean(xs):\n    return sum(xs) / len(xs)"),
        new_code_cell('grader.check("q1")'),
        new_code_cell("import otter as ot\ncheck = ot.Notebook()\ncheck.check_all()"),
        new_markdown_cell("## Submission"),
        new_code_cell("# Save your notebook first, then run this cell to export your submission.\n"
                      "grader.export(pdf=False, run_tests=True)"),
    ])
    read = read_notebook(path)
    assert read.source == "# cell 2\nimport numpy as np\nq1 = 2.5\n\ndef mean(xs):\n    return sum(xs) / len(xs)\n"
    assert [(n.cell, n.line) for n in read.notes_of("dropped")] == [(1, 2), (1, 3), (3, 1), (4, 1), (4, 2), (4, 3), (6, 2)]
    assert all(n.message.endswith("left out: it is otter-grader's (the rubric replaces its checks; otter is not "
                                  "installed where grader runs)") for n in read.notes_of("dropped"))
    assert str(read.notes_of("dropped")[2]) == "cell 3, line 1: `grader.check(\"q1\")` left out: it is otter-grader's " \
        "(the rubric replaces its checks; otter is not installed where grader runs)"
    assert read.notes_of("unbound") == []
    rubric = tmp_path / "quiz1.yaml"
    rubric.write_text("schema_version: 1\nid: quiz1\nquestions:\n  - id: q1\n    parts:\n"
                      "      - {id: q1, kind: manual, marks: 1}\n", encoding="utf-8")
    assert read_notebook_submission(path, load_rubric(rubric)).warnings == []  # nothing for the student to act on


@pytest.mark.parametrize("cell, otter", [
    ("import otter as ot\ng = ot.Notebook()\nx = 1\ng.check('q1')", {0, 1, 3}),
    ("from otter import Notebook\nnb = Notebook()\nnb.check_all()", {0, 1, 2}),
    ("import otter.api\ng = otter.Notebook()", {0, 1}),
    ("import otter, numpy\nimport otterlib\ngrader = Notebook()\nprint(grader)", set()),
])
def test_otter_statements_are_found_by_what_otter_bound(cell, otter):
    assert otter_statements(ast.parse(cell), set()) == otter
