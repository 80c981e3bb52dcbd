"""Function checks: the student's helper code (`get_batches`) called in the sandbox on the rubric's
cases and compared, in the grader's process, with the reference notebook's outputs on the same
inputs. Real CharRNN notebooks (tests/data/charrnn/, built with nbformat), graded in one batch by
real sandboxed runs on the scaffold's tiny budget; the rubric's validation, the protocol's
plain-data nodes and the comparison's words are checked without a sandbox."""

from __future__ import annotations

import base64
import re
import shutil
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from grader.batch import grade_files
from grader.errors import RubricError
from grader.kinds._tolerance import Tolerance
from grader.kinds.program import ProgramOptions
from grader.program.calibration import calibrate, calibration_path, write_calibration
from grader.program.functions import Labels, compare, function_task, rebuild
from grader.program.observations import CaseOutput, OutputNode, tree_problem
from grader.program.spec import FunctionSpec, ProgramSpec
from grader.rubric import load_rubric
from tests.program_support import CORPUS

CHARRNN = Path(__file__).resolve().parent / "data" / "charrnn"
MODEL_CHECKS = {"builds", "init_hidden", "forward", "variable_shapes", "parameter_count", "trains", "retrained",
                "generation", "reproducible"}

# the classic body, cell by cell in the solution; each variant below changes one thing
CLASSIC = '''
def get_batches(arr, batch_size, seq_length):
    batch_size_total = batch_size * seq_length
    n_batches = len(arr) // batch_size_total
    arr = arr[:n_batches * batch_size_total]
    arr = arr.reshape((batch_size, -1))
    for n in range(0, arr.shape[1], seq_length):
        x = arr[:, n:n + seq_length]
        y = np.zeros_like(x)
        try:
            y[:, :-1], y[:, -1] = x[:, 1:], arr[:, n + seq_length]
        except IndexError:
            y[:, :-1], y[:, -1] = x[:, 1:], arr[:, 0]
        yield x, y
'''

VARIANTS = {
    "correct": CLASSIC,
    # y[t] = x[t - 1]: the targets run the wrong way
    "shifted-wrong-way": CLASSIC.replace("y[:, :-1], y[:, -1] = x[:, 1:], arr[:, n + seq_length]",
                                         "y[:, 1:], y[:, 0] = x[:, :-1], arr[:, n - 1]"),
    # truncated to whole rows only: the last window is short
    "short-last-batch": CLASSIC.replace("arr = arr[:n_batches * batch_size_total]",
                                        "arr = arr[:batch_size * (len(arr) // batch_size)]"),
    "reshaped-by-batches": CLASSIC.replace("arr.reshape((batch_size, -1))", "arr.reshape((n_batches, -1))"),
    # torch's size() on a numpy array: raises on every case
    "raises": CLASSIC.replace("n_batches = len(arr) // batch_size_total", "n_batches = arr.size() // batch_size_total"),
    # the counter moves only on whole windows: loops for ever where the rows hold a remainder
    "loops": '''
def get_batches(arr, batch_size, seq_length):
    arr = arr[:batch_size * (len(arr) // batch_size)].reshape((batch_size, -1))
    n = 0
    while n < arr.shape[1]:
        x = arr[:, n:n + seq_length]
        if x.shape[1] == seq_length:
            y = np.zeros_like(x)
            y[:, :-1], y[:, -1] = x[:, 1:], arr[:, (n + seq_length) % arr.shape[1]]
            n += seq_length
            yield x, y
''',
    # one-hot batches that wrap round instead of stopping: list() of it grows until the call's memory limit
    "endless": '''
def get_batches(arr, batch_size, seq_length):
    arr = arr[:batch_size * (len(arr) // batch_size)].reshape((batch_size, -1))
    eye = np.eye(arr.max() + 1, dtype=np.float32)
    n = 0
    while True:
        start = n % (arr.shape[1] - seq_length)
        yield eye[arr[:, start:start + seq_length]], arr[:, start + 1:start + seq_length + 1].copy()
        n += seq_length
''',
    # swallows everything, the worker's alarm included: the supervisor's deadline ends it
    "swallows-alarm": '''
def get_batches(arr, batch_size, seq_length):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
''',
    "missing": None,
    # rewrites the worker's own encoding of outputs to describe numbers it does not send
    "forged-output": '''
import sys


def get_batches(arr, batch_size, seq_length):
    sys.modules["grader.program.worker"].output_nodes = lambda value, most: (
        [{"kind": "array", "library": "numpy", "dtype": "int64", "shape": [8, 50]}], [np.zeros((8, 5), dtype=np.int64)])
    return []
''',
    # wrong targets (y is x) in tensors that say they equal anything and show numpy the right ones
    "lying-tensor": CLASSIC.replace("        yield x, y\n", "        yield Agreeable(x), Agreeable(x, right=y)\n") + '''

class Agreeable(torch.Tensor):
    """Equal to everything; numpy(), tolist() and __array__ give the right targets it does not hold."""

    @staticmethod
    def __new__(cls, values, right=None):
        tensor = torch.Tensor._make_subclass(cls, torch.from_numpy(values.copy()))
        tensor.right = values if right is None else right
        return tensor

    def __eq__(self, other):
        return True

    __hash__ = torch.Tensor.__hash__

    def numpy(self, *args, **kwargs):
        return self.right

    def tolist(self):
        return self.right.tolist()

    def __array__(self, *args, **kwargs):
        return self.right

    @property
    def shape(self):
        return self.right.shape
''',
}


def variant(path: Path, source: str | None) -> Path:
    notebook = nbformat.read(CHARRNN / "solution.ipynb", as_version=4)
    index = next(i for i, cell in enumerate(notebook.cells) if "def get_batches" in cell.source)
    if source is None:
        del notebook.cells[index]
    else:
        notebook.cells[index].source = textwrap.dedent(source).strip() + "\n"
    nbformat.write(notebook, path)
    return path


def scaffold_folder(folder: Path) -> Path:
    text = CORPUS.read_text(encoding="utf-8")[:40_000]
    seen = set(text[:36_000])
    (folder / "corpus.txt").write_text(text[:36_000] + "".join(c if c in seen else " " for c in text[36_000:]),
                                       encoding="utf-8")
    shutil.copy(CHARRNN / "charrnn.yaml", folder / "charrnn.yaml")
    shutil.copy(CHARRNN / "solution.ipynb", folder / "solution.ipynb")
    return folder / "charrnn.yaml"


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    """Every variant graded in one batch by the CharRNN rubric, calibrated: name -> result."""
    rubric = scaffold_folder(tmp_path_factory.mktemp("functions"))
    setup = load_rubric(rubric, calibrated=False).program
    write_calibration(calibration_path(rubric, setup), "cpu", calibrate(setup, "cpu"))
    notebooks = rubric.parent / "notebooks"
    notebooks.mkdir()
    files = [variant(notebooks / f"{name}.ipynb", source) for name, source in VARIANTS.items()]
    return {result.student_id: result for result in grade_files(rubric, files, jobs=2)}


def criteria(result) -> dict:
    return {c.id: c for q in result.questions for p in q.parts for c in p.criteria}


def batches(result):
    return criteria(result)["get_batches"]


def test_the_classic_get_batches_gets_full_marks(graded):
    found = criteria(graded["correct"])
    assert all(c.status == "correct" for c in found.values()), {k: c.message for k, c in found.items()}
    assert graded["correct"].score == graded["correct"].max_score == 14.0
    assert found["get_batches"].message == "get_batches gives the expected outputs on all 4 cases"
    assert found["get_batches"].review is None


@pytest.mark.parametrize("name", ["shifted-wrong-way", "short-last-batch", "reshaped-by-batches", "raises", "loops",
                                  "endless", "missing", "forged-output", "lying-tensor"])
def test_a_broken_get_batches_costs_its_own_marks_only(graded, name):
    """Functions run first, each case within its own limit: the model's checks keep every mark."""
    found = criteria(graded[name])
    assert found["get_batches"].score < 2.0, found["get_batches"].message
    assert {k for k, c in found.items() if c.status == "correct"} == MODEL_CHECKS, \
        {k: c.message for k, c in found.items() if c.status != "correct"}


def test_targets_shifted_the_wrong_way_are_named(graded):
    check = batches(graded["shifted-wrong-way"])
    assert check.score == 0.0
    assert re.match(r"get_batches is right on 0 of 4 cases\. A text of exactly two whole batches: batch 1, y: \d+ "
                    r"of 400 values differ; they are the expected values shifted 2 places right along the last axis",
                    check.message), check.message


def test_a_short_last_batch_is_named_and_whole_batches_keep_their_marks(graded):
    check = batches(graded["short-last-batch"])
    assert check.score == pytest.approx(2.0 * 2 / 4), check.message  # whole batches and the short text still pass
    assert ("A text that does not divide into whole batches: the output has 3 items, expected 2; the first extra, "
            "batch 3, has shapes (8, 25), (8, 25)") in check.message
    assert "A batch size of 1 and short sequences: the output has 15 items, expected 14" in check.message


def test_reshaping_by_the_number_of_batches_is_named_by_shape(graded):
    check = batches(graded["reshaped-by-batches"])
    assert check.score == pytest.approx(0.5), check.message  # only where the number of batches is the batch size
    assert ("A text of exactly two whole batches: the output has 8 items, expected 2; the first extra, batch 3, has "
            "shapes (2, 50), (2, 50); batch 1, x: shape (2, 50), expected (8, 50)") in check.message
    assert "A batch size of 1 and short sequences: the output has 1 item, expected 14" in check.message


def test_a_function_that_raises_is_reported_once_with_its_cell(graded):
    check = batches(graded["raises"])
    assert check.score == 0.0
    notebook = nbformat.read(CHARRNN / "solution.ipynb", as_version=4)
    cell = 1 + next(i for i, c in enumerate(notebook.cells) if "def get_batches" in c.source)
    assert check.message == ("get_batches fails on every case the same way: TypeError: 'int' object is not callable "
                             f"(cell {cell}, line 3)")


def test_a_case_that_never_returns_is_stopped_and_the_rest_are_graded(graded):
    check = batches(graded["loops"])
    assert check.score == pytest.approx(1.0), check.message  # whole batches and the short text pass
    assert "A text that does not divide into whole batches: TimeoutError: the call took over 2 s (cell" in check.message
    assert "A batch size of 1 and short sequences: TimeoutError: the call took over 2 s" in check.message
    assert check.review == ("cases 'remainder', 'single-row' stopped by the time limit of each case: rerun on a "
                            "quieter machine before taking a 0 as the code's")


def test_an_endless_generator_runs_out_of_the_call_s_memory_not_the_run_s(graded):
    """One-hot windows of 8 x 50 fill the call's 512 MiB in well under its 2 s on a quiet machine (on a
    loaded one the alarm can come first: then the case says so); either way the run goes on."""
    check = batches(graded["endless"])
    assert check.score == 0.0
    for what in ("A text of exactly two whole batches", "A text that does not divide into whole batches"):
        assert (f"{what}: MemoryError: the call ran out of memory (a call may allocate about 512 MiB)" in check.message
                or re.search(rf"{what}: [^.]*took over", check.message)), check.message
    assert graded["endless"].errors == []  # the run was not stopped


def test_a_call_that_swallows_its_alarm_is_killed_and_later_cases_spare_the_model(graded):
    """Past the alarm the supervisor kills the worker (5 s later) and starts another; after two such
    cases the rest are not run, so the build still gets a worker and the model keeps its marks
    (the retraining may meet the run's wall time on a loaded machine, and is not asserted)."""
    result = graded["swallows-alarm"]
    check = batches(result)
    assert check.score == 0.0
    assert ("A text of exactly two whole batches: call took over 7 s. A text that does not divide into whole "
            "batches: call took over 7 s. A batch size of 1 and short sequences: not run: earlier cases stopped "
            "the notebook's process twice.") in check.message
    assert check.review.startswith("cases 'whole', 'remainder' stopped by the time limit of each case")
    found = criteria(result)
    assert all(found[name].status == "correct" for name in MODEL_CHECKS - {"retrained"}), \
        {k: c.message for k, c in found.items()}


def test_a_missing_function_is_a_name_error_on_every_case(graded):
    check = batches(graded["missing"])
    assert check.score == 0.0
    assert check.message == ("get_batches fails on every case the same way: NameError: name 'get_batches' is not "
                             "defined")


def test_a_worker_rewritten_to_describe_other_numbers_is_caught_by_the_supervisor(graded):
    check = batches(graded["forged-output"])
    assert check.score == 0.0
    assert check.message == ("get_batches fails on every case the same way: the notebook's process sent an output "
                             "that is not plain data (an array sent as int64 [8, 5], described as int64 [8, 50])")


def test_a_tensor_subclass_that_lies_is_read_as_the_numbers_it_holds(graded):
    """Its __eq__, numpy(), tolist(), __array__ and shape all claim the right targets; what is
    compared is its storage, copied out as plain numbers, where y is x."""
    check = batches(graded["lying-tensor"])
    assert check.score == 0.0
    assert re.search(r"A text of exactly two whole batches: batch 1, y: \d+ of 400 values differ; they are the "
                     r"expected values shifted 1 place right along the last axis", check.message), check.message
    assert "batch 1, x" not in check.message  # x is right, tensor or not


def test_a_shown_case_names_its_inputs_and_a_hidden_one_never_does(graded):
    message = batches(graded["shifted-wrong-way"]).message
    assert ("A short text, shown in full (arr = 13 whole numbers from 0 to 4 drawn with seed 4, batch_size = 2, "
            "seq_length = 3)") in message
    assert "seed 1" not in message and "seed 2" not in message and "800" not in message


# --- without a sandbox -----------------------------------------------------------------------------

def spec_with(functions: dict, wall: float = 60) -> dict:
    return {"corpus": "corpus.txt", "training": {"budgets": {"cpu": {"steps": 1, "wall_seconds": wall}}},
            "reference": {"notebook": "solution.ipynb"}, "functions": functions}


def get_batches(**changes) -> dict:
    case = {"name": "whole", "what": "whole batches",
            "inputs": {"arr": {"ints": {"shape": 800, "high": 50, "seed": 1}}, "batch_size": 8, "seq_length": 50}}
    return {"call": "list(get_batches(arr, batch_size, seq_length))", "cases": [case], **changes}


@pytest.mark.parametrize("change, message", [
    (dict(cases=[{"name": "a", "what": "w", "inputs": {"ar": 1}}]), "input 'ar' is never read by the call"),
    (dict(cases=[{"name": "a", "what": "w", "inputs": {"arr": 1}}] * 2), "case names must differ: a used more"),
    (dict(cases=[{"name": "a", "what": "w",
                  "inputs": {"arr": {"ints": {"shape": [1000, 1000], "high": 2, "seed": 0}}}}]),
     "holds 1,000,000 elements; at most 100,000 are generated"),
    (dict(cases=[{"name": "a", "what": "w", "inputs": {"arr": {"ints": {"shape": 10, "high": 0, "seed": 0}}}}]),
     "high (0) must be above low (0)"),
    (dict(cases=[{"name": "a", "what": "w", "inputs": {"arr": {"ints": {"shape": 10, "high": 5, "seed": 0},
                                                               "floats": {"shape": 10, "seed": 0}}}}]),
     "one of them"),
    (dict(cases=[{"name": "a", "what": "w", "inputs": {"arr": [1, {"x": 2}]}}]), "not a dict"),
    (dict(call="get_batches(arr"), "is not a single Python expression"),
])
def test_bad_function_sections_are_refused_saying_why(change, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        FunctionSpec.model_validate(get_batches(**change))


def test_the_cases_must_fit_the_run_and_its_channel():
    many = get_batches(cases=[{**get_batches()["cases"][0], "name": f"c{i}"} for i in range(20)],
                       max_output_bytes=4 << 20)
    with pytest.raises(ValidationError, match="comes to 83,886,080 bytes; at most 8,388,608 in all"):
        ProgramSpec.model_validate(spec_with({"get_batches": many}))
    with pytest.raises(ValidationError, match=r"time limits add up to 20 s, over a quarter of the shortest budget's "
                                              r"wall_seconds \(60 s\)"):
        ProgramSpec.model_validate(spec_with({"get_batches": get_batches(seconds=20)}))


def test_a_rubric_naming_an_unknown_function_or_none_does_not_load(tmp_path):
    rubric = scaffold_folder(tmp_path)
    data = yaml.safe_load(rubric.read_text(encoding="utf-8"))
    options = data["questions"][0]["parts"][1]["criteria"][0]["options"]
    options["function"] = "get_batch"
    rubric.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(RubricError, match=r"program.functions has no 'get_batch' \(it has get_batches\)"):
        load_rubric(rubric, calibrated=False)
    with pytest.raises(ValidationError, match="the function check needs `function:`"):
        ProgramOptions(check="function")
    with pytest.raises(ValidationError, match="options of the function check only"):
        ProgramOptions(check="builds", function="get_batches")


def test_both_runs_get_the_same_inputs_as_raw_bytes():
    spec = ProgramSpec.model_validate(spec_with({"get_batches": get_batches()}))
    first, again = function_task(spec.functions), function_task(spec.functions)
    assert first == again
    case = first["get_batches"]["cases"][0]
    assert case["literals"] == {"batch_size": 8, "seq_length": 50}
    arr = np.frombuffer(base64.b64decode(case["arrays"]["arr"]["data"]), dtype="<i8")
    assert arr.shape == (800,) and arr.min() >= 0 and arr.max() < 50
    assert (arr == np.random.default_rng(1).integers(0, 50, 800)).all()


def node(array: np.ndarray, dtype: str | None = None) -> dict:
    wire = {"i": "<i8", "b": "<i8", "u": "<i8"}.get(array.dtype.kind, "<f8" if array.dtype == np.float64 else "<f4")
    return {"kind": "array", "library": "numpy", "dtype": dtype or array.dtype.name, "shape": list(array.shape),
            "data": base64.b64encode(np.ascontiguousarray(array, wire).tobytes()).decode()}


@pytest.mark.parametrize("nodes, message", [
    ([{"kind": "int", "value": True}], "a int node holding a bool"),
    ([{"kind": "int", "value": 2 ** 70}], "a int too large"),
    ([{**node(np.arange(6)), "shape": [2, 4]}], "whose data is not 8"),
    ([{**node(np.arange(6)), "data": "!" * 64}], "not base64"),
    ([{"kind": "list", "length": 1, "value": 3}], "a list node with fields"),
    ([{"kind": "array", "library": "numpy", "dtype": "object", "shape": [], "data": ""}], "dtype"),
])
def test_output_nodes_are_plain_data_or_refused(nodes, message):
    with pytest.raises(ValidationError, match=message):
        CaseOutput.model_validate({"name": "a", "ok": True, "seconds": 0, "output": nodes})


def test_an_output_is_exactly_one_value_of_bounded_depth():
    nest = [OutputNode(kind="list", length=1) for _ in range(17)] + [OutputNode(kind="none")]
    assert tree_problem(nest) == "lists nested over 16 deep"
    assert tree_problem([OutputNode(kind="list", length=2), OutputNode(kind="none")]) == "a list or tuple 1 items short"
    assert tree_problem([OutputNode(kind="none")] * 2) == "1 nodes after the value ends"
    with pytest.raises(ValidationError, match="not one value"):
        CaseOutput.model_validate({"name": "a", "ok": True, "seconds": 0, "output": [{"kind": "none"}] * 2})


def output(value) -> object:
    """A Python value as the nodes a run sends, rebuilt."""
    nodes = []

    def walk(item):
        if isinstance(item, (list, tuple)):
            nodes.append({"kind": type(item).__name__, "length": len(item)})
            for child in item:
                walk(child)
        elif isinstance(item, np.ndarray):
            nodes.append(node(item))
        else:
            nodes.append({"kind": {type(None): "none"}.get(type(item), type(item).__name__),
                          **({} if item is None else {"value": item})})

    walk(value)
    return rebuild([OutputNode.model_validate(n) for n in nodes])


def test_the_comparison_says_what_differs_and_where():
    labels = Labels(["batch", ["x", "y"]])
    x = np.arange(12).reshape(3, 4)
    want = output([(x, x + 1)])
    assert compare(output([(x, x + 1)]), want, None, labels, False) == []
    assert compare(output([[x, x + 1]]), want, None, labels, False) == []  # a list unpacks as a tuple does
    assert compare(output([(x, x.astype(np.int32) + 1)]), want, None, labels, False) == \
        ["batch 1, y: dtype int32, expected int64"]
    assert compare(output([(x, x)]), want, None, labels, False) == \
        ["batch 1, y: 12 of 12 values differ; they are the expected values shifted 1 place right along the last axis"]
    assert compare(output([(x, x + 1), (x, x)]), want, None, labels, False) == \
        ["the output has 2 items, expected 1; the first extra, batch 2, has shapes (3, 4), (3, 4)"]
    assert compare(output(3), output(4), None, labels, False) == ["the output is not the expected number"]
    assert compare(output(3), output(4), None, labels, True) == ["the output is 3, expected 4"]
    assert compare(output("3"), output(4), None, labels, True) == ["the output is a str, expected an int"]


def test_floats_match_exactly_or_within_the_tolerance_and_nan_never_does():
    labels = Labels([])
    want = output(np.array([1.0, 2.0, 3.0]))
    near = output(np.array([1.0, 2.0, 3.0 + 1e-9]))
    assert compare(near, want, None, labels, False) == ["the output: 1 of 3 values differ"]
    assert compare(near, want, Tolerance(mode="absolute", atol=1e-6), labels, False) == []
    assert compare(output(np.array([1.0, np.nan, 3.0])), want, Tolerance(), labels, False) == \
        ["the output: the values hold NaN"]
    assert compare(output(float("nan")), output(1.0), Tolerance(), labels, False) == ["the output is NaN"]


def judged(mine: list[CaseOutput], theirs: list[CaseOutput] | None, cases: list[str]):
    """The function check's verdict on a run holding these case outputs (no sandbox)."""
    from grader.kinds.program import Program
    from grader.program.observations import Functions, ProgramRun, Step
    from grader.program.spec import Budget

    run = ProgramRun(device="cpu", budget=Budget(steps=1), backend="bwrap", wall_seconds=1, cpu_seconds=1,
                     peak_memory_mib=1, chars=["a"], load=Step(ok=True), functions=Functions(results={"f": mine}),
                     reference_functions=None if theirs is None else Functions(results={"f": theirs}))
    spec = {"name": "f", "call": "f(n)", "labels": [],
            "cases": [{"name": name, "what": f"case {name}", "show_inputs": False, "inputs": "n = 1"}
                      for name in cases]}
    return Program(ProgramOptions(check="function", function="f")).check(run.model_dump(mode="json"), spec)


def answer(name: str, value=None, error: str | None = None) -> CaseOutput:
    nodes = [] if error else [{"kind": "int", "value": value}]
    return CaseOutput.model_validate({"name": name, "ok": error is None, "error": error, "seconds": 0, "output": nodes})


def test_a_case_the_reference_fails_is_left_out_and_sent_for_review():
    reference = [answer("a", 1), answer("b", error="ValueError: bad")]
    verdict = judged([answer("a", 1), answer("b", 2)], reference, ["a", "b"])
    assert (verdict.fraction, verdict.message) == (1.0, "f gives the expected outputs on the case")
    assert verdict.review == "the reference notebook's f fails on case 'b', so it is not graded: ValueError: bad"
    verdict = judged([answer("a", 1)], None, ["a"])
    assert verdict.fraction == 0.0 and "your instructor will look at it" in verdict.message
    assert verdict.review == "the reference notebook's f fails on case 'a', so it is not graded: no output"


def test_partial_credit_is_the_fraction_of_cases_right():
    reference = [answer("a", 1), answer("b", 2), answer("c", 3)]
    verdict = judged([answer("a", 1), answer("b", 3), answer("c", 3)], reference, ["a", "b", "c"])
    assert verdict.fraction == pytest.approx(2 / 3)
    assert verdict.message == "f is right on 2 of 3 cases. Case b: the output is not the expected number."
    assert verdict.review is None
