"""`grader audit`: published worked solutions against the computed keys. The computation wins;
each disagreement, and the step it came from, is asserted here."""

from __future__ import annotations

import json

from grader.audit import audit_file, render_audit
from grader.cli import main
from grader.key import build_key
from grader.rubric import load_rubric
from tests.conftest import ROOT


def _audit(rubric_name: str, answers: str):
    rubric = load_rubric(ROOT / "rubrics" / rubric_name)
    return audit_file(rubric, build_key(rubric), ROOT / "submissions" / answers)


def _findings(report, prefix: str) -> dict[str, object]:
    return {f"{f.part}.{f.criterion}": f for f in report.findings if f.part.startswith(prefix)}


def test_lab8_hidden_layer_gradients_and_the_db1_sign_are_flagged_with_their_origin():
    report = _audit("lab8.yaml", "lab8/published-solution.json")
    p1 = _findings(report, "p1.")
    kinds = {name: f.kind for name, f in p1.items()}
    assert kinds == {
        # dL/dh = sum over outputs of dL/dz_o * w: the published 0.054 and 0.059 are wrong (0.0364, 0.0414)
        "p1.hidden_grads.h1": "error", "p1.hidden_grads.h2": "error",
        # dL/dw1..w4 = dL/dh * h(1-h) * input: right arithmetic on the wrong dL/dh
        "p1.hidden_grads.w1": "carried", "p1.hidden_grads.w2": "carried",
        "p1.hidden_grads.w3": "carried", "p1.hidden_grads.w4": "carried",
        # dL/db1: the two terms from the wrong dL/dh sum to +0.0272, printed as -0.0272; computed +0.0187
        "p1.hidden_grads.b1": "error-after",
        # b1 - 0.5 * (-0.0272) = 0.3636: right arithmetic on the wrong dL/db1
        "p1.updated.b1": "carried",
    }
    assert p1["p1.hidden_grads.w1"].came_from == ["p1.hidden_grads (h1)"]
    assert p1["p1.hidden_grads.w1"].given == "0.00065" and p1["p1.hidden_grads.w1"].expected.startswith("0.000438568")
    assert p1["p1.hidden_grads.b1"].came_from == ["p1.hidden_grads (h1)", "p1.hidden_grads (h2)"]
    assert p1["p1.hidden_grads.b1"].recomputed.startswith("0.0272") and p1["p1.hidden_grads.b1"].given == "-0.0272"
    assert p1["p1.updated.b1"].came_from == ["p1.hidden_grads (b1)"]
    assert not _findings(report, "p2.")  # problem 2 of the worked solution is right


def test_correct_answers_are_not_flagged_and_quiz_roundings_pass():
    report = _audit("dl-quiz.yaml", "dl-quiz/s002-published-solution.json")
    assert report.clean and report.findings == []
    assert report.checked == report.matching > 0
    text = render_audit(report)
    assert f"{report.checked} automatic checks answered: {report.checked} match the computed key, 0 do not." in text


def test_audit_text_names_each_finding_and_its_origin():
    text = render_audit(_audit("lab8.yaml", "lab8/published-solution.json"))
    assert "[error-after] p1.hidden_grads (b1): dL/db1\n    given:    -0.0272\n    computed: 0.0187256" in text
    assert "wrong even given the wrong p1.hidden_grads (h1), p1.hidden_grads (h2) (they give 0.0272" in text
    assert "[carried] p1.hidden_grads (w1)" in text and "follows correctly from the wrong p1.hidden_grads (h1)" in text


def test_audit_command_exit_codes_and_json(capsys, tmp_path):
    lab8 = str(ROOT / "rubrics" / "lab8.yaml")
    assert main(["audit", lab8, str(ROOT / "submissions" / "lab8" / "published-solution.json"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {f["kind"] for f in report["findings"]} >= {"error", "carried", "error-after"}
    assert main(["audit", str(ROOT / "rubrics" / "dl-quiz.yaml"),
                 str(ROOT / "submissions" / "dl-quiz" / "s002-published-solution.json")]) == 0
    assert main(["audit", lab8, str(tmp_path / "missing.json")]) == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\nquestions: []\n")
    assert main(["audit", str(broken), str(ROOT / "submissions" / "lab8" / "published-solution.json")]) == 3
    not_json = tmp_path / "sheet.json"
    not_json.write_text("{not json")
    capsys.readouterr()
    assert main(["audit", lab8, str(not_json)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"cannot audit {not_json}: the file could not be read") and "line 1 column 2" in out


def test_exam_published_solution_two_errors_and_the_attention_answers_match():
    report = _audit("exam.yaml", "exam/published-solution.json")
    kinds = {f"{f.part}.{f.criterion}": f.kind for f in report.findings}
    # obj1: the printed "log(0.7)" lost its minus sign (the loss is -log 0.7 = 0.357);
    # obj10: statement (a) is false, a diagonal A with unequal entries is no multiple of the Euclidean distance
    assert kinds == {"obj1.value": "error", "obj10.answer": "error"}
    assert report.matching == report.checked - 2 and report.matching >= 20


def test_quiz_published_0637_passes_under_the_rubrics_tolerance_but_not_a_tight_one():
    """p(a) = exp(3) / sum exp(3..-1) = 0.63641, which rounds to 0.636; the quiz prints 0.637.
    1% (or 0.0005 absolute) is the sensible window for a 3-decimal answer; 0.05% is not."""
    from grader.kinds import get

    rubric = load_rubric(ROOT / "rubrics" / "dl-quiz.yaml")
    probs = rubric.solutions["softmax_t1"]["probs"]
    assert round(probs[0], 3) == 0.636
    comparator = rubric.comparators[("q5.a", "p")]
    published = [0.637, 0.234, 0.086, 0.032, 0.012]
    assert comparator.check(published, probs).status == "correct"
    tight = get("vector")(get("vector").Options(rtol=0.0005))
    assert tight.check(published, probs).status == "incorrect"
