"""The warm cells runner: one long-lived process in one sandbox that forks a fresh child per notebook.

Started by grader.cells.warm as the sandbox's harness (`zygote.py REQUESTS ANSWERS PRELOAD`, two
pipe ends to the grader and a JSON list of modules). It imports the heavy modules once (numpy, the
runner, PRELOAD: what the course's reference notebook imports, torch included) and then, for
each request, forks a child that runs grader/cells/runner.py's work on that notebook, so a notebook
pays for its own code only, not for starting Python and importing numpy. A fork copies this
process as it was before any student code ran, so nothing of one notebook reaches the next in
memory; around each child:

- the child gets fresh limits of its own (CPU time, memory per process, file size, processes),
  a new session, a fresh work dir, /dev/null as stdin, stdout and stderr, and a pipe of its own as
  its channel: it holds no descriptor of this process's pipes to the grader;
- this process watches the child's whole process tree (wall time, memory in total) and kills it;
- when the child has ended, every other process in the sandbox is killed (kill(-1), which spares
  only this process and the sandbox's init) and the work dir, /tmp and /dev/shm are emptied, so
  nothing a notebook left behind (a background process, a file) is there for the next one;
- this process is not dumpable: a child of the same user can neither attach to it nor read or
  write its memory or descriptors through /proc. A child can still kill it, or stop it: the
  grader then sees no answer within the request's deadline, kills the whole sandbox and starts a
  fresh one for the next notebook, and the notebook that did it gets no values.

Answers are frames (grader/program/frames.py): the child's exit, its time, memory and processes,
why it was stopped, and its channel bytes (at most `channel_bytes`), which the grader decodes as
untrusted data exactly as it decodes a cold run's channel.
"""

from __future__ import annotations

import base64
import importlib
import json
import math
import os
import resource
import select
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy  # noqa: F401 - imported once here, so that no child pays for it

from grader.cells import runner
from grader.program import frames
from grader.program.calls import data_size
from grader.sandbox import channel, processes

PR_SET_DUMPABLE = 4
TICK_SECONDS = 0.01
DRAIN_SECONDS = 0.5
SCRATCH = ("/tmp", "/dev/shm")


def _prctl_dumpable(value: int) -> None:
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def _child(task: dict, limits: dict, channel_fd: int, keep: set[int], workdir: Path) -> None:
    """In the forked child: isolate, limit, run the notebook; never returns."""
    try:
        os.setsid()
        for fd in keep:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.chdir(workdir)
        _prctl_dumpable(1)  # its own memory is its own: the watcher reads its /proc, nothing of this process's
        cpu = math.ceil(limits["cpu_seconds"])  # a forked child's CPU time starts at 0
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        memory = data_size() + limits["memory_mib"] * (1 << 20)  # what it shares with this process, and its own
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_mib"] << 20,) * 2)
        channel._fd = channel_fd
        runner.execute(task)
    except BaseException as exc:  # noqa: BLE001 - the grader's own failure here: said on the channel
        try:
            channel._fd = channel_fd
            channel.send("internal", error=f"{type(exc).__name__}: {exc}"[:2000])
        except BaseException:  # noqa: BLE001
            pass
    os._exit(0)


def _serve(task: dict, limits: dict, keep: set[int], workdir: Path, scratch: list[Path]) -> dict:
    """One notebook in a forked child; what this process saw of it."""
    workdir.mkdir()
    spent = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = spent.ru_utime + spent.ru_stime
    read_end, write_end = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(task, limits, write_end, keep, workdir)
    os.close(write_end)
    received, kept, stopped_for, peak = bytearray(), limits["channel_bytes"], None, processes.Usage(0, 0.0, 0)
    status = None
    while status is None:
        if select.select([read_end], [], [], TICK_SECONDS)[0]:
            chunk = os.read(read_end, 1 << 16)
            received += chunk[: max(0, kept - len(received))]
        done, status_value = os.waitpid(pid, os.WNOHANG)
        if done:
            status = status_value
            break
        sample = processes.usage(processes.tree(pid))
        peak = processes.Usage(max(peak.memory_bytes, sample.memory_bytes), max(peak.cpu_seconds, sample.cpu_seconds),
                               max(peak.tasks, sample.tasks))
        elapsed = time.monotonic() - started
        if elapsed > limits["wall_seconds"]:
            stopped_for = "wall_time"
        elif sample.memory_bytes > limits["memory_mib"] * (1 << 20) + limits["baseline_bytes"]:
            stopped_for = "memory"
        elif sample.tasks > limits["max_processes"]:
            stopped_for = "processes"
        if stopped_for:
            processes.kill_tree(pid)
            _, status = os.waitpid(pid, 0)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    _clear_sandbox(scratch)
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline and select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))[0]:
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        received += chunk[: max(0, kept - len(received))]
    os.close(read_end)
    return {"status": status, "wall_seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime - before,
            "peak_memory_bytes": peak.memory_bytes, "peak_processes": peak.tasks, "stopped_for": stopped_for,
            "channel": base64.b64encode(bytes(received)).decode()}


def _clear_sandbox(scratch: list[Path]) -> None:
    """Kill every process the notebook left (all but this one and the sandbox's init) until none is
    left, and empty the scratch folders."""
    for _ in range(200):
        others = [pid for pid in _live_pids() if pid not in (1, os.getpid())]
        if not others:
            break
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)
    for folder in scratch:
        for entry in folder.iterdir() if folder.is_dir() else ():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _live_pids() -> list[int]:
    """The sandbox's processes that are not zombies (a zombie is gone but for its exit status)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    state = stat.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state not in ("Z", "X"):
                pids.append(int(entry))
    return pids


def main() -> None:
    requests, answers = int(sys.argv[1]), int(sys.argv[2])
    for name in json.loads(sys.argv[3]):  # the modules the course's notebooks import (the reference's)
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - a notebook importing it will say so
            pass
    _prctl_dumpable(0)
    if channel._fd is not None:  # the cold runner's channel is not used: answers go on `answers`
        os.close(channel._fd)
        channel._fd = None
    scratch = [Path(folder) for folder in SCRATCH] + [Path.cwd()]
    workdir = Path.cwd() / "notebook"
    baseline = processes.usage([os.getpid()]).memory_bytes  # what every child shares with this process
    frames.write_frame(answers, {"ready": True})
    while True:
        try:
            request, _ = frames.read_frame(requests)
        except frames.FrameError:
            return  # the grader is done with this sandbox
        limits = {**request["limits"], "baseline_bytes": baseline}
        answer = _serve(request["task"], limits, {requests, answers}, workdir, scratch)
        frames.write_frame(answers, answer)


if __name__ == "__main__":
    main()
