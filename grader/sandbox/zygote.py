"""The warm sandbox: one long-lived process, pid 1 of its bwrap sandbox, that forks a fresh child per run.

Started by grader.sandbox.warm as `zygote.py REQUESTS ANSWERS CONFIG` (two pipe ends to the grader,
and JSON naming the modules to import and the entry each child runs, `module:function`). It
imports the heavy modules once (numpy, torch, the harness) and then, for each run, forks a child
that calls the entry, so a run pays for its own work, not for starting Python and importing
torch. What keeps one run from the next:

- **memory**: this process never holds a run's data, so a fork copies nothing of an earlier run.
  A request's first frame holds only the limits; the child reads the task (the notebook, the
  held-out text) from the pipe itself, and what a run writes (its channel, its output) is relayed
  through fixed buffers that are zeroed after each run. An entry that forks a process of its own
  before reading the task (the model harness's worker) gives that process nothing of it either.
- **signals**: as pid 1 of the sandbox's pid namespace it gets no signal sent from inside the
  namespace that it has no handler for, and it has none (SIGINT is ignored), so no run can kill or
  stop it.
- **processes**: each child is a subreaper, so everything its run starts stays in its tree, where
  time, memory and process count are watched; when the child has ended, every other process in the
  sandbox is killed until none is left, and the work dir, /tmp and /dev/shm are emptied.
- **descriptors and limits**: a child holds neither of this process's pipes to the grader (the
  request pipe only until it has read its task), only its own channel, stdout and stderr pipes and
  /dev/null; it gets fresh limits of its own (CPU time, memory per process, file size). This
  process is not dumpable: no child can attach to it or read its memory through /proc.

Answers are frames (grader/program/frames.py): a header of numbers (the child's exit, time, memory,
processes, which limit stopped it, how many bytes follow), then the channel's bytes (at most
`channel_bytes`) and the tails of stdout and stderr, which the grader decodes as untrusted data
exactly as it decodes a cold run's.
"""

from __future__ import annotations

import ctypes
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
from collections.abc import Callable
from pathlib import Path

from grader.program import frames
from grader.program.calls import data_size
from grader.sandbox import bootstrap, channel, processes

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
TICK_SECONDS = 0.01
DRAIN_SECONDS = 0.5
SCRATCH = ("/tmp", "/dev/shm")
TASK_BYTES = 1 << 30  # the task comes from the grader: bounded only against a broken pipe
PID_NAMESPACE_VAR = "GRADER_SANDBOX_PID_NAMESPACE"


def prctl(option: int, value: int) -> None:
    if ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


class Capture:
    """Bytes read from a pipe into one fixed buffer, reused for every run and zeroed after it: the
    head (the channel) or the tail (stdout, stderr), and the count of all that came."""

    scratch = bytearray(1 << 16)

    def __init__(self, keep: str):
        self.buffer = bytearray()
        self.keep = keep
        self.length = 0
        self.total = 0

    def limit(self, size: int) -> None:
        """Keep `size` bytes of the next run (the buffer is zeroed and empty between runs)."""
        if size != len(self.buffer):
            self.buffer = bytearray(size)

    def read(self, fd: int) -> bool:
        """Read what is there; False at end of file."""
        count = os.readv(fd, [self.scratch])
        if not count:
            return False
        self.total += count
        size, view, data = len(self.buffer), memoryview(self.buffer), memoryview(self.scratch)[:count]
        if self.keep == "head":
            taken = min(count, size - self.length)
            view[self.length:self.length + taken] = data[:taken]
            self.length += taken
        elif count >= size:
            view[:] = data[count - size:]
            self.length = size
        else:
            kept = min(self.length, size - count)
            view[:kept] = view[self.length - kept:self.length]
            view[kept:kept + count] = data
            self.length = kept + count
        return True

    def view(self) -> memoryview:
        return memoryview(self.buffer)[:self.length]

    def clear(self) -> None:
        """Zero what was written (only that: an untouched buffer takes no memory)."""
        for buffer, used in ((self.buffer, self.length), (self.scratch, len(self.scratch))):
            if used:
                ctypes.memset((ctypes.c_char * used).from_buffer(buffer), 0, used)
        self.length = self.total = 0


class Session:
    """What a child's entry gets: `read_task()` once, and the descriptors that a process it forks
    before reading the task must close (`private_fds`), so that process can reach neither the task
    nor the grader."""

    def __init__(self, requests: int, told: int, channel_fd: int):
        self._requests, self._told = requests, told
        self.private_fds = [requests, told, channel_fd]

    def read_task(self) -> dict:
        task, _ = frames.read_frame(self._requests, max_header=TASK_BYTES)
        os.close(self._requests)
        os.write(self._told, b"1")  # the task is off the pipe: the zygote may read the next request
        os.close(self._told)
        return task


def _child(entry: Callable[[Session], None], limits: dict, requests: int, told: int, close: list[int],
           outputs: tuple[int, int, int], workdir: Path) -> None:
    """In the forked child: isolate, limit, run the entry; never returns."""
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        for fd in close:
            os.close(fd)
        channel_write, out_write, err_write = outputs
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(out_write, 1)
        os.dup2(err_write, 2)
        for fd in (null, out_write, err_write):
            os.close(fd)
        os.chdir(workdir)
        sys.argv = [sys.modules[entry.__module__].__file__]  # as a cold run's, the runner's path alone
        if "numpy" in sys.modules:  # a cold run's global generator is seeded afresh; `random` reseeds itself at a fork
            sys.modules["numpy"].random.seed()
        prctl(PR_SET_DUMPABLE, 1)  # its memory is its own, as a cold run's is (an entry may take that back)
        cpu = math.ceil(limits["cpu_seconds"])  # a forked child's CPU time starts at 0
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        memory = data_size() + limits["memory_mib"] * (1 << 20)  # what it shares with this process, and its own
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_mib"] << 20,) * 2)
        channel._fd = channel_write
        entry(Session(requests, told, channel_write))
    except BaseException as exc:  # noqa: BLE001 - a limit, as a cold run's bootstrap says it; else the grader's own failure
        limit = bootstrap.limit_hit(exc)
        if limit is not None:
            os._exit(bootstrap.LIMIT_EXITS[limit])
        try:
            channel.send("internal", error=f"{type(exc).__name__}: {exc}"[:2000])
        except BaseException:  # noqa: BLE001
            pass
    os._exit(0)


class Zygote:
    def __init__(self, requests: int, answers: int, entry: Callable[[Session], None]):
        self.requests, self.answers, self.entry = requests, answers, entry
        self.workdir = Path.cwd()  # a cold run's work dir, /sandbox: each run's, emptied after it
        self.scratch = [Path(folder) for folder in SCRATCH] + [self.workdir]
        # what the sandbox itself put there (the folders above a mount point, when the grader's
        # checkout lives under /tmp): kept, and never counted as left behind
        self.own = {entry for folder in self.scratch if folder.is_dir() for entry in folder.iterdir()}
        self.baseline = processes.usage([os.getpid()]).memory_bytes  # what every child shares with this process
        self.captures = {"channel": Capture("head"), "stdout": Capture("tail"), "stderr": Capture("tail")}

    def serve(self, limits: dict) -> dict:
        """One run in a forked child; what this process saw of it."""
        for name, capture in self.captures.items():
            capture.limit(limits["channel_bytes" if name == "channel" else "output_tail_bytes"])
        spent = resource.getrusage(resource.RUSAGE_CHILDREN)
        before = spent.ru_utime + spent.ru_stime
        pipes = {name: os.pipe() for name in ("channel", "stdout", "stderr", "told")}
        reads = {pipes[name][0]: name for name in pipes}
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(self.entry, limits, self.requests, pipes["told"][1], [self.answers, *reads],
                   (pipes["channel"][1], pipes["stdout"][1], pipes["stderr"][1]), self.workdir)
        for _, write_end in pipes.values():
            os.close(write_end)
        told, status, stopped_for = False, None, None
        peak = processes.Usage(0, 0.0, 0)
        while status is None:
            for fd in select.select(list(reads), [], [], TICK_SECONDS)[0]:
                told = self._take(reads, fd) or told
            done, status_value = os.waitpid(pid, os.WNOHANG)
            if done:
                status = status_value
                break
            sample = processes.usage(processes.tree(pid))
            peak = processes.Usage(max(peak.memory_bytes, sample.memory_bytes),
                                   max(peak.cpu_seconds, sample.cpu_seconds), max(peak.tasks, sample.tasks))
            stopped_for = self._exceeded(limits, sample, time.monotonic() - started)
            if stopped_for:
                processes.kill_tree(pid)
                _, status = os.waitpid(pid, 0)
        wall = time.monotonic() - started
        self._clear()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        deadline = time.monotonic() + DRAIN_SECONDS
        while reads and time.monotonic() < deadline:
            for fd in select.select(list(reads), [], [], max(0.0, deadline - time.monotonic()))[0]:
                told = self._take(reads, fd) or told
        for fd in reads:
            os.close(fd)
        return {"status": status, "wall_seconds": wall, "told": told,
                "cpu_seconds": max(peak.cpu_seconds, usage.ru_utime + usage.ru_stime - before),
                "peak_memory_bytes": peak.memory_bytes, "peak_processes": peak.tasks, "stopped_for": stopped_for,
                **{f"{name}_bytes": capture.length for name, capture in self.captures.items()},
                **{f"{name}_total": capture.total for name, capture in self.captures.items()}}

    def _take(self, reads: dict[int, str], fd: int) -> bool:
        """Read from one of the child's pipes; True when it is the child saying it read its task."""
        name = reads[fd]
        if name == "told":
            said = os.read(fd, 1)
            if not said:
                del reads[fd]
                os.close(fd)
            return bool(said)
        if not self.captures[name].read(fd):
            del reads[fd]
            os.close(fd)
        return False

    def _exceeded(self, limits: dict, sample: processes.Usage, elapsed: float) -> str | None:
        if elapsed > limits["wall_seconds"]:
            return "wall_time"
        if sample.cpu_seconds > limits["cpu_seconds"]:
            return "cpu_time"
        if sample.memory_bytes > limits["memory_mib"] * (1 << 20) + self.baseline:
            return "memory"
        if sample.tasks > limits["max_processes"]:
            return "processes"
        return None

    def _clear(self) -> None:
        """Kill every process the run left (all but this one) until none is left, reap them, and
        empty the scratch folders."""
        for _ in range(200):
            others = [pid for pid in _live_pids() if pid != os.getpid()]
            if not others:
                break
            processes.kill(others)
            _reap()
            time.sleep(0.005)
        _reap()
        for folder in self.scratch:
            for entry in self._left(folder):
                try:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, onerror=_allow_and_retry)
                    else:
                        entry.unlink(missing_ok=True)
                except OSError:
                    pass  # what cannot go ends this sandbox (main)

    def _left(self, folder: Path) -> list[Path]:
        return [entry for entry in folder.iterdir() if entry not in self.own] if folder.is_dir() else []

    def left_behind(self) -> bool:
        return any(self._left(folder) for folder in self.scratch)

    def answer(self, seen: dict) -> None:
        """The run's numbers, then its bytes, straight from the buffers, which are then zeroed."""
        frames.write_frame(self.answers, seen)
        for capture in self.captures.values():
            view = capture.view()
            while view:
                view = view[os.write(self.answers, view):]
            capture.clear()


def _allow_and_retry(function: Callable[[str], object], path: str, _error: object) -> None:
    """A folder a run took its own permissions away from is given them back, then emptied."""
    for folder in {os.path.dirname(path), path}:
        if os.path.isdir(folder) and not os.path.islink(folder):
            os.chmod(folder, 0o700)
    function(path)


def _reap() -> None:
    """Collect the exit of every child that has ended (orphans are this process's, as pid 1)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


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
    requests, answers, config = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.pop(PID_NAMESPACE_VAR, None)
    for name in config["preload"]:  # the modules the course's runs import
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - a run importing it will say so
            pass
    module, function = config["entry"].split(":")
    entry = getattr(importlib.import_module(module), function)
    prctl(PR_SET_DUMPABLE, 0)
    if channel._fd is not None:  # the cold runner's channel is not used: answers go on `answers`
        os.close(channel._fd)
        channel._fd = None
    zygote = Zygote(requests, answers, entry)
    frames.write_frame(answers, {"ready": True, "pid": os.getpid()})
    while True:
        try:
            request, _ = frames.read_frame(requests)
        except frames.FrameError:
            return  # the grader is done with this sandbox
        seen = zygote.serve(request["limits"])
        # the task may still be on the pipe, or the run left what could not be removed: the grader
        # starts a fresh sandbox for the next run
        seen["last"] = not seen["told"] or zygote.left_behind()
        zygote.answer(seen)
        if seen["last"]:
            return


if __name__ == "__main__":
    main()
