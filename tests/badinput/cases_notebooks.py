"""Bad notebooks: malformed cells, code nested too deeply to analyse, inputs too big to read in
full, files that are not UTF-8 notebooks of version 4, and hostile answer cells.

Each notebook (student `nb`, its file stem) has good answer cells (cells 1-2 and the last two)
around the bad cells, which start at cell 3; the batch also holds a good answer file (`good`). The
notebook's answer marks must survive whatever else is wrong in it, and the batch be graded, on the
single-process path (`--jobs 1`) unless a case says otherwise. Big inputs are built when the case
runs (a callable), so importing the corpus stays cheap.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.badinput.framework import GOOD_ANSWERS, QUIZ, Case, ensure

ANSWERS = {"q3.c": "13", "q4.a": "1 - tanh(z)^2", "q5.b": "[6.4, 2.3, 0.9, 0.3, 0.1]",
           "q5.c": "[0.4287, 0.2600, 0.1577, 0.0956, 0.0580]"}
NB_FULL = 4.0  # one mark for each of ANSWERS
GOOD_FILE = json.dumps({**json.loads(GOOD_ANSWERS), "student_id": "good"})
FULL = 9.0  # the good answer file's automatic marks


def answer_cell(part, text, cell_type="markdown") -> dict:
    return {"cell_type": cell_type, "metadata": {"grader": {"part": part}}, "source": text}


def code_cell(source, **fields) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None, **fields}


GOOD_CELLS = [answer_cell(part, text) for part, text in ANSWERS.items()]


def notebook(*bad_cells, **fields) -> str:
    """The good answer cells with `bad_cells` from cell 3 on; `fields` replace top-level ones."""
    cells = [*GOOD_CELLS[:2], *bad_cells, *GOOD_CELLS[2:]]
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells, **fields})


def case(name: str, content, expect: list[str], total: float = NB_FULL, seconds: float = 20.0,
         jobs: str = "1", check=None) -> Case:
    """`content` (str, bytes or a callable making either) as subs/nb.ipynb beside the good file."""
    return Case(name=f"notebook/{name}", argv=["grade", QUIZ, "{tmp}/subs", "--out", "{tmp}/out", "--jobs", jobs],
                files={"subs/nb.ipynb": content, "subs/good.json": GOOD_FILE}, expect=expect,
                graded={"good": FULL, "nb": total}, seconds=seconds, check=check)


def unreadable(name: str, content, expect: list[str]) -> Case:
    return case(name, content, expect, total=0.0, check=lambda folder, output: ensure(
        "unreadable" in (folder / "out" / "gradebook.csv").read_text(encoding="utf-8"), "not marked unreadable"))


def never_says(*texts: str):
    """A check that no text reaches the output or the results: noise, or what was meant to be bounded."""

    def check(folder: Path, output: str) -> None:
        record = output + (folder / "out" / "results.jsonl").read_text(encoding="utf-8", errors="replace")
        for text in texts:
            ensure(text not in record, f"{text[:40]!r} reached the output or results.jsonl")

    return check


def instructor_only(*texts: str):
    """A check that format noise is in the instructor's record (results.jsonl's file_notes, summary.md)
    and never in the output or what the student reads."""

    def check(folder: Path, output: str) -> None:
        out = folder / "out"
        student = "".join(path.read_text(encoding="utf-8", errors="replace")
                          for path in (out / "students").rglob("*") if path.is_file())
        [record] = [line for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
                    if '"student_id":"nb"' in line]
        for text in texts:
            ensure(text not in output + student, f"{text!r} reached the output or the student's reports")
            summary = (out / "summary.md").read_text(encoding="utf-8").replace("\\", "")  # Markdown escapes
            ensure(text in " ".join(json.loads(record)["file_notes"]) and text in summary,
                   f"{text!r} is not in the instructor's record")

    return check


def stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


LOG_LINE = "Epoch: 3/20... Step: 100... Loss: 2.3456... Val Loss: 2.4567\n"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2900).decode()  # about 1 MB


def big_images() -> str:
    """About 45 MB: a plot output of 1 MB in each of 45 code cells."""
    image = {"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG, "text/plain": "<Figure>"}}
    return notebook(*(code_cell("plot()", outputs=[image]) for _ in range(45)))


def big_stream() -> str:
    """About 45 MB of training log printed by one cell."""
    return notebook(code_cell("train()", outputs=[stream(LOG_LINE * 750_000)]))


def many_streams() -> str:
    """45 cells printing 1 MB of training log each."""
    return notebook(*(code_cell("train()", outputs=[stream(LOG_LINE * 16_000)]) for _ in range(45)))


def many_cells() -> str:
    return notebook(*(code_cell(f"x{i} = {i}") for i in range(100_000)))


def big_code() -> str:
    """About 45 MB of real-looking code: 45 cells of 1 MB of small functions."""
    functions = "".join(f"def f{i}(x, scale={i}):\n    # scale the input\n    return x * scale + {i}\n\n"
                        for i in range(12_500))
    return notebook(*(code_cell(functions) for _ in range(45)))


def v3_notebook() -> str:
    code = {"cell_type": "code", "language": "python", "input": "lr = 0.5", "outputs": [], "metadata": {}}
    cells = [*GOOD_CELLS[:2], code, *GOOD_CELLS[2:]]
    return json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": cells}]})


def colab_notebook() -> str:
    """What Colab saves: nbformat 4.0 with cell ids (which 4.0's schema forbids) and its metadata."""
    cells = [{**cell, "id": f"c{i}"} for i, cell in enumerate(GOOD_CELLS)]
    return json.dumps({"nbformat": 4, "nbformat_minor": 0, "cells": cells,
                       "metadata": {"colab": {"provenance": []}, "accelerator": "GPU"}})


DEEP = "nested too deeply to analyse"
CASES = [
    # 1. malformed cells: the cell (or the part of it) is skipped with a note naming it; the rest is read
    case("source-list-of-numbers", notebook(code_cell([1, 2, 3])),
         ["nb.ipynb, cell 3: its source is a list with something other than text in it, not text: skipped"]),
    case("source-list-with-null", notebook(code_cell(["x = 1\n", None])), ["cell 3: its source is a list"]),
    case("source-object", notebook(code_cell({"a": 1})), ["cell 3: its source is an object, not text"]),
    case("source-missing", notebook({"cell_type": "code", "metadata": {}, "outputs": []}),
         ["cell 3: its source is missing"]),
    case("metadata-string", notebook(code_cell("x = 1", metadata="abc")),
         ["cell 3: its metadata is a string, not an object: skipped"]),
    case("metadata-list", notebook(code_cell("x = 1", metadata=[1])), ["cell 3: its metadata is a list"]),
    case("metadata-null", notebook(code_cell("x = 1", metadata=None)), ["cell 3: its metadata is null"]),
    case("outputs-string", notebook(code_cell("x = 1", outputs="abc")),
         ["cell 3: its outputs are a string, not a list: ignored"]),
    case("outputs-object", notebook(code_cell("x = 1", outputs={"a": 1})), ["cell 3: its outputs are an object"]),
    case("output-not-an-object", notebook(code_cell("x = 1", outputs=["abc", 5])),
         ["cell 3: its output 1 is a string", "cell 3: its output 2 is a number"]),
    case("output-text-numbers", notebook(code_cell("x = 1", outputs=[{"output_type": "stream", "text": [1, 2]}])),
         ["cell 3: the text of its output 1 is a list, not text: ignored"]),
    case("error-output-fields-wrong", notebook(code_cell("x = 1", outputs=[
        {"output_type": "error", "ename": {"a": 1}, "evalue": [1], "traceback": "x"}])), []),
    case("cell-a-number", notebook(5), ["cell 3: is a number, not a cell object: skipped"]),
    case("cell-a-list", notebook(["x = 1"]), ["cell 3: is a list, not a cell object"]),
    case("cell-type-unknown-and-huge", notebook({"cell_type": "weird" * 100_000, "metadata": {}, "source": "x"}),
         ["cell 3: has cell_type 'weirdweird", "not code, markdown or raw: skipped"], check=never_says("weird" * 40)),
    case("cell-type-missing", notebook({"metadata": {}, "source": "x = 1"}), ["cell 3: has no cell_type: skipped"]),
    case("cell-type-a-number", notebook({"cell_type": 5, "metadata": {}, "source": "x"}),
         ["cell 3: has cell_type a number"]),
    case("execution-count-string", notebook(code_cell("x = 1", execution_count="5")),
         ["cell 3: its execution_count is '5', not a whole number: ignored"]),
    case("huge-metadata", notebook(code_cell("x = 1", metadata={"k": "v" * 5_000_000, "deep": [[[[[[1]]]]]]})), []),
    unreadable("cells-null", notebook(cells=None), ["nb.ipynb: has no list of cells (its 'cells' is null)"]),
    unreadable("cells-an-object", notebook(cells={"1": GOOD_CELLS[0]}),
               ["has no list of cells (its 'cells' is an object)"]),
    unreadable("cells-missing", json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}}),
               ["has no list of cells (its 'cells' is missing)"]),
    case("nbformat-minor-a-string", notebook(nbformat_minor="x"), [], check=instructor_only("nbformat_minor")),
    unreadable("nbformat-minor-5000-digits", notebook().replace('_minor": 5', '_minor": ' + "9" * 5000),
               ["is not JSON a notebook can hold"]),
    case("notebook-metadata-a-list", notebook(metadata=[1]), []),
    # 4 (noise): Colab's schema violations are the instructor's business, never a student warning
    case("colab-schema-noise", colab_notebook, [], check=instructor_only("does not follow", "4.0 schema")),
    case("nbformat-3-converted", v3_notebook, [], check=instructor_only("converted to 4")),
    # 2. code nested too deeply to analyse: that cell is skipped with its line, the rest read
    case("sum-of-50000-terms", notebook(code_cell("lr = 0.1\nx = " + "+".join(["1"] * 50_000))),
         [f"cell 3, line 2: is {DEEP}"]),
    case("sum-of-500-terms", notebook(code_cell("x = " + "+".join(["1"] * 500))), [f"cell 3, line 1: is {DEEP}"]),
    case("brackets-5000-deep", notebook(code_cell("x = " + "[" * 5000 + "]" * 5000)), [f"cell 3, line 1: is {DEEP}"]),
    case("calls-150-deep-in-a-function", notebook(code_cell("def f():\n    return " + "g(" * 150 + ")" * 150)),
         [f"cell 3, line 2: is {DEEP}"]),
    case("lambdas-3000-deep", notebook(code_cell("f = " + "lambda: " * 3000 + "1")), [f"cell 3, line 1: is {DEEP}"]),
    case("unary-minus-30000", notebook(code_cell("x = " + "-" * 30_000 + "1")), [f"cell 3, line 1: is {DEEP}"]),
    case("attribute-chain-30000", notebook(code_cell("x = a" + ".b" * 30_000)), [f"cell 3, line 1: is {DEEP}"]),
    case("indentation-100-deep", notebook(code_cell("\n".join("    " * i + ("if x:" if i < 100 else "pass")
                                                                for i in range(101)))),
         ["cell 3, line 101", "too many levels of indentation"]),
    unreadable("json-nested-100000-deep", notebook(code_cell("x = 1", metadata={"k": "@@"})).replace(
        '"@@"', "[" * 100_000 + "]" * 100_000), ["is JSON nested too deeply to be a notebook"]),
    # 3. big inputs: read within bounds, in seconds
    case("images-45mb", big_images, [], seconds=15),
    case("one-output-45mb", big_stream, ["cell 3: its output 1 is 45750000 characters; only the last 500000 are read"],
         seconds=15),
    case("outputs-45-of-1mb", many_streams, ["the saved outputs run past the 2000000 characters read"], seconds=15),
    case("cells-100000", many_cells, ["cell 2001: the notebook has 100004 cells, more than the 2000 read"],
         total=2.0, seconds=15),
    case("code-45mb", big_code, ["cell 4: has", "characters of code, more than the", "analysed in a notebook"],
         seconds=15),
    case("functions-20000-in-one-cell", notebook(code_cell("".join(f"def f{i}(): pass\n" for i in range(20_000)))),
         [], seconds=15),
    case("syntax-error-beside-a-line-of-spaces", notebook(code_cell("x = (\n" + " " * 200_000 + "y\n")),
         ["cell 3, line 1", "the cell is skipped"], seconds=10),
    # 4. files that are not UTF-8 JSON notebooks of version 4 say so
    unreadable("empty-file", "", ["nb.ipynb: is empty, not a notebook"]),
    unreadable("whitespace-only", "  \n\t\n", ["is empty, not a notebook"]),
    unreadable("utf16-with-bom", notebook().encode("utf-16"), ["nb.ipynb: is utf-16 text; save it as utf-8"]),
    unreadable("utf16-without-bom", notebook().encode("utf-16-le"), ["is utf-16 text; save it as utf-8"]),
    unreadable("latin1", notebook(code_cell("# café")).replace("\\u00e9", "\xe9").encode("latin-1"),
               ["is not utf-8 text (byte"]),
    unreadable("json-list", "[1, 2]", ["nb.ipynb: is JSON (a list) but not a notebook: it has no 'nbformat' version"]),
    unreadable("json-answer-file-named-ipynb", GOOD_FILE, ["is JSON (an object) but not a notebook"]),
    unreadable("cut-off-half-way", notebook()[:200], ["is not JSON, so not a notebook", "(line 1, column"]),
    unreadable("nbformat-5", notebook(nbformat=5), ["declares nbformat 5, a version that does not exist"]),
    unreadable("nbformat-2", notebook(nbformat=2), ["declares nbformat 2, an old version"]),
    unreadable("nbformat-a-string", notebook(nbformat="4"), ["declares nbformat '4', not a version number"]),
    # 5. hostile code and answer cells
    case("nul-in-source", notebook(code_cell("x = 1\ny = 2\0")),
         ["cell 3, line 2: contains a NUL character, which Python source cannot"]),
    case("lone-surrogate-in-source", notebook(code_cell("x = '\ud800'")),
         ["cell 3, line 1: contains a lone surrogate"]),
    case("escape-sequence-in-a-bad-line", notebook(code_cell("x = \x1b[2J\x1b[31m(")), ["cell 3, line 1"],
         check=never_says("\x1b")),
    case("answer-label-a-number", notebook(answer_cell(5, "x")), ["cell 3: metadata grader.part must be a part id",
                                                                 "got 5"]),
    case("answer-label-an-object", notebook(answer_cell({"id": "q1"}, "x")), ["got {'id': 'q1'}"]),
    case("answer-label-10mb", notebook(answer_cell("q" * 10_000_000, "x")), ["must be a part id"],
         check=never_says("q" * 100)),
    case("grader-metadata-a-string", notebook({"cell_type": "markdown", "metadata": {"grader": "q1"}, "source": "x"}),
         ["cell 3: metadata grader is 'q1', not", "not read as an answer cell"]),
    case("answer-5mb", notebook(answer_cell("q1", "word " * 1_000_000)),
         ["the answer for q1 is 4999999 characters; only the first 20000 are read"], check=never_says("word " * 5000)),
    case("answer-cells-10000", notebook(*[answer_cell("q7", "trees vote")] * 10_000),
         ["a second answer cell for q7 (the first is cell 3)", "more notes of this kind (answer) are not listed",
          "more than the 2000 read"], total=2.0),
    case("answer-with-nul", notebook(answer_cell("q8", "threshold\0 0.4")), []),
    case("answer-cell-a-code-cell-with-bad-syntax", notebook(answer_cell("q1", "def (:", "code")), [],
         check=never_says("invalid syntax")),
    case("all-at-once-on-the-pool", notebook(code_cell([1]), 5, code_cell("x = " + "+".join(["1"] * 50_000)),
                                             code_cell("x = 1", metadata="m"), {"cell_type": "weird"}),
         ["cell 3: its source is a list", "cell 4: is a number", f"cell 5, line 1: is {DEEP}",
          "cell 6: its metadata is a string", "cell 7: has cell_type 'weird'"], jobs="2"),
]
