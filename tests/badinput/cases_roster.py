"""Bad rosters given to `grader grade`, `regrade` and `export`, and a part regrade of a part that
does not exist: each a usage error (exit 2) naming the file, the line and the problem, before
anything is graded; and rosters that look odd but are fine, graded."""

from __future__ import annotations

from tests.badinput.framework import GOOD_ANSWERS, QUIZ, Case, ensure

ANSWERS = {"a.json": GOOD_ANSWERS}
HEADER = "id,name,email,section\n"


def grade_with(roster: str | bytes, *expect: str, exit: int = 2, **more) -> dict:
    return dict(argv=["grade", QUIZ, "{tmp}/a.json", "--out", "{tmp}/out", "--roster", "{tmp}/roster.csv"],
                files={**ANSWERS, "roster.csv": roster}, exit=exit, expect=list(expect), **more)


def nothing_graded(folder, output) -> None:
    ensure(not (folder / "out").exists(), "a bad roster still let the run start")


CASES = [
    Case("roster/no-id-column", **grade_with("name,email\nAda,ada@example.edu\n", "roster.csv:1", "no `id` column",
                                             "it has name, email"), check=nothing_graded),
    Case("roster/empty-file", **grade_with("", "roster.csv:1", "it has nothing")),
    Case("roster/only-a-byte-order-mark", **grade_with("\ufeff", "roster.csv:1", "no `id` column")),
    Case("roster/id-column-twice", **grade_with("id,name,ID\ns001,Ada,s002\n", "roster.csv:1", "`id` 2 times")),
    Case("roster/duplicate-id", **grade_with(HEADER + "s001,Ada,,\ns002,Bob,,\ns001,Ada again,,\n",
                                             "roster.csv:4", "'s001' is already on line 2")),
    Case("roster/row-without-id", **grade_with(HEADER + "s001,Ada,,\n,Bob,bob@example.edu,\n",
                                               "roster.csv:3", "has no id")),
    Case("roster/unquoted-comma-in-a-name", **grade_with(HEADER + "s001,Lovelace, Ada,ada@example.edu,L01\n",
                                                         "roster.csv:2", "5 cells", "4 columns", "double quotes")),
    Case("roster/quote-never-closed", **grade_with(HEADER + 's001,"Ada,,\ns002,Bob,,\ns003,Cy,,\n',
                                                   "roster.csv:2", "not readable as csv", "unexpected end of data")),
    Case("roster/text-after-a-closing-quote", **grade_with(HEADER + 's001,"Ada"x,,\n', "roster.csv:2",
                                                           "not readable as csv")),
    Case("roster/not-utf-8", **grade_with(HEADER.encode() + b"s001,Ad\xe9 Lovelace,,\n", "roster.csv:2",
                                          "not utf-8 text", "0xe9")),
    Case("roster/binary-file", **grade_with(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "roster.csv:1", "not utf-8")),
    Case("roster/nul-in-an-id", **grade_with(HEADER + "s0\x0001,Ada,,\n", "roster.csv:2", "control characters")),
    Case("roster/id-with-escape-sequence", **grade_with(HEADER + "\"s001\x1b[2J\",Ada,,\n", "roster.csv:2",
                                                        "control characters"),
         check=lambda folder, output: ensure("\x1b" not in output, "an escape reached the terminal")),
    Case("roster/missing-file", ["grade", QUIZ, "{tmp}/a.json", "--out", "{tmp}/out", "--roster", "{tmp}/nope.csv"],
         files=ANSWERS, exit=2, expect=["nope.csv", "no such roster file"], check=nothing_graded),
    Case("roster/a-folder", ["grade", QUIZ, "{tmp}/a.json", "--out", "{tmp}/out", "--roster", "{tmp}"],
         files=ANSWERS, exit=2, expect=["--roster", "not a file"]),
    Case("roster/bad-on-regrade", ["regrade", QUIZ, "{tmp}/a.json", "--out", "{tmp}/out", "--roster", "{tmp}/r.csv"],
         files={**ANSWERS, "r.csv": "name\nAda\n"}, exit=2, expect=["r.csv:1", "no `id` column"]),
    Case("roster/bad-on-export", ["export", QUIZ, "--out", "{tmp}/out", "--roster", "{tmp}/r.csv"],
         files={"r.csv": HEADER + "s001,Ada,,\ns001,Ada,,\n"}, exit=2, expect=["r.csv:3", "already on line 2"]),
    # odd, but a roster: quoted commas and line breaks, CRLF, a BOM, blank lines, columns of another name
    Case("roster/awkward-but-valid", **grade_with(
        "\ufeffID, Name ,E-mail,Section,Canvas ID,Notes\r\n\r\n"
        "s001,\"Lovelace, Ada\",ada@example.edu,L01,1,\"two\r\nlines\"\r\n"
        "s002,Bob,,,,\r\n", "1 student(s) on the roster", "s002", exit=0), graded={"s001": 9.0, "s002": 0.0}),
    Case("roster/ids-of-another-kind", **grade_with("id,name\nada@example.edu,Ada\n", "none of the submissions is on it",
                                                    exit=0), graded={"s001": 9.0}),
    Case("cli/regrade-unknown-part", ["regrade", QUIZ, "{tmp}/a.json", "--out", "{tmp}/out", "--part", "q3b"],
         files=ANSWERS, exit=2, expect=["no part 'q3b'", "did you mean 'q3.b'", "q1, q2.a"], check=nothing_graded),
]
