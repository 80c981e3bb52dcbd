"""Rubric loading: real YAML files, and errors that name the file, the line and the field."""

import json
from pathlib import Path

import pytest

from grader.key import build_key
from grader.rubric import json_schema, load_rubric
from tests.conftest import ROOT, rubric_problems

GOOD = """\
id: mini
title: Mini quiz
questions:
  - id: q1
    parts:
      - id: q1.a
        prompt: parameter count
        kind: integer
        marks: 2
        answer: 13
      - id: q1.b
        marks: 5
        criteria:
          - {description: sizes of the six head matrices, marks: 3, field: heads, kind: vector, answer: [2, 2]}
          - {description: size of W_O, marks: 2, field: w_o, kind: vector, answer: [2, 4]}
  - id: q2
    parts:
      - {id: q2, kind: manual, marks: 4, prompt: essay}
"""


def problems(write, text):
    return rubric_problems(write("rubric.yaml", text))


def test_good_rubric_loads_with_criteria_and_manual_parts(write):
    rubric = load_rubric(write("rubric.yaml", GOOD))
    a = rubric.assessment
    assert a.total_marks == 11
    q1b = rubric.part_index["q1.b"][1]
    assert [c.id for c in q1b.items()] == ["heads", "w_o"] and q1b.total_marks == 5
    assert rubric.part_index["q2"][1].manual
    key = build_key(rubric)
    assert {(e.part, e.criterion): e.value for e in key.entries} == {
        ("q1.a", "answer"): 13, ("q1.b", "heads"): [2.0, 2.0], ("q1.b", "w_o"): [2.0, 4.0]}


def test_bundled_rubrics_are_valid():
    for path in sorted((ROOT / "rubrics").glob("*.yaml")):
        assert load_rubric(path).assessment.questions


def test_unknown_kind_names_file_line_and_field(write):
    found = problems(write, GOOD.replace("kind: integer", "kind: integr"))
    assert len(found) == 1
    assert found[0].startswith(f"{Path(write('x', '')).parent}/rubric.yaml:8: questions[0].parts[0].kind: unknown answer kind 'integr'")
    assert "known answer kinds:" in found[0] and "integer" in found[0]


def test_every_problem_is_reported_at_once(write):
    text = GOOD.replace("marks: 2\n", "marks: two\n").replace("answer: [2, 4]", "answer: [[2, 4]]")
    found = problems(write, text)
    assert any(":9: questions[0].parts[0].marks: " in p for p in found)


def test_answers_are_validated_against_their_kind(write):
    found = problems(write, GOOD.replace("answer: [2, 4]", "answer: [[2, 4]]"))
    assert len(found) == 1 and ":15: questions[0].parts[1].criteria[1].answer: answer must be a vector" in found[0]
    found = problems(write, GOOD.replace("answer: 13", "answer: thirteen"))
    assert ":10: questions[0].parts[0].answer: answer must be a whole number" in found[0]


def test_bad_options_name_the_option(write):
    found = problems(write, GOOD.replace("kind: integer", "kind: number\n        options: {rtol: -1}"))
    assert ":9: questions[0].parts[0].options.rtol:" in found[0] and "greater than or equal to 0" in found[0]
    found = problems(write, GOOD.replace("kind: integer", "kind: number\n        options: {tolerence: 0.1}"))
    assert "options.tolerence: Extra inputs are not permitted" in found[0]


@pytest.mark.parametrize("edit, expected", [
    (("marks: 5\n", "marks: 6\n"), "marks is 6 but its criteria add up to 5"),
    (("        marks: 2\n", ""), "a part needs marks"),
    (("        kind: integer\n", ""), "a part needs a kind (or criteria)"),
    (("id: q2, kind", "id: q1.a, kind"), "part id 'q1.a' is used twice"),
    (("- {id: q2, kind: manual, marks: 4, prompt: essay}", "- {id: q2, kind: manual, marks: 4, answer: 3}"),
     "a manual check takes no answer"),
    (("title: Mini quiz", "title: Mini quiz\nshow_answer: true"), "show_answer: Extra inputs are not permitted"),
    (("id: mini", "id: ../etc"), "String should match pattern"),
])
def test_structural_mistakes(write, edit, expected):
    found = problems(write, GOOD.replace(*edit))
    assert any(expected in p for p in found), found


def test_missing_fields_are_named(write):
    found = problems(write, "id: x\ntitle: t\n")
    assert found == [f"{write('rubric.yaml', 'x').parent}/rubric.yaml:1: questions: Field required"]


@pytest.mark.parametrize("text, expected", [
    ("id: [unclosed\n", "invalid YAML"),
    ("id: x\n  bad: indent: here\n", "invalid YAML"),
    ("", "the file is empty"),
    ("- just\n- a list\n", "a rubric is a mapping"),
    ("id: !!python/object/apply:os.system ['touch /tmp/grader-yaml-pwned']\n", "invalid YAML"),
])
def test_malformed_yaml(write, text, expected):
    found = problems(write, text)
    assert expected in found[0]
    assert not Path("/tmp/grader-yaml-pwned").exists()


def test_non_utf8_rubric(write):
    found = problems(write, b"id: caf\xe9\n")
    assert "not valid UTF-8" in found[0] and ":1:" in found[0]


def test_defaults_apply_per_kind_and_are_validated(write):
    rubric = load_rubric(write("rubric.yaml", "defaults:\n  vector: {rtol: 0.5}\n" + GOOD))
    comparator = rubric.comparators[("q1.b", "heads")]
    assert comparator.options.rtol == 0.5
    found = problems(write, "defaults:\n  vector: {rtol: nope}\n" + GOOD)
    assert ":2: defaults.vector.rtol:" in found[0]


def test_json_schema_describes_rubrics():
    schema = json_schema()
    assert schema["title"] == "grader rubric"
    assert "questions" in schema["required"]
    json.dumps(schema)


def test_bundled_rubrics_validate_against_the_published_schema():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    validator = jsonschema.Draft202012Validator(json_schema())
    for path in sorted((ROOT / "rubrics").glob("*.yaml")):
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == []
    broken = yaml.safe_load((ROOT / "rubrics" / "dl-quiz.yaml").read_text())
    broken["questions"][2]["parts"][2]["options"] = {"rtol": "loose"}  # q3.c: an integer part
    broken["questions"][3]["parts"][2]["criteria"][0]["options"] = {"rtol": "loose"}  # a number criterion
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("'loose' is not of type 'number'" in m for m in messages), messages


@pytest.mark.parametrize("content, words", [
    ("{ not json", "is not a grader-calibration/1 file: Invalid JSON"),
    ("", "is empty"),
    (b"\xff\xfe{}", r"is not UTF-8 text \(byte 0\)"),
    ('{"format": "grader-calibration/0"}', "format: Input should be 'grader-calibration/1', got 'grader-calibration/0'"),
    ('{"devices": {"cpu": {"losses": ["low"]}}}', r"devices.cpu.fingerprint: Field required; .* \(and 4 more\)"),
    ('{"devices": {"gpu": {}}}', "devices.gpu: Input should be 'cpu' or 'cuda', got 'gpu'"),
    ("[]", "Input should be an object"),
])
def test_a_broken_calibration_file_names_the_field_and_the_fix(write, content, words):
    from grader.program.calibration import CalibrationError, read_calibration

    path = write("r.calibration.json", content)
    with pytest.raises(CalibrationError, match=words) as info:
        read_calibration(path, "r.yaml")
    assert str(info.value).startswith(f"the calibration file {path} ")
    assert str(info.value).endswith("run `grader calibrate r.yaml` (with --device for each device it had) to write it afresh")


def test_a_non_finite_calibration_loss_is_refused(write):
    from grader.program.calibration import CalibrationError, read_calibration

    data = json.loads((ROOT / "rubrics" / "assignment1.calibration.json").read_text())
    data["devices"]["cpu"]["losses"][1] = float("nan")
    with pytest.raises(CalibrationError, match=r"devices.cpu.losses\[1\]: Input should be a finite number"):
        read_calibration(write("c.json", json.dumps(data)))


def test_grader_calibrate_replaces_a_broken_calibration_file(write):
    from grader.program.calibration import DeviceCalibration, read_calibration, write_calibration

    shipped = ROOT / "rubrics" / "assignment1.yaml"
    rubric = write("a1.yaml", shipped.read_text().replace("../assignments/", f"{ROOT}/assignments/"))
    broken = write("a1.calibration.json", "{ broken")
    assert "program: the calibration file" in rubric_problems(rubric)[0]
    assert load_rubric(rubric, calibrated=False).program is not None  # what `grader calibrate` loads
    entry = DeviceCalibration.model_validate(json.loads((ROOT / "rubrics" / "assignment1.calibration.json").read_text())
                                             ["devices"]["cpu"])
    write_calibration(broken, "cpu", entry)
    assert read_calibration(broken).devices["cpu"] == entry
