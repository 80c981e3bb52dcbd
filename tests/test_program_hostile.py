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

PROGRAM_CHECKS = ["builds", "init_hidden", "forward", "variable_shapes", "parameter_count", "trains", "retrained",
                  "generation", "reproducible"]
FULL = {"builds": 1, "init_hidden": 1, "forward": 2, "variable_shapes": 1, "parameter_count": 2, "trains": 1,
        "retrained": 2, "generation": 1, "reproducible": 1}
BEFORE_FORWARD = {"builds": 1, "init_hidden": 1, "parameter_count": 2}  # sent before the first forward call
BEFORE_TRAINING = {**FULL, "trains": 0, "retrained": 0}
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


def test_an_infinite_loop_in_forward_is_stopped_at_each_steps_time_limit_keeping_what_came_before(batch):
    """Each request to the notebook's process has a time limit (2 s on this budget): the worker is
    killed and started again for the next step, and given up on after three starts (or, on a busy
    machine, the run's own 20 s ceiling comes first). A run a time limit cut short is run once more
    with 3x the limits (6 s, 60 s), and the loop is cut short again. Build and init_hidden keep their
    marks; every check lost to a time limit says so and is flagged for review, never a silent 0."""
    result = batch["loop"]
    assert_scores(result, BEFORE_FORWARD)
    for check in ("forward", "variable_shapes", "retrained", "generation"):
        assert re.search(r"took over \d+ s|exceeded the \d+\.0 s (wall|CPU)-time limit", message(result, check)), \
            message(result, check)
        assert "stopped by a time limit, not by the model" in criteria(result)[check].review


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


def test_messages_written_to_every_descriptor_never_reach_the_grader(assignment):
    """Forged train, holdout and done messages written to every pipe the notebook's process holds:
    those are only its own connection to the supervisor, which takes the junk for a broken answer.
    Nothing reaches the grader's channel, so no tampering is even seen, and no check earns more
    than the honest model of that shape (its spare layer costs the parameter count)."""
    lines = "".join(json.dumps(m) + "\n" for m in [
        {"kind": "train", "data": {"ok": True, "error": None, "device": "cpu", "steps": 40, "seconds": 1.0,
                                   "losses": [0.01] * 40}},
        {"kind": "holdout", "data": {"ok": True, "error": None, "logits": [[0.0] * VOCAB] * 64}},
        {"kind": "done", "data": {}}])
    result = assignment.grade("channel", attacked(UNUSED_LAYER, "forward", f"""
        import os
        if x.shape[0] == 3:  # the verification probes and the last forward probe
            for fd in range(3, 64):
                try:
                    if os.readlink(f"/proc/self/fd/{{fd}}").startswith("pipe:"):
                        os.write(fd, {lines.encode()!r})
                except OSError:
                    pass
    """))
    scores = program_scores(result)
    assert all(scores[check] <= UNUSED_LAYER_EARNS[check] for check in PROGRAM_CHECKS), scores
    assert not any("tampered" in message(result, check) for check in PROGRAM_CHECKS)
    assert "something that is not an answer" in message(result, "forward") + message(result, "variable_shapes") + \
        " ".join(c.review or "" for c in criteria(result).values())


def test_the_notebooks_process_cannot_reach_the_supervisor_or_its_channel(assignment):
    """The notebook's process holds no channel, and the supervisor (its parent) is undumpable: its
    descriptors, memory and ptrace are all refused, so its channel cannot be borrowed."""
    require_bwrap("the 'none' backend run by root, where every process has every capability")
    result = assignment.grade("reach", attacked(CORRECT_MODEL, "__init__", """
        import ctypes, os
        found = []
        try:
            from grader.sandbox import channel
            channel.send("build", ok=True)
            found.append("SENT")
        except RuntimeError:
            found.append("no-channel")
        parent = os.getppid()
        try:
            entries = os.listdir(f"/proc/{parent}/fd")
            for entry in entries:
                os.open(f"/proc/{parent}/fd/{entry}", os.O_WRONLY)
            found.append(f"OPENED-{len(entries)}")
        except OSError as exc:
            found.append(type(exc).__name__)
        try:
            open(f"/proc/{parent}/mem", "rb").close()
            found.append("MEM")
        except OSError as exc:
            found.append(type(exc).__name__)
        libc = ctypes.CDLL(None, use_errno=True)
        found.append("ATTACHED" if libc.ptrace(16, parent, 0, 0) == 0 else f"ptrace-{ctypes.get_errno()}")
        raise RuntimeError("probe " + " ".join(found))
    """))
    outcomes = re.search(r"RuntimeError: probe ([\w -]+)", message(result, "builds")).group(1).split()
    assert outcomes == ["no-channel", "PermissionError", "PermissionError", "ptrace-1"], outcomes  # 1: EPERM


# --- monkeypatching ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def honest(assignment) -> SubmissionResult:
    """The right model, graded: what every attack on the retraining is held against."""
    return assignment.grade("honest")


def held_out(result: SubmissionResult) -> float:
    return float(re.search(r"([\d.]+) nats/char on held-out text", message(result, "retrained")).group(1))


def test_a_patched_cross_entropy_and_optimiser_do_not_reach_the_retraining(assignment, honest):
    """The retraining runs in the supervisor, which never loads the notebook: a loss that is always
    0 and an Adam with its own learning rate, patched into torch by the notebook, change nothing."""
    result = assignment.grade("torch", attacked(CORRECT_MODEL, "class", """
        torch.nn.functional.cross_entropy = lambda *args, **kwargs: torch.tensor(0.0, requires_grad=True)
        _Adam = torch.optim.Adam
        torch.optim.Adam = lambda params, lr=0.001, **kwargs: _Adam(params, lr=0.5, **kwargs)
    """))
    assert_scores(result, FULL)
    assert held_out(result) == held_out(honest)


def test_a_worker_rewritten_from_inside_earns_nothing_more(assignment, honest):
    """The worker's own training and scoring replaced by forged ones, and every object with a
    learning rate or a step count retuned: the verified model is retrained and scored by the
    supervisor, with the rubric's settings, so the loss is the honest model's to the digit."""
    result = assignment.grade("worker", attacked(CORRECT_MODEL, "class", """
        import gc as _gc, sys as _sys
        _worker = _sys.modules.get("grader.program.worker")
        if _worker is not None:
            _worker.StudentSide.train = lambda self, request, arrays: ({"losses": [0.01] * 40, "seconds": 1.0}, [])
            _worker.StudentSide.holdout = lambda self, request, arrays: ({}, [])
        for _thing in _gc.get_objects():
            if isinstance(_thing, dict) and _thing is not globals():  # the notebook's own values are its to set
                for _key in ("learning_rate", "steps", "lr"):
                    if isinstance(_thing.get(_key), (int, float)) and not isinstance(_thing.get(_key), bool):
                        _thing[_key] = 1000 if _key == "steps" else 0.05
    """))
    assert_scores(result, FULL)
    assert held_out(result) == held_out(honest)
    assert "retrained for 40 steps" in message(result, "retrained")


def test_a_constructor_that_trains_itself_first_gains_nothing(assignment, honest):
    """Weights trained before the grader's retraining starts (here 150 extra Adam steps in __init__,
    as a notebook could also load them from a literal) are not what the grader retrains: it
    starts the contract's model from the rubric's seed."""
    pretrained = attacked(CORRECT_MODEL, "__init__", "pass").replace(
        "        self.fc = nn.Linear(hidden_size, vocab_size)\n", """        self.fc = nn.Linear(hidden_size, vocab_size)
        chars = sorted(set(open("train.txt", encoding="utf-8").read()))
        ids = torch.tensor([chars.index(c) for c in open("train.txt", encoding="utf-8").read()[:20000]])
        optimiser = torch.optim.Adam(self.parameters(), lr=0.01)
        for step in range(150):
            start = (step * 512) % (len(ids) - 513)
            x, y = ids[start:start + 512].view(16, 32), ids[start + 1:start + 513].view(16, 32)
            out, _ = self.lstm(self.embedding(x))
            loss = nn.functional.cross_entropy(self.fc(out).reshape(-1, vocab_size), y.reshape(-1))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
""", 1)
    result = assignment.grade("pretrained", pretrained)
    assert_scores(result, FULL)
    assert held_out(result) == held_out(honest)


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


def test_os_exit_during_generation_keeps_the_checks_that_finished(assignment):
    """The notebook's process ends itself while sampling (the only forward of one character for a
    batch of one): generation fails with that reason, and everything else, the grader's own
    retraining included, keeps its marks. An exit of the notebook's process is never a normal end
    of the run: only the supervisor ends it."""
    result = assignment.grade("os-exit", attacked(CORRECT_MODEL, "forward", """
        import os
        if tuple(x.shape[:2]) == (1, 1):
            os._exit(0)
    """))
    assert_scores(result, {**FULL, "generation": 0, "reproducible": 0})
    assert "the notebook's process ended while generate (exit status 0)" in message(result, "generation")
    assert result.errors == []


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
    assert batch["loop"].score == 4


# --- holes: marks a notebook did not earn -------------------------------------------------------------------


def stub_with_hidden_model(shape_trick: str = "") -> str:
    """The untouched starter stub, plus a class body that rewires the worker to build a hidden model
    of the contract's architecture whenever it is asked for CharLSTM (`shape_trick`: code run on
    each build's model, to cheat at some sizes)."""
    return f"""
class CharLSTM(nn.Module):
    import sys as _sys
    _worker = _sys.modules["grader.program.worker"]
    _build = _worker.StudentSide.build

    def _hidden_build(self, request, arrays, _build=_build):
        class Hidden(nn.Module):
            def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, dropout):
                super().__init__()
                self.hidden_size, self.num_layers = hidden_size, num_layers
                self.embedding = nn.Embedding(vocab_size, embedding_dim)
                self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True)
                self.fc = nn.Linear(hidden_size, vocab_size)
                {shape_trick}

            def forward(self, x, hidden):
                output, hidden = self.lstm(self.embedding(x), hidden)
                return self.fc(output), hidden

            def init_hidden(self, batch_size):
                zeros = torch.zeros(self.num_layers, batch_size, self.hidden_size)
                return zeros, zeros.clone()

        self.namespace["CharLSTM"] = Hidden
        return _build(self, request, arrays)

    _worker.StudentSide.build = _hidden_build

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, dropout):
        raise NotImplementedError("TODO: build the layers")

    def forward(self, x, hidden):
        raise NotImplementedError("TODO")
"""


def test_a_forged_complete_run_and_a_clean_exit_at_import_earn_nothing(assignment):
    """At import, a complete run in the protocol's order, `done` included, written to every pipe the
    process holds, then exit status 0: the supervisor sees its worker end while loading, the grader
    sees only the supervisor's messages, and the model never built."""
    forged = "".join(json.dumps({"kind": kind, "data": data}) + "\n" for kind, data in [
        ("load", {"ok": True, "error": None}), ("build", {"ok": True, "error": None, "parameters": EXPECTED_PARAMETERS,
                                                          "shapes": {}}),
        ("train", {"ok": True, "error": None, "device": "cpu", "steps": 40, "seconds": 1.0, "losses": [0.01] * 40}),
        ("done", {})])
    result = assignment.grade("forged-run", f"""
class CharLSTM(nn.Module):
    import os as _os
    for _fd in range(3, 64):
        try:
            _os.write(_fd, {forged.encode()!r})
        except OSError:
            pass
    _os._exit(0)
""")
    assert_scores(result, NOTHING)
    assert "the notebook's process ended while load (exit status 0)" in message(result, "builds")
    assert not any("tampered" in message(result, check) for check in PROGRAM_CHECKS)


def test_a_stub_answered_for_by_a_hidden_model_is_flagged_for_review(assignment):
    """A notebook can carry a correct model anywhere and rewire its own process to answer with it:
    the numbers are then a real model's, and the grader cannot tell which lines built it. But the
    class the rubric names is a stub, so every mark it gets carries a review: never a silent grade."""
    result = assignment.grade("hidden-model", stub_with_hidden_model())
    flagged = {name for name, c in criteria(result).items() if c.review}
    earned = {name for name, score in program_scores(result).items() if score}
    assert earned and earned <= flagged, (earned, flagged)
    assert all("`CharLSTM.__init__` is a stub" in criteria(result)[name].review for name in earned)
    assert gradebook_status(result) == "graded, for review"


def test_a_model_right_only_at_the_sizes_it_expects_is_flagged(assignment):
    """A class that builds the contract's model only at small sizes (where a fixed verification would
    have built it) and something else, padded to the same parameter count, at the notebook's own:
    the build at the notebook's sizes is recomputed too, so nothing it earns is silent, and it is
    retrained by its own code (flagged) rather than as the contract's model."""
    sized = CORRECT_MODEL.replace(
        "        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,\n"
        "                            dropout=dropout if num_layers > 1 else 0.0)\n",
        "        recurrent = nn.LSTM if hidden_size <= 16 else nn.GRU\n"
        "        self.lstm = recurrent(embedding_dim, hidden_size, num_layers, batch_first=True)\n")
    sized = sized.replace("        output, hidden = self.lstm(self.embedding(x), hidden)\n",
                          "        if isinstance(self.lstm, nn.GRU):\n"
                          "            output, h = self.lstm(self.embedding(x), hidden[0])\n"
                          "            return self.fc(output), (h, hidden[1])\n"
                          "        output, hidden = self.lstm(self.embedding(x), hidden)\n")
    assert sized.count("GRU") == 2
    result = assignment.grade("sized", sized)
    earned = {name for name, score in program_scores(result).items() if score}
    flagged = {name for name, c in criteria(result).items() if c.review}
    assert earned <= flagged, (earned, flagged)
    assert "at your own sizes" in criteria(result)["builds"].review
    if "retrained" in earned:
        assert "retrained by your own code" in criteria(result)["retrained"].review


def test_a_forward_honest_only_when_verified_is_flagged_on_the_probes(assignment):
    """A forward that computes the contract's model when given a non-zero hidden state (as both
    verifications do) and something else from zeros (as the forward checks and training do): the
    supervisor recomputes every forward probe from the verified weights, so the shape checks are
    flagged, and the retraining is the grader's own, so the cheat cannot touch it."""
    two_faced = attacked(CORRECT_MODEL, "forward", """
        if hidden is None or not bool(hidden[0].abs().sum()):
            output, hidden = self.lstm(self.embedding(x), hidden)
            return 2 * self.fc(output), hidden
    """)
    result = assignment.grade("two-faced", two_faced)
    for check in ("forward", "variable_shapes"):
        assert "are not those of your verified model on its own weights" in criteria(result)[check].review
    assert criteria(result)["retrained"].review is None


def test_checks_judge_numbers_not_the_objects_a_notebook_returns(assignment):
    """init_hidden returns a tensor subclass whose sum and comparisons say zero while it holds ones,
    and torch.isfinite is patched to say yes while forward returns NaN: both are judged by the
    supervisor from the numbers copied out, so both fail."""
    liar = attacked(CORRECT_MODEL, "class", """
        torch.isfinite = lambda tensor: torch.ones_like(tensor, dtype=torch.bool)
    """).replace("""        return weight.new_zeros(shape), weight.new_zeros(shape)""", """        class Zero(torch.Tensor):
            def sum(self, *args, **kwargs):
                return torch.tensor(0.0)

            def abs(self):
                return torch.zeros(self.shape)

            def __bool__(self):
                return False
        return weight.new_ones(shape).as_subclass(Zero), weight.new_ones(shape).as_subclass(Zero)""")
    liar = attacked(liar, "forward", """
        output, hidden = self.lstm(self.embedding(x), hidden)
        return self.fc(output) * float("nan"), hidden
    """)
    result = assignment.grade("liar", liar)
    scores = program_scores(result)
    assert scores["init_hidden"] == 0 and "not all zeros" in message(result, "init_hidden")
    assert scores["forward"] == 0 and "NaN" in message(result, "forward")


def test_a_model_that_recognises_the_scoring_call_earns_nothing_more(assignment, honest):
    """A forward that, outside training, answers with a table of which character follows which
    in the training text (and, were the windows adjacent, could read targets off the neighbours):
    the held-out windows are scored by the supervisor's own copy of the verified model, never by
    the notebook's forward, so the loss is the honest model's."""
    table = attacked(CORRECT_MODEL, "forward", """
        if not self.training and not torch.is_grad_enabled():
            text = open("train.txt", encoding="utf-8").read()
            chars = sorted(set(text))
            counts = torch.ones(len(chars), len(chars))
            for a, b in zip(text, text[1:]):
                counts[chars.index(a), chars.index(b)] += 1
            return counts.log()[x], hidden
    """)
    result = assignment.grade("bigram", table)
    assert held_out(result) == held_out(honest)


def test_a_model_that_looks_up_the_held_out_text_earns_nothing_more(assignment, honest):
    """The held-out characters are the convergence check's key, private (another seed of the
    generator) and scored by the supervisor's own model: looking windows up in the public text, in
    the notebook's forward, changes nothing."""
    held = CORPUS.read_text(encoding="utf-8")  # all the public text a student has
    lookup = attacked(CORRECT_MODEL, "forward", """
        if not self.training:
            chars = sorted(set(open("train.txt", encoding="utf-8").read()))
            logits = torch.zeros(x.shape[0], x.shape[1], len(chars))
            for row, ids in enumerate(x.tolist()):
                window = "".join(chars[i] for i in ids)
                at = HELD.find(window) + len(window)
                if len(window) <= at < len(HELD) and HELD[at] in chars:
                    logits[row, -1, chars.index(HELD[at])] = 30.0
            if x.shape[0] == 64:
                return logits, hidden
    """)
    result = assignment.grade("lookup", lookup, extra_cells=[f"HELD = {held!r}"])
    assert held_out(result) == held_out(honest)
