"""Answers computed by the notebook's own code (`value:` parts): cells run in order in the sandbox,
each cell's failure its own, the values judged in the grader by the part's kind, and the warm
sandbox that runs one notebook after another without anything of one reaching the next."""

from __future__ import annotations

import csv
import json
import threading
import time

import nbformat
import pytest

from grader.cells.computed import answer_of, run_cells
from grader.cells.spec import NotebookSpec
from grader.cli import main
from grader.errors import RubricError
from grader.notebook import read_notebook
from grader.rubric import load_rubric
from grader.sandbox import processes, warm
from tests.conftest import require_bwrap

RUBRIC = """\
schema_version: 1
id: cells-quiz
defaults:
  number: {rtol: 0.001, atol: 0.0001}
  vector: {rtol: 0.001, atol: 0.0001}
notebook: {reference: solution.ipynb, cell_seconds: 2, wall_seconds: 20}
questions:
  - id: q1
    parts:
      - {id: q1, value: q1, kind: vector, marks: 3, solution: notebook.q1}
      - {id: q2, value: q2, kind: number, marks: 2, solution: notebook.q2}
      - {id: q3, value: q3, kind: integer, marks: 1, solution: notebook.q3}
      - {id: q4, value: probs, kind: matrix, marks: 2, solution: notebook.probs}
"""

SOLUTION = [
    "import numpy as np",
    "z = np.array([3.0, 2.0, 1.0, 0.0, -1.0])\ne = np.exp(z / 2)\nq1 = e / e.sum()",
    "w, x, b, t = 0.5, 2.0, 0.0, 1.0\nh = np.tanh(w * x + b)\nq2 = -(t - h) * (1 - h ** 2) * x",
    "q3 = 5 * 7 + 5",
    "logits = np.array([[1.0, 2.0], [0.0, 0.0]])\nprobs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)",
]


def notebook(path, cells: list[str]) -> None:
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_markdown_cell(text[3:]) if text.startswith("md:") else nbformat.v4.new_code_cell(text)
                  for text in cells]
    nbformat.write(book, str(path))


@pytest.fixture
def course(tmp_path):
    require_bwrap("notebook cells run sandboxed")
    (tmp_path / "rubric.yaml").write_text(RUBRIC, encoding="utf-8")
    notebook(tmp_path / "solution.ipynb", SOLUTION)
    (tmp_path / "subs").mkdir()
    return tmp_path


def grade(course, *extra) -> dict[str, dict]:
    out = course / "out"
    assert main(["grade", str(course / "rubric.yaml"), str(course / "subs"), "--out", str(out), "--quiet",
                 *extra]) == 0
    return {row["student_id"]: row for row in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}


def results(course, student: str) -> dict[str, dict]:
    for line in (course / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("student_id") == student:
            return {part["id"]: part for question in record["questions"] for part in question["parts"]}
    raise AssertionError(f"no result for {student}")


def test_values_the_cells_compute_are_judged_by_the_parts_kinds(course):
    notebook(course / "subs" / "numpy.ipynb", SOLUTION)
    notebook(course / "subs" / "python.ipynb", [  # pure Python, the softmax shifted by its max, an int from numpy
        "import math\nz = [3, 2, 1, 0, -1]\nex = [math.exp((v - 3) / 2) for v in z]\nq1 = [v / sum(ex) for v in ex]",
        "q2 = -0.2002", "import numpy as np\nq3 = np.int64(40)",
        "import torch\nprobs = torch.softmax(torch.tensor([[1.0, 2.0], [0.0, 0.0]]), dim=1)"])
    notebook(course / "subs" / "wrong.ipynb", [
        "import numpy as np\nz = np.array([3.0, 2, 1, 0, -1])\nq1 = np.exp(z) / np.exp(z).sum()",  # T forgotten
        "q2 = 0.2002", "q3 = 41.0", "probs = [[0.5, 0.5]]"])
    rows = grade(course)
    assert [rows[s]["total"] for s in ("numpy", "python", "wrong")] == ["8", "8", "0"]
    wrong = results(course, "wrong")
    assert wrong["q4"]["criteria"][0]["status"] == "incorrect"
    assert wrong["q4"]["criteria"][0]["message"] == "expected a 2x2 matrix, got a 1x2 matrix"


def test_a_cell_that_fails_costs_what_it_would_have_set_and_the_next_cell_runs(course):
    notebook(course / "subs" / "errors.ipynb", [
        "import numpy as np",
        "md:A written note between cells.",
        "q1 = softmax(np.array([3.0, 2, 1, 0, -1]) / 2)",  # a helper never defined
        "%matplotlib inline\nw, x, b, t = 0.5, 2.0, 0.0, 1.0\nh = np.tanh(w * x + b)\nq2 = -(t - h) * (1 - h ** 2) * x",
        "q3 = 40\nq3 = q3 / 0",  # q3 was set before the line that raised: kernel semantics keep it
        "import not_installed_here as absent\nprobs = absent.compute()",  # a stand-in, which fails when used
    ])
    rows = grade(course)
    assert rows["errors"]["total"] == "3"  # q2 (2) and q3 (1)
    parts = results(course, "errors")
    message = parts["q1"]["criteria"][0]["message"]
    assert "`q1` is not set" in message and "cell 3" in message and "NameError: name 'softmax' is not defined" in message
    assert parts["q3"]["criteria"][0]["status"] == "correct"
    assert "ModuleNotFoundError: not_installed_here.compute is from not_installed_here, which is not installed where " \
        "the grader runs (cell 6, line 2)" in parts["q4"]["criteria"][0]["message"]


def test_answer_files_answer_value_parts_by_their_ids(course):
    (course / "subs" / "typed.json").write_text(json.dumps({
        "format": "grader-answers/1", "student_id": "typed",
        "answers": {"q1": [0.4287, 0.26, 0.1577, 0.0956, 0.058], "q2": -0.2002, "q3": 40,
                    "q4": [[0.2689, 0.7311], [0.5, 0.5]]}}), encoding="utf-8")
    assert grade(course)["typed"]["total"] == "8"


def test_what_cannot_be_an_answer_says_so_and_costs_only_its_part(course):
    notebook(course / "subs" / "odd.ipynb", [
        "q1 = {'a': 1}",  # a dict
        "q2 = float('nan')",
        "class Lies(float):\n    def __eq__(self, other):\n        return True\nq3 = Lies(7.0)",  # a float subclass
        "import numpy as np\nprobs = np.array([['a', 'b']])",  # an array of text
    ])
    grade(course)
    parts = results(course, "odd")
    assert "could not be read" in parts["q1"]["criteria"][0]["message"] and "dict" in parts["q1"]["criteria"][0]["message"]
    assert "NaN is not a finite number" in parts["q2"]["criteria"][0]["message"]
    assert parts["q3"]["criteria"][0]["score"] == 0  # read as its own class's type: refused, never compared with __eq__
    assert all(part["score"] == 0 for part in parts.values())


def test_a_loop_that_never_ends_costs_its_cell_and_one_that_swallows_the_alarm_costs_the_run(course):
    notebook(course / "subs" / "loop.ipynb", ["q3 = 40", "while True:\n    pass", "q2 = -0.20025"])
    notebook(course / "subs" / "stubborn.ipynb", [
        "q3 = 40", "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"])
    rows = grade(course)
    assert rows["loop"]["total"] == "3"
    feedback = (course / "out" / "students" / "loop" / "feedback.md").read_text(encoding="utf-8")
    assert "cell 2 failed when its cells ran in order: TimeoutError: the cell took over 2 s (cell 2, line " in feedback
    assert rows["stubborn"]["total"] == "0"
    stopped = results(course, "stubborn")["q3"]["criteria"][0]["message"]
    assert "the run was stopped (exceeded" in stopped  # its wall time or, on a loaded machine, its CPU time first
    assert "wall-time limit" in stopped or "CPU-time limit" in stopped


def test_a_reference_notebook_that_does_not_compute_a_key_is_a_rubric_error(course):
    notebook(course / "solution.ipynb", SOLUTION[:3])  # no q3, no probs
    with pytest.raises(RubricError, match=r"`q3` has no value: no cell assigns `q3`"):
        load_rubric(course / "rubric.yaml")


# ---------------------------------------------------------------- the warm sandbox

def _run(folder, cells: list[str], names: list[str], spec: NotebookSpec = NotebookSpec(cell_seconds=2, wall_seconds=10)):
    path = folder / f"n{time.monotonic_ns()}.ipynb"
    notebook(path, cells)
    book = read_notebook(path)
    run = run_cells(book, spec, names)
    return run, {name: answer_of(run, name, book)[0] for name in names}


@pytest.fixture
def warm_sandbox(tmp_path):
    require_bwrap("the warm sandbox is a bwrap sandbox")
    if not warm.available():
        pytest.skip("the warm sandbox is turned off here (GRADER_WARM=0)")
    yield tmp_path
    warm.stop()


LOOK = ("import os, glob, numpy\n"
        "files = sorted(glob.glob('/tmp/*') + glob.glob('/dev/shm/*') + glob.glob('**', recursive=True))\n"
        "env = os.environ.get('LEFT')\npi = numpy.pi\n"
        "procs = sorted(open(f'/proc/{p}/comm').read().strip() for p in os.listdir('/proc') if p.isdigit())")


def test_nothing_of_one_notebook_reaches_the_next(warm_sandbox):
    _, before = _run(warm_sandbox, [LOOK], ["files", "env", "pi", "procs"])  # what any notebook sees here
    run, _ = _run(warm_sandbox, ["import os, subprocess, numpy\n"
                   "open('/tmp/left', 'w').write('x'); open('/dev/shm/left', 'w').write('x')\n"
                   "open('here', 'w').write('x'); os.makedirs('sub/deep'); open('sub/deep/above', 'w').write('x')\n"
                   "os.environ['LEFT'] = '1'; numpy.pi = 3\n"
                   "subprocess.Popen(['sh', '-c', 'sleep 1; echo x > /tmp/later'])\n"
                   "done = 1"], ["done"])
    assert run.values["done"].ok
    time.sleep(1.5)
    _, seen = _run(warm_sandbox, [LOOK], ["files", "env", "pi", "procs"])
    assert seen == before
    assert not any("left" in name or "here" in name or "above" in name
                                                     for name in seen["files"])
    assert seen["env"] is None and float(seen["pi"]) == pytest.approx(3.14159, abs=1e-4)
    assert "sleep" not in seen["procs"] and "sh" not in seen["procs"]


@pytest.mark.parametrize("attack, reason", [
    ("import os\nos._exit(3)", "exited with status 3"),
    ("import os\nwhile True:\n    os.fork()", None),  # a fork bomb meets the process limit in its own cell
    ("x = bytearray(8 << 30)", None),  # memory: a MemoryError in its cell
])
def test_a_notebook_that_attacks_its_process_harms_only_itself(warm_sandbox, attack, reason):
    run, answers = _run(warm_sandbox, ["q = 1", attack, "after = 2"], ["q", "after"])
    if reason:
        assert reason in (run.ended or "")
    else:
        assert run.values["after"].ok and run.failed_cells()[0].cell == 2
    _, again = _run(warm_sandbox, ["q = 2"], ["q"])  # the next notebook is graded as usual
    assert again["q"] == 2


@pytest.mark.parametrize("attack", [
    "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "import os, signal\nos.kill(1, signal.SIGSTOP)",
    "import os, signal\nos.kill(1, signal.SIGTERM); os.kill(1, signal.SIGINT)",
    "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:\n    pass",  # all it may signal
])
def test_a_notebook_can_neither_kill_nor_stop_the_zygote(warm_sandbox, attack):
    _run(warm_sandbox, ["q = 0"], ["q"])
    zygotes = [warm.server.process.pid for warm in warm._servers.values()]
    run, answers = _run(warm_sandbox, ["q = 1", attack, "after = 2"], ["q", "after"])
    assert answers["after"] == 2 and not run.failed_cells() and run.ended is None
    _, again = _run(warm_sandbox, ["q = 3"], ["q"])
    assert again["q"] == 3
    assert [warm.server.process.pid for warm in warm._servers.values()] == zygotes  # the same sandbox, not a new one


def test_a_zygote_that_dies_mid_run_costs_that_notebook_alone_and_is_replaced(warm_sandbox):
    """No notebook can end the zygote (above); a bug or the machine can. The run it was on says so,
    and the next notebook gets a fresh sandbox."""
    _run(warm_sandbox, ["q = 0"], ["q"])
    (server,) = [w.server for w in warm._servers.values()]
    killer = threading.Timer(1.0, processes.kill_tree, [server.process.pid])
    killer.start()
    run, _ = _run(warm_sandbox, ["import time\ntime.sleep(5)\nq = 1"], ["q"])
    killer.join()
    assert "stopped answering" in (run.ended or "") and "q" not in run.values
    _, again = _run(warm_sandbox, ["q = 4"], ["q"])
    assert again["q"] == 4 and [w.server for w in warm._servers.values()] != [server]


MEMORY_SCAN = """wanted = bytes.fromhex(%r)
found = pieces = 0
with open('/proc/self/mem', 'rb', 0) as mem:
    for line in open('/proc/self/maps').read().splitlines():
        start, end = (int(x, 16) for x in line.split()[0].split('-'))
        if 'r' not in line.split()[1] or line.endswith(('[vvar]', '[vsyscall]')):
            continue
        for at in range(start, end, 1 << 20):  # overlapping 1 MiB pieces: one unreadable page costs only its piece
            try:
                mem.seek(at)
                found += mem.read(min(end - at, (1 << 20) + len(wanted) - 1)).count(wanted)
                pieces += 1
            except OSError:
                pass
"""
SECRET = "per-student-" + "secret-7f3a9c"  # no notebook's source holds it whole, so its bytes in memory are a leak


def test_no_notebook_finds_anything_of_an_earlier_one_in_its_own_memory(warm_sandbox):
    """The zygote never holds a notebook's task or what it sent, so a fork copies none of it."""
    first, answers = _run(warm_sandbox, [f"left = {SECRET[:12]!r} + {SECRET[12:]!r}\nprint(left)", "q = left"], ["q"])
    assert answers["q"] == SECRET  # it was in the task, on the channel and in the output
    _, seen = _run(warm_sandbox, [MEMORY_SCAN % SECRET.encode().hex()], ["found", "pieces"])
    assert seen["pieces"] > 100 and seen["found"] == 1  # the needle this notebook made itself, and no other copy


def test_a_warm_notebook_sees_the_process_a_cold_one_does(warm_sandbox, monkeypatch):
    """The same arguments and folder, and unseeded generators drawn afresh for each notebook, as in a
    sandbox of its own (a notebook calling argparse, or numpy's global generator, gets one outcome)."""
    cells = ["import os, sys, random, numpy as np\nargs = sys.argv[1:]\nwhere = os.getcwd()\n"
             "draws = [float(np.random.rand()), random.random()]"]
    seen = {}
    for mode in ("1", "1", "0"):
        monkeypatch.setenv("GRADER_WARM", mode)
        _, answers = _run(warm_sandbox, cells, ["args", "where", "draws"])
        seen.setdefault(mode, []).append(answers)
    (first, second), (cold,) = seen["1"], seen["0"]
    assert first["args"] == cold["args"] == [] and first["where"] == cold["where"] == "/sandbox"
    assert first["draws"][0] != second["draws"][0] and first["draws"][1] != second["draws"][1]


def test_a_warm_run_costs_a_small_notebook_well_under_half_a_second(warm_sandbox):
    _run(warm_sandbox, ["q = 0"], ["q"])  # the zygote's start
    zygotes = [w.server.process.pid for w in warm._servers.values()]
    assert len(zygotes) == 1
    times = []
    for i in range(5):
        started = time.monotonic()
        _, answers = _run(warm_sandbox, ["import numpy as np", f"q = int(np.arange({i + 1}).sum())"], ["q"])
        times.append(time.monotonic() - started)
        assert answers["q"] == sum(range(i + 1))
    assert sorted(times)[2] < 0.5
    assert [w.server.process.pid for w in warm._servers.values()] == zygotes  # one sandbox served them all


def test_a_grade_does_not_depend_on_jobs_or_on_the_warm_sandbox(course, monkeypatch):
    for name, cells in [("a", SOLUTION), ("b", SOLUTION[:2] + ["q2 = 1/0", "q3 = 40"]), ("c", ["q3 = 39"])]:
        notebook(course / "subs" / f"{name}.ipynb", cells)
    first = grade(course, "--jobs", "1")
    assert grade(course, "--jobs", "2") == first
    monkeypatch.setenv("GRADER_WARM", "0")
    assert grade(course, "--jobs", "1") == first


FUNCTION_RUBRIC = """\
schema_version: 1
id: cells-functions
notebook:
  reference: solution.ipynb
  cell_seconds: 2
  wall_seconds: 30
  functions:
    softmax:
      call: "softmax(z, T)"
      seconds: 2
      cases:
        - {name: small, what: "five logits at temperature 2", inputs: {z: [3.0, 2.0, 1.0, 0.0, -1.0], T: 2.0},
           show_inputs: true}
        - {name: large, what: "logits in the thousands", inputs: {z: [1000.0, 999.0, 0.0], T: 1.0}}
        - {name: drawn, what: "a row of 50 drawn logits", inputs: {z: {floats: {shape: 50, low: -5, high: 5, seed: 3}},
                                                                    T: 0.5}}
questions:
  - id: q1
    parts:
      - {id: q1, kind: function, marks: 3, options: {function: softmax, tolerance: {rtol: 1.0e-6}},
         solution: notebook.functions}
"""

STABLE = "import numpy as np\ndef softmax(z, T):\n    z = np.asarray(z) / T\n    e = np.exp(z - z.max())\n    return e / e.sum()"


@pytest.mark.parametrize("code, score, told", [
    (STABLE, 3, "softmax gives the expected outputs on all 3 cases"),
    ("import numpy as np\ndef softmax(z, T):\n    e = np.exp(np.asarray(z) / T)\n    return e / e.sum()", 2,
     "Logits in the thousands:"),  # overflows on the large logits only
    ("def softmax(z, T):\n    raise NotImplementedError", 0, "NotImplementedError"),
    ("import numpy as np\ndef softmax(z, T):\n    e = np.exp(np.asarray(z))\n    return e / e.sum()", 0,
     "Five logits at temperature 2 (z = [3.0, 2.0, 1.0, 0.0, -1.0], T = 2.0)"),  # the temperature forgotten
    ("x = 1", 0, "NameError: name 'softmax' is not defined"),
])
def test_a_notebook_function_is_called_on_the_rubrics_cases_and_each_case_earns_its_share(tmp_path, code, score, told):
    require_bwrap("notebook cells run sandboxed")
    (tmp_path / "rubric.yaml").write_text(FUNCTION_RUBRIC, encoding="utf-8")
    notebook(tmp_path / "solution.ipynb", [STABLE])
    (tmp_path / "subs").mkdir()
    notebook(tmp_path / "subs" / "s.ipynb", [code])
    rows = grade(tmp_path)
    assert float(rows["s"]["q1"]) == score
    assert told in results(tmp_path, "s")["q1"]["criteria"][0]["message"]


def test_a_function_check_of_an_answer_file_asks_for_the_notebook(tmp_path):
    require_bwrap("the reference notebook runs sandboxed")
    (tmp_path / "rubric.yaml").write_text(FUNCTION_RUBRIC, encoding="utf-8")
    notebook(tmp_path / "solution.ipynb", [STABLE])
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.json").write_text(json.dumps({"format": "grader-answers/1", "student_id": "a",
                                                          "answers": {"q1": "def softmax(z, T): ..."}}))
    assert grade(tmp_path)["a"]["q1"] == "0"
    assert "submit the .ipynb file" in results(tmp_path, "a")["q1"]["criteria"][0]["message"]


def test_a_notebook_is_run_by_a_sandbox_that_preloads_only_what_it_imports_started_ahead(warm_sandbox):
    """The rubric's `preload` modules are loaded only into the sandbox of the notebooks that import
    them, so a notebook that does not is never held up by their import; the sandboxes a batch will
    use are started before its first run, and those notebooks run last."""
    from grader.cells.computed import prepare_runs, sandbox_preload

    cells = {"plain": ["import sys\nseen = sorted(m for m in ('colorsys', 'wave') if m in sys.modules)"],
             "colorsys": ["import colorsys, sys\nseen = sorted(m for m in ('colorsys', 'wave') if m in sys.modules)"]}
    books = {}
    for name, source in cells.items():
        notebook(warm_sandbox / f"{name}.ipynb", source)
        books[name] = read_notebook(warm_sandbox / f"{name}.ipynb")
    preload = ["colorsys", "wave"]
    assert sandbox_preload(books["plain"], preload) == ["numpy"]
    assert sandbox_preload(books["colorsys"], preload) == ["numpy", "colorsys"]
    spec = NotebookSpec(cell_seconds=2, wall_seconds=10)
    order = prepare_runs([books["colorsys"], books["plain"]], spec, ["seen"], preload)
    assert order == [1, 0] and len(warm._servers) == 2  # both started, none waited for
    seen = {name: answer_of(run_cells(books[name], spec, ["seen"], preload=preload), "seen", books[name])[0]
            for name in ("plain", "colorsys")}
    assert seen == {"plain": [], "colorsys": ["colorsys"]}  # `wave`, imported by neither, was loaded for neither
    assert len(warm._servers) == 2
