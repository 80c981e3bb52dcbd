"""nbgrader and otter-grader notebooks: released nbgrader notebooks' written answers are read as
answer cells; otter's init and check cells are left out of the definitions quietly."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from grader.notebook import read_notebook
from grader.notebook.otter import otter_statements
from grader.program.submission import read_notebook_submission
from grader.rubric import load_rubric


def nbgrader(grade_id, *, grade=False, solution=False, points=None, locked=False, task=False) -> dict:
    """Cell metadata as nbgrader's Create Assignment toolbar writes it (schema 3)."""
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": task}
    return {"nbgrader": meta | ({"points": points} if points is not None else {})}


def write_notebook(path, cells):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(new_notebook(cells=cells)), encoding="utf-8")
    return path


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
