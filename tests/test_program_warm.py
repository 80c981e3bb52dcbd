"""Model runs in the warm sandbox (grader/sandbox/zygote.py, grader/program/harness.py:warm): the
same observations as a cold run, nothing of the run's task in the notebook's process, a zygote no
notebook can harm, and a worker restarted as in a cold run. Real CharLSTM notebooks on the tiny
assignment's budget."""

from __future__ import annotations

import random
import re
import time

import pytest

from grader.notebook import read_notebook
from grader.program.observations import ProgramRun
from grader.program.run import observe
from grader.rubric import load_rubric
from grader.sandbox import warm
from tests.program_support import CORRECT_MODEL, notebook_with, tiny_assignment
from tests.test_program_hostile import attacked
from tests.test_sandbox import require_bwrap

TIMINGS = {"wall_seconds", "cpu_seconds", "peak_memory_mib", "output_tail"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    require_bwrap("the warm sandbox is a bwrap sandbox")
    return load_rubric(tiny_assignment(tmp_path_factory.mktemp("warm"))).program


@pytest.fixture
def runs(setup, tmp_path, monkeypatch):
    """run(model, mode) -> ProgramRun for a notebook with `model` as its class, warm or cold."""
    def run(model: str = CORRECT_MODEL, mode: str = "warm") -> ProgramRun:
        monkeypatch.setenv("GRADER_WARM", "1" if mode == "warm" else "0")
        book = read_notebook(notebook_with(tmp_path / f"n{time.monotonic_ns()}.ipynb", model=model))
        return observe(book, setup, "cpu", rng=random.Random(11))

    if not warm.available():
        pytest.skip("the warm sandbox is turned off here (GRADER_WARM=0)")
    yield run
    warm.stop()


def plain(run: ProgramRun) -> dict:
    """The run without what the clock decides."""
    data = run.model_dump(mode="json", exclude=TIMINGS | {"backend"})
    if data.get("train"):
        data["train"].pop("seconds", None)
    return data


def probe(run: ProgramRun) -> str:
    """What an attack in the model's __init__ reported by raising `RuntimeError("probe ...")`."""
    said = (run.build.error if run.build else None) or ""
    match = re.search(r"RuntimeError: probe ([^(]*)", said)
    assert match, said or run
    return match.group(1).strip()


@pytest.mark.parametrize("model", [CORRECT_MODEL, CORRECT_MODEL.replace("batch_first=True", "batch_first=False")],
                         ids=["correct", "time-major"])
def test_a_warm_run_observes_exactly_what_a_cold_run_does(runs, model):
    cold, hot = runs(model, "cold"), runs(model, "warm")
    assert hot.backend == cold.backend == "bwrap"
    assert plain(hot) == plain(cold)


def test_the_notebooks_process_holds_nothing_of_the_runs_task(runs, setup):
    """The worker is forked before the supervisor reads the task: the held-out windows and this
    run's verification sizes were never in the process it was copied from, neither as objects (a
    worker forked after would find the task among its objects) nor as bytes."""
    window = setup.windows[0]
    assert max(window) < 256
    scan = OBJECT_SCAN.replace("WINDOW", bytes(window).hex())
    for mode in ("warm", "cold"):
        assert probe(runs(attacked(CORRECT_MODEL, "__init__", scan), mode)) == "lists 1 tasks 0"  # its own list only


OBJECT_SCAN = """
import gc
wanted = list(bytes.fromhex("WINDOW"))
objects = gc.get_objects()
lists = sum(1 for o in objects if type(o) is list and len(o) == len(wanted) and o == wanted)
tasks = sum(1 for o in objects if type(o) is dict and "windows" in o and "own_seed" in o)
raise RuntimeError(f"probe lists {lists} tasks {tasks}")
"""


@pytest.mark.parametrize("attack", ["os.kill(1, signal.SIGKILL)", "os.kill(1, signal.SIGSTOP)",
                                    "os.kill(os.getppid(), signal.SIGSTOP)"])
def test_a_notebook_cannot_stop_the_zygote_and_the_next_notebook_is_graded_in_it(runs, attack):
    runs()
    zygotes = [w.server.process.pid for w in warm._servers.values()]
    runs(attacked(CORRECT_MODEL, "__init__", f"import os, signal\n{attack}"))
    after = runs()
    assert after.ended is None and after.verification.status == "verified" and after.holdout_loss is not None
    assert [w.server.process.pid for w in warm._servers.values()] == zygotes


def test_a_worker_that_dies_is_restarted_as_in_a_cold_run(runs):
    """The first worker is forked; its replacement is a fresh interpreter, with the same outcome."""
    dying = attacked(CORRECT_MODEL, "forward", "import os\nif x.shape[0] == 1:\n    os._exit(7)")
    cold, hot = runs(dying, "cold"), runs(dying, "warm")
    assert "exit status 7" in str(hot.model_dump())
    assert plain(hot) == plain(cold)


def test_a_warm_run_costs_less_than_a_cold_one(runs):
    runs()  # the zygote's start is not a notebook's
    seconds = {}
    for mode in ("warm", "cold"):
        started = time.monotonic()
        runs(mode=mode)
        seconds[mode] = time.monotonic() - started
    assert seconds["warm"] < seconds["cold"]
