"""Bad answer files: values that must cost only their own part, files that must cost only
themselves, and text that must reach terminals and spreadsheets inert.

Every batch holds a good file (student `good`, 9 automatic marks of the dl-quiz) beside the bad
one, graded on the single-process path (`--jobs 1`) unless a case says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.badinput.framework import GOOD_ANSWERS, QUIZ, Case, ensure

GOOD = json.loads(GOOD_ANSWERS)
FULL = 9.0  # the quiz's automatic marks
MARKS = {"q5.a": 1.0, "q3.c": 1.0, "q4.a": 1.0, "q5.b": 1.0, "q5.c": 1.0, "q3.d": 0.5, "q6": 1.0, "q8": 1.0, "q4.c": 1.5}


def answers_with(part: str, raw_json: str, student: str = "bad") -> str:
    """The good answers with one part's value replaced by `raw_json`, written verbatim."""
    data = {**GOOD, "student_id": student, "answers": {**GOOD["answers"], part: "@@VALUE@@"}}
    return json.dumps(data, indent=1).replace('"@@VALUE@@"', raw_json)


def file_with(**fields) -> str:
    return json.dumps({**GOOD, **fields}, indent=1)


def batch(name: str, bad: str | bytes, *, expect: list[str], bad_total: float | None, jobs: str = "1",
          bad_name: str = "bad.json", student: str = "bad", exit: int = 0, extra: list[str] = (),
          seconds: float = 20.0, check=None) -> Case:
    graded = {"good": FULL} | ({student: bad_total} if bad_total is not None else {})
    return Case(name=f"answers/{name}", argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", jobs, *extra],
                files={f"subs/{bad_name}": bad, "subs/good.json": file_with(student_id="good")},
                exit=exit, expect=expect, graded=graded, seconds=seconds, check=check)


def value(name: str, part: str, raw_json: str, expect: list[str], jobs: str = "1", lost: float | None = None) -> Case:
    """A poisoned value in one part: that part scores 0 with a message, every other part keeps its marks."""
    return batch(name, answers_with(part, raw_json), expect=expect, bad_total=FULL - (lost if lost is not None else MARKS[part]),
                 jobs=jobs)


def deep_list(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def no_raw_control(folder: Path, output: str) -> None:
    """No escape, NUL or newline from a submission reaches the terminal or gradebook.csv raw."""
    assert "\x1b" not in output and "\x00" not in output, "a control character reached the terminal"
    gradebook = (folder / "out" / "gradebook.csv").read_bytes()
    assert b"\x1b" not in gradebook and b"\x00" not in gradebook
    assert all(line.count(b",") >= 8 for line in gradebook.splitlines()), "a newline split a gradebook row"


def strict_json(path: Path) -> None:
    """A results.json is strict JSON (no NaN or Infinity), as Gradescope parses it."""
    def refuse(constant: str):
        raise AssertionError(f"{path} holds {constant}")

    json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


POISONS = [
    # numbers the reader or a comparator cannot hold
    ("exponent-overflow", "q3.c", "1e9999999999999999999", ["out of the range"]),
    ("exponent-overflow-negative", "q3.c", "-1e9999999999999999999", ["out of the range"]),
    ("exponent-underflow", "q3.c", "1e-9999999999999999999", ["out of the range"]),
    ("float-1e400", "q6", '{"sigmoid_max": 1e400, "relu": 1e400}', ["out of the range"]),
    ("nan-literal", "q3.c", "NaN", ["not a finite number"]),
    ("infinity-literal", "q3.c", "Infinity", ["not a finite number"]),
    ("minus-infinity-in-vector", "q5.b", "[6.4, -Infinity, 0.9, 0.3, 0.1]", ["not a finite number"]),
    ("integer-5000-digits", "q3.c", "1" * 5000, ["more than 60 digits"]),
    ("integer-100000-digits", "q3.c", "7" * 100_000, ["more than 60 digits"]),
    ("decimal-100000-digits", "q6", '{"sigmoid_max": 0.' + "2" * 100_000 + ', "relu": 1}', ["q6"], 0.5),
    ("number-as-string-huge-exponent", "q3.c", '"1e99999999999999999999999"', ["within the range"]),
    # structure the renderers and comparators must not recurse into without bound
    ("nested-list-980", "q5.b", deep_list(980), ["nested"]),
    ("nested-list-in-field-900", "q5.a", '{"p": ' + deep_list(900) + ', "token": "a"}', ["nested"]),
    ("nested-object-900", "q3.d", '{"verdict": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}", ["nested"], 0.5),
    ("vector-of-a-million", "q5.b", "[" + ", ".join(["0.5"] * 1_000_000) + "]", ["more than 20000 values"]),
    ("vector-of-strings", "q5.b", '["a", "b", "c", "d", "e"]', ["q5.b"]),
    ("vector-of-objects", "q5.c", '[{}, {}, {}, {}, {}]', ["q5.c"]),
    ("vector-as-object", "q5.b", '{"0": 6.4}', ["q5.b"]),
    ("object-where-number", "q3.c", '{"value": 13}', ["q3.c"]),
    ("list-where-choice", "q3.d", '{"verdict": ["yes", "no"], "justification": "x"}', ["q3.d"], 0.5),
    ("number-where-choice", "q3.d", '{"verdict": 1, "justification": "x"}', ["q3.d"], 0.5),
    ("bool-where-number", "q3.c", "true", ["true/false"]),
    ("null-where-number", "q3.c", "null", ["null"]),
    ("empty-string-number", "q3.c", '""', ["empty"]),
    ("string-a-megabyte", "q3.c", json.dumps("9" * 1_000_000), ["characters long"]),
    ("lone-surrogate", "q3.c", '"\\ud800"', ["UTF-8"]),
    ("nul-in-number", "q3.c", '"13\\u0000"', ["q3.c"]),
    ("comma-decimal", "q6", '{"sigmoid_max": "0,25", "relu": 1}', ["comma"], 0.5),
    # expressions: parsed by the whitelist grammar, bounded in time and size
    ("expression-code-injection", "q4.a", json.dumps("__import__('os').system('touch /tmp/grader-pwned')"), ["q4.a"]),
    ("expression-dunder", "q4.a", json.dumps("().__class__.__bases__[0].__subclasses__()"), ["q4.a"]),
    ("expression-power-tower", "q4.a", json.dumps("9**9**9**9"), ["q4.a"]),
    ("expression-factorial", "q4.a", json.dumps("factorial(10**9)"), ["q4.a"]),
    ("expression-parentheses-10k", "q4.a", json.dumps("(" * 10_000 + "z" + ")" * 10_000), ["q4.a"]),
    ("expression-a-megabyte", "q4.a", json.dumps("z+" * 500_000 + "z"), ["q4.a"]),
    ("expression-cyrillic-a", "q4.a", json.dumps("1 - t\u0430nh(z)^2"), ["look-alike", "U+0430"]),
    ("expression-greek-omicron", "q4.a", json.dumps("1 - tanh(z)^2 + c\u03bfs(0) - 1"), ["look-alike"]),
    ("expression-latex-nested-frac", "q4.a", json.dumps("\\frac{" * 400 + "1" + "}{2}" * 400), ["q4.a"]),
    ("expression-nul", "q4.a", json.dumps("1 - tanh(z)\u0000^2"), ["q4.a"]),
    ("expression-number", "q4.a", "12", ["q4.a"]),
    ("expression-list", "q4.a", '["1", "-", "tanh"]', ["q4.a"]),
]

CASES = [value(name, part, raw, expect, lost=lost[0] if lost else None) for name, part, raw, expect, *lost in POISONS]

# the same poisons, all in one batch on the pool path: each file keeps its other parts there too
CASES.append(Case(
    name="answers/pool-path-keeps-other-parts",
    argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", "2"],
    files={"subs/good.json": file_with(student_id="good"),
           "subs/overflow.json": answers_with("q3.c", "1e9999999999999999999", "overflow"),
           "subs/deep.json": answers_with("q5.b", deep_list(980), "deep"),
           "subs/nan.json": answers_with("q3.c", "NaN", "nan")},
    graded={"good": FULL, "overflow": FULL - 1, "deep": FULL - 1, "nan": FULL - 1}, seconds=40))

CASES.append(Case(
    name="answers/gradescope-single-file-poisoned",
    argv=["grade", QUIZ, "{tmp}/bad.json", "--out", "{tmp}/out", "--gradescope", "{tmp}/results/results.json"],
    files={"bad.json": answers_with("q5.b", deep_list(980))},
    check=lambda folder, output: ensure(json.loads((folder / "results" / "results.json").read_text())["score"] == FULL - 1,
                                        "the Gradescope score lost more than the poisoned part")))

CASES.append(Case(
    name="answers/gradescope-results-are-strict-json",
    argv=["grade", QUIZ, "{tmp}/bad.json", "--out", "{tmp}/out", "--gradescope", "{tmp}/gs.json"],
    files={"bad.json": answers_with("q6", '{"sigmoid_max": NaN, "relu": Infinity}')},
    check=lambda folder, output: strict_json(folder / "gs.json")))

# whole files: unreadable ones are graded 0 with the reason, readable oddities fully; the batch goes on
BAD = file_with(student_id="bad")
FILES = [
    ("empty", b"", ["empty"], 0.0),
    ("whitespace-only", b"  \n\t\n", ["empty"], 0.0),
    ("utf16-le-bom", BAD.encode("utf-16"), ["UTF-16"], FULL),
    ("utf16-be-no-bom", BAD.encode("utf-16-be"), ["UTF-16"], FULL),
    ("utf16-le-no-bom", BAD.encode("utf-16-le"), ["UTF-16"], FULL),
    ("utf32", BAD.encode("utf-32"), ["UTF-32"], FULL),
    ("latin1-name", BAD.replace("Ada Lovelace", "Ad\u00e9").encode("latin-1"), ["not valid UTF-8"], FULL),
    ("png-bytes", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, ["not valid JSON"], 0.0),
    ("zip-bytes", b"PK\x03\x04" + b"\x00" * 300, ["not valid JSON"], 0.0),
    ("truncated", BAD[: len(BAD) // 2].encode(), ["line", "column"], 0.0),
    ("json-array", b'[1, 2, 3]', ["JSON object"], 0.0),
    ("json-string", b'"answers"', ["JSON object"], 0.0),
    ("json-null", b"null", ["JSON object"], 0.0),
    ("answers-a-list", file_with(student_id="bad", answers=[1, 2]).encode(), ["answers"], 0.0),
    ("answers-null", file_with(student_id="bad", answers=None).encode(), ["answers"], 0.0),
    ("no-answers", json.dumps({"student_id": "bad"}).encode(), ["answers"], 0.0),
    ("nested-5000", ("[" * 5000 + "]" * 5000).encode(), ["nested"], 0.0),
    ("over-the-size-limit", lambda: b'{"answers": {"q1": "' + b"x" * (6 * 1024 * 1024) + b'"}}', ["bytes"], 0.0),
    ("python-literal", b"{'student_id': 'bad', 'answers': {}}", ["not valid JSON"], 0.0),
    ("trailing-garbage", (BAD + "\n}}}").encode(), ["not valid JSON"], 0.0),
    ("ten-thousand-unknown-parts", json.dumps({**GOOD, "student_id": "bad", "answers": {
        **GOOD["answers"], **{f"x{i}": i for i in range(10_000)}}}).encode(), ["9990 more"], FULL),
]
CASES += [batch(f"file-{name}", content, expect=expect, bad_total=total) for name, content, expect, total in FILES]

# text from a submission reaches terminals and spreadsheets inert
IDS = [
    ("id-rich-closing-tag", "[/]"),
    ("id-rich-style", "[bold red]x"),
    ("id-rich-link", "[link=file:///etc/passwd]click[/link]"),
    ("id-escape-clear-screen", "\x1b[2Jbad"),
    ("id-escape-title", "\x1b]0;pwned\x07bad"),
    ("id-newline", "bad\nforged,9,9,9"),
    ("id-carriage-return", "bad\rgood"),
    ("id-nul", "bad\x00x"),
    ("id-bidi-override", "bad\u202egnp.exe"),
    ("id-formula", "=HYPERLINK(\"http://x\")"),
]
for name, sid in IDS:
    CASES.append(Case(
        name=f"answers/{name}", argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", "1"],
        files={"subs/bad.json": file_with(student_id=sid), "subs/good.json": file_with(student_id="good")},
        graded={"good": FULL}, check=no_raw_control))
CASES.append(Case(
    name="answers/unknown-part-ids-with-markup-and-escapes",
    argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", "1"],
    files={"subs/bad.json": json.dumps({**GOOD, "student_id": "bad",
                                        "answers": {**GOOD["answers"], "[/]": 1, "[bold]q9": 2, "\x1b[2J": 3, "q\n1": 4}}),
           "subs/good.json": file_with(student_id="good")},
    graded={"good": FULL, "bad": FULL}, expect=["unknown part"], check=no_raw_control))
CASES.append(Case(
    name="answers/name-and-source-inert-in-csv",
    argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", "1"],
    files={"subs/=cmd.json": file_with(student_id="bad", student_name="@SUM(1+1)\n=2+3\x1b[31m"),
           "subs/good.json": file_with(student_id="good")},
    graded={"good": FULL, "bad": FULL}, check=no_raw_control))
CASES.append(Case(
    name="answers/duplicate-keys-warned",
    argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", "1"],
    files={"subs/bad.json": GOOD_ANSWERS.replace('"answers": {', '"answers": {"q3.c": 99, ', 1).replace('"s001"', '"bad"'),
           "subs/good.json": file_with(student_id="good")},
    expect=["more than once"], graded={"good": FULL, "bad": FULL}))
CASES.append(Case(
    name="answers/student-id-not-text",
    argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", "1"],
    files={"subs/bad.json": file_with(student_id=12345), "subs/good.json": file_with(student_id="good")},
    expect=["student_id must be"], graded={"good": FULL, "bad": FULL}))
CASES.append(Case(
    name="answers/student-id-ten-thousand-characters",
    argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", "1"],
    files={"subs/bad.json": file_with(student_id="x" * 10_000), "subs/good.json": file_with(student_id="good")},
    expect=["student_id must be"], graded={"good": FULL, "bad": FULL}))
CASES.append(Case(
    name="answers/ids-that-collide-once-made-safe",
    argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", "1"],
    files={"subs/a.json": file_with(student_id="ab/c"), "subs/b.json": file_with(student_id="ab_c"),
           "subs/good.json": file_with(student_id="good")},
    graded={"good": FULL, "ab/c": FULL, "ab_c": FULL},
    check=lambda folder, output: ensure(len(list((folder / "out" / "students").iterdir())) == 3,
                                        "two students share a folder")))

# file names are submission text too: undecodable bytes and newlines in them
NO_ID = json.dumps({key: value for key, value in GOOD.items() if key != "student_id"})
for jobs in ("1", "2"):
    CASES.append(Case(
        name=f"answers/file-names-with-bad-bytes-and-newlines-jobs-{jobs}",
        argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", jobs],
        files={"subs/\udcff\udcfe-bad.json": NO_ID, "subs/ok\nnew.json": NO_ID, "subs/[b]\x1b[2J.json": NO_ID,
               "subs/good.json": file_with(student_id="good")},
        graded={"good": FULL, "\\udcff\\udcfe-bad": FULL, "ok\\x0anew": FULL, "[b]\\x1b[2J": FULL},
        expect=["using the file name"], check=no_raw_control, seconds=30))
