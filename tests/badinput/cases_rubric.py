"""Bad rubrics and hostile regular expressions: a rubric is refused (exit 3) with its file, line and
field and what to do, never a traceback, a hang or unbounded memory; a student answer can never
make an instructor's regex hang, and the rest of the submission is still scored.

Rubric cases run `check-rubric`, or `grade` on the dl-quiz sample answers (nothing is graded);
regex cases grade a small rubric whose regex part the student's answer attacks.
"""

from __future__ import annotations

import codecs
import json

from tests.badinput.framework import ROOT, Case

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
        kind: number
        marks: 1
        options: {rtol: 0.01}
        answer: 0.25
"""  # line 9 is q1.a's marks, line 14 q1.b's options


def edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def check(name: str, text: str | bytes, expect: list[str], exit: int = 3, seconds: float = 15) -> Case:
    return Case(name=f"rubric/{name}", argv=["check-rubric", "{tmp}/r.yaml"], files={"r.yaml": text},
                exit=exit, expect=expect, seconds=seconds)


def grade(name: str, text: str | bytes, expect: list[str], seconds: float = 15) -> Case:
    """A bad rubric given to `grade`: refused before anything is graded."""
    return Case(name=f"rubric/grade-{name}", files={"r.yaml": text}, exit=3, expect=expect, seconds=seconds,
                argv=["grade", "{tmp}/r.yaml", "{repo}/submissions/dl-quiz/s001-ada.json", "--out", "{tmp}/out"])


def bomb(levels: int, mapping: bool = False) -> str:
    """Billion laughs: each level's anchor holds nine aliases of the one before."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        items = ", ".join(f"k{i}: *{previous}" if mapping else f"*{previous}" for i in range(9))
        lines.append(f"{name}: &{name} {{{items}}}" if mapping else f"{name}: &{name} [{items}]")
    return "\n".join(lines) + "\n"


def chained_depth(levels: int, per_anchor: int = 40) -> str:
    """Anchors each nested `per_anchor` deep, each holding an alias of the one before: deep once expanded."""
    lines = []
    for level in range(levels):
        inner = f"*n{level - 1}" if level else "x"
        lines.append(f"k{level}: &n{level} " + "[" * per_anchor + inner + "]" * per_anchor)
    return "\n".join(lines) + "\n"


# The program rubric (rubrics/assignment1.yaml) copied beside a calibration file, its paths absolute.
PROGRAM_RUBRIC = (ROOT / "rubrics" / "assignment1.yaml").read_text(encoding="utf-8").replace(
    "../assignments/", f"{ROOT}/assignments/")
CALIBRATION = json.loads((ROOT / "rubrics" / "assignment1.calibration.json").read_text(encoding="utf-8"))


def calibration(name: str, content: str | bytes, expect: list[str]) -> Case:
    """A corrupt calibration file: the rubric is refused naming the file and field, and how to rewrite it."""
    return Case(name=f"rubric/calibration-{name}", argv=["check-rubric", "{tmp}/r.yaml"],
                files={"r.yaml": PROGRAM_RUBRIC, "r.calibration.json": content}, exit=3,
                expect=["r.calibration.json", "grader calibrate", *expect], seconds=40)


def calibration_with(**cpu) -> str:
    data = json.loads(json.dumps(CALIBRATION))
    data["devices"]["cpu"].update(cpu)
    return json.dumps(data)


REGEX_RUBRIC = """\
id: regex-quiz
title: Regex quiz
questions:
  - id: q1
    parts:
      - {{id: q1.a, kind: text, marks: 2, options: {{match: regex}}, answer: {pattern}}}
      - {{id: q1.b, kind: integer, marks: 1, answer: 13}}
"""


def regex(name: str, pattern: str, answer: str, total: float, seconds: float = 20) -> Case:
    """An instructor's regex prone to catastrophic backtracking against a student answer built to
    trigger it: graded in linear time, the regex part scored, the other part kept."""
    answers = {"format": "grader-answers/1", "student_id": "s1", "assessment_id": "regex-quiz",
               "answers": {"q1.a": answer, "q1.b": 13}}
    return Case(name=f"rubric/regex-{name}", argv=["grade", "{tmp}/r.yaml", "{tmp}/s1.json", "--out", "{tmp}/out"],
                files={"r.yaml": REGEX_RUBRIC.format(pattern=json.dumps(pattern)), "s1.json": json.dumps(answers)},
                exit=0, graded={"s1": total}, expect=["s1"], seconds=seconds)


def regex_refused(name: str, pattern: str, expect: list[str]) -> Case:
    return check(f"regex-{name}", REGEX_RUBRIC.format(pattern=json.dumps(pattern)), ["r.yaml:6", "questions[0].parts[0].answer", *expect])


CASES: list[Case] = [
    # 1. aliases: expansion is bounded while composing, at the alias that crosses the budget
    check("alias-bomb", bomb(9), ["r.yaml:6", "alias *e", "100,000", "aliases expanded"]),
    check("alias-bomb-mappings", bomb(9, mapping=True), ["r.yaml:6", "alias *e", "100,000"]),
    grade("alias-bomb", GOOD + bomb(9), ["r.yaml:21", "alias *e", "100,000"]),
    check("alias-bomb-in-options", bomb(5) + edit("options: {rtol: 0.01}", "options: {rtol: 0.01, accept: [*d, *e, *e]}"),
          ["r.yaml:19", "alias *e", "questions[0].parts[1].options.accept[1]", "100,000"]),
    check("alias-recursive-list", edit("answer: 13", "answer: &loop [1, *loop]"), ["r.yaml:10", "inside its own anchor"]),
    check("alias-recursive-mapping", edit("options: {rtol: 0.01}", "options: &o {rtol: 0.01, again: *o}"),
          ["r.yaml:14", "questions[0].parts[1].options.again", "infinite"]),
    check("alias-undefined", edit("answer: 13", "answer: *nowhere"), ["r.yaml:10", "undefined alias"]),
    # 2. depth: refused before any recursion, also where aliases nest deep only once expanded
    check("deep-flow-lists", "id: " + "[" * 1000 + "]" * 1000 + "\n", ["r.yaml:1", "more than 64 levels"]),
    check("deep-flow-mappings", "id: " + "{a: " * 500 + "1" + "}" * 500 + "\n", ["r.yaml:1", "more than 64 levels"]),
    check("deep-block-lists", "id: x\nquestions:\n" + "- " * 400 + "x\n", ["r.yaml:3", "more than 64 levels"]),
    grade("deep-in-answer", edit("answer: 13", "answer: " + "[" * 2000 + "13" + "]" * 2000),
          ["r.yaml:10", "questions[0].parts[0].answer", "64 levels"]),
    check("deep-through-aliases", chained_depth(5), ["r.yaml:2", "alias *n0", "64 levels"]),
    # 3. size
    check("huge-file", "id: x\ntitle: \"" + "x" * 1_200_000 + "\"\n", ["r.yaml", "over 1,000,000 bytes"]),
    check("too-many-values", "id: x\nextra: [" + "1, " * 110_000 + "1]\n", ["r.yaml:2", "more than 100,000 values"],
          seconds=40),
    check("huge-id", edit("id: q1.a", "id: " + "q" * 500_000), ["r.yaml:6", "questions[0].parts[0].id", "at most 64"]),
    # 4. a key given twice is an error naming both lines
    check("duplicate-marks", edit("marks: 2\n", "marks: 1\n        marks: 5\n"),
          ["r.yaml:10", "questions[0].parts[0].marks", "key 'marks' appears twice (lines 9 and 10)"]),
    check("duplicate-questions", GOOD + "questions: []\n", ["r.yaml:16", "key 'questions' appears twice (lines 3 and 16)"]),
    check("duplicate-in-flow-mapping", edit("options: {rtol: 0.01}", "options: {rtol: 0.01, rtol: 0.5}"),
          ["r.yaml:14", "options.rtol", "appears twice"]),
    check("duplicate-equal-keys", edit("options: {rtol: 0.01}", "options: {rtol: 0.01, definitions: {1: a, 0x1: b}}"),
          ["r.yaml:14", "appears twice"]),
    grade("duplicate-id", edit("      - id: q1.a\n", "      - id: q1.a\n        id: q1.z\n"),
          ["r.yaml:7", "key 'id' appears twice (lines 6 and 7)"]),
    # 5. non-finite numbers anywhere, and marks that keep totals finite
    check("marks-inf", edit("marks: 2\n", "marks: .inf\n"), ["r.yaml:9", "questions[0].parts[0].marks",
                                                              "must be a finite number, got .inf"]),
    check("marks-nan", edit("marks: 2\n", "marks: .NaN\n"), ["r.yaml:9", "must be a finite number, got .NaN"]),
    check("criterion-marks-minus-inf", edit("        kind: number\n        marks: 1\n        options: {rtol: 0.01}\n        answer: 0.25\n",
                                            "        criteria:\n          - {description: d, marks: -.inf, kind: number, answer: 1}\n"),
          ["r.yaml:13", "criteria[0].marks", "finite number, got -.inf"]),
    check("tolerance-inf", edit("rtol: 0.01", "rtol: .inf"), ["r.yaml:14", "options.rtol", "finite number, got .inf"]),
    check("answer-nan", edit("answer: 0.25", "answer: .nan"), ["r.yaml:15", "questions[0].parts[1].answer", "finite number"]),
    check("vector-answer-inf", edit("kind: number\n", "kind: vector\n").replace("answer: 0.25", "answer: [1, -.inf]"),
          ["r.yaml:15", "answer[1]", "finite number"]),
    check("defaults-inf", "defaults: {number: {rtol: .inf}}\n" + GOOD, ["r.yaml:1", "defaults.number.rtol", "finite"]),
    check("follow-through-nan", "follow_through: .nan\n" + GOOD, ["r.yaml:1", "follow_through", "finite number"]),
    check("solver-params-inf", "solvers:\n  s: {solver: softmax, params: {logits: [1, .inf]}}\n" + GOOD,
          ["r.yaml:2", "solvers.s.params.logits[1]", "finite number, got .inf"]),
    check("marks-string-inf", edit("marks: 2\n", "marks: 'inf'\n"), ["r.yaml:9", "marks", "finite number"]),
    check("marks-1e400", edit("marks: 2\n", "marks: 1e400\n"), ["r.yaml:9", "marks", "finite number"]),
    grade("marks-huge", edit("marks: 2\n", "marks: 1.0e+300\n"), ["r.yaml:9", "marks", "less than or equal to 1000000"]),
    # 6. regular expressions: linear-time matching whatever the student writes; bad patterns refused at load
    regex("nested-plus", "(a+)+$", "a" * 40 + "!", 1.0),
    regex("nested-plus-matching", "(a+)+", "a" * 900, 3.0),
    regex("alternation", "(a|aa)+", "a" * 999 + "b", 1.0),
    regex("repeated-dot-star", "(.*a){20}", "a" * 60 + "!", 1.0),
    regex("words", r"(\w+\s?)+$", "word " * 150 + "!", 1.0),
    regex("owasp", r"^(([a-z])+.)+[A-Z]([a-z])+$", "a" * 500 + "!", 1.0),
    regex("email", r"([a-zA-Z0-9])(([\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))",
          "a" * 300 + "!", 1.0),
    regex("case-insensitive", "(YES ?)+it is CONVEX", "Yes yes YES it is convex", 3.0),
    regex_refused("huge-repeat", "a{4294967296}", ["repeats {4294967296} times", "up to 1000"]),
    regex_refused("repeat-1001", "x{2,1001}", ["repeats {2,1001} times"]),
    regex_refused("backreference", r"(a)\1", ["not a valid regular expression", "backreferences"]),
    regex_refused("lookbehind", r"(?<=a)b", ["not a valid regular expression", "lookaround"]),
    regex_refused("unclosed", "(unclosed", ["missing )"]),
    regex_refused("too-long", "ab" * 600, ["1,200 characters long", "at most 1000 are accepted"]),
    regex_refused("too-large", r"\pL{1000}", ["pattern too large", "smaller repeat counts"]),
    # 7. a corrupt calibration file
    calibration("not-json", "{ this is not json", ["invalid json"]),
    calibration("empty", "", ["is empty"]),
    calibration("not-utf8", b"\xff\xfe{}", ["not utf-8"]),
    calibration("wrong-format", json.dumps({**CALIBRATION, "format": "grader-calibration/0"}),
                ["format: input should be 'grader-calibration/1', got 'grader-calibration/0'"]),
    calibration("wrong-type", calibration_with(losses=["low", 1.0, 1.0]), ["devices.cpu.losses[0]", "valid number"]),
    calibration("nan-loss", calibration_with(losses=[float("nan"), 1.0, 1.0]),
                ["devices.cpu.losses[0]", "finite number"]),
    calibration("unknown-device", json.dumps({"format": "grader-calibration/1", "devices": {"gpu": {}}}),
                ["devices.gpu", "'cpu' or 'cuda'"]),
    calibration("a-list", "[]", ["input should be an object"]),
    # 8. wrong types, encodings, tags and everything else a hostile rubric holds
    check("root-list", "- just\n- a list\n", ["r.yaml:1", "a rubric is a mapping"]),
    check("root-scalar", "hello\n", ["r.yaml:1", "a rubric is a mapping"]),
    check("questions-mapping", "id: x\nquestions:\n  q1: {id: q1}\n", ["r.yaml:2", "questions", "valid list"]),
    check("parts-string", "id: x\nquestions:\n  - id: q\n    parts: hello\n", ["r.yaml:4", "questions[0].parts", "valid list"]),
    check("options-list", edit("options: {rtol: 0.01}", "options: [rtol, 0.01]"),
          ["r.yaml:14", "questions[0].parts[1].options", "valid dictionary"]),
    check("marks-list", edit("marks: 2\n", "marks: [2]\n"), ["r.yaml:9", "questions[0].parts[0].marks", "valid number"]),
    check("solvers-list", "solvers: [softmax]\n" + GOOD, ["r.yaml:1", "solvers", "valid dictionary"]),
    check("id-control-character", edit("id: q1.a", 'id: "q1\\ea"'), ["r.yaml:6", "questions[0].parts[0].id", "pattern"]),
    check("key-escape-sequence", edit("prompt: parameter count", 'prompt: parameter count\n        "\\e[2J": 1'),
          ["r.yaml:8", "\\x1b[2j", "extra inputs"]),
    check("python-tag", "id: !!python/object/apply:os.system ['touch /tmp/grader-pwned']\n",
          ["r.yaml:1", "could not determine a constructor"]),
    check("binary-garbage", bytes(range(256)) * 8, ["r.yaml", "not valid utf-8"]),
    check("utf16-with-bom", codecs.BOM_UTF16_LE + GOOD.encode("utf-16-le"), ["r.yaml", "utf-16", "save it as utf-8"]),
    check("utf16-without-bom", GOOD.encode("utf-16-le"), ["r.yaml:1", "nul byte"]),
    check("utf8-bom-is-fine", codecs.BOM_UTF8 + GOOD.encode(), ["ok: mini"], exit=0),
    check("control-character", edit("title: Mini quiz", "title: Mini \x1b[2J quiz"), ["r.yaml:2", "#x001b is not allowed"]),
    check("huge-integer", edit("answer: 13", "answer: " + "9" * 5000), ["r.yaml:10", "cannot read this int value"]),
    check("impossible-date", edit("answer: 13", "answer: 2024-13-45"), ["r.yaml:10", "cannot read this timestamp value"]),
    check("bad-bool-tag", edit("answer: 13", "answer: !!bool maybe"), ["r.yaml:10", "cannot read this bool value"]),
    check("unhashable-key", "? [a, b]\n: 1\n", ["r.yaml:1", "unhashable key"]),
    check("two-documents", GOOD + "---\nid: other\n", ["r.yaml:16", "single document"]),
    check("empty", "", ["r.yaml", "the file is empty"]),
    check("only-comments", "# nothing here\n\n", ["r.yaml", "the file is empty"]),
    check("tabs", "id: x\n\tquestions: []\n", ["r.yaml:", "invalid yaml"]),
    check("schema-version", "schema_version: 2\n" + GOOD, ["r.yaml:1", "schema_version"]),
    check("expression-too-deep", edit("kind: integer\n", "kind: expression\n        options: {variables: [x]}\n")
          .replace("answer: 13", "answer: '" + "(" * 300 + "x" + ")" * 300 + "'"), ["r.yaml:", "questions[0].parts[0]"]),
    check("solver-crash", "solvers:\n  s:\n    solver: threshold_metrics\n    params: {scores: [0.9, 0.1], labels: [1, 0], "
          "thresholds: [0.5, 0.5]}\n" + GOOD, ["r.yaml:4", "solvers.s.params"]),
    grade("solver-crash-model-size", "solvers:\n  s:\n    solver: model_size\n    params:\n      layers: "
          "[{type: linear, in_features: 2, out_features: 3}]\n      input_shape: []\n" + GOOD, ["r.yaml:", "solvers.s.params"]),
]
