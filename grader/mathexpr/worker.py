"""The checking process: `python -m grader.mathexpr.worker`, speaking JSON lines.

It exists so that the grading process can bound the time of a sympy proof (asked only where a
rubric's `simplify` is on) by killing it: sympy cannot be interrupted from another thread, and a
proof that runs away (or a crash, or memory exhaustion) takes down only this process. The parent (`client.WorkerClient`) starts it lazily,
keeps it for later checks (sympy's import and caches are paid once), and restarts it after a kill.

Protocol (one JSON object per line, ASCII, on stdin/stdout; no pickle, nothing evaluated):
  on start     -> {"ready": true, "pid": N}
  {"id": N, "op": "compare", "answer": str, "reference": str, "settings": {...}, "budget_s": s}
               -> {"id": N, "outcome": {...}} | {"id": N, "invalid": message} | {"id": N, "error": text}
  {"id": N, "op": "ping"}             -> {"id": N, "pong": true}
  {"id": N, "op": "sleep", "seconds": s}  (for tests of the timeout path) -> {"id": N, "slept": s}
The real stdout is kept for the protocol; fd 1 is pointed at stderr, so stray prints from
libraries cannot corrupt it. The address space is capped at `MEMORY_LIMIT` beyond start-up use, where the OS allows (Linux).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import OrderedDict

MEMORY_LIMIT = 2 * 1024**3
CACHE_SIZE = 2048


def _limit_memory() -> None:
    """Cap the address space at MEMORY_LIMIT beyond what the imports already use."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = used + MEMORY_LIMIT
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platform dependent
        pass


def _die_with_parent() -> None:
    """Exit with the grading process, even one killed outright (Linux): started ahead of need, this
    process may not yet be known to it when it stops."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


class Handler:
    def __init__(self):
        from grader.mathexpr.compare import ReferenceProblem, compare
        from grader.mathexpr.settings import Settings
        from grader.mathexpr.nodes import ExpressionError

        self.compare = compare
        self.Settings = Settings
        self.ExpressionError = ExpressionError
        self.ReferenceProblem = ReferenceProblem
        self.cache: OrderedDict[str, dict] = OrderedDict()

    def warm_up(self) -> None:
        """Import sympy and run one check, so the first real check is not slow."""
        import sympy  # noqa: F401

        settings = self.Settings(variables=("z",), simplify=True)
        self.compare("sigmoid(z)*(1 - sigmoid(z))", "exp(-z)/(1 + exp(-z))^2", settings, 5.0)

    def handle(self, request: dict) -> dict:
        op = request.get("op")
        if op == "ping":
            return {"pong": True}
        if op == "sleep":
            seconds = float(request.get("seconds", 0))
            time.sleep(min(max(seconds, 0.0), 60.0))
            return {"slept": seconds}
        if op != "compare":
            return {"error": f"unknown op {op!r}"}
        key = json.dumps([request["answer"], request["reference"], request["settings"], request.get("budget_s")])
        cached = self.cache.get(key)
        if cached is not None:
            self.cache.move_to_end(key)
            return cached
        settings = self.Settings.from_json(request["settings"])
        try:
            outcome = self.compare(str(request["answer"]), str(request["reference"]), settings,
                                   float(request.get("budget_s", 1.0)))
            reply = {"outcome": outcome.to_json()}
        except self.ExpressionError as exc:
            reply = {"invalid": str(exc)}
        except self.ReferenceProblem as exc:
            reply = {"error": str(exc)}
        self.cache[key] = reply
        if len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        return reply


def main() -> int:
    channel = os.fdopen(os.dup(1), "w", encoding="ascii", newline="\n")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(message: dict) -> None:
        channel.write(json.dumps(message, ensure_ascii=True, allow_nan=False) + "\n")
        channel.flush()

    _die_with_parent()
    handler = Handler()
    handler.warm_up()
    _limit_memory()
    try:
        send({"ready": True, "pid": os.getpid()})
    except BrokenPipeError:  # started ahead of need, and the grading process has gone already
        return 0
    for raw in sys.stdin.buffer:
        try:
            request = json.loads(raw)
            ident = request.get("id")
        except (ValueError, AttributeError):
            send({"error": "malformed request"})
            continue
        try:
            reply = handler.handle(request)
        except MemoryError:
            reply = {"error": "the check ran out of memory"}
        except RecursionError:
            reply = {"error": "the check recursed too deeply"}
        except Exception as exc:  # report, keep serving (includes a late OutOfTime)
            reply = {"error": f"internal error: {type(exc).__name__}: {exc}"}
        if "grader.mathexpr.symbolic" in sys.modules:
            sys.modules["grader.mathexpr.symbolic"].disarm()
        reply["id"] = ident
        try:
            send(reply)
        except ValueError:  # a NaN slipped into the reply
            send({"id": ident, "error": "internal error: unencodable reply"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
