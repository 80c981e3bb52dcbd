"""The CharRNN course, start to finish: rubrics/charrnn.yaml grades every notebook of
submissions/charrnn through `grader grade`, on a tiny budget so that it runs in CI. The rubric is
copied with its paths made absolute, a budget of 8 steps of 8 x 16, 64 held-out windows, and a
reference that beats character frequencies within that budget (the shipped solution at 64 hidden
units, 1 layer and lr 0.1, margin 0.02): the budget, not the contract, is what changes, so every
check but `convergence` judges exactly what the shipped rubric does. The wall limit stays high (a
ceiling: the sampler's share of it is a sixth, and the 768x3 and 1024x2 nets sampling 104
characters three times on a loaded machine took over the 20 s a 120 s budget gives). `trains` is
asserted for every correct model, whatever its size (it verified as the contract's architecture);
`convergence` is not (its thresholds come from the tiny reference); benchmarks/bench_charrnn.py
measures it at the real budget.

The three get_batches bugs (s10-bug-targets-shifted-wrong, s11-bug-short-last-batch,
s12-bug-reshape-by-n-batches), whose models are correct and whose retraining (the grader's own
batching) is unharmed, are caught by the `function` check, which calls get_batches on the rubric's
cases in the sandbox and compares the outputs with the solution's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from grader.cli import main

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "charrnn.yaml"
SUBMISSIONS = ROOT / "submissions" / "charrnn"
MODEL_CHECKS = ("builds", "init_hidden", "forward", "variable_shapes", "parameter_count", "required_layers")
CORRECT = ("s01-correct-256x2", "s02-correct-128x1", "s03-correct-512x2", "s04-correct-768x3", "s05-correct-1024x2",
           "s06-correct-custom-init-512x2", "s07-correct-lr-2e-3-256x2")
BLANKS = ("s14-blank-starter", "s15-blank-partial")
TINY_BUDGET = {"steps": 8, "batch_size": 8, "seq_length": 16, "wall_seconds": 600, "threads": 1}


def test_the_course_files_are_rebuilt_by_their_scripts_and_the_samples_are_valid_notebooks():
    for script in ("make_corpus.py", "build_notebooks.py"):
        check = subprocess.run([sys.executable, str(ROOT / "assignments" / "charrnn" / script), "--check"],
                               capture_output=True, text=True, cwd=ROOT)
        assert check.returncode == 0, check.stdout + check.stderr
    spec = importlib.util.spec_from_file_location("charrnn_samples", SUBMISSIONS / "make_samples.py")
    samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(samples)
    assert sorted(samples.SAMPLES) == sorted(path.stem for path in SUBMISSIONS.glob("*.ipynb"))
    for name, make in samples.SAMPLES.items():
        assert make() == (SUBMISSIONS / f"{name}.ipynb").read_text(encoding="utf-8"), name
        nbformat.validate(nbformat.read(SUBMISSIONS / f"{name}.ipynb", as_version=nbformat.NO_CONVERT))


def tiny_reference(path: Path) -> Path:
    """The shipped solution at a size and learning rate that learn within the tiny budget."""
    notebook = nbformat.read(ROOT / "assignments" / "charrnn" / "solution.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if c.get("id") == "hyper")
    assert "n_hidden=256\nn_layers=2\n" in cell.source
    cell.source = cell.source.replace("n_hidden=256\nn_layers=2\n", "n_hidden=64\nn_layers=1\nlr=0.1\n")
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    """Every sample notebook graded by `grader grade --jobs 2` under the tiny copy of the rubric."""
    folder = tmp_path_factory.mktemp("charrnn-course")
    data = yaml.safe_load(RUBRIC.read_text(encoding="utf-8"))
    program = data["program"]
    program["corpus"] = str((RUBRIC.parent / program["corpus"]).resolve())
    program["holdout"]["path"] = str((RUBRIC.parent / program["holdout"]["path"]).resolve())
    program["reference"] = {**program["reference"], "seeds": [0], "margin": 0.02,
                            "notebook": str(tiny_reference(folder / "reference.ipynb"))}
    program["training"]["budgets"] = {"cpu": TINY_BUDGET}
    program["holdout"].update(count=64, length=16)
    rubric = folder / "charrnn.yaml"
    rubric.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(["calibrate", str(rubric)]) == 0, printed.getvalue()
        code = main(["grade", str(rubric), str(SUBMISSIONS), "--out", str(folder / "out"), "--jobs", "2"])
    assert code == 0, printed.getvalue()
    results = [json.loads(line) for line in (folder / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["student_id"]: {"result": r, "checks": {c["id"]: c for q in r["questions"] for p in q["parts"]
                                                      for c in p["criteria"]}}
            for r in results}


def test_every_sample_notebook_is_graded(graded):
    assert sorted(graded) == sorted(path.stem for path in SUBMISSIONS.glob("*.ipynb"))
    assert len(graded) >= 14


@pytest.mark.parametrize("student", CORRECT)
def test_a_correct_model_gets_every_model_generation_and_reproducibility_mark(graded, student):
    checks = graded[student]["checks"]
    for name in (*MODEL_CHECKS, "trains", "get_batches", "generation", "reproducible"):
        assert checks[name]["score"] == checks[name]["marks"] > 0, (name, checks[name]["message"])
        assert checks[name]["status"] == "correct", (name, checks[name])


def test_the_contigious_typo_builds_but_fails_forward(graded):
    checks = graded["s08-bug-contigious-typo"]["checks"]
    assert checks["builds"]["score"] == 1 and checks["forward"]["score"] == 0
    assert checks["forward"]["message"] == ("forward: batch 4, sequence length 16: AttributeError: 'Tensor' object has "
                                            "no attribute 'contigious' (cell 18, line 39)")


def test_drop_prob_in_the_bias_slot_loses_the_parameter_count(graded):
    """The torch installed refuses a float bias, so the model does not build at all: every check,
    parameter_count included, loses its marks for that one cause, named with its cell and line."""
    checks = graded["s09-bug-dropout-in-bias-slot"]["checks"]
    assert checks["parameter_count"]["score"] == checks["builds"]["score"] == 0
    assert checks["parameter_count"]["message"] == ("building the model failed: TypeError: bias should be of type "
                                                    "bool, got: float (cell 18, line 17)")


def test_a_model_without_its_dropout_layer_loses_required_layers_only(graded):
    checks = graded["s13-bug-no-dropout-layer"]["checks"]
    assert checks["required_layers"]["score"] == 0
    assert checks["required_layers"]["message"].startswith(
        "forward calls LSTM -> Linear; the exercise asks for LSTM -> Dropout -> Linear")
    for name in [c for c in MODEL_CHECKS if c != "required_layers"] + ["generation", "reproducible"]:
        assert checks[name]["score"] == checks[name]["marks"], (name, checks[name]["message"])


@pytest.mark.parametrize("student", BLANKS)
def test_a_blank_notebook_scores_nothing_and_says_why(graded, student):
    """Both leave the hyperparameter cell's `n_hidden=` blank: the model cannot be built, and each
    model check says so; the written answer is left to the marker. get_batches is judged on its own:
    the starter's is a stub that never parses, the partial notebook filled it in (the course's own
    code) and keeps those marks."""
    result, checks = graded[student]["result"], dict(graded[student]["checks"])
    assert checks.pop("justified")["score"] is None
    batching = checks.pop("get_batches")
    if student == "s14-blank-starter":
        assert batching["score"] == 0 and "get_batches" in batching["message"]
    else:
        assert batching["score"] == batching["marks"], batching["message"]
    assert result["score"] == batching["score"]
    for name, check in checks.items():
        assert check["score"] == 0, name
        assert check["message"] == "building the model failed: NameError: name 'n_hidden' is not defined", name


@pytest.mark.parametrize("student", ["s10-bug-targets-shifted-wrong", "s11-bug-short-last-batch",
                                     "s12-bug-reshape-by-n-batches"])
def test_a_broken_get_batches_loses_its_own_marks_and_nothing_else(graded, student):
    checks = graded[student]["checks"]
    assert checks["get_batches"]["score"] < checks["get_batches"]["marks"], checks["get_batches"]
    assert checks["get_batches"]["message"]
    for name in (*MODEL_CHECKS, "trains", "generation", "reproducible"):
        assert checks[name]["score"] == checks[name]["marks"], (name, checks[name]["message"])
