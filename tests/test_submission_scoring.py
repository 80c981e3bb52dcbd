"""Answer files and scoring: bad input costs one part, never the submission or the batch."""

import json
from decimal import Decimal

import pytest

from grader.batch import grade_file, grade_files
from grader.key import build_key
from grader.kinds._values import NonFinite
from grader.rubric import load_rubric
from grader.scoring import grade_submission
from grader.submission import read_answer_file

RUBRIC = """\
id: mini
title: Mini quiz
questions:
  - id: q1
    title: Numbers
    parts:
      - {id: q1.a, prompt: dL/dh1, kind: number, marks: 2, answer: 0.0364, feedback: "Sum over both outputs."}
      - {id: q1.b, prompt: count, kind: integer, marks: 1, answer: 13, show_answer: true}
      - id: q1.c
        prompt: attention sizes
        criteria:
          - {description: head sizes, marks: 3, field: heads, kind: vector, answer: [2, 2]}
          - {description: W_O size, marks: 2, field: w_o, kind: vector, answer: [2, 4]}
          - {description: explanation, marks: 1}
  - id: q2
    parts:
      - {id: q2, kind: choice, marks: 1, answer: C}
"""


@pytest.fixture
def rubric(write):
    return load_rubric(write("rubric.yaml", RUBRIC))


def grade(rubric, write, content, name="answers.json"):
    path = write(name, content if isinstance(content, bytes) else json.dumps(content) if not isinstance(content, str) else content)
    return grade_submission(rubric, build_key(rubric), read_answer_file(path))


def by_part(result):
    return {p.id: p for p in result.parts()}


def answers(**parts):
    return {"student_id": "s1", "student_name": "Ada", "assessment_id": "mini", "answers": parts}


def test_scores_reasons_and_messages(rubric, write):
    result = grade(rubric, write, answers(**{"q1.a": 0.054, "q1.b": 12, "q1.c": {"heads": [2, 2], "w_o": [4, 2]}, "q2": "c"}))
    parts = by_part(result)
    assert parts["q1.a"].score == 0 and parts["q1.a"].criteria[0].reason == "expected 0.0364 within 1%, got 0.054"
    assert "0.0364" not in parts["q1.a"].criteria[0].message and parts["q1.a"].criteria[0].expected is None
    assert parts["q1.a"].feedback == "Sum over both outputs."
    assert parts["q1.b"].criteria[0].expected == "13"  # show_answer: true on this part only
    assert parts["q1.c"].auto_score == 3 and parts["q1.c"].score is None and parts["q1.c"].status == "partial"
    assert parts["q2"].status == "correct"
    assert result.score == 4 and result.max_score == 10 and result.manual_pending == 1
    assert [q.auto_score for q in result.questions] == [3, 1]


def test_missing_and_unknown_parts_are_reported_not_fatal(rubric, write):
    result = grade(rubric, write, answers(**{"q1.b": 13, "q1b": 13, "q9": 1, "score": 100}))
    parts = by_part(result)
    assert parts["q1.a"].status == "missing" and parts["q1.a"].criteria[0].message == "no answer was given"
    assert parts["q1.c"].criteria[0].reason == "no field 'heads'"
    assert result.score == 1  # a forged "score" answer is just an unknown part
    assert "answer for unknown part 'q1b' was ignored (did you mean 'q1.b'?)" in result.warnings
    assert any("'score'" in w for w in result.warnings)


def test_hostile_values_cost_only_their_part(rubric, write):
    text = ('{"student_id": "s1", "assessment_id": "mini", "answers": {'
            '"q1.a": NaN, "q1.b": 1e400, "q1.c": {"heads": "__import__(\'os\').system(\'touch /tmp/grader-x\')", '
            '"w_o": [2, 4]}, "q2": "C"}}')
    result = grade(rubric, write, text)
    parts = by_part(result)
    assert parts["q1.a"].status == "invalid" and "NaN is not a finite number" in parts["q1.a"].criteria[0].message
    assert parts["q1.b"].status == "invalid"
    assert parts["q1.c"].criteria[0].status == "invalid" and parts["q1.c"].criteria[1].status == "correct"
    assert parts["q2"].status == "correct"
    assert result.score == 3


def test_non_utf8_bytes_fail_only_their_part(rubric, write):
    raw = b'{"student_id": "s1", "answers": {"q1.a": "0.03\xff64", "q2": "C"}}'
    result = grade(rubric, write, raw)
    parts = by_part(result)
    assert result.readable
    assert parts["q1.a"].status == "invalid"
    assert parts["q2"].status == "correct"


def test_huge_strings_and_numbers_are_bounded(rubric, write):
    text = json.dumps(answers(**{"q1.a": "9" * 1_000_000, "q1.b": 0, "q2": "C"})).replace('"q1.b": 0', '"q1.b": ' + "9" * 5000)
    result = grade(rubric, write, text)
    parts = by_part(result)
    assert "characters long" in parts["q1.a"].criteria[0].message
    assert "digits" in parts["q1.b"].criteria[0].message
    assert parts["q2"].status == "correct"


@pytest.mark.parametrize("content, words, student", [
    ('{"student_id": "s1", "answers": {"q1.a": 1,,}}', "line 1 column 44: not valid JSON", "bob"),
    ("[1, 2]", "is a JSON object", "bob"),
    ('{"student_id": "s1"}', "no 'answers' object", "s1"),
    ('{"student_id": "s1", "answers": [1]}', "no 'answers' object", "s1"),
    ("[" * 100_000 + "]" * 100_000, "nested more than 1000 levels deep", "bob"),
    ("", "the file is empty", "bob"),
])
def test_unreadable_files_are_a_result_not_a_crash(rubric, write, content, words, student):
    result = grade(rubric, write, content, name="bob.json")
    assert not result.readable and result.score == 0
    assert result.student_id == student
    assert [p.status for p in result.parts()] == ["missing"] * 4
    assert words in result.errors[0] and result.errors[0].startswith(str(write("bob.json", content)))


def test_numbers_keep_their_typed_digits(write):
    sub = read_answer_file(write("a.json", '{"student_id": "s", "answers": {"x": 0.050, "y": NaN, "z": 12}}'))
    assert sub.answers == {"x": Decimal("0.050"), "y": NonFinite("NaN"), "z": 12}
    assert isinstance(sub.answers["y"], NonFinite)


def test_duplicate_keys_and_wrong_assessment_are_flagged(rubric, write):
    result = grade(rubric, write, '{"student_id": "s1", "assessment_id": "other", "answers": {"q2": "A", "q2": "C"}}')
    assert by_part(result)["q2"].status == "correct"
    assert "'q2' appears more than once; the last value was used" in result.warnings
    assert "this file is for assessment 'other', but it was graded against 'mini'" in result.errors


def test_bad_student_id_falls_back_to_the_file_name(rubric, write):
    result = grade(rubric, write, {"student_id": 42, "answers": {}}, name="carol.json")
    assert result.student_id == "carol" and any("student_id must be" in e for e in result.errors)


def test_parallel_batch_matches_serial_and_survives_bad_files(rubric, write, tmp_path):
    files = []
    for i in range(12):
        files.append(write(f"batch/s{i:02}.json", json.dumps(answers(**{"q1.b": 13 if i % 2 else 12, "q2": "C"}))))
    files.append(write("batch/broken.json", "{nope"))
    serial = grade_files(rubric.source, files, jobs=1)
    seen = []
    parallel = grade_files(rubric.source, files, jobs=2, on_result=seen.append)
    assert len(seen) == len(parallel) == 13
    key = lambda r: r.source
    assert [r.score for r in sorted(serial, key=key)] == [r.score for r in sorted(parallel, key=key)]
    assert sum(not r.readable for r in parallel) == 1
    assert sorted(r.score for r in parallel if r.readable) == [1] * 6 + [2] * 6


def test_grade_file_reads_and_scores(rubric, write):
    result = grade_file(rubric, build_key(rubric), write("x.json", json.dumps(answers(q2="C"))))
    assert result.score == 1 and result.student_name == "Ada"


HOSTILE_EXPRESSIONS = [
    "__import__('os').system('touch /tmp/grader-expr-pwned')",
    "(1).__class__.__base__.__subclasses__()",
    "9**9**9**9",
    r"\frac{}{}",
    "",
    "x" * 1_000_000,
    "lambda: 0",
    "bad \udc80 bytes",
]


@pytest.mark.parametrize("attack", HOSTILE_EXPRESSIONS, ids=lambda a: a[:30])
def test_hostile_expressions_cost_only_their_part(write, attack):
    import time
    from pathlib import Path

    from tests.conftest import ROOT

    rubric = load_rubric(ROOT / "rubrics" / "dl-quiz.yaml")
    started = time.perf_counter()
    result = grade(rubric, write, answers(**{"q4.a": attack, "q3.c": 13}))
    assert time.perf_counter() - started < 10
    parts = by_part(result)
    assert parts["q4.a"].status == "invalid" and parts["q4.a"].auto_score == 0
    assert parts["q4.a"].criteria[0].message  # says what is wrong
    assert parts["q3.c"].status == "correct"
    assert not Path("/tmp/grader-expr-pwned").exists()
