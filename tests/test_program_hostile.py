"""Hostile notebooks graded end to end: real notebooks, the tiny CharLSTM assignment, real sandboxed
runs through `grader.batch.grade_file` (and `grade_files` for a batch).

Each attack must end with a clear message for the student, no marks it did not earn, and the
checks that finished before it was stopped keeping theirs; the batch goes on. Where the attack
only the bwrap backend can stop (the fallback shares the host's files, network and pids), the
test is skipped on the fallback, as in tests/test_sandbox.py.

Most attacks sit in a CharLSTM that is otherwise right, so any mark it loses was lost to the
attack. Attacks that try to raise a grade use UNUSED_LAYER, a model that honestly earns 10 of
the 12 automatic marks (its spare layer costs the parameter count), so a forgery that worked
would show.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.batch import grade_file, grade_files
from grader.key import AnswerKey, build_key
from grader.program.calibration import calibration_path
from grader.reports.gradebook import gradebook_status
from grader.results import SubmissionResult
from grader.rubric import Rubric, load_rubric
from grader.sandbox import bwrap
from tests.conftest import require_bwrap
from tests.program_support import CORPUS, CORRECT_MODEL, SHIPPED_RUBRIC, notebook_with, tiny_assignment

PROGRAM_CHECKS = ["builds", "init_hidden", "forward", "variable_shapes", "parameter_count", "retrained",
                  "generation", "reproducible"]
FULL = {"builds": 1, "init_hidden": 1, "forward": 2, "variable_shapes": 1, "parameter_count": 2, "retrained": 3,
        "generation": 1, "reproducible": 1}
BEFORE_FORWARD = {"builds": 1, "init_hidden": 1, "parameter_count": 2}  # sent before the first forward call
BEFORE_TRAINING = {**FULL, "retrained": 0}
NOTHING = dict.fromkeys(PROGRAM_CHECKS, 0)
TRAINING_BATCH = 16  # the tiny budget's batch_size: no probe, generation or held-out call uses it
VOCAB = 64  # characters in the tiny corpus's training text
EXPECTED_PARAMETERS = 26176  # embedding 64x16, LSTM 16->64, linear 64->64

UNUSED_LAYER = CORRECT_MODEL.replace(
    "        self.fc = nn.Linear(hidden_size, vocab_size)\n",
    "        self.fc = nn.Linear(hidden_size, vocab_size)\n        self.spare = nn.Linear(3, 3)  # built last: "
    "the other layers start as the right model's\n")
UNUSED_LAYER_EARNS = {**FULL, "parameter_count": 0}


def attacked(model: str, where: str, code: str) -> str:
    """`model` with `code` run first in `where`: "class" (the class body, at import), "__init__",
    "forward" or "init_hidden"."""
    header = "class CharLSTM(nn.Module):\n" if where == "class" else f"    def {where}("
    start = model.index(header)
    body = model.index("\n", start) + 1
    depth = 4 if where == "class" else 8
    return model[:body] + textwrap.indent(textwrap.dedent(code).strip() + "\n", " " * depth) + model[body:]


@dataclass
class Assignment:
    folder: Path
    rubric_path: Path
    rubric: Rubric
    key: AnswerKey

    def grade(self, name: str, model: str = CORRECT_MODEL, extra_cells: list[str] = ()) -> SubmissionResult:
        path = notebook_with(self.folder / "submissions" / f"{name}.ipynb", model=model, extra_cells=extra_cells)
        return grade_file(self.rubric, self.key, path)


def _assignment(folder: Path, budget: dict | None = None) -> Assignment:
    rubric_path = tiny_assignment(folder, budget)
    rubric = load_rubric(rubric_path)
    key = build_key(rubric)
    (folder / "key.json").write_text(key.model_dump_json(), encoding="utf-8")  # an answer key on disk, to steal
    return Assignment(folder, rubric_path, rubric, key)


@pytest.fixture(scope="module")
def assignment(tmp_path_factory) -> Assignment:
    """The tiny assignment with its normal budget (60 s): room for a full run on a busy machine."""
    return _assignment(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Assignment:
    """The same with 20 s of wall (and so CPU) time and 1 GiB of memory, for attacks that run until
    stopped; a right run needs about 7 s and 250 MiB."""
    return _assignment(tmp_path_factory.mktemp("hostile-limited"), budget={"wall_seconds": 20, "memory_mib": 1024})


@pytest.fixture(scope="module")
def batch(limited, tmp_path_factory) -> dict[str, SubmissionResult]:
    """A good notebook, one whose forward loops forever and one that is not JSON, graded by
    `grade_files` with two workers. The loop ties a worker up for 20 s, so it is graded once, here,
    for both the loop's test and the batch's."""
    folder = tmp_path_factory.mktemp("batch")
    notebook_with(folder / "good.ipynb", model=CORRECT_MODEL)
    notebook_with(folder / "loop.ipynb", model=attacked(CORRECT_MODEL, "forward", """
        while True:
            pass
    """))
    (folder / "broken.ipynb").write_bytes(b"\x00\xff not json {")
    results = grade_files(limited.rubric_path, sorted(folder.glob("*.ipynb")), jobs=2)
    return {result.student_id: result for result in results}


def criteria(result: SubmissionResult) -> dict:
    return {c.id: c for part in result.parts() for c in part.criteria}


def program_scores(result: SubmissionResult) -> dict[str, float]:
    found = criteria(result)
    return {name: found[name].score for name in PROGRAM_CHECKS}


def message(result: SubmissionResult, check: str) -> str:
    return criteria(result)[check].message


def assert_scores(result: SubmissionResult, expected: dict[str, float]) -> None:
    assert program_scores(result) == {name: expected.get(name, 0) for name in PROGRAM_CHECKS}, \
        {name: message(result, name) for name in PROGRAM_CHECKS}
    assert result.score == sum(expected.values())


# --- limits: the run is stopped, what finished is kept ---------------------------------------------


def test_an_infinite_loop_in_forward_is_stopped_at_the_time_limit_keeping_what_came_before(batch):
    """Killed at 20 s (graded in the batch, by grade_file in a worker); build and init_hidden,
    reported before forward ran, keep their marks."""
    result = batch["loop"]
    assert_scores(result, BEFORE_FORWARD)
    for check in ("forward", "variable_shapes", "retrained", "generation", "reproducible"):
        assert re.search(r"the run ended early: exceeded the 20\.0 s (wall|CPU)-time limit", message(result, check))
    assert any("was stopped" in error and "time limit" in error for error in result.errors)


def test_a_memory_bomb_in_init_fails_the_build_with_a_memory_message(limited):
    """Stopped by the per-process limit (MemoryError) or the sampled total, whichever comes first."""
    result = limited.grade("memory", attacked(CORRECT_MODEL, "__init__", """
        hoard = []
        while True:
            hoard.append(b"x" * (64 << 20))  # written, so resident: 64 MiB at a time
    """))
    assert_scores(result, NOTHING)
    for check in PROGRAM_CHECKS:
        assert "memory" in message(result, check).lower()
    if "MemoryError" in message(result, "builds"):  # the per-process limit came first: Python names no limit
        assert "out of memory (the run may use 1024 MiB in all)" in message(result, "builds")


def test_a_fork_bomb_is_stopped_and_earns_nothing(limited):
    """Stopped by the memory or process limit (forked copies count), or its forks fail; the model
    never builds in any case."""
    require_bwrap("a fork bomb when the grader runs as root (no process limit)")
    started = time.monotonic()
    result = limited.grade("fork", attacked(CORRECT_MODEL, "__init__", """
        import os
        while True:
            os.fork()
    """))
    assert_scores(result, NOTHING)
    assert re.search(r"memory limit|limit of \d+ processes|BlockingIOError|tampered", message(result, "builds")), \
        message(result, "builds")
    assert time.monotonic() - started < 20  # stopped by a limit, not left to run out its time


# --- reaching outside ------------------------------------------------------------------------------


def test_network_access_fails_inside_the_sandbox(assignment):
    require_bwrap("network access")
    result = assignment.grade("network", attacked(CORRECT_MODEL, "__init__", """
        import socket
        socket.create_connection(("1.1.1.1", 53), timeout=5).close()
    """))
    assert_scores(result, NOTHING)
    assert re.search(r"building the model failed: OSError: .*(unreachable|refused|resolution)",
                     message(result, "builds")), message(result, "builds")


def test_the_rubric_key_calibration_and_held_out_text_cannot_be_read(assignment):
    """Every file the grade depends on, and the grader's own environment, is absent in the sandbox."""
    require_bwrap("reading the host's files")
    secrets = [assignment.rubric_path, calibration_path(assignment.rubric_path, assignment.rubric.program),
               assignment.folder / "key.json", assignment.folder / "corpus.txt", SHIPPED_RUBRIC,
               Path(f"/proc/{os.getpid()}/environ")]
    assert all(path.is_file() for path in secrets)
    result = assignment.grade("key", attacked(CORRECT_MODEL, "__init__", f"""
        found = []
        for path in {[str(path) for path in secrets]!r}:
            try:
                with open(path, "rb") as secret:
                    found.append("READ " + repr(secret.read(30)))
            except OSError as exc:
                found.append(type(exc).__name__)
        raise RuntimeError("probe " + " ".join(found))
    """))
    assert_scores(result, NOTHING)
    outcomes = re.search(r"RuntimeError: probe ([\w ]+)", message(result, "builds")).group(1).split()
    assert len(outcomes) == len(secrets) and set(outcomes) <= {"FileNotFoundError", "PermissionError"}, outcomes


# --- forging results ---------------------------------------------------------------------------------


def test_fake_results_files_are_never_read(assignment):
    """Files claiming full marks, written during retraining in the work dir, /tmp and the grader's
    folder, change nothing."""
    targets = ["results.json", "gradebook.csv", "/tmp/results.json", "/tmp/gradebook.csv", "../results.json",
               str(assignment.folder / "results.json"), str(assignment.folder / "submissions" / "gradebook.csv")]
    host = [Path(t) for t in targets if t.startswith("/")]
    existed = {path: path.exists() for path in host}
    result = assignment.grade("files", attacked(UNUSED_LAYER, "forward", f"""
        for target in {targets!r} if x.shape[0] == {TRAINING_BATCH} else []:  # while the grader retrains
            try:
                with open(target, "w") as forged:
                    json_file = target.endswith(".json")
                    forged.write('{{"score": 15, "max_score": 15}}' if json_file else "student,score\\nfiles,15\\n")
            except OSError:
                pass
    """))
    assert_scores(result, UNUSED_LAYER_EARNS)
    assert result.errors == []
    if bwrap.availability().usable:  # the fallback writes to the host; it still reads nothing back
        assert [path for path in host if path.exists() and not existed[path]] == []


def test_printed_lines_that_look_like_results_change_nothing(assignment):
    """stdout and stderr are not the channel: a forged build message with the right parameter count,
    a forged done and a score line are only output."""
    forged = [json.dumps({"kind": "build", "data": {"ok": True, "error": None, "parameters": EXPECTED_PARAMETERS,
                                                    "shapes": {}}}),
              json.dumps({"kind": "done", "data": {}}), "score: 15/15", "parameter_count: 2/2"]
    result = assignment.grade("prints", attacked(UNUSED_LAYER, "class", f"""
        import sys as _sys
        for _line in {forged!r}:
            print(_line)
            print(_line, file=_sys.stderr)
    """))
    assert_scores(result, UNUSED_LAYER_EARNS)
    assert f"your model has {EXPECTED_PARAMETERS + 12} parameters" in message(result, "parameter_count")
    assert result.errors == []


def test_messages_written_straight_to_the_channel_mark_the_run_as_tampered(assignment):
    """Forged train, holdout and done messages, written to every pipe the process holds: the real
    messages that follow are out of order, so every program check of the run scores 0."""
    lines = "".join(json.dumps(m) + "\n" for m in [
        {"kind": "train", "data": {"ok": True, "error": None, "device": "cpu", "steps": 40, "seconds": 1.0,
                                   "losses": [0.01] * 40}},
        {"kind": "holdout", "data": {"ok": True, "error": None, "logits": [[0.0] * VOCAB] * 64}},
        {"kind": "done", "data": {}}])
    result = assignment.grade("channel", attacked(CORRECT_MODEL, "forward", f"""
        import os
        if x.shape[0] == 3:  # the last forward probe
            for fd in range(3, 64):
                try:
                    if os.readlink(f"/proc/self/fd/{{fd}}").startswith("pipe:"):
                        os.write(fd, {lines.encode()!r})
                except OSError:
                    pass
    """))
    assert_scores(result, NOTHING)
    for check in PROGRAM_CHECKS:
        assert "tampered with" in message(result, check) and "no marks" in message(result, check)
    assert any("tampered with" in error for error in result.errors)


# --- monkeypatching ----------------------------------------------------------------------------------


def test_rebinding_the_channels_send_does_not_reach_the_harness(assignment):
    """The harness took its own reference to `send` before student code ran: a replacement that
    rewrites the build's parameter count is never called for it."""
    result = assignment.grade("rebind", attacked(UNUSED_LAYER, "class", f"""
        from grader.sandbox import channel as _channel
        def _forged_send(kind, _send=_channel.send, **data):
            if kind == "build":
                data["parameters"] = {EXPECTED_PARAMETERS}
            _send(kind, **data)
        _channel.send = _forged_send
    """))
    assert_scores(result, UNUSED_LAYER_EARNS)
    assert result.errors == []


def test_a_patched_cross_entropy_trains_nothing_and_earns_no_convergence_marks(assignment):
    """A loss that is always 0 makes the retraining report zeros, but the held-out loss is computed
    by the grader from the untrained model's logits."""
    result = assignment.grade("torch", attacked(CORRECT_MODEL, "class", """
        torch.nn.functional.cross_entropy = lambda *args, **kwargs: torch.tensor(0.0, requires_grad=True)
    """))
    assert_scores(result, BEFORE_TRAINING)
    loss = float(re.search(r"([\d.]+) nats/char on held-out text", message(result, "retrained")).group(1))
    assert loss >= 3.0  # no better than character frequencies


def test_a_harness_rewritten_from_inside_earns_no_convergence_marks(assignment):
    """Harness.train replaced by a forged report and Harness.holdout by confident made-up logits:
    the grader scores the logits against characters that never entered the sandbox."""
    result = assignment.grade("harness", attacked(CORRECT_MODEL, "class", """
        import sys as _sys
        _main = _sys.modules["__main__"]
        def _train(self, _send=_main.send):
            _send("train", ok=True, error=None, device="cpu", steps=40, seconds=1.0, losses=[0.01] * 40)
            return True
        def _holdout(self, _send=_main.send):
            guess = [50.0 if c == " " else 0.0 for c in self.chars]  # the commonest character, for sure
            _send("holdout", ok=True, error=None, logits=[guess] * len(self.task["windows"]))
        _main.Harness.train, _main.Harness.holdout = _train, _holdout
    """))
    assert_scores(result, BEFORE_TRAINING)
    assert "nats/char on held-out text" in message(result, "retrained")


# --- ending the run ------------------------------------------------------------------------------------


def test_sys_exit_in_forward_fails_forward_with_a_message_about_exit(assignment):
    result = assignment.grade("sys-exit", attacked(CORRECT_MODEL, "forward", """
        import sys
        sys.exit(0)
    """))
    assert_scores(result, BEFORE_FORWARD)
    exited = r"forward: batch 4, sequence length 16: SystemExit: the code called exit\(0\) \(cell \d+, line \d+\)"
    assert re.search(exited, message(result, "forward")), message(result, "forward")
    assert "exit(0)" in message(result, "retrained") and "exit(0)" in message(result, "generation")


def test_os_exit_during_retraining_keeps_the_checks_that_finished(assignment):
    """Probes and generation ran before the retraining: their marks stay; convergence gets none."""
    result = assignment.grade("os-exit", attacked(CORRECT_MODEL, "forward", f"""
        import os
        if x.shape[0] == {TRAINING_BATCH}:
            os._exit(0)
    """))
    assert_scores(result, BEFORE_TRAINING)
    assert "the run never reached retraining" in message(result, "retrained")
    assert "ended early: exited with status 0 before the harness sent 'done'" in message(result, "retrained")
    assert any("was stopped" in error and "ended early" in error for error in result.errors)


def test_killing_the_parent_and_the_process_group_ends_only_the_run(assignment):
    """In generate: SIGKILL to the parent, to the grader's pid and to the groups; the grader lives
    (this test goes on) and says how the run ended; the checks before generation keep their marks."""
    require_bwrap("signals to the grader")
    result = assignment.grade("kill", CORRECT_MODEL, extra_cells=[f"GRADER_PID = {os.getpid()}", """
        def generate(model, vocabulary, seed_text, gen_length, temperature=1.0, top_k=None, seed=0):
            import os, signal
            for pid in (os.getppid(), GRADER_PID):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
            except OSError:
                pass
            os.killpg(0, signal.SIGKILL)
    """])
    assert_scores(result, {**BEFORE_TRAINING, "generation": 0, "reproducible": 0})
    for check in ("retrained", "generation", "reproducible"):
        assert "the run ended early: was killed by signal 9 (SIGKILL)" in message(result, check)
    assert any("was stopped" in error for error in result.errors)


# --- not a notebook -------------------------------------------------------------------------------------


def test_a_notebook_that_is_not_json_is_unreadable_and_named(assignment):
    path = assignment.folder / "submissions" / "garbage.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("import os; os.system('echo pwned')  # not a notebook {", encoding="utf-8")
    result = grade_file(assignment.rubric, assignment.key, path)
    assert not result.readable and result.score == 0
    assert result.errors and "garbage.ipynb" in result.errors[0]
    assert_scores(result, NOTHING)


# --- the batch goes on ------------------------------------------------------------------------------------


def test_a_batch_with_a_loop_and_garbage_still_grades_the_good_notebook(batch):
    assert sorted(batch) == ["broken", "good", "loop"]
    good, broken = batch["good"], batch["broken"]
    assert (good.score, good.max_score, good.manual_pending, good.errors) == (12, 15, 3, [])
    assert_scores(good, FULL)
    assert not broken.readable and "broken.ipynb" in broken.errors[0] and broken.score == 0
    assert batch["loop"].errors and batch["loop"].score == 4


# --- holes: marks a notebook did not earn -------------------------------------------------------------------


MADE_UP_OUTPUTS = """
    def made_up_outputs(task):
        import torch
        spec = task["verification"]
        vocab, (embedding, hidden, layers) = len(task["chars"]), spec["sizes"].values()
        shapes = {"embedding.weight": [vocab, embedding], "fc.weight": [vocab, hidden], "fc.bias": [vocab]}
        for layer in range(layers):
            width = embedding if layer == 0 else hidden
            shapes.update({f"lstm.weight_ih_l{layer}": [4 * hidden, width],
                           f"lstm.weight_hh_l{layer}": [4 * hidden, hidden],
                           f"lstm.bias_ih_l{layer}": [4 * hidden], f"lstm.bias_hh_l{layer}": [4 * hidden]})
        module = lambda name: {"embedding": "Embedding", "lstm": "LSTM", "fc": "Linear"}[name.split(".")[0]]
        tensor = lambda shape: {"shape": shape, "values": torch.randn(shape).reshape(-1).tolist()}
        batch, seq = len(spec["ids"]), len(spec["ids"][0])
        return dict(ok=True, error=None, count=sum(torch.Size(s).numel() for s in shapes.values()),
                    parameters=[{"name": n, "module": module(n), **tensor(s)} for n, s in shapes.items()],
                    logits=tensor([batch, seq, vocab]), hidden=[tensor([layers, batch, hidden])] * 2)
"""


def forged_run(verify: str = "") -> str:
    """A CharLSTM whose constructor raises, and whose class body, at import, sends every message the
    harness would, in order, with what a right model reports (and `verify`, a Python expression for
    the verification message's data, when given), then `done`, and exits before the harness sends
    anything: the channel holds a clean-looking run of a model that does not build."""
    verification = f"channel.send('verify', **{verify})" if verify else ""
    return textwrap.dedent(MADE_UP_OUTPUTS if verify else "") + textwrap.dedent(f"""
        def _forge():
            import json, os
            from grader.sandbox import channel
            task = json.load(open("task.json"))
            shapes = lambda b: [[1, b, 64], [1, b, 64]]
            channel.send("load", ok=True, error=None)
            channel.send("values", values={{name: {{"value": value}} for name, value in dict(
                embedding_dim=16, hidden_size=64, num_layers=1, learning_rate=0.01, dropout=0.0,
                seed_text="The miller", gen_length=300).items() if name in task["variables"]}})
            channel.send("build", ok=True, error=None, parameters={EXPECTED_PARAMETERS}, shapes={{}})
            {verification}
            channel.send("init_hidden", results=[{{"batch": b, "ok": True, "error": None, "form": "tuple",
                                                   "shapes": shapes(b), "zeros": True}} for b in (4, 3, 1)])
            channel.send("forward", results=[{{"batch": b, "seq": s, "ok": True, "error": None,
                                               "logits": [b, s, {VOCAB}], "hidden": shapes(b), "finite": True}}
                                             for b, s in task["probes"]])
            channel.send("backward", ok=True, error=None, without_grad=[])
            channel.send("generate", runs=[{{"seed": s, "ok": True, "error": None, "type": "str",
                                             "text": "The miller" + " " * 300}} for s in (1234, 1234, 4321)])
            channel.send("done")
            os._exit(0)

        class CharLSTM(nn.Module):
            _forge()

            def __init__(self, *args):
                raise NotImplementedError("TODO")
    """)




def test_a_forged_complete_run_earns_nothing_for_a_model_that_does_not_build(assignment):
    """Without a verification the grader can recompute, the run's report of its model counts for nothing."""
    result = assignment.grade("forged-run", forged_run())
    assert_scores(result, NOTHING)
    assert "no verification of it" in message(result, "forward")
    assert gradebook_status(result) == "pending marking"


@pytest.mark.parametrize("verify", [
    # weights the contract's architecture cannot hold
    "dict(ok=True, error=None, count=1, parameters=[dict(name='w', module='Linear', shape=[1], values=[0.5])])",
    # the right architecture's weights at the small sizes, with outputs not computed from them
    "made_up_outputs(task)",
], ids=["foreign weights", "made-up outputs"])
def test_a_forged_verification_is_flagged_for_review_on_every_check_it_would_earn(assignment, verify):
    """A forger who also sends a verification gets a report the grader's recomputation does not
    confirm: the marks the report claims carry a review for the instructor, the gradebook says
    "graded, for review", and the student is told."""
    result = assignment.grade("forged-verification", forged_run(verify))
    flagged = {name for name, c in criteria(result).items() if c.review}
    assert flagged == set(PROGRAM_CHECKS) - {"retrained"}
    assert gradebook_status(result) == "graded, for review"
    assert "could not confirm this by recomputing your model" in " ".join(criteria(result)["builds"].warnings)
    assert program_scores(result)["retrained"] == 0


def test_a_model_that_looks_up_the_held_out_text_earns_no_convergence_marks(assignment):
    """The held-out characters are the convergence check's key. Were they the corpus's last tenth, a
    notebook could carry them in as a literal from the file students are given; the held-out text is
    private (another seed of the generator), so looking windows up in the public text finds nothing."""
    held = CORPUS.read_text(encoding="utf-8")  # all the public text a student has
    lookup = attacked(CORRECT_MODEL, "forward", """
        if x.shape[0] == 64 and not self.training:  # the held-out windows
            chars = sorted(set(open("train.txt", encoding="utf-8").read()))
            logits = torch.zeros(x.shape[0], x.shape[1], len(chars))
            for row, ids in enumerate(x.tolist()):
                window = "".join(chars[i] for i in ids)
                at = HELD.find(window) + len(window)
                if len(window) <= at < len(HELD) and HELD[at] in chars:
                    logits[row, -1, chars.index(HELD[at])] = 30.0
            return logits, hidden
    """)
    result = assignment.grade("lookup", lookup, extra_cells=[f"HELD = {held!r}"])
    assert program_scores(result)["retrained"] == 0
