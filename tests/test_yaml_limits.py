"""Hostile rubric YAML: bounded in size, depth and alias expansion, and strict about repeated keys,
non-finite numbers and values the safe loader cannot build; every failure is a problem with its
file, line and field, never a traceback."""

import time

import pytest

from grader import rubric as rubric_module
from grader import yamlsource
from grader.errors import RubricError
from grader.rubric import load_rubric
from grader.yamlsource import load_yaml
from tests.conftest import rubric_problems
from tests.test_rubric import GOOD


def yaml_problems(write, text) -> list[str]:
    with pytest.raises(RubricError) as info:
        load_yaml(write("r.yaml", text))
    return [str(p) for p in info.value.problems]


def bomb(levels: int) -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_the_alias_in_bounded_time(write):
    started = time.perf_counter()
    found = yaml_problems(write, bomb(9))
    assert time.perf_counter() - started < 2
    assert found == [f"{write('x', '').parent}/r.yaml:6: f[0]: alias *e repeats 66,430 values, taking the rubric past "
                     "100,000 with its aliases expanded (each use of an alias copies its anchor's whole content); "
                     "use aliases for small shared options only"]


def test_the_value_budget_counts_plain_values_too(write, monkeypatch):
    monkeypatch.setattr(yamlsource, "MAX_NODES", 1000)
    found = yaml_problems(write, "a: [" + "1, " * 2000 + "1]\n")
    assert ":1: a[997]: the rubric holds more than 1,000 values" in found[0]  # the root, a, its list, 998 items


def test_small_shared_aliases_and_merge_keys_still_load(write):
    data, where = load_yaml(write("r.yaml", "base: &base {rtol: 0.1, atol: 0}\nx: {<<: *base, atol: 1}\ny: [*base, *base]\n"))
    assert data["x"] == {"rtol": 0.1, "atol": 1} and data["y"] == [data["base"]] * 2
    assert where.line(("x", "rtol")) == 1  # a merged key keeps the line it is written on


@pytest.mark.parametrize("text, expected", [
    ("a: &a [1, *a]\n", ":1: a[1]: alias *a is used inside its own anchor &a"),
    ("a: &a {b: {c: *a}}\n", ":1: a.b.c: alias *a is used inside its own anchor &a"),
])
def test_recursive_aliases_are_refused(write, text, expected):
    assert expected in yaml_problems(write, text)[0]


@pytest.mark.parametrize("text", [
    "a: " + "[" * 1000 + "]" * 1000 + "\n",
    "a: " + "{b: " * 1000 + "1" + "}" * 1000 + "\n",
    "- " * 300 + "x\n",
    "? " * 300 + "x\n",  # keys nested in keys
])
def test_nesting_is_bounded_before_anything_recurses(write, text):
    assert "nested more than 64 levels deep" in yaml_problems(write, text)[0]


def test_nesting_through_aliases_is_bounded(write):
    text = "".join(f"k{i}: &n{i} " + "[" * 40 + (f"*n{i - 1}" if i else "x") + "]" * 40 + "\n" for i in range(3))
    found = yaml_problems(write, text)[0]
    assert ":2: k1[0]" in found and "alias *n0 nests its content more than 64 levels deep" in found


def test_size_is_bounded(write):
    found = yaml_problems(write, "a: '" + "x" * 1_000_001 + "'\n")
    assert found[0].endswith("r.yaml: the file is over 1,000,000 bytes; a rubric is far smaller: is this the right file?")


def test_a_repeated_key_names_both_lines(write):
    found = rubric_problems(write("r.yaml", GOOD.replace("marks: 2\n", "marks: 1\n        marks: 5\n")))
    assert found == [f"{write('x', '').parent}/r.yaml:10: questions[0].parts[0].marks: key 'marks' appears twice "
                     "(lines 9 and 10); keep one"]


@pytest.mark.parametrize("text, expected", [
    ("a: {x: 1, x: 2}\n", ":1: a.x: key 'x' appears twice (lines 1 and 1)"),
    ("a:\n  1: one\n  0x1: also one\n", ":3: a.0x1: key '0x1' appears twice (lines 2 and 3)"),
    ("yes: 1\ntrue: 2\n", ":2: true: key 'true' appears twice"),
])
def test_keys_that_build_the_same_value_are_repeated_keys(write, text, expected):
    assert expected in yaml_problems(write, text)[0]


@pytest.mark.parametrize("edit, expected", [
    (("marks: 2\n", "marks: .inf\n"), ":9: questions[0].parts[0].marks: must be a finite number, got .inf"),
    (("marks: 2\n", "marks: -.Inf\n"), ":9: questions[0].parts[0].marks: must be a finite number, got -.Inf"),
    (("marks: 2\n", "marks: .nan\n"), ":9: questions[0].parts[0].marks: must be a finite number, got .nan"),
    (("answer: [2, 4]", "answer: [2, .nan]"), ":15: questions[0].parts[1].criteria[1].answer[1]: must be a finite"),
    (("kind: integer", "kind: number\n        options: {rtol: .inf}"), ":9: questions[0].parts[0].options.rtol: must"),
    (("kind: integer", "kind: number\n        options: {rtol: 'inf'}"), ":9: questions[0].parts[0].options.rtol: must"),
    (("marks: 2\n", "marks: 'nan'\n"), ":9: questions[0].parts[0].marks: Input should be a finite number"),
    (("marks: 2\n", "marks: 1e400\n"), ":9: questions[0].parts[0].marks: Input should be a finite number"),
    (("marks: 2\n", "marks: 2000000\n"), ":9: questions[0].parts[0].marks: Input should be less than or equal to 1000000"),
])
def test_numbers_are_finite_and_marks_bounded(write, edit, expected):
    found = rubric_problems(write("r.yaml", GOOD.replace(*edit)))
    assert any(expected in p for p in found), found


def test_solver_parameters_are_finite(write):
    text = "solvers:\n  s: {solver: softmax, params: {logits: [1, 'inf']}}\n" + GOOD
    assert ":2: solvers.s.params.logits[1]: " in rubric_problems(write("r.yaml", text))[0]


@pytest.mark.parametrize("edit, expected", [
    ("9" * 5000, ":10: questions[0].parts[0].answer: invalid YAML: cannot read this int value: Exceeds the limit"),
    ("2024-13-45", ":10: questions[0].parts[0].answer: invalid YAML: cannot read this timestamp value: month"),
    ("!!bool maybe", ":10: questions[0].parts[0].answer: invalid YAML: cannot read this bool value"),
    ("!!float abc", ":10: questions[0].parts[0].answer: invalid YAML: cannot read this float value"),
    ("!!python/name:os.system", ":10: questions[0].parts[0].answer: invalid YAML: could not determine a constructor"),
])
def test_values_the_safe_loader_cannot_build_are_placed(write, edit, expected):
    found = rubric_problems(write("r.yaml", GOOD.replace("answer: 13", f"answer: {edit}")))
    assert expected in found[0], found


@pytest.mark.parametrize("raw, expected", [
    (b"\xff\xfei\x00d\x00", "r.yaml: the file is UTF-16 text; save it as UTF-8"),
    ("id: x\n".encode("utf-16-le"), "r.yaml:1: invalid YAML: character #x0000 is not allowed (a NUL byte"),
    (b"id: x\ntitle: a\x1b[2Jb\n", "r.yaml:2: invalid YAML: character #x001b is not allowed"),
    (bytes(range(256)), "not valid UTF-8 (byte 128); save it as UTF-8"),
])
def test_encodings_and_control_characters(write, raw, expected):
    assert expected in yaml_problems(write, raw)[0]


def test_a_utf8_byte_order_mark_is_fine(write):
    assert load_rubric(write("r.yaml", b"\xef\xbb\xbf" + GOOD.encode())).assessment.id == "mini"


def test_a_key_with_an_escape_sequence_is_shown_escaped(write):
    found = rubric_problems(write("r.yaml", GOOD.replace("title: Mini quiz", 'title: Mini quiz\n"\\e[2J": 1')))
    assert any(":3: '\\x1b[2J': Extra inputs are not permitted" in p for p in found), found


def test_unexpected_errors_become_problems_at_their_field(write, monkeypatch):
    import reference

    softmax = reference.get("softmax")
    monkeypatch.setattr(softmax, "solve", lambda self: {}["boom"])
    found = rubric_problems(write("r.yaml", "solvers:\n  s: {solver: softmax, params: {logits: [1, 2]}}\n" + GOOD))
    assert ":2: solvers.s.params: the softmax solver failed: unexpected KeyError: 'boom'" in found[0]

    def deep(*args):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(rubric_module, "_compile", deep)
    assert rubric_problems(write("r.yaml", GOOD))[0].endswith("r.yaml: nested too deeply to check; flatten it")
