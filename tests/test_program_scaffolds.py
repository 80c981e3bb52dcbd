"""A rubric alone for real scaffolds: literals where a notebook variable would be read, any expression
for the constructor, provide and the generation call, held-out characters the training text lacks,
a calibration that generation settings do not make stale, and time limits that never mark a model
down silently. Real YAML through load_rubric, real ProgramSetup, real sandboxed runs of the
CharRNN scaffold in tests/data/charrnn/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from grader.kinds.program import Program, ProgramOptions
from grader.notebook import read_notebook
from grader.program.observations import Build, ProgramRun, Step
from grader.program.run import ProgramSetup, ProgramSetupError, observe
from grader.program.spec import GenerationSpec, HoldoutSpec, ModelContract, ProgramSpec
from grader.rubric import PROGRAM, load_rubric
from tests.program_support import CORPUS

CHARRNN = Path(__file__).resolve().parent / "data" / "charrnn"


def test_literals_stand_where_a_notebook_variable_would_be_read():
    spec = GenerationSpec(call="sample(model, gen_length, prime=seed_text)", seed_text={"value": "The"},
                          gen_length=100, provide={})
    assert spec.bindings() == {"seed_text": "seed_text", "gen_length": "gen_length"}
    named = GenerationSpec(seed_text="prime", gen_length="n_chars")
    assert named.bindings() == {"seed_text": "prime", "gen_length": "n_chars"}
    with pytest.raises(ValidationError, match="gen_length as a literal must be a whole number"):
        GenerationSpec(gen_length=2.5)
    with pytest.raises(ValidationError, match="seed_text as a literal must be text"):
        GenerationSpec(seed_text={"value": 3})


def test_the_constructor_provide_and_call_may_be_any_expression():
    contract = ModelContract(class_name="CharRNN", constructor="CharRNN(chars, *sizes) if sizes else CharRNN(chars)")
    assert contract.constructor.startswith("CharRNN")
    GenerationSpec(call="(lambda net: sample(net, 100))(model)", provide={"vocab": "sorted(set(text))"})
    with pytest.raises(ValidationError, match="never names the class CharLSTM"):
        ModelContract(constructor="make_model(vocab_size)")
    with pytest.raises(ValidationError, match="not a single Python expression"):
        GenerationSpec(call="x = sample(model)")


def test_unknown_held_out_characters_are_refused_dropped_or_mapped(tmp_path):
    (tmp_path / "corpus.txt").write_text("abcd abcd " * 400, encoding="utf-8")
    (tmp_path / "held.txt").write_text("ab$cd%" * 400, encoding="utf-8")

    def setup(unknown: str) -> ProgramSetup:
        spec = ProgramSpec(corpus="corpus.txt", holdout=HoldoutSpec(path="held.txt", count=16, length=8,
                                                                    unknown=unknown),
                           training={"budgets": {"cpu": {"steps": 1}}}, reference={"notebook": "none.ipynb"})
        return ProgramSetup.load(spec, tmp_path)

    def windows(setup: ProgramSetup) -> list[str]:
        return ["".join(setup.chars[i] for i in window) for window in setup.windows]

    with pytest.raises(ProgramSetupError, match=r"never shows: '\$%'; set holdout.unknown to drop"):
        setup("refuse")
    assert all(window in "abcd" * 10 for window in windows(setup("drop")))
    assert all(window in "ab cd " * 10 for window in windows(setup(" ")))
    with pytest.raises(ProgramSetupError, match="maps to 'z', which the training text never shows"):
        setup("z")
    with pytest.raises(ValidationError, match="refuse, drop or one character"):
        HoldoutSpec(unknown="spaces")


def test_a_check_stopped_by_a_time_limit_is_flagged_never_a_silent_zero(scaffold):
    rubric = load_rubric(scaffold / "charrnn.yaml")
    budget = rubric.program.spec.training.budgets["cpu"]
    run = ProgramRun(device="cpu", budget=budget, backend="bwrap", ended="exceeded the 60.0 s wall-time limit",
                     limit="wall_time", wall_seconds=60, cpu_seconds=60, peak_memory_mib=300, chars=["a", "b"],
                     load=Step(ok=True), build=Build(ok=True, parameters=10)).model_dump(mode="json")
    contract = rubric.solutions[PROGRAM]["contract"]
    verdict = Program(ProgramOptions(check="forward")).check(run, contract)
    assert verdict.fraction == 0 and "exceeded the 60.0 s wall-time limit" in verdict.message
    assert "stopped by a time limit, not by the model" in verdict.review
    step = ProgramRun.model_validate(run).model_copy(update={"limit": None, "ended": None}).model_dump(mode="json")
    step["forward"] = {"results": [{"batch": 4, "seq": 16, "ok": False, "error": "forward took over 6 s"}]}
    step["verify_own"] = step["verification"] = {"status": "verified", "detail": "ok"}
    assert "stopped by a time limit" in Program(ProgramOptions(check="forward")).check(step, contract).review
    step["forward"]["results"][0]["error"] = "RuntimeError: shape mismatch"
    assert Program(ProgramOptions(check="forward")).check(step, contract).review is None
    # reproducible fails because generation did: when generation timed out, that 0 is the machine's too
    step["generate"] = {"runs": [{"seed": seed, "ok": False, "error": "generate took over 20 s"}
                                 for seed in (1234, 1234, 4321)]}
    verdict = Program(ProgramOptions(check="reproducible")).check(step, contract)
    assert verdict.message == "generation failed, so reproducibility could not be checked"
    assert "stopped by a time limit" in verdict.review


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory) -> Path:
    """The CharRNN rubric next to a corpus, calibrated; a second rubric beside it with literal
    generation settings, a sampler call without a seed, and the first one's calibration."""
    folder = tmp_path_factory.mktemp("scaffold")
    text = CORPUS.read_text(encoding="utf-8")[:40_000]
    seen = set(text[:36_000])
    (folder / "corpus.txt").write_text(text[:36_000] + "".join(c if c in seen else " " for c in text[36_000:]),
                                       encoding="utf-8")
    shutil.copy(CHARRNN / "charrnn.yaml", folder / "charrnn.yaml")
    shutil.copy(CHARRNN / "solution.ipynb", folder / "solution.ipynb")
    from grader.program.calibration import calibrate, calibration_path, write_calibration

    setup = load_rubric(folder / "charrnn.yaml", calibrated=False).program
    write_calibration(calibration_path(folder / "charrnn.yaml", setup), "cpu", calibrate(setup, "cpu"))
    data = yaml.safe_load((folder / "charrnn.yaml").read_text(encoding="utf-8"))
    data["program"]["generation"] = {"call": "sample(model, gen_length, prime=seed_text, top_k=3)", "provide": {},
                                     "seed_text": {"value": "The m"}, "gen_length": 40}
    data["program"]["calibration"] = "charrnn.calibration.json"
    (folder / "literal.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


def test_editing_only_the_generation_settings_keeps_the_calibration(scaffold):
    rubric = load_rubric(scaffold / "literal.yaml")  # would refuse a stale calibration
    assert rubric.solutions[PROGRAM]["convergence"]["cpu"]["steps"] == 40


def test_literal_generation_settings_and_an_unseeded_sampler_pass_generation_and_reproducibility(scaffold):
    """`sample(net, 40, prime='The m', top_k=3)` draws from numpy's global generator and takes no
    seed: the worker seeds the generators before each generation, so the same seed gives the same
    text, and 40 characters follow the literal prime."""
    rubric = load_rubric(scaffold / "literal.yaml")
    run = observe(read_notebook(scaffold / "solution.ipynb"), rubric.program)
    contract = rubric.solutions[PROGRAM]["contract"]
    first, again, other = run.generate.runs
    assert first.ok and first.text.startswith("The m") and len(first.text) == len("The m") + 40, first
    assert first.text == again.text
    for check in ("generation", "reproducible"):
        verdict = Program(ProgramOptions(check=check)).check(run.model_dump(mode="json"), contract)
        assert verdict.fraction == 1.0, verdict.message


def test_extra_characters_accepts_a_sampler_that_returns_one_more(scaffold):
    """The course's sample() returns the prime and size + 1 characters: `extra_characters: 1` says so."""
    data = yaml.safe_load((scaffold / "literal.yaml").read_text(encoding="utf-8"))
    data["program"]["generation"]["call"] = "sample(model, gen_length + 1, prime=seed_text, top_k=3)"
    for extra, expected in ((0, 0.0), (1, 1.0)):
        data["program"]["generation"]["extra_characters"] = extra
        (scaffold / "extra.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        rubric = load_rubric(scaffold / "extra.yaml")
        run = observe(read_notebook(scaffold / "solution.ipynb"), rubric.program)
        verdict = Program(ProgramOptions(check="generation")).check(run.model_dump(mode="json"),
                                                         rubric.solutions[PROGRAM]["contract"])
        assert verdict.fraction == expected, verdict.message


def test_a_required_layer_must_be_applied_in_forward_not_only_created(scaffold, tmp_path):
    """`requires: [LSTM, Dropout, Linear]` with a `required_layers` criterion: the solution, which
    applies its dropout between the LSTM and the linear layer, passes; the same notebook with the
    dropout created in __init__ but skipped in forward fails, naming what forward calls."""
    import nbformat

    data = yaml.safe_load((scaffold / "charrnn.yaml").read_text(encoding="utf-8"))
    data["program"]["model"]["requires"] = ["LSTM", "Dropout", "Linear"]  # changes no loss: the calibration holds
    data["program"]["calibration"] = "charrnn.calibration.json"
    data["questions"][0]["parts"][0]["criteria"].append(
        {"id": "dropout_used", "marks": 1, "kind": "program", "options": {"check": "required_layers"},
         "solution": "program.contract", "description": "dropout between the LSTM and the output layer"})
    (scaffold / "requires.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    notebook = nbformat.read(scaffold / "solution.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if "class CharRNN" in c.source)
    cell.source = cell.source.replace("out = self.dropout(r_output)", "out = r_output")
    nbformat.write(notebook, tmp_path / "no-dropout.ipynb")
    rubric = load_rubric(scaffold / "requires.yaml")
    comparator = Program(ProgramOptions(check="required_layers"))
    contract = rubric.solutions[PROGRAM]["contract"]
    for path, expected in ((scaffold / "solution.ipynb", 1.0), (tmp_path / "no-dropout.ipynb", 0.0)):
        run = observe(read_notebook(path), rubric.program)
        verdict = comparator.check(run.model_dump(mode="json"), contract)
        assert verdict.fraction == expected, verdict.message
    assert verdict.message.startswith("forward calls LSTM -> Linear; the exercise asks for LSTM -> Dropout -> Linear")
    data["program"]["model"]["requires"] = []
    (scaffold / "requires.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(Exception, match="the required_layers check needs program.model.requires"):
        load_rubric(scaffold / "requires.yaml")
