"""The supervisor's handle on the worker process: start it, ask it one thing at a time with a
deadline, and stop, freeze or restart it.

The worker is student code's process, so it is driven like any untrusted peer: each answer is
read within a deadline and bounds (grader/program/frames.py), and a worker that is late, sends
something that is not a frame or dies is killed and started afresh for the next request (the
module loaded and the model built again, from the same seed), at most MAX_STARTS times. Inside
bwrap's pid namespace "killed" and "frozen" mean every process but the supervisor and the
sandbox's init, so nothing the notebook forked survives or runs on; with the fallback backend,
which has no namespace, they mean the worker's process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from grader.program import frames

MAX_STARTS = 3
ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding the grader package
LAUNCH = f"import sys; sys.path.append({ROOT!r}); from grader.program.worker import main; main()"


class StepFailed(Exception):
    """A request did not get an answer; the message says why, in words for the student."""


class Forked:
    """A worker forked from the warm sandbox's image (`fork_worker`), driven like a Popen."""

    def __init__(self, pid: int, requests: int, answers: int):
        self.pid, self.requests, self.answers = pid, requests, answers
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("worker", timeout)
            time.sleep(0.005)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def fork_worker(close: list[int]) -> Forked:
    """A worker forked now, from a process that has not read its task yet, so the worker's memory
    holds nothing of it (the verification sizes, the held-out text): it waits for its configuration
    like a started one. It closes `close` (the descriptors that reach the task and the grader)."""
    requests_read, requests_write = os.pipe()
    answers_read, answers_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd in [*close, requests_write, answers_read]:
                os.close(fd)
            os.setsid()
            from grader.program import harness, worker
            from grader.sandbox import channel

            channel._fd = None  # as in a started worker, which never had it
            sys.argv = ["-c", str(requests_read), str(answers_write)]  # as a started worker's

            harness.dumpable(True)  # its memory is its own, as a started worker's is
            worker.serve(requests_read, answers_write)
            code = 0
        except BaseException:  # noqa: BLE001 - as a started worker dies of an uncaught error
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(requests_read)
    os.close(answers_write)
    return Forked(pid, requests_write, answers_read)


class Worker:
    def __init__(self, task: dict, isolated: bool, forked: Forked | None = None):
        self.task = task
        self.isolated = isolated
        self.process: subprocess.Popen | Forked | None = None
        self.forked = forked  # the first worker, forked before the task was read (the warm sandbox)
        self.starts = 0
        self.replay: list[tuple[dict, list]] = []  # requests that rebuild a restarted worker's state
        self.lost: str | None = None  # why the last worker was given up on
        self.notices: list[str] = []

    def start(self) -> None:
        """Start a worker (the forked one first, if any; a restart is always a fresh interpreter) and
        send it its configuration; it answers once torch has loaded."""
        self.starts += 1
        if self.forked is not None:
            self.process, self.forked = self.forked, None
            self.requests, self.answers = self.process.requests, self.process.answers
        else:
            requests_read, requests_write = os.pipe()
            answers_read, answers_write = os.pipe()
            self.process = subprocess.Popen([sys.executable, "-I", "-B", "-u", "-c", LAUNCH, str(requests_read),
                                             str(answers_write)], stdin=subprocess.DEVNULL,
                                            pass_fds=(requests_read, answers_write), start_new_session=True)
            os.close(requests_read)
            os.close(answers_write)
            self.requests, self.answers = requests_write, answers_read
        task = self.task
        frames.write_frame(self.requests, {"threads": task["threads"], "chars": task["chars"],
                                           "input": task["contract"]["input"],
                                           "init_hidden": task["contract"]["init_hidden"],
                                           "constructor": task["contract"]["constructor"]})
        self.ready = False

    def _wait_ready(self) -> None:
        if not self.ready:
            self._answer(self.task["seconds"]["start"], "starting")
            self.ready = True

    def _answer(self, seconds: float, what: str) -> tuple[dict, list[np.ndarray]]:
        try:
            answer, arrays = frames.read_frame(self.answers, time.monotonic() + seconds,
                                               max_array_bytes=self.task["max_answer_bytes"])
        except TimeoutError:
            self.stop()
            self.lost = f"{what} took over {seconds:g} s"
            raise StepFailed(self.lost) from None
        except (frames.FrameError, OSError) as exc:
            try:
                code = self.process.wait(timeout=0.5)  # a closed connection is usually an exit
            except subprocess.TimeoutExpired:
                code = None
            self.stop()
            if code is None:
                self.lost = f"the notebook's process answered {what} with something that is not an answer ({exc})"
            elif code < 0:
                self.lost = f"the notebook's process was killed by signal {-code} while {what}"
            else:
                self.lost = f"the notebook's process ended while {what} (exit status {code})"
            raise StepFailed(self.lost) from None
        if not isinstance(answer.get("ok"), bool) or (answer["ok"] is False and not isinstance(answer.get("error"),
                                                                                              str)):
            self.stop()
            self.lost = f"the notebook's process answered {what} with something that is not an answer"
            raise StepFailed(self.lost)
        notices = answer.get("notices")
        if isinstance(notices, list):
            self.notices = [n[:500] for n in notices[:20] if isinstance(n, str)]
        return answer, arrays

    def call(self, op: str, arrays: list[np.ndarray] = (), *, seconds: float, remember: bool = False,
             **request) -> tuple[dict, list[np.ndarray]]:
        """The worker's answer to one request (`ok` False with `error` when student code raised);
        StepFailed when no answer came. `remember`: replay this request on a restarted worker."""
        what = op.replace("_", " ")
        if self.process is None:
            if self.starts >= MAX_STARTS:
                raise StepFailed(f"not run: the notebook's code stopped answering ({self.lost})")
            self.start()
            for old, old_arrays in self.replay:
                self._ask(old, old_arrays, seconds, f"{old['op']} again")
        if remember:
            self.replay.append(({"op": op, **request}, list(arrays)))
        return self._ask({"op": op, **request}, list(arrays), seconds, what)

    def _ask(self, request: dict, arrays: list, seconds: float, what: str) -> tuple[dict, list[np.ndarray]]:
        self._wait_ready()
        try:
            frames.write_frame(self.requests, request, arrays)
        except OSError:
            self.stop()
            self.lost = f"the notebook's process ended before {what}"
            raise StepFailed(self.lost) from None
        return self._answer(seconds, what)

    def signal_all(self, sig: int) -> None:
        """`sig` to everything the notebook may have started (see the module's docstring)."""
        if self.process is None:
            return
        try:
            if self.isolated:
                os.kill(-1, sig)
            else:
                os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def freeze(self) -> None:
        self.signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        self.signal_all(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None:
            return
        self.signal_all(signal.SIGKILL)
        self.process.kill()
        self.process.wait()
        for fd in (self.requests, self.answers):
            os.close(fd)
        self.process = None
