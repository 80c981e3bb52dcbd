"""The grading process's side of the expression check: the verdict here, sympy's proof in the worker.

`check` decides equivalence in this process (random points: bounded by the parser's limits, and
needing neither sympy nor a round trip) and asks the long-lived worker process (`worker`) only for
a proof, where the rubric asks for one (`simplify`), waiting at most `timeout_s` for the reply (the
worker's start-up, which imports sympy, is waited for separately and not counted). On timeout the
worker is killed, `CheckTimeout` is raised by `WorkerClient.request`, and the next request starts a
fresh one; if the worker dies for any other reason (crash, killed, out of memory) `WorkerError` is
raised and, again, the next request starts a fresh one. `check` turns both into a note on the
points' verdict. A lock serializes requests from several threads; a forked child starts its own
worker rather than sharing its parent's pipes.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.mathexpr.settings import Outcome, Settings

STARTUP_TIMEOUT_S = 120.0
_EOF = object()


class WorkerError(RuntimeError):
    """The worker could not start, died during a check, or failed internally."""


class CheckTimeout(WorkerError):
    """The check did not finish in time; the worker was stopped."""


def symbolic_budget(timeout_s: float) -> float:
    """The share of a check's time sympy may use before numeric agreement stands on its own."""
    return min(0.5 * timeout_s, 1.5)


class WorkerClient:
    def __init__(self, command: list[str] | None = None, startup_timeout_s: float = STARTUP_TIMEOUT_S):
        # -P: never put the working directory (which may hold submissions) on the import path.
        self.command = command or [sys.executable, "-P", "-m", "grader.mathexpr.worker"]
        self.startup_timeout_s = startup_timeout_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._replies: queue.Queue | None = None
        self._ready = False  # the worker has said it is ready
        self._owner_pid = os.getpid()
        self._next_id = 0
        self.starts = 0  # how many worker processes this client has started

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    # --- process management ------------------------------------------------------------------
    def _start(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = "1"  # no BLAS thread pools: they are not needed and cost address space
        try:
            proc = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=root,
                close_fds=True, start_new_session=True)
        except OSError as exc:
            raise WorkerError(f"the expression checker process could not be started: {exc}") from None
        replies: queue.Queue = queue.Queue()

        def pump(stream=proc.stdout, out=replies) -> None:
            try:
                for line in stream:
                    try:
                        out.put(json.loads(line))
                    except ValueError:
                        out.put({"error": "unreadable reply from the worker"})
            except (OSError, ValueError):
                pass
            out.put(_EOF)

        threading.Thread(target=pump, name="mathexpr-worker-reader", daemon=True).start()
        self._proc, self._replies, self._ready = proc, replies, False
        self.starts += 1

    def _await_ready(self) -> None:
        try:
            hello = self._replies.get(timeout=self.startup_timeout_s)
        except queue.Empty:
            hello = None
        if not isinstance(hello, dict) or not hello.get("ready"):
            self._kill()
            raise WorkerError("the expression checker process could not be started")
        self._ready = True

    def _kill(self) -> None:
        proc, self._proc, self._replies = self._proc, None, None
        if proc is None:
            return
        try:
            proc.kill()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def _ensure(self) -> None:
        if self._owner_pid != os.getpid():  # forked: the pipes belong to the parent
            self._proc, self._replies, self._owner_pid = None, None, os.getpid()
        if self._proc is not None and self._proc.poll() is not None:
            self._kill()
        if self._proc is None:
            self._start()
        if not self._ready:
            self._await_ready()

    def start_soon(self) -> None:
        """Start the worker now without waiting for it, so that its start-up (sympy's import)
        overlaps the grading process's own until the first check."""
        with self._lock:
            if self._owner_pid != os.getpid():
                self._proc, self._replies, self._owner_pid = None, None, os.getpid()
            if self._proc is None or self._proc.poll() is not None:
                self._kill()
                try:
                    self._start()
                except WorkerError:
                    pass  # the first check reports it

    def close(self) -> None:
        with self._lock:
            if self._owner_pid == os.getpid():
                self._kill()

    # --- requests ----------------------------------------------------------------------------
    def request(self, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and return the reply; CheckTimeout or WorkerError on failure."""
        with self._lock:
            for attempt in (1, 2):
                self._ensure()
                self._next_id += 1
                ident = self._next_id
                line = json.dumps({**payload, "id": ident}, ensure_ascii=True) + "\n"
                try:
                    self._proc.stdin.write(line.encode("ascii"))
                    self._proc.stdin.flush()
                    break
                except (BrokenPipeError, OSError, ValueError):
                    # Died while idle: nothing of this request ran, so one fresh start is fair.
                    self._kill()
                    if attempt == 2:
                        raise WorkerError("the expression checker process stopped unexpectedly") from None
            try:
                reply = self._replies.get(timeout=timeout_s)
            except queue.Empty:
                self._kill()
                raise CheckTimeout(f"the check took longer than {timeout_s:g} s") from None
            if reply is _EOF:
                code = self._proc.poll() if self._proc else None
                self._kill()
                raise WorkerError(f"the expression checker process stopped unexpectedly (exit status {code})")
            if not isinstance(reply, dict) or reply.get("id") != ident:
                self._kill()
                raise WorkerError("the expression checker process replied out of turn")
            return reply


_default: WorkerClient | None = None
_default_lock = threading.Lock()


def default_client() -> WorkerClient:
    global _default
    with _default_lock:
        if _default is None:
            _default = WorkerClient()
            atexit.register(_default.close)
        return _default


def start_soon() -> None:
    """Start the shared worker now, without waiting for it (`WorkerClient.start_soon`)."""
    default_client().start_soon()


def shutdown() -> None:
    """Stop the shared worker (a later check starts a new one)."""
    if _default is not None:
        _default.close()


# Outcomes already had, by check: a class types the same few forms of an answer, and the verdict on
# one depends on the check alone (its points are seeded from it), so a repeat costs nothing. The
# worker keeps a cache of its own; outcomes whose worker timed out or failed are never kept.
_outcomes: OrderedDict[tuple, Outcome] = OrderedDict()
_outcomes_lock = threading.Lock()
OUTCOMES_KEPT = 4096


def check(answer: str, reference: str, settings: Settings, timeout_s: float = 3.0,
          client: WorkerClient | None = None) -> Outcome:
    """Compare `answer` with `reference`: the verdict here (`compare.compare_points`, bounded by the
    parser's limits), and, where the points agree and `settings.simplify` asks, a sympy proof from
    the worker within `timeout_s` seconds. A proof only explains the verdict: when the worker runs
    out of time or fails, the points' verdict stands, with a note that says why there is no proof,
    so the mark never depends on the machine's load.

    Raises ExpressionError when the answer does not parse (message for the student) and
    ReferenceProblem when the reference is unusable.
    """
    from grader.mathexpr.compare import compare_points

    asked = (answer, reference, settings, timeout_s)
    if client is None:
        with _outcomes_lock:
            kept = _outcomes.get(asked)
            if kept is not None:
                _outcomes.move_to_end(asked)
                return kept
    outcome = compare_points(answer, reference, settings)
    proven = True
    if outcome.method == "numeric" and settings.simplify:
        outcome, proven = _with_proof(outcome, answer, reference, settings, timeout_s, client or default_client())
    if client is None and proven:
        with _outcomes_lock:
            _outcomes[asked] = outcome
            if len(_outcomes) > OUTCOMES_KEPT:
                _outcomes.popitem(last=False)
    return outcome


def _with_proof(outcome: Outcome, answer: str, reference: str, settings: Settings, timeout_s: float,
                client: WorkerClient) -> tuple[Outcome, bool]:
    """`outcome` with the worker's proof, or with a note saying why there is none; and whether the
    worker answered (a timeout or failure is not kept: a later try may prove it)."""
    from dataclasses import replace

    from grader.mathexpr.settings import Outcome

    payload = {"op": "compare", "answer": answer, "reference": reference, "settings": settings.to_json(),
               "budget_s": symbolic_budget(timeout_s)}
    try:
        reply = client.request(payload, timeout_s)
    except CheckTimeout:
        return replace(outcome, note=f"the symbolic check took longer than {timeout_s:g} s and was stopped"), False
    except WorkerError as exc:
        return replace(outcome, note=f"no symbolic check: {exc}"), False
    if "outcome" not in reply:
        return replace(outcome, note=f"no symbolic check: {reply.get('invalid') or reply.get('error')}"), False
    proof = Outcome.from_json(reply["outcome"])
    # The worker may only explain this verdict, never change it.
    if proof.method == "symbolic" and proof.proof:
        return replace(outcome, method="symbolic", proof=proof.proof, note=""), True
    return replace(outcome, note=proof.note), True
