"""Grader side of the warm cells runner: one warm sandbox per grading process (grader/cells/zygote.py).

`run_warm(task, limits)` sends one notebook's task to this process's zygote, starting it on first
use (and again after it died), and returns what the zygote saw as a `SandboxResult`, its channel
decoded as untrusted data exactly as a cold run's is. A zygote that does not answer within the
run's wall time and a grace period is killed with its whole sandbox; the next notebook gets a fresh
one. None when the warm path is not available here (bwrap unusable, or turned off with
GRADER_WARM=0): the caller runs the notebook cold, in a sandbox of its own.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import json
import os
import signal
import time
from multiprocessing.util import Finalize
from pathlib import Path

from grader.program import frames
from grader.sandbox import bwrap, channel
from grader.sandbox.models import Limits, SandboxResult
from grader.sandbox.runner import Server, SandboxError, _reason, start_server
from grader.sandbox.streams import ChannelDecoder

ZYGOTE = Path(__file__).with_name("zygote.py")
GRACE_SECONDS = 10.0  # beyond the run's wall time: the zygote kills, drains and clears within it
START_SECONDS = 60.0

_server: Server | None = None
_owner: int | None = None  # the process that started it: a forked batch worker starts its own
_preload: list[str] = []


def available() -> bool:
    return os.environ.get("GRADER_WARM", "1") != "0" and bwrap.availability().usable


def run_warm(task: dict, limits: Limits, preload: list[str]) -> SandboxResult | None:
    """The run of `task` in this process's warm sandbox, or None when there is none to be had. The
    sandbox imports `preload` before any notebook runs; one started with other modules is replaced."""
    if not available():
        return None
    try:
        server = _started(limits, sorted(preload))
    except (SandboxError, OSError, frames.FrameError, TimeoutError):
        return None
    request = {"task": task, "limits": {"wall_seconds": limits.wall_seconds, "cpu_seconds": limits.cpu_seconds,
                                        "memory_mib": limits.memory_mib, "file_size_mib": limits.file_size_mib,
                                        "max_processes": limits.max_processes, "channel_bytes": limits.channel_bytes}}
    started = time.monotonic()
    try:
        frames.write_frame(server.requests, request)
        answer, _ = frames.read_frame(server.answers, time.monotonic() + limits.wall_seconds + GRACE_SECONDS)
        return _result(answer, limits)
    except (frames.FrameError, TimeoutError, OSError, KeyError, TypeError, ValueError, binascii.Error):
        stop()
        return SandboxResult(backend="bwrap", exit_code=None, signal=None, timed_out=False, limit=None,
                             completed=False, reason="the warm sandbox stopped answering while it ran this notebook "
                             "(its code killed or stopped the sandbox's own process)", stdout="", stderr="",
                             stdout_bytes=0, stderr_bytes=0, messages=[], channel_problems=[],
                             wall_seconds=time.monotonic() - started, cpu_seconds=0.0, peak_memory_mib=0.0,
                             peak_processes=0, warnings=[])


def _started(limits: Limits, preload: list[str]) -> Server:
    global _server, _owner, _preload
    if _server is not None and (_owner != os.getpid() or _server.process.poll() is not None or _preload != preload):
        if _owner == os.getpid():
            stop()
        _server = None  # a parent's zygote: its pipes are the parent's to use
    if _server is None:
        server = start_server(ZYGOTE, Limits(max_processes=limits.max_processes, memory_mib=limits.memory_mib),
                              [json.dumps(preload)])
        try:
            ready, _ = frames.read_frame(server.answers, time.monotonic() + START_SECONDS)
        except BaseException:
            server.stop()
            raise
        if ready.get("ready") is not True:
            server.stop()
            raise SandboxError("the warm sandbox did not say it was ready")
        _server, _owner, _preload = server, os.getpid(), preload
    return _server


def stop() -> None:
    """Stop this process's warm sandbox, if it has one."""
    global _server
    if _server is not None and _owner == os.getpid():
        _server.stop()
    _server = None


atexit.register(stop)
Finalize(None, stop, exitpriority=10)  # a pool's worker ends without running atexit: its folder goes too


def _result(answer: dict, limits: Limits) -> SandboxResult:
    decoder = ChannelDecoder(limits.channel_bytes, limits.channel_line_bytes)
    decoder.feed(base64.b64decode(answer["channel"], validate=True))
    decoder.finish()
    status = int(answer["status"])
    code, sig = (None, os.WTERMSIG(status)) if os.WIFSIGNALED(status) else (os.WEXITSTATUS(status), None)
    limit = answer["stopped_for"] if answer["stopped_for"] in ("wall_time", "memory", "processes") else None
    if limit is None and (sig == signal.SIGXCPU or (sig == signal.SIGKILL
                                                    and float(answer["cpu_seconds"]) >= limits.cpu_seconds)):
        limit = "cpu_time"
    if limit is None and sig == signal.SIGXFSZ:
        limit = "file_size"
    completed = any(message.kind == channel.DONE for message in decoder.messages)
    return SandboxResult(
        backend="bwrap", exit_code=code, signal=sig, timed_out=limit == "wall_time", limit=limit, completed=completed,
        reason=_reason(limit, code, sig, completed, limits), stdout="", stderr="", stdout_bytes=0, stderr_bytes=0,
        messages=decoder.messages, channel_problems=decoder.problems, wall_seconds=float(answer["wall_seconds"]),
        cpu_seconds=float(answer["cpu_seconds"]), peak_memory_mib=int(answer["peak_memory_bytes"]) / (1 << 20),
        peak_processes=int(answer["peak_processes"]), warnings=[])
