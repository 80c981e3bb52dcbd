"""The program checks end to end: real notebooks, read statically, run in the sandbox, judged by
the shipped rubric's coding question (the tiny assignment of tests/program_support.py), plus the
rubric's program section at load, calibration, answer files that try to claim a run, a second
scaffold (tests/data/charrnn/) that needs only a new rubric, and the command line.

Sandboxed runs cost seconds each, so every notebook is graded once, in one batch per module
fixture, and the tests read the results; notebooks exercise several checks where they can.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml
from torch import nn

from grader.batch import grade_files
from grader.cli import main
from grader.errors import RubricError
from grader.key import build_key
from grader.program.observations import (Backward, Build, Forward, ForwardProbe, Generate, GenerationRun,
                                         HiddenProbe, InitHidden, ProgramRun, Sample, Step, Train, TrainingSettings,
                                         Verification)
from grader.reports import gradescope_results, render_html, render_markdown
from grader.rubric import PROGRAM, load_rubric
from grader.scoring import grade_submission
from grader.submission import read_answer_file
from tests.program_support import CORPUS, CORRECT_MODEL, TINY_HYPERPARAMETERS, notebook_with, tiny_assignment

CHARRNN = Path(__file__).resolve().parent / "data" / "charrnn"
PROGRAM_CHECKS = {"builds", "init_hidden", "forward", "variable_shapes", "parameter_count", "trains", "retrained",
                  "generation", "reproducible"}
SUBMIT_NOTEBOOK = "this check runs the code in your notebook; submit the .ipynb file"
DIFFERENT_CODE = "different code"
PRINTED = {"output_type": "stream", "name": "stdout",
           "text": "Epoch 10/10... Step: 500... Loss: 0.7900... Val Loss: 0.8000\n"}
CONVERGENCE_ANSWER = "I settled on hidden_size 64 and learning_rate 0.01; 256 units overfit. Val loss 1.45."
INFERENCE_ANSWER = "Sample: 'The miller sat by the door'. Lower temperature repeats common words."


def model(forward: str | None = None, init_hidden: str | None = None, init_extra: str = "",
          lstm_extra: str = "") -> str:
    """CORRECT_MODEL with its forward and/or init_hidden body replaced, lines added to __init__ or
    arguments added to its nn.LSTM call: one change per variant, the rest right."""
    source = textwrap.dedent(CORRECT_MODEL)
    if lstm_extra:
        source = source.replace("batch_first=True,", f"batch_first=True, {lstm_extra},")
    if init_extra:
        source = source.replace("        self.fc = nn.Linear(hidden_size, vocab_size)\n",
                                "        self.fc = nn.Linear(hidden_size, vocab_size)\n"
                                + textwrap.indent(textwrap.dedent(init_extra).strip(), " " * 8) + "\n")
    for name, body in (("forward", forward), ("init_hidden", init_hidden)):
        if body is not None:
            head = "    def forward(self, x, hidden):\n" if name == "forward" else \
                "    def init_hidden(self, batch_size):\n"
            start = source.index(head) + len(head)
            end = source.find("\n\n    def ", start)
            end = len(source) if end == -1 else end + 1
            source = source[:start] + textwrap.indent(textwrap.dedent(body).strip(), " " * 8) + "\n" + source[end:]
    return source


UNSEEDED_GENERATE = '''
def generate(model, vocabulary, seed_text, gen_length, temperature=1.0, top_k=None, seed=0):
    """Samples from a generator seeded by the operating system: `seed` is accepted and never used, and
    the grader seeding the global generators first does not help."""
    import os
    generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(7), "little"))
    model.eval()
    with torch.no_grad():
        logits, hidden = model(vocabulary.encode(seed_text).unsqueeze(0), model.init_hidden(1))
        ids = []
        for _ in range(gen_length):
            probs = torch.softmax(logits.reshape(-1, len(vocabulary))[-1] / temperature, dim=-1)
            ids.append(int(torch.multinomial(probs, 1, generator=generator)))
            logits, hidden = model(torch.tensor([[ids[-1]]]), hidden)
    return seed_text + vocabulary.decode(ids)
'''
SHORT_GENERATE = UNSEEDED_GENERATE.replace("range(gen_length)", "range(gen_length - 1)").replace(
    'int.from_bytes(os.urandom(7), "little")', "seed")  # seeded, one character short

# name -> notebook_with arguments; each notebook is the solution with the changes named
VARIANTS = {
    "right": dict(model=CORRECT_MODEL, outputs={"history = train(": [PRINTED]}),
    "flat-cuda-imports": dict(
        model=model(forward="""
            output, hidden = self.lstm(self.embedding(x), hidden)
            return self.fc(self.dropout(output).reshape(-1, self.hidden_size)), hidden""",
                    init_hidden="""
            shape = (self.num_layers, batch_size, self.hidden_size)
            return torch.zeros(shape).cuda(), torch.zeros(shape).cuda()"""),
        extra_cells=["import tqdm\nfrom tqdm.auto import trange\nimport matplotlib.pyplot as plt"]),
    "last-step": dict(model=model(forward="""
            output, hidden = self.lstm(self.embedding(x), hidden)
            return self.fc(output[:, -1, :]), hidden""")),
    "hidden-batch-major": dict(model=model(init_hidden="""
            weight = next(self.parameters())
            shape = (batch_size, self.num_layers, self.hidden_size)
            return weight.new_zeros(shape), weight.new_zeros(shape)""")),
    "hidden-single": dict(model=model(init_hidden="""
            return next(self.parameters()).new_zeros(self.num_layers, batch_size, self.hidden_size)""")),
    "ones-unseeded-nobias": dict(
        model=model(lstm_extra="bias=False", init_hidden="""
            weight = next(self.parameters())
            shape = (self.num_layers, batch_size, self.hidden_size)
            return weight.new_ones(shape), weight.new_ones(shape)"""),
        extra_cells=[UNSEEDED_GENERATE]),
    "forward-typo": dict(model=model(forward="""
            output, hidden = self.lstm(self.embedding(x), hidden)
            return self.fc(self.dropout(output).contigious()), hidden""")),
    "batch4-unused-layer": dict(model=model(init_extra="self.projection = nn.Linear(hidden_size, hidden_size)",
                                            forward="""
            output, hidden = self.lstm(self.embedding(x), hidden)
            output = output.contiguous().view(4, -1, self.hidden_size)
            return self.fc(output), hidden""")),
    "lr-zero-short-text": dict(hyperparameters={"learning_rate": 0}, extra_cells=[SHORT_GENERATE]),
    "lr-string": dict(hyperparameters={"learning_rate": "0.01"}),
    "hidden-2": dict(hyperparameters={"hidden_size": 2}),
    "lr-1e-5": dict(hyperparameters={"learning_rate": 1e-5}),
    "bias-only-printed": dict(outputs={"history = train(": [PRINTED]}, model=model(forward="""
            output, hidden = self.lstm(self.embedding(x), hidden)
            return self.fc(torch.zeros_like(output)), hidden""")),
    "constant-printed": dict(outputs={"history = train(": [PRINTED]}, model=model(forward="""
            output, hidden = self.lstm(self.embedding(x), hidden)
            return torch.zeros(x.shape[0], x.shape[1], self.fc.out_features), hidden""")),
}


def fill_answer_cells(path: Path, answers: dict[str, str]) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        part = cell.get("metadata", {}).get("grader", {}).get("part")
        if part in answers:
            cell.source = answers[part]
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The calibrated tiny assignment's rubric."""
    return tiny_assignment(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_rubric(tiny):
    return load_rubric(tiny)


def tiny_parameters(vocab: int, bias: bool = True) -> int:
    """Embedding -> 1-layer LSTM -> linear at the tiny hyperparameters, counted by torch itself."""
    embedding, hidden = TINY_HYPERPARAMETERS["embedding_dim"], TINY_HYPERPARAMETERS["hidden_size"]
    modules = (nn.Embedding(vocab, embedding), nn.LSTM(embedding, hidden, 1, bias=bias), nn.Linear(hidden, vocab))
    return sum(p.numel() for m in modules for p in m.parameters())


@pytest.fixture(scope="module")
def graded(tiny, tmp_path_factory) -> dict:
    """Every variant notebook, graded in one batch: name -> SubmissionResult."""
    folder = tmp_path_factory.mktemp("notebooks")
    files = [notebook_with(folder / f"{name}.ipynb", **arguments) for name, arguments in VARIANTS.items()]
    fill_answer_cells(folder / "right.ipynb", {"coding.convergence": CONVERGENCE_ANSWER,
                                               "coding.inference": INFERENCE_ANSWER})
    results = grade_files(tiny, files, jobs=2)
    return {result.student_id: result for result in results}


def criteria(result) -> dict:
    return {c.id: c for q in result.questions for p in q.parts for c in p.criteria}


def passing(result) -> set[str]:
    return {c.id for c in criteria(result).values() if c.status == "correct"}


def cell_and_line(path: Path, marker: str, text: str) -> str:
    """`(cell N, line M)` of the first line holding `text` in the code cell holding `marker`."""
    notebook = nbformat.read(path, as_version=4)
    number = next(i for i, cell in enumerate(notebook.cells, 1) if cell.cell_type == "code" and marker in cell.source)
    line = next(i for i, row in enumerate(notebook.cells[number - 1].source.splitlines(), 1) if text in row)
    return f"(cell {number}, line {line})"


# --- 1. the right model --------------------------------------------------------------------------

def test_the_right_model_gets_every_automatic_mark_and_its_answer_cells_reach_the_person(graded):
    result = graded["right"]
    assert result.readable and result.errors == [] and result.warnings == []
    assert (result.score, result.max_score, result.manual_pending) == (12.0, 15.0, 3.0)
    found = criteria(result)
    assert passing(result) == PROGRAM_CHECKS
    assert {c.id for c in found.values() if c.status == "manual"} == {"justified", "discussed"}
    # the same printed line as the flagged notebooks below: a low printed loss is normal for a model that learns
    assert found["retrained"].warnings == []
    parts = {p.id: p for q in result.questions for p in q.parts}
    assert parts["coding.convergence"].answer == CONVERGENCE_ANSWER
    assert parts["coding.inference"].answer == INFERENCE_ANSWER
    assert parts["coding.model"].status == "correct"


# --- 2. variants ---------------------------------------------------------------------------------

def test_flattened_logits_gpu_calls_and_missing_modules_still_get_every_automatic_mark(graded):
    """(B*T, V) logits are an accepted layout; `.cuda()` without a GPU and imports of modules not
    installed in the sandbox (tqdm, matplotlib) are allowances, reported as notices."""
    result = graded["flat-cuda-imports"]
    assert passing(result) == PROGRAM_CHECKS and result.score == 12.0
    assert any("`.cuda()` was called on a tensor; there is no GPU here" in w for w in result.warnings)
    for module in ("tqdm", "matplotlib"):
        assert any(f"`{module}` is not installed where the grader runs" in w for w in result.warnings)
    assert any("needs a GPU" in w for w in result.warnings)  # the reader's note on the line, too


def test_each_notebook_warning_is_given_once(graded):
    warnings = graded["flat-cuda-imports"].warnings
    assert len(warnings) == len(set(warnings)), warnings


def test_logits_of_the_last_step_only_fail_forward_and_variable_shapes(graded, tiny_rubric):
    vocab = len(tiny_rubric.program.chars)
    result = graded["last-step"]
    found = criteria(result)
    assert passing(result) == {"builds", "init_hidden", "parameter_count", "generation", "reproducible"}
    assert found["forward"].message == (f"forward: batch 4, sequence length 16: logits of shape [4, {vocab}], "
                                        f"expected [4, 16, {vocab}] or [64, {vocab}]")
    assert f"batch 1, sequence length 16: logits of shape [1, {vocab}]" in found["variable_shapes"].message
    assert "retraining failed: ValueError: logits of shape [16, " in found["retrained"].message


def test_a_batch_major_hidden_state_fails_init_hidden_naming_the_expected_shape(graded):
    result = graded["hidden-batch-major"]
    found = criteria(result)
    # forward uses it at batch 4; sampling only at batch 1, where the shape is right. The model itself is the
    # contract's architecture, so the grader's retraining (from zeros) earns its marks: each bug costs its own check
    assert passing(result) == {"builds", "parameter_count", "generation", "reproducible", "trains", "retrained"}
    assert found["forward"].score == 0
    assert found["init_hidden"].score == 0
    assert found["init_hidden"].message.startswith(
        "init_hidden: batch 4: h has shape [4, 1, 64], expected [1, 4, 64] (layers, batch, hidden)")


def test_a_single_hidden_tensor_for_an_lstm_fails_init_hidden(graded):
    result = graded["hidden-single"]
    found = criteria(result)
    assert found["init_hidden"].score == 0 and found["forward"].score == 0
    assert "batch 4: the hidden state must be a pair (h, c)" in found["init_hidden"].message
    assert passing(result) == {"builds", "parameter_count", "trains", "retrained"}  # retrained by the grader


def test_a_single_hidden_tensor_message_names_the_expected_shape(graded):
    message = criteria(graded["hidden-single"])["init_hidden"].message
    assert "[1, 4, 64]" in message and "(layers, batch, hidden)" in message


def test_ones_for_hidden_bias_false_and_an_unseeded_sampler_each_lose_their_own_check(graded, tiny_rubric):
    result = graded["ones-unseeded-nobias"]
    found = criteria(result)
    assert {"builds", "forward", "variable_shapes", "generation"} <= passing(result)
    assert not {"init_hidden", "parameter_count", "reproducible"} & passing(result)
    assert found["init_hidden"].message == "init_hidden: " + "; ".join(
        f"batch {b}: the initial hidden state is not all zeros" for b in (4, 3, 1))
    vocab = len(tiny_rubric.program.chars)
    assert found["parameter_count"].message == (
        f"your model has {tiny_parameters(vocab, bias=False)} parameters; embedding {vocab}x16, 1-layer LSTM of 64, "
        f"linear 64->{vocab} has {tiny_parameters(vocab)}")
    assert found["reproducible"].message.startswith("two generations with seed 1234 gave different text")


def test_a_hard_coded_batch_size_passes_forward_fails_batch_1_and_the_unused_layer_is_named(graded, tmp_path):
    result = graded["batch4-unused-layer"]
    found = criteria(result)
    assert {"builds", "init_hidden", "forward"} <= passing(result)
    assert not {"variable_shapes", "parameter_count", "generation", "reproducible"} & passing(result)
    assert found["forward"].warnings[0] == ("these parameters got no gradient, so their layer is built but never "
                                            "used: projection.weight, projection.bias")
    # both verifications feed batch 3, which a model that only works for batch 4 cannot take
    review = found["forward"].review
    assert review.startswith("the model's report is not confirmed: at your own sizes: its forward failed: "
                             "RuntimeError: shape '[4, -1, 64]' is invalid")
    assert "student.py" not in review and re.search(r"\(cell \d+, line \d+\)", review)  # the notebook's cell
    assert re.search(r"at sizes drawn for this run: built with embedding_dim=\d, hidden_size=\d+, num_layers=\d, "
                     r"the model failed: RuntimeError: shape '\[4, -1, \d+\]' is invalid", review)
    assert "could not confirm your model by recomputing it" in found["forward"].warnings[1]
    assert "batch 1, sequence length 16: logits of shape [4, 4, 64], expected [1, 16, 64]" in \
        found["variable_shapes"].message
    assert "your model has" in found["parameter_count"].message
    # the sampler (batch 1) trips on the same line, and the message says where it is in the notebook
    path = notebook_with(tmp_path / "same.ipynb", **VARIANTS["batch4-unused-layer"])
    where = cell_and_line(path, "class CharLSTM", ".view(4, -1")
    assert found["generation"].message.startswith("generation failed: RuntimeError: shape '[4, -1, 64]' is invalid")
    assert found["generation"].message.endswith(where)
    assert any("`CharLSTM.projection` (nn.Linear) is created in __init__ but never used" in w for w in result.warnings)


@pytest.mark.parametrize("name, shown", [("lr-zero-short-text", "0"), ("lr-string", "'0.01'")])
def test_a_learning_rate_that_is_not_a_positive_number_fails_convergence_only(graded, name, shown):
    found = criteria(graded[name])
    assert found["retrained"].score == 0
    assert found["retrained"].message == (f"retraining failed: ValueError: the learning rate must be a positive "
                                          f"number, got {shown}")
    assert {"builds", "init_hidden", "forward", "variable_shapes", "parameter_count", "reproducible"} <= \
        passing(graded[name])


def test_a_sampler_one_character_short_fails_generation_but_is_reproducible(graded):
    found = criteria(graded["lr-zero-short-text"])
    numbers = re.fullmatch(r"generation: (\d+) characters, expected (\d+)", found["generation"].message)
    assert numbers and int(numbers[1]) == int(numbers[2]) - 1
    assert found["reproducible"].status == "correct"


@pytest.mark.parametrize("name", ["hidden-2", "lr-1e-5"])
def test_hyperparameters_that_cannot_learn_on_the_budget_lose_convergence_marks(graded, name):
    right = criteria(graded["right"])["retrained"]
    found = criteria(graded[name])
    retrained = found["retrained"]
    assert retrained.status in ("partial", "incorrect") and retrained.score < right.score
    assert retrained.score <= 1.0  # at most half: these are far from the reference's loss
    assert "nats/char on held-out text" in retrained.message
    assert passing(graded[name]) == PROGRAM_CHECKS - {"retrained"}  # counted at the notebook's own sizes


# --- 3. printed losses from different code -------------------------------------------------------

def test_a_printed_low_loss_from_a_model_that_ignores_its_input_is_flagged(graded):
    found = criteria(graded["bias-only-printed"])
    retrained = found["retrained"]
    assert retrained.score == 0
    assert retrained.warnings[0].startswith("the notebook printed a loss of 0.79")
    # it is not the contract's architecture (nothing reaches fc), so its own code retrained it; but a 0
    # stands with its reason, so there is nothing for a person to confirm
    assert len(retrained.warnings) == 1 and retrained.review is None
    assert "no better than character frequencies" in retrained.warnings[0] and DIFFERENT_CODE in retrained.warnings[0]
    assert "reaches 3." in retrained.warnings[0]  # its retrained loss, near the frequency-only one
    assert any("embedding.weight" in w for w in found["forward"].warnings)  # nothing before fc gets a gradient


def test_a_printed_low_loss_from_a_model_that_cannot_train_is_flagged(graded):
    retrained = criteria(graded["constant-printed"])["retrained"]
    assert retrained.score == 0 and retrained.message.startswith("retraining failed: RuntimeError")
    [warning] = retrained.warnings
    assert warning.startswith("the notebook printed a loss of 0.79, but its code as handed in fails to train")
    assert "the printed outputs came from " + DIFFERENT_CODE in warning


# --- 4. one message per cause -------------------------------------------------------------------

UNCONFIRMED = "your instructor will look at the marks that rest on it"


def test_a_forward_that_always_crashes_flags_only_the_marks_that_stand_and_says_so_once(graded):
    """The `.contigious()` typo in forward: the model builds, but every forward raises, so it can
    never be recomputed. The checks that need forward fail with the crash and no review (a 0 has
    nothing to confirm); builds, init_hidden and parameter_count stand unconfirmed: one review line
    for the instructor, and the student reads the unconfirmed warning once."""
    result = graded["forward-typo"]
    found = criteria(result)
    standing = {"builds", "init_hidden", "parameter_count"}
    assert passing(result) == standing
    assert {name for name, c in found.items() if c.review} == standing
    assert all("AttributeError: 'Tensor' object has no attribute 'contigious'" in found[name].message
               for name in ("forward", "variable_shapes", "generation", "retrained"))
    [review] = result.reviews()
    assert review.startswith("the model's report is not confirmed: at your own sizes: its forward failed: "
                             "AttributeError: 'Tensor' object has no attribute 'contigious'")
    assert review.endswith("(coding.model/builds, coding.model/init_hidden, coding.model/parameter_count)")
    assert all(UNCONFIRMED in found[name].warnings[-1] for name in standing)  # the record keeps each
    for document in (render_markdown(result), render_html(result), json.dumps(gradescope_results(result))):
        assert document.count(UNCONFIRMED) == 1


def test_a_mark_of_0_is_never_flagged_as_unconfirmed(graded):
    """Confirming the model could not change a 0, so there is nothing for a person to decide."""
    for result in graded.values():
        assert not any((c.review or "").startswith("the model's report is not confirmed")
                       for c in criteria(result).values() if not c.score), result.student_id


# --- 5. the rubric's program section at load -----------------------------------------------------

def write_rubric(folder: Path, name: str, data: dict) -> tuple[Path, list[str]]:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path, path.read_text(encoding="utf-8").splitlines()


def line_of(lines: list[str], text: str, after: str | None = None) -> int:
    start = 0 if after is None else next(i for i, row in enumerate(lines) if after in row)
    return next(i for i, row in enumerate(lines) if i >= start and text in row) + 1


def problems_of(path: Path) -> list[str]:
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    return [str(p) for p in info.value.problems]


def test_program_solutions_need_a_program_section(tiny):
    data = yaml.safe_load(tiny.read_text(encoding="utf-8"))
    del data["program"]
    path, lines = write_rubric(tiny.parent, "no-program.yaml", data)
    problems = problems_of(path)
    assert len(problems) == 9  # every program check, none of the manual criteria
    line = line_of(lines, "solution: program.convergence")
    assert f"{path}:{line}: questions[0].parts[1].criteria[0].solution: program.convergence needs a program: " \
           "section describing the notebook's model" in problems


def test_a_missing_corpus_is_named_at_the_program_section(tiny):
    data = yaml.safe_load(tiny.read_text(encoding="utf-8"))
    data["program"]["corpus"] = "missing.txt"
    path, lines = write_rubric(tiny.parent, "no-corpus.yaml", data)
    problems = problems_of(path)
    assert problems[0].startswith(f"{path}:{line_of(lines, 'program:')}: program: corpus: cannot read "
                                  f"{tiny.parent / 'missing.txt'}")
    assert "No such file" in problems[0]


def test_the_convergence_check_needs_the_convergence_solution(tiny):
    text = tiny.read_text(encoding="utf-8").replace("solution: program.convergence", "solution: program.contract")
    path = tiny.parent / "wrong-solution.yaml"
    path.write_text(text, encoding="utf-8")
    shutil.copy(tiny.with_name("tiny.calibration.json"), tiny.parent / "wrong-solution.calibration.json")
    line = line_of(text.splitlines(), "solution: program.contract", after="check: convergence")
    trains = line_of(text.splitlines(), "solution: program.contract", after="check: trains")
    assert problems_of(path) == [
        f"{path}:{trains}: questions[0].parts[1].criteria[0].solution: the trains check takes solution: "
        "program.convergence",
        f"{path}:{line}: questions[0].parts[1].criteria[1].solution: the convergence check takes solution: "
        "program.convergence"]


def test_a_stale_or_missing_calibration_names_grader_calibrate(tiny):
    data = yaml.safe_load(tiny.read_text(encoding="utf-8"))
    data["program"]["training"]["budgets"]["cpu"]["steps"] += 1
    stale, lines = write_rubric(tiny.parent, "stale.yaml", data)
    shutil.copy(tiny.with_name("tiny.calibration.json"), tiny.parent / "stale.calibration.json")
    line = line_of(lines, "cpu:", after="budgets:")
    [problem] = problems_of(stale)
    assert problem.startswith(f"{stale}:{line}: program.training.budgets.cpu: the calibration file "
                              f"{tiny.parent / 'stale.calibration.json'} is stale")
    assert problem.endswith(f"run `grader calibrate {stale} --device cpu`")

    uncalibrated = tiny.parent / "uncalibrated.yaml"
    shutil.copy(tiny, uncalibrated)
    [problem] = problems_of(uncalibrated)
    assert "uncalibrated.calibration.json has no entry for it; run `grader calibrate" in problem


def test_an_uncalibrated_rubric_loads_for_calibration_without_thresholds(tiny):
    path = tiny.parent / "for-calibration.yaml"
    shutil.copy(tiny, path)
    rubric = load_rubric(path, calibrated=False)
    assert rubric.solutions[PROGRAM]["convergence"] == {}
    entry = next(e for e in build_key(rubric).entries if e.criterion == "retrained")
    assert entry.shown == "not calibrated"
    assert load_rubric(tiny).solutions[PROGRAM]["convergence"]["cpu"]["steps"] == 40  # the calibrated one has them


# --- 6. an answer file cannot claim a run --------------------------------------------------------

def passing_run(rubric) -> dict:
    """A run every program check of the tiny rubric passes: what a forger would hand in."""
    chars, layers, hidden = rubric.program.chars, 1, TINY_HYPERPARAMETERS["hidden_size"]
    vocab, budget = len(chars), rubric.program.spec.training.budgets["cpu"]
    count = tiny_parameters(vocab)
    pair = lambda batch: [[layers, batch, hidden]] * 2  # noqa: E731
    text = "The miller" + chars[0] * 300
    return ProgramRun(
        device="cpu", budget=budget, backend="bwrap", wall_seconds=5, cpu_seconds=5, peak_memory_mib=300,
        chars=chars, load=Step(ok=True),
        values={**{k: {"value": v} for k, v in TINY_HYPERPARAMETERS.items()}, "dropout": {"value": 0.0},
                "seed_text": {"value": "The miller"}, "gen_length": {"value": 300}},
        build=Build(ok=True, parameters=count),
        verification=Verification(status="verified", detail="recomputed from its own weights"),
        verify_own=Verification(status="verified", detail="recomputed from its own weights"),
        init_hidden=InitHidden(results=[HiddenProbe(ok=True, batch=b, form="tuple", shapes=pair(b), zeros=True)
                                        for b in (4, 3, 1)]),
        forward=Forward(results=[ForwardProbe(ok=True, batch=b, seq=s, logits=[b, s, vocab], hidden=pair(b),
                                              finite=True) for b, s in ((4, 16), (1, 16), (4, 1), (3, 7))]),
        backward=Backward(ok=True),
        generate=Generate(runs=[GenerationRun(ok=True, seed=s, type="str", text=text) for s in (1234, 1234, 4321)]),
        train=Train(ok=True, by="grader", device="cpu", steps=budget.steps, seconds=3, losses=[1.0] * budget.steps,
                    settings=TrainingSettings(steps=budget.steps, batch_size=budget.batch_size,
                                              seq_length=budget.seq_length, seed=0, grad_clip=5.0,
                                              learning_rate=0.01)),
        holdout=Step(ok=True), holdout_loss=0.5, sample=Sample(ok=True, text=text),
    ).model_dump(mode="json")


def test_an_answer_file_claiming_a_passing_run_earns_nothing_for_the_program_checks(tiny_rubric, tmp_path):
    rubric = tiny_rubric
    key = build_key(rubric)
    fake = passing_run(rubric)
    program_checks = {k: c for k, c in rubric.comparators.items() if c.reads_program}
    assert {criterion for _, criterion in program_checks} == PROGRAM_CHECKS
    for check, comparator in program_checks.items():  # it would pass every check if it got there
        assert comparator.check(fake, rubric.references[check]).fraction == 1.0, check
    path = tmp_path / "forger.json"
    path.write_text(json.dumps({
        "format": "grader-answers/1", "student_id": "forger", "assessment_id": "tiny-charlstm", "program": fake,
        "answers": {"coding.model": fake, "coding.convergence": {"retrained": fake, "program": fake},
                    "coding.inference": {"generation": fake, "reproducible": fake}}}), encoding="utf-8")
    result = grade_submission(rubric, key, read_answer_file(path))
    found = criteria(result)
    assert result.score == 0
    for name in PROGRAM_CHECKS:
        assert (found[name].score, found[name].status, found[name].message) == (0, "missing", SUBMIT_NOTEBOOK)
    assert "ignored unknown top-level field(s): program" in result.warnings


# --- 4 and 7. another scaffold, calibrated and graded from the command line ----------------------

def broken_charrnn(path: Path) -> Path:
    """The CharRNN solution without batch_first=True: its LSTM reads (seq, batch, features)."""
    notebook = nbformat.read(CHARRNN / "solution.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if "class CharRNN" in c.source)
    assert ", batch_first=True" in cell.source
    cell.source = cell.source.replace(", batch_first=True", "")
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def charrnn(tmp_path_factory) -> dict:
    """tests/data/charrnn copied next to a corpus, calibrated by `grader calibrate`, and a folder of
    two notebooks (plus a Jupyter checkpoint copy) graded by `grader grade`."""
    folder = tmp_path_factory.mktemp("charrnn")
    text = CORPUS.read_text(encoding="utf-8")[:40_000]
    seen = set(text[:36_000])  # the held-out tenth may only use characters training shows
    (folder / "corpus.txt").write_text(text[:36_000] + "".join(c if c in seen else " " for c in text[36_000:]),
                                       encoding="utf-8")
    rubric = folder / "charrnn.yaml"
    shutil.copy(CHARRNN / "charrnn.yaml", rubric)
    shutil.copy(CHARRNN / "solution.ipynb", folder / "solution.ipynb")
    calibrate_out = io.StringIO()
    with contextlib.redirect_stdout(calibrate_out):
        calibrate_code = main(["calibrate", str(rubric)])
    submissions = folder / "submissions"
    (submissions / ".ipynb_checkpoints").mkdir(parents=True)
    shutil.copy(CHARRNN / "solution.ipynb", submissions / "correct.ipynb")
    broken_charrnn(submissions / "broken.ipynb")
    shutil.copy(CHARRNN / "solution.ipynb", submissions / ".ipynb_checkpoints" / "correct-checkpoint.ipynb")
    grade_out = io.StringIO()
    with contextlib.redirect_stdout(grade_out):
        grade_code = main(["grade", str(rubric), str(submissions), "--out", str(folder / "out"), "--jobs", "2"])
    results = [json.loads(line) for line in (folder / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return {"rubric": rubric, "calibrate": (calibrate_code, calibrate_out.getvalue()),
            "grade": (grade_code, grade_out.getvalue()), "results": {r["student_id"]: r for r in results}}


def test_grader_calibrate_writes_the_calibration_and_prints_the_thresholds(charrnn):
    code, printed = charrnn["calibrate"]
    assert code == 0, printed
    calibration = json.loads(charrnn["rubric"].with_name("charrnn.calibration.json").read_text(encoding="utf-8"))
    entry = calibration["devices"]["cpu"]
    assert entry["seeds"] == [0] and entry["budget"]["steps"] == 40 and len(entry["losses"]) == 1
    thresholds = load_rubric(charrnn["rubric"]).solutions[PROGRAM]["convergence"]["cpu"]
    assert thresholds["full"] == pytest.approx(entry["losses"][0] + 0.1)
    assert f"seed 0: {entry['losses'][0]:.4f} nats/char held out" in printed
    assert (f"full marks at <= {thresholds['full']:.3f} nats/char, none at >= {thresholds['zero']:.3f}; wrote "
            f"{charrnn['rubric'].with_name('charrnn.calibration.json')}") in printed


def test_grader_grade_grades_the_notebooks_of_a_folder_and_skips_checkpoints(charrnn):
    code, printed = charrnn["grade"]
    assert code == 0, printed
    assert set(charrnn["results"]) == {"correct", "broken"}
    assert "2 submission(s)" in printed and "graded 2 file(s)" in printed


def test_a_charrnn_notebook_gets_every_mark_from_its_own_rubric(charrnn):
    result = charrnn["results"]["correct"]
    found = {c["id"]: c for q in result["questions"] for p in q["parts"] for c in p["criteria"]}
    assert result["score"] == result["max_score"] == 14.0, found
    assert set(found) == PROGRAM_CHECKS | {"get_batches"} and all(c["status"] == "correct" for c in found.values())
    assert found["parameter_count"]["message"].endswith("as 1-layer LSTM of 64, linear 64->{0} has".format(
        len(load_rubric(charrnn["rubric"]).program.chars)))


def test_a_charrnn_without_batch_first_loses_forward_shapes_and_convergence_only(charrnn):
    result = charrnn["results"]["broken"]
    found = {c["id"]: c for q in result["questions"] for p in q["parts"] for c in p["criteria"]}
    lost = {name for name, c in found.items() if c["score"] == 0}
    assert lost == {"forward", "variable_shapes", "trains", "retrained"}
    assert all(c["status"] == "correct" for name, c in found.items() if name not in lost)
    assert result["score"] == 14.0 - 2 - 1 - 3
    assert found["forward"]["message"].startswith("forward: batch 4, sequence length 16: RuntimeError: Expected "
                                                  "hidden[0] size")
    assert found["retrained"]["message"].startswith("retraining failed: RuntimeError")

