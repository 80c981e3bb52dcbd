"""Convergence that never marks down a correct model: the `trains` check (does the model train like a
correct implementation at its own sizes and learning rate?) and the `convergence` check's baseline
for models larger than the reference's, computed and cached by the grader (grader/program/baseline.py).
Real notebooks of the tiny assignment (tests/program_support.py) graded through real sandboxed runs
on a short budget; sizes from 128 to 1024 units and 1 to 3 layers, default and custom initialisations.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from grader.batch import grade_files
from grader.notebook import read_notebook
from grader.program import baseline
from grader.program.run import observe
from grader.rubric import PROGRAM, load_rubric
from tests.program_support import CORRECT_MODEL, notebook_with, tiny_assignment

SHORT = {"steps": 25, "batch_size": 8, "seq_length": 16}
CUSTOM_INIT = CORRECT_MODEL.replace("        self.fc = nn.Linear(hidden_size, vocab_size)\n", textwrap.indent(
    textwrap.dedent('''\
    self.fc = nn.Linear(hidden_size, vocab_size)
    for name, weight in self.lstm.named_parameters():
        if "weight_hh" in name:
            nn.init.orthogonal_(weight)
        elif "weight_ih" in name:
            nn.init.xavier_uniform_(weight)
        else:
            nn.init.zeros_(weight)
    nn.init.normal_(self.embedding.weight, std=0.1)
    '''), " " * 8))
ZEROED_OUTPUT = CORRECT_MODEL.replace("return self.fc(self.dropout(output)), hidden",
                                      "return 0.0 * self.fc(self.dropout(output)), hidden")
CORRECT = {  # name -> (hidden_size, num_layers, model source)
    "h128x1-default": (128, 1, CORRECT_MODEL),
    "h512x2-custom-init": (512, 2, CUSTOM_INIT),
    "h768x3-default": (768, 3, CORRECT_MODEL),
    "h1024x3-custom-init": (1024, 3, CUSTOM_INIT),
}


@pytest.fixture(scope="module")
def rubric_path(tmp_path_factory):
    return tiny_assignment(tmp_path_factory.mktemp("short"), budget=SHORT)


@pytest.fixture(scope="module")
def graded(rubric_path, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("sizes")
    files = [notebook_with(folder / f"{name}.ipynb", model=source,
                           hyperparameters={"hidden_size": hidden, "num_layers": layers})
             for name, (hidden, layers, source) in CORRECT.items()]
    files.append(notebook_with(folder / "zeroed-output.ipynb", model=ZEROED_OUTPUT))
    files.append(notebook_with(folder / "h512x2-slow-rate.ipynb", hyperparameters={
        "hidden_size": 512, "num_layers": 2, "learning_rate": 0.0005}))
    return {result.student_id: result for result in grade_files(rubric_path, files, jobs=2)}


def criteria(result) -> dict:
    return {c.id: c for q in result.questions for p in q.parts for c in p.criteria}


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_models_of_any_size_and_initialisation_get_full_marks_for_training_like_the_contract(graded, name):
    found = criteria(graded[name])
    trains = found["trains"]
    assert (trains.status, trains.score, trains.review) == ("correct", 1.0, None), trains.message
    hidden, layers, _ = CORRECT[name]
    assert f"at your sizes (embedding 16, hidden {hidden}, {layers} layer(s))" in trains.message
    assert "trains exactly as a correct implementation does" in trains.message
    assert found["parameter_count"].status == "correct"


@pytest.mark.parametrize("name", list(CORRECT))
def test_a_correct_model_larger_than_the_reference_never_loses_convergence_marks_to_the_budget(graded, name):
    """The reference has 64 units. At its learning rate a larger correct model is held to what the
    contract's model reaches at the same sizes on the same budget where that is the higher loss:
    at 1024x3 it is (25 steps favour small models), at 128x1 the reference's own loss stands."""
    retrained = criteria(graded[name])["retrained"]
    assert retrained.status == "correct", retrained.message
    if name == "h1024x3-custom-init":
        assert "your model is larger than the reference's" in retrained.message


def test_a_larger_model_with_a_slower_rate_is_compared_with_the_reference_rate_at_its_sizes(graded):
    """Its own retraining is not the baseline (another rate), so the grader trained the contract's
    model at 512x2 with the reference's rate itself; the slower rate is what is judged."""
    message = criteria(graded["h512x2-slow-rate"])["retrained"].message
    assert "with your learning rate 0.0005" in message
    assert "at your sizes with the reference's learning rate 0.01, which reaches" in message
    assert criteria(graded["h512x2-slow-rate"])["trains"].status == "correct"


def test_a_model_that_cannot_learn_does_not_train_like_the_contract(graded):
    """Zeroed logits are not the contract's architecture: its own code was retrained, compared with
    the contract's model at the same sizes and rate, trained by the grader, and it falls short."""
    found = criteria(graded["zeroed-output"])
    assert found["trains"].score == 0
    assert "the contract's model at the same sizes and learning rate, trained the same way by the grader, " \
           "reaches" in found["trains"].message
    assert found["retrained"].score == 0


def test_the_grader_trains_each_baseline_once_and_gets_the_sandbox_s_loss(rubric_path, tmp_path, monkeypatch):
    """The baseline trained in the grader's process is the supervisor's retraining of the same
    configuration (one training loop for both); a second request reads the cache, in memory or on disk."""
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(baseline, "_MEMORY", {})
    rubric = load_rubric(rubric_path)
    setup = rubric.program
    path = notebook_with(tmp_path / "n.ipynb", hyperparameters={"hidden_size": 96})
    run = observe(read_notebook(path), setup, "cpu")
    assert run.train.by == "grader" and run.holdout_loss is not None
    at = baseline.sizes(setup.spec.model, run)
    assert at == (16, 96, 1)
    rate = run.train.settings.learning_rate
    first = baseline.baseline(setup, "cpu", at, rate, run.train.settings.seed)
    assert first.loss == pytest.approx(run.holdout_loss, abs=2e-3)
    [cached] = list((tmp_path / "cache" / "baselines").glob("*.json"))
    assert json.loads(cached.read_text())["loss"] == first.loss
    monkeypatch.setattr(baseline, "_MEMORY", {})
    monkeypatch.setattr(baseline, "_train", lambda *a: pytest.fail("trained again"))
    assert baseline.baseline(setup, "cpu", at, rate, run.train.settings.seed) == first
    limits = rubric.solutions[PROGRAM]["convergence"]["cpu"]
    assert limits["learning_rate"] == rate and limits["parameters"] < first.parameters


def test_a_baseline_too_large_to_train_says_so(rubric_path):
    setup = load_rubric(rubric_path).program
    refused = baseline.baseline(setup, "cpu", (16, 4096, 3), 0.01, 0)
    assert refused.loss is None and "more than the grader trains as a baseline" in refused.error


def test_a_run_a_time_limit_stopped_after_the_build_runs_again_with_more_time(rubric_path, tmp_path, monkeypatch):
    """The clock only bounds a run: a large model on a loaded machine that reaches the wall limit is
    run once more with 3x the time limits and the same work, and the instructor is told."""
    from grader.program import run as run_module
    from grader.program import submission as submission_module

    assert run_module.limits_for(load_rubric(rubric_path).program, "cpu", 3.0).wall_seconds == 3 * 60
    calls, real_observe = [], run_module.observe

    def observe_once_stopped(*args, **kwargs):
        calls.append(kwargs.get("ceiling", 1.0))
        run = real_observe(*args, **kwargs)
        return run.model_copy(update={"limit": "wall_time"}) if len(calls) == 1 else run

    monkeypatch.setattr(run_module, "observe", observe_once_stopped)
    path = notebook_with(tmp_path / "slow.ipynb")
    submission = submission_module.read_notebook_submission(path, load_rubric(rubric_path))
    assert calls == [1.0, 3.0]
    assert submission.file_notes[-1] == ("slow.ipynb: the run was stopped by its wall-time limit, so the notebook "
                                         "was run again with 3x the time limits (the same work)")
    assert submission.program["limit"] is None and submission.program["train"]["ok"]


def test_an_unwritable_cache_still_gives_the_baseline(rubric_path, tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("GRADER_CACHE", str(blocked))
    monkeypatch.setattr(baseline, "_MEMORY", {})
    setup = load_rubric(rubric_path).program
    result = baseline.baseline(setup, "cpu", (16, 32, 1), 0.01, 0)
    assert result.loss is not None and result.error is None
