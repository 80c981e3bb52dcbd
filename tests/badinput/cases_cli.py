"""Bad command lines: paths of the wrong kind, options out of range, outputs that cannot be
written. Each is a usage error (exit 2) with a message naming what is wrong, or works."""

from __future__ import annotations

import json
import os
from tests.badinput.framework import GOOD_ANSWERS, QUIZ, Case, ensure

ANSWERS = {"a.json": GOOD_ANSWERS}


def wrote_json(name: str):
    return lambda folder, output: ensure(json.loads((folder / name).read_text(encoding="utf-8")) is not None,
                                         f"{name} was not written")


CASES = [
    Case("cli/out-names-a-file", ["grade", QUIZ, "{tmp}/a.json", "--out", "{tmp}/taken"],
         files={**ANSWERS, "taken": "x"}, exit=2, expect=["--out", "is a file"]),
    Case("cli/out-under-a-file", ["grade", QUIZ, "{tmp}/a.json", "--out", "{tmp}/taken/out"],
         files={**ANSWERS, "taken": "x"}, exit=2, expect=["cannot create"]),
    Case("cli/gradescope-into-a-new-folder", ["grade", QUIZ, "{tmp}/a.json", "--out", "{tmp}/out",
                                              "--gradescope", "{tmp}/results/deep/results.json"],
         files=ANSWERS, check=wrote_json("results/deep/results.json")),
    Case("cli/gradescope-names-a-folder", ["grade", QUIZ, "{tmp}/a.json", "--out", "{tmp}/out", "--gradescope", "{tmp}"],
         files=ANSWERS, exit=2, expect=["--gradescope", "is a folder"]),
    Case("cli/gradescope-with-two-files", ["grade", QUIZ, "{tmp}/a.json", "{tmp}/b.json", "--gradescope", "{tmp}/r.json"],
         files={**ANSWERS, "b.json": GOOD_ANSWERS}, exit=2, expect=["one submission"]),
    Case("cli/key-into-a-new-folder", ["key", QUIZ, "--out", "{tmp}/keys/quiz/key.json"],
         check=wrote_json("keys/quiz/key.json")),
    Case("cli/key-out-names-a-folder", ["key", QUIZ, "--out", "{tmp}"], exit=2, expect=["is a folder"]),
    Case("cli/audit-given-a-folder", ["audit", QUIZ, "{tmp}"], exit=2, expect=["is a folder", "one answer file"]),
    Case("cli/audit-missing-file", ["audit", QUIZ, "{tmp}/nothing.json"], exit=2, expect=["no such answer file"]),
    Case("cli/audit-not-json", ["audit", QUIZ, "{tmp}/a.json"], files={"a.json": "{not json"}, exit=1,
         expect=["not valid JSON"]),
    Case("cli/audit-empty-file", ["audit", QUIZ, "{tmp}/a.json"], files={"a.json": ""}, exit=1, expect=["empty"]),
    Case("cli/grade-missing-path", ["grade", QUIZ, "{tmp}/nothing"], exit=2, expect=["no such file or folder"]),
    Case("cli/grade-path-with-markup-and-escapes", ["grade", QUIZ, "{tmp}/[/]\x1b[2J"], exit=2,
         expect=["no such file or folder", "[/]"],
         check=lambda folder, output: ensure("\x1b" not in output, "an escape reached the terminal")),
    Case("cli/grade-empty-folder", ["grade", QUIZ, "{tmp}/empty"], files={"empty/readme.txt": "x"}, exit=2,
         expect=["no submissions"]),
    Case("cli/grade-no-paths", ["grade", QUIZ], exit=2, expect=["paths"]),
    Case("cli/jobs-zero", ["grade", QUIZ, "{tmp}/a.json", "--jobs", "0"], files=ANSWERS, exit=2, expect=["at least 1"]),
    Case("cli/jobs-negative", ["grade", QUIZ, "{tmp}/a.json", "--jobs", "-3"], files=ANSWERS, exit=2, expect=["at least 1"]),
    Case("cli/jobs-not-a-number", ["grade", QUIZ, "{tmp}/a.json", "--jobs", "many"], files=ANSWERS, exit=2,
         expect=["invalid int"]),
    Case("cli/jobs-huge", ["grade", QUIZ, "{tmp}/a.json", "--out", "{tmp}/out", "--jobs", "1000000000"], files=ANSWERS,
         graded={"s001": 9.0}),
    Case("cli/unknown-option", ["grade", QUIZ, "{tmp}/a.json", "--colour"], files=ANSWERS, exit=2,
         expect=["unrecognized arguments"]),
    Case("cli/unknown-command", ["regrade-everything"], exit=2, expect=["invalid choice"]),
    Case("cli/rubric-is-a-folder", ["grade", "{tmp}", "{tmp}/a.json"], files=ANSWERS, exit=3, expect=["invalid rubric"]),
    Case("cli/rubric-missing", ["check-rubric", "{tmp}/nothing.yaml"], exit=3, expect=["nothing.yaml"]),
    Case("cli/rubric-and-answers-swapped", ["grade", "{tmp}/a.json", QUIZ], files=ANSWERS, exit=3, expect=["a.json"]),
    Case("cli/unknown-solver", ["solvers", "no_such_solver"], exit=2, expect=["unknown solver"]),
    Case("cli/calibrate-without-program", ["calibrate", QUIZ], exit=2, expect=["no program section"]),
    Case("cli/calibrate-unknown-device", ["calibrate", QUIZ, "--device", "tpu"], exit=2, expect=["invalid choice"]),
    Case("cli/out-in-unwritable-place", ["grade", QUIZ, "{tmp}/a.json", "--out", "/proc/grader-out"], files=ANSWERS,
         exit=2, expect=["cannot create"]),
    Case("cli/broken-symlink", ["grade", QUIZ, "{tmp}/link.json"], exit=2, expect=["no such file or folder"],
         setup=lambda folder: (folder / "link.json").symlink_to(folder / "gone.json")),
]

CASES.append(Case("cli/grade-a-fifo", ["grade", QUIZ, "{tmp}/pipe.json"], exit=2, expect=["not a regular file"],
                  setup=lambda folder: os.mkfifo(folder / "pipe.json")))
CASES.append(Case("cli/folder-holding-a-fifo", ["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out"],
                  files={"subs/a.json": GOOD_ANSWERS}, graded={"s001": 9.0},
                  setup=lambda folder: os.mkfifo(folder / "subs" / "pipe.json")))


def _many_bad_parts() -> str:
    parts = "\n".join(f"      - {{id: p{i}, marks: -1, kind: number, answer: 1}}" for i in range(2000))
    return f"id: many\nquestions:\n  - id: q1\n    parts:\n{parts}\n"


CASES.append(Case("cli/thousands-of-rubric-problems-are-summarised", ["check-rubric", "{tmp}/r.yaml"],
                  files={"r.yaml": _many_bad_parts}, exit=3, expect=["and 1950 more"],
                  check=lambda folder, output: ensure(output.count("\n") < 100, "every problem was printed")))
