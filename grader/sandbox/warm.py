"""Grader side of the warm sandbox (grader/sandbox/zygote.py): long-lived bwrap sandboxes that fork a
child per run, one per kind of run in each grading process.

`run_warm(entry, task, limits, preload)` sends one run's task to this process's zygote for that
entry (`module:function`, what the child calls), starting it on first use and again after it
ended, and returns what the zygote saw as a `SandboxResult`: its channel decoded as untrusted data
exactly as a cold run's is. A zygote that does not answer within the run's wall time and a grace
period is killed with its whole sandbox; the next run gets a fresh one. None when the warm path is
not available here (bwrap unusable, or turned off with GRADER_WARM=0): the caller runs cold, in a
sandbox of its own (grader.sandbox.runner.run_python), with the same grades.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.util import Finalize
from pathlib import Path

from grader.program import frames
from grader.sandbox import bwrap, channel
from grader.sandbox.models import Limits, SandboxResult
from grader.sandbox.runner import SandboxError, Server, limit_from_status, reason_for, start_server
from grader.sandbox.streams import ChannelDecoder

ZYGOTE = Path(__file__).with_name("zygote.py")
GRACE_SECONDS = 10.0  # beyond the run's wall time: the zygote kills, drains and clears within it
START_SECONDS = 120.0  # importing torch in a sandbox on a loaded machine
MAX_ANSWER_HEADER = 64 << 10


@dataclass
class _Warm:
    server: Server
    owner: int  # the process that started it: a forked batch worker starts its own
    ready: bool = False  # it has said so: runs may be sent


_servers: dict[str, _Warm] = {}


def available() -> bool:
    return os.environ.get("GRADER_WARM", "1") != "0" and bwrap.availability().usable


def run_warm(entry: str, task: dict, limits: Limits, preload: list[str]) -> SandboxResult | None:
    """The run of `task` by `entry` in this process's warm sandbox, or None when there is none to be
    had. The sandbox imports `preload` before any run; runs of other settings get a sandbox of their own."""
    if not available():
        return None
    name, config = _named(entry, limits, preload)
    try:
        server = _started(name, config, limits)
    except (SandboxError, OSError, frames.FrameError, TimeoutError):
        return None
    request = {"limits": {"wall_seconds": limits.wall_seconds, "cpu_seconds": limits.cpu_seconds,
                          "memory_mib": limits.memory_mib, "file_size_mib": limits.file_size_mib,
                          "max_processes": limits.max_processes, "channel_bytes": limits.channel_bytes,
                          "output_tail_bytes": limits.output_tail_bytes}}
    started = time.monotonic()
    failed: list[BaseException] = []
    writer = threading.Thread(target=_send, args=(server, request, task, failed), daemon=True)
    writer.start()  # the task can be larger than the pipe: written while the answer is awaited
    try:
        deadline = time.monotonic() + limits.wall_seconds + GRACE_SECONDS
        seen, _ = frames.read_frame(server.answers, deadline, max_header=MAX_ANSWER_HEADER)
        sizes = [int(seen[f"{part}_bytes"]) for part in ("channel", "stdout", "stderr")]
        if sizes[0] > limits.channel_bytes or max(sizes[1:]) > limits.output_tail_bytes or min(sizes) < 0:
            raise frames.FrameError("more bytes than the run may keep")
        relayed = [frames.read_bytes(server.answers, size, deadline) for size in sizes]
        writer.join(GRACE_SECONDS)
        if failed or writer.is_alive() or seen.get("last") is not False:
            stop(name)  # the zygote ends after a run that did not take its task or left what it could not remove
        return _result(seen, relayed, limits)
    except (frames.FrameError, TimeoutError, OSError, KeyError, TypeError, ValueError):
        stop(name)
        return SandboxResult(backend="bwrap", exit_code=None, signal=None, timed_out=False, limit=None,
                             completed=False, reason="the warm sandbox stopped answering while it ran this run",
                             stdout="", stderr="", stdout_bytes=0, stderr_bytes=0, messages=[], channel_problems=[],
                             wall_seconds=time.monotonic() - started, cpu_seconds=0.0, peak_memory_mib=0.0,
                             peak_processes=0, warnings=[])


def prepare(entry: str, limits: Limits, preload: list[str]) -> None:
    """Start the sandbox that runs of these settings will use without waiting for it, so that its
    start (importing torch: seconds) overlaps other work; the first run waits for it to be ready.
    A start that fails is tried again, and reported, by that run."""
    if available():
        name, config = _named(entry, limits, preload)
        try:
            _launched(name, config, limits)
        except (SandboxError, OSError):
            pass


def _named(entry: str, limits: Limits, preload: list[str]) -> tuple[str, dict]:
    config = {"entry": entry, "preload": sorted(preload)}
    return json.dumps({**config, "threads": limits.threads, "gpu": limits.gpu}, sort_keys=True), config


def _send(server: Server, request: dict, task: dict, failed: list[BaseException]) -> None:
    try:
        frames.write_frame(server.requests, request)
        frames.write_frame(server.requests, task)
    except BaseException as exc:  # noqa: BLE001 - a sandbox stopped mid-write: the reader says so
        failed.append(exc)


def _launched(name: str, config: dict, limits: Limits) -> _Warm:
    """This process's sandbox for `name`, started (not necessarily ready) if there is none alive.
    Started from the calling thread, never a passing one: bwrap dies with the thread that started it."""
    warm = _servers.get(name)
    if warm is not None and (warm.owner != os.getpid() or warm.server.process.poll() is not None):
        if warm.owner == os.getpid():
            stop(name)
        _servers.pop(name, None)  # a parent's zygote: its pipes are the parent's to use
        warm = None
    if warm is None:
        server = start_server(ZYGOTE, Limits(max_processes=limits.max_processes, memory_mib=limits.memory_mib,
                                             threads=limits.threads, gpu=limits.gpu), [json.dumps(config)])
        warm = _servers[name] = _Warm(server, os.getpid())
    return warm


def _started(name: str, config: dict, limits: Limits) -> Server:
    warm = _launched(name, config, limits)
    if not warm.ready:
        try:
            ready, _ = frames.read_frame(warm.server.answers, time.monotonic() + START_SECONDS)
            if ready.get("ready") is not True:
                raise SandboxError("the warm sandbox did not say it was ready")
        except BaseException:
            stop(name)
            raise
        warm.ready = True
    return warm.server


def stop(name: str | None = None) -> None:
    """Stop this process's warm sandbox for `name`, or all of them."""
    for key in [name] if name is not None else list(_servers):
        warm = _servers.pop(key, None)
        if warm is not None and warm.owner == os.getpid():
            warm.server.stop()


atexit.register(stop)
Finalize(None, stop, exitpriority=10)  # a pool's worker ends without running atexit: its folder goes too


def _result(seen: dict, relayed: list[bytes], limits: Limits) -> SandboxResult:
    channel_bytes, stdout, stderr = relayed
    decoder = ChannelDecoder(limits.channel_bytes, limits.channel_line_bytes)
    decoder.feed(channel_bytes)
    decoder.skipped(max(0, int(seen["channel_total"]) - len(channel_bytes)))
    decoder.finish()
    status = int(seen["status"])
    code, sig = (None, os.WTERMSIG(status)) if os.WIFSIGNALED(status) else (os.WEXITSTATUS(status), None)
    cpu_seconds = float(seen["cpu_seconds"])
    limit = seen["stopped_for"] if seen["stopped_for"] in ("wall_time", "cpu_time", "memory", "processes") else None
    limit = limit or limit_from_status(code, sig, cpu_seconds, limits)
    completed = any(message.kind == channel.DONE for message in decoder.messages)
    return SandboxResult(
        backend="bwrap", exit_code=code, signal=sig, timed_out=limit == "wall_time", limit=limit, completed=completed,
        reason=reason_for(limit, code, sig, completed, limits), stdout=stdout.decode("utf-8", "replace"),
        stderr=stderr.decode("utf-8", "replace"), stdout_bytes=int(seen["stdout_total"]),
        stderr_bytes=int(seen["stderr_total"]), messages=decoder.messages, channel_problems=decoder.problems,
        wall_seconds=float(seen["wall_seconds"]), cpu_seconds=cpu_seconds,
        peak_memory_mib=int(seen["peak_memory_bytes"]) / (1 << 20), peak_processes=int(seen["peak_processes"]),
        warnings=[])
