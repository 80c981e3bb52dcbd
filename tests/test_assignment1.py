"""Assignment 1's rubric: its marks as the document gives them, Q2(b)'s computed gradients, and the
sample answer files graded by the real scorer, part by part."""

import html

import numpy as np
import pytest

from grader import mathexpr
from grader.batch import collect_answer_files, grade_file, grade_files
from grader.key import build_key
from grader.reports import gradescope_results, render_html, render_markdown
from grader.rubric import load_rubric
from tests.conftest import ROOT

GRADIENTS = ["q2.b.dL_dw2", "q2.b.dL_db2", "q2.b.dL_dw1", "q2.b.dL_db1"]


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(ROOT / "rubrics" / "assignment1.yaml")


@pytest.fixture(scope="module")
def graded(rubric):
    key = build_key(rubric)
    files = sorted((ROOT / "submissions" / "assignment1").glob("*.json"))
    return {path.stem: grade_file(rubric, key, path) for path in files}


def statuses(result) -> dict[str, str]:
    return {part.id: part.status for part in result.parts()}


def test_marks_are_the_documents(rubric):
    assessment = rubric.assessment
    assert {q.id: q.total_marks for q in assessment.questions} == {"q1": 8, "q2": 8, "q3": 5, "q4": 4, "coding": 15}
    assert assessment.total_marks == 40


def test_q2b_and_the_coding_question_are_automatic_and_the_coding_ids_are_fixed(rubric):
    automatic = [part.id for _, part in rubric.assessment.parts() if not part.manual]
    assert automatic == GRADIENTS + ["coding.model", "coding.convergence", "coding.inference"]
    coding = next(q for q in rubric.assessment.questions if q.id == "coding")
    checks = {p.id: {c.id: (c.kind, c.marks) for c in p.items()} for p in coding.parts}
    assert checks == {
        "coding.model": {"builds": ("program", 1), "init_hidden": ("program", 1), "forward": ("program", 2),
                         "variable_shapes": ("program", 1), "parameter_count": ("program", 2)},
        "coding.convergence": {"trains": ("program", 1), "retrained": ("program", 2), "justified": (None, 2)},
        "coding.inference": {"generation": ("program", 1), "reproducible": ("program", 1), "discussed": (None, 1)},
    }


def test_the_shipped_cpu_calibration_is_current_and_learns(rubric):
    """The rubric loads only with a current calibration; its thresholds must leave room to learn."""
    limits = rubric.solutions["program"]["convergence"]["cpu"]
    assert len(limits["reference"]) == 3 and limits["steps"] == 200
    assert limits["full"] == pytest.approx(max(limits["reference"]) + 0.1)
    assert limits["full"] < limits["zero"] - 1.0  # the reference learns far beyond character frequencies


def test_q2b_answers_are_the_solvers_gradients_of_the_documents_network(rubric):
    """Only hidden neuron 1 feeds the output; the key must be the gradients of that network."""
    key = {e.part: e for e in build_key(rubric).entries}
    options = rubric.comparators[("q2.b.dL_dw1", "answer")].settings
    definitions = mathexpr.compile_definitions(mathexpr.parse_definitions(options.definitions, options.variables))
    rng = np.random.default_rng(0)
    env = {name: rng.uniform(-1, 1, 10) for name in options.variables}
    env["y"] = rng.uniform(0, 1, 10)

    def loss(v):
        a2 = 1 / (1 + np.exp(-(v["w2"] / (1 + np.exp(-(v["w1"] * v["x"] + v["b1"]))) + v["b2"])))
        return -(v["y"] * np.log(a2) + (1 - v["y"]) * np.log(1 - a2))

    for part in GRADIENTS:
        assert key[part].source == "solver" and key[part].solution == f"q2_bce.{part.removeprefix('q2.b.')}"
        wrt = part.removeprefix("q2.b.dL_d")
        up, down = dict(env), dict(env)
        up[wrt], down[wrt] = env[wrt] + 1e-6, env[wrt] - 1e-6
        node = mathexpr.parse(key[part].value, options.names).node
        np.testing.assert_allclose(mathexpr.evaluate(node, definitions(env)), (loss(up) - loss(down)) / 2e-6,
                                   rtol=1e-6, atol=1e-9)
        assert "exp" not in key[part].value  # written in the network's names, as students write it


def test_all_correct_answers_in_latex_plain_and_expanded_forms(graded):
    result = graded["s101-correct"]
    parts = statuses(result)
    assert {parts[p] for p in GRADIENTS} == {"correct"}
    assert {status for part, status in parts.items() if part not in GRADIENTS and not part.startswith("coding")} \
        == {"manual"}
    coding = [c for part in result.parts() if part.id.startswith("coding") for c in part.criteria]
    assert {c.status for c in coding if c.id not in ("justified", "discussed")} == {"missing"}
    assert all("submit the .ipynb" in c.message for c in coding if c.status == "missing")
    assert result.score == 4 and result.manual_pending == 24 and not result.warnings and not result.errors


def test_typical_mistakes_lose_their_parts(graded):
    result = graded["s102-mistakes"]
    parts = {part.id: part for part in result.parts()}
    assert parts["q2.b.dL_dw2"].status == "incorrect"  # (y - a2): the sign of dL/dz2
    assert parts["q2.b.dL_db2"].status == "correct"
    assert parts["q2.b.dL_dw1"].status == "incorrect"  # the w2 factor dropped
    assert parts["q2.b.dL_db1"].status == "incorrect"  # sigma' written as sigma (1 + sigma)
    assert parts["q2.b.dL_dw1"].feedback.startswith("Chain dL/dz2 through dz2/da1 = w2")
    assert result.score == 1


def test_a_typod_part_id_is_reported_and_the_part_is_missing(graded):
    result = graded["s103-typo"]
    parts = statuses(result)
    assert parts["q2.b.dL_dw1"] == "missing"
    assert {parts[p] for p in GRADIENTS if p != "q2.b.dL_dw1"} == {"correct"}
    assert result.warnings == ["answer for unknown part 'q2.b.dl_dw1' was ignored (did you mean 'q2.b.dL_dw1'?)"]
    assert result.score == 3


def test_grading_the_folder_in_parallel_gives_the_same_scores(graded):
    """The rubric is loaded again (solvers, sympy and all) in each forked grading process."""
    files = collect_answer_files([ROOT / "submissions" / "assignment1"]).files
    results = grade_files(ROOT / "rubrics" / "assignment1.yaml", files, jobs=2)
    assert {r.student_id: r.score for r in results} == {r.student_id: r.score for r in graded.values()}


@pytest.fixture(scope="module")
def sample_notebooks(tmp_path_factory):
    """The sample CharLSTM notebooks graded against the tiny assignment (assignment1's coding
    checks on a budget of seconds): what each real-student mess costs and why."""
    from tests.program_support import tiny_assignment

    tiny = load_rubric(tiny_assignment(tmp_path_factory.mktemp("tiny")))
    key = build_key(tiny)
    files = sorted((ROOT / "submissions" / "charlstm").glob("*.ipynb"))
    return {path.stem.split("-")[0]: grade_file(tiny, key, path) for path in files}


STRUCTURE = ["builds", "init_hidden", "forward", "variable_shapes", "parameter_count", "generation", "reproducible"]


def criteria(result) -> dict:
    return {c.id: c for part in result.parts() for c in part.criteria}


@pytest.mark.parametrize("sample", ["s01", "s02", "s04", "s05", "s06"])
def test_sample_notebooks_whose_model_is_right_pass_every_structural_check(sample_notebooks, sample):
    found = criteria(sample_notebooks[sample])
    assert {name: found[name].status for name in STRUCTURE} == dict.fromkeys(STRUCTURE, "correct")
    assert found["trains"].status == "correct"  # verified at its own sizes: it trains as a correct model does
    assert found["retrained"].status in ("correct", "partial", "incorrect")
    assert "nats/char on held-out text" in found["retrained"].message


def test_notebook_mess_gets_allowances_with_notices(sample_notebooks):
    warnings = " | ".join(sample_notebooks["s04"].warnings)
    assert "`tqdm` is not installed where the grader runs" in warnings and "interrupted" in warnings
    warnings = " | ".join(sample_notebooks["s05"].warnings)
    assert "`matplotlib` is not installed" in warnings and "`.cuda()` was called" in warnings


def test_a_blank_template_line_costs_the_model_with_the_cell_named(sample_notebooks):
    result = sample_notebooks["s03"]
    assert any("cell 13, line 3" in w and "invalid syntax" in w for w in result.warnings)
    found = criteria(result)
    assert all(found[name].score == 0 for name in STRUCTURE + ["trains", "retrained"])
    assert "NameError" in found["builds"].message


def test_drop_prob_in_the_bias_slot_fails_to_build_naming_the_cell(sample_notebooks):
    found = criteria(sample_notebooks["s07"])
    assert found["builds"].status == "incorrect"
    assert "bias should be of type bool" in found["builds"].message and "(cell 11, line 7)" in found["builds"].message
    assert sample_notebooks["s07"].score == 0


def student_documents(result) -> list[str]:
    """feedback.md and feedback.html with their escapes undone, and the text results.json shows."""
    gradescope = gradescope_results(result)
    return [render_markdown(result).replace("\\", ""), html.unescape(render_html(result)),
            "\n".join([gradescope["output"], *(test["output"] for test in gradescope["tests"])])]


@pytest.mark.parametrize("sample, failure", [("s03", "NameError: name 'embedding_dim' is not defined"),
                                             ("s07", "TypeError: bias should be of type bool, got: float")])
def test_a_model_that_does_not_build_is_told_once_and_not_flagged(sample_notebooks, sample, failure):
    """Every program check needs the model, so all eight fail with the build's message: the student
    reads it once, the other checks point to it, and nothing awaits review (each 0 has its reason)."""
    result = sample_notebooks[sample]
    found = criteria(result)
    [message] = {found[name].message for name in STRUCTURE + ["trains", "retrained"]}  # as recorded for the instructor
    assert message.startswith(f"building the model failed: {failure}")
    assert result.reviews() == []
    for document in student_documents(result):
        assert document.count(failure) == 1, document
        assert document.count("the same problem as above") == 4  # the rest of coding.model
        assert document.count("the same problem as in part coding.model") == 4  # trains, retrained, generation,
        # reproducible


def test_program_parts_show_no_answer_line_the_written_parts_do(sample_notebooks):
    markdown = render_markdown(sample_notebooks["s01"])
    sections = {s.split(":")[0]: s for s in markdown.split("### Part ")[1:]}
    assert "Your answer" not in sections["coding.model"]
    assert "- **Your answer:** I went from 128 to 512 hidden units" in sections["coding.convergence"]
    results = {t["name"].rsplit("part ", 1)[1]: t["output"] for t in gradescope_results(sample_notebooks["s01"])["tests"]}
    assert not results["coding.model"].startswith("Your answer")


def test_a_notebook_cut_off_half_way_is_unreadable_not_fatal(sample_notebooks):
    result = sample_notebooks["s08"]
    assert not result.readable and "is not JSON" in result.errors[0] and result.score == 0
