"""`run_python`: run a grader-owned harness script, which loads student code, in a sandbox.

The harness runs with this process's interpreter and packages (torch, numpy...), read-only, in a
fresh temporary work dir holding only the given files, under the limits in `Limits`. The grader
side never trusts anything the run produces: its output is read in bounded tails, its channel
messages are decoded as untrusted data, and it is watched from outside (/proc) and killed as a
whole on any limit. The work dir is deleted afterwards, whatever the run wrote there.

Backends: "bwrap" (see `grader.sandbox.bwrap`), "none" (a weaker fallback: the same limits,
temp dir and a new session, but no namespaces; see NONE_WARNING), and "auto": bwrap when it
works here, else "none" with a warning in the result. docs/sandbox.md has the threat model.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import select
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from grader.sandbox import bootstrap, bwrap, channel, processes
from grader.sandbox.models import Backend, Limit, Limits, SandboxResult
from grader.sandbox.streams import ChannelDecoder, TailBuffer

MIB = 1024 * 1024
TICK_SECONDS = 0.02  # how often the process tree is measured
DRAIN_SECONDS = 1.0  # how long output may still arrive after the run has ended
READ_BYTES = 1 << 16
PID_NAMESPACE_VAR = "GRADER_SANDBOX_PID_NAMESPACE"  # "1": the run has a pid namespace of its own (bwrap)
SANDBOX_UIDS = (1_000_000_000, 1_100_000_000)  # for root's sandboxes: unprivileged, used by no account
NONE_WARNING = (
    "backend 'none' isolates nothing: the run could read every file the grader's user can read, use the "
    "network, signal the grader and leave processes behind; only its time, memory, file sizes and (unless "
    "the grader is root) process count were limited"
)


class SandboxError(RuntimeError):
    """The sandbox itself failed, not the code in it: bwrap required but unusable, or a sandbox that
    did not start."""


@dataclass
class _Ended:
    """What the supervision loop saw."""

    status: int
    rusage: resource.struct_rusage
    wall_seconds: float
    stopped_for: Limit | None
    started: bool
    peak: processes.Usage
    pipes_left_open: bool
    stdout: TailBuffer
    stderr: TailBuffer
    channel: ChannelDecoder


def run_python(
    harness: Path,
    args: Sequence[str] = (),
    *,
    files: Mapping[str, bytes] | None = None,
    limits: Limits = Limits(),
    backend: Literal["auto", "bwrap", "none"] = "auto",
) -> SandboxResult:
    """Run `python harness args...` in a sandbox whose work dir holds `files` (relative path -> bytes)."""
    harness = Path(harness).absolute()
    if not harness.is_file():
        raise FileNotFoundError(f"the harness {harness} is not a file")
    chosen, warnings = _choose(backend)
    as_root = os.geteuid() == 0
    uid = random.SystemRandom().randrange(*SANDBOX_UIDS) if chosen == "bwrap" and as_root else None
    top = Path(tempfile.mkdtemp(prefix="grader-sandbox-"))
    try:
        workdir = _populate(top, files or {}, uid)
        rlimits = _rlimits(limits, chosen, as_root, warnings)
        ended = _execute(chosen, harness, list(args), top, workdir, uid, rlimits, limits)
    finally:
        leftover = _remove(top)
    if leftover:
        warnings.append(leftover)
    if ended.pipes_left_open:
        warnings.append(f"output was still open {DRAIN_SECONDS} s after the run ended: a process escaped its session")
    if not ended.started and ended.stopped_for is None:
        said = ended.stderr.text().strip()[-2000:] or "no message"
        raise SandboxError(f"the {chosen} sandbox did not start: {said}")

    code, sig = _exit_code_and_signal(ended.status, chosen)
    cpu_seconds = max(ended.peak.cpu_seconds, ended.rusage.ru_utime + ended.rusage.ru_stime)
    limit = ended.stopped_for or limit_from_status(code, sig, cpu_seconds, limits)
    completed = any(message.kind == channel.DONE for message in ended.channel.messages)
    return SandboxResult(
        backend=chosen,
        exit_code=code,
        signal=sig,
        timed_out=limit == "wall_time",
        limit=limit,
        completed=completed,
        reason=reason_for(limit, code, sig, completed, limits),
        stdout=ended.stdout.text(),
        stderr=ended.stderr.text(),
        stdout_bytes=ended.stdout.total,
        stderr_bytes=ended.stderr.total,
        messages=ended.channel.messages,
        channel_problems=ended.channel.problems,
        wall_seconds=ended.wall_seconds,
        cpu_seconds=cpu_seconds,
        peak_memory_mib=ended.peak.memory_bytes / MIB,
        peak_processes=ended.peak.tasks,
        warnings=warnings,
    )


def _choose(requested: str) -> tuple[Backend, list[str]]:
    if requested == "none":
        return "none", [NONE_WARNING]
    found = bwrap.availability()
    if found.usable:
        return "bwrap", []
    if requested == "bwrap":
        raise SandboxError(f"the bwrap backend was required but is unusable: {found.reason}")
    return "none", [f"bubblewrap is unusable here ({found.reason}), so the weaker 'none' backend ran", NONE_WARNING]


def _populate(top: Path, files: Mapping[str, bytes], uid: int | None) -> Path:
    """The work dir with `files` in it, owned by the sandbox's uid when there is one."""
    workdir = top / "work"
    workdir.mkdir()
    (top / "tmp").mkdir()  # HOME and TMPDIR for the "none" backend
    for name, content in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or not relative.parts or ".." in relative.parts:
            raise ValueError(f"files: {name!r} must be a relative path inside the work dir, without '..'")
        if not isinstance(content, bytes):
            raise TypeError(f"files: {name!r} must map to bytes, got {type(content).__name__}")
        path = workdir.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if uid is not None:
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, uid, uid)
    return workdir


def _rlimits(limits: Limits, chosen: Backend, as_root: bool, warnings: list[str]) -> dict[str, list[int]]:
    """Per-process limits the bootstrap sets. The process count is per run inside bwrap's user
    namespace (or its own uid, for root); without one it counts all of the user's processes, so
    the "none" backend allows the user's current count plus the limit."""
    cpu = math.ceil(limits.cpu_seconds)
    rlimits = {
        "CPU": [cpu, cpu + 1],  # SIGXCPU, then SIGKILL a second later if it is ignored
        "DATA": [limits.memory_mib * MIB] * 2,
        "FSIZE": [limits.file_size_mib * MIB] * 2,
        "CORE": [0, 0],
    }
    if chosen == "bwrap":
        rlimits["NPROC"] = [limits.max_processes] * 2
    elif not as_root:
        rlimits["NPROC"] = [processes.tasks_of_user(os.getuid()) + limits.max_processes] * 2
    else:
        warnings.append("the process limit was not enforced: RLIMIT_NPROC does not apply to root")
    return rlimits


def _environment(threads: int, home: str, channel_fd: int) -> dict[str, str]:
    """The run's whole environment: nothing of the grader's (tokens, paths) leaks into it."""
    count = str(threads)
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "USER": "student",
        "LOGNAME": "student",
        "OMP_NUM_THREADS": count,
        "MKL_NUM_THREADS": count,
        "OPENBLAS_NUM_THREADS": count,
        "MALLOC_ARENA_MAX": "2",  # fewer malloc arenas: less address space counted by RLIMIT_DATA
        channel.ENV_VAR: str(channel_fd),
    }


def _execute(
    chosen: Backend,
    harness: Path,
    args: list[str],
    top: Path,
    workdir: Path,
    uid: int | None,
    rlimits: dict[str, list[int]],
    limits: Limits,
) -> _Ended:
    channel_read, channel_write = os.pipe()
    started_read, started_write = os.pipe()
    command, env, cwd = _command(chosen, harness, args, top, workdir, uid, rlimits, limits, channel_write,
                                 started_write)
    stdout, stderr = TailBuffer(limits.output_tail_bytes), TailBuffer(limits.output_tail_bytes)
    decoder = ChannelDecoder(limits.channel_bytes, limits.channel_line_bytes)
    started = bytearray()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
            pass_fds=(channel_write, started_write), start_new_session=True,
        )
    except BaseException:
        for fd in (channel_read, started_read):
            os.close(fd)
        raise
    finally:
        os.close(channel_write)
        os.close(started_write)
    streams: dict[int, Callable[[bytes], None]] = {
        proc.stdout.fileno(): stdout.feed,
        proc.stderr.fileno(): stderr.feed,
        channel_read: decoder.feed,
        started_read: started.extend,
    }
    exit_fd = os.pidfd_open(proc.pid)  # readable once the process exits: no waiting out a tick
    with selectors.DefaultSelector() as selector:
        for fd in [*streams, exit_fd]:
            selector.register(fd, selectors.EVENT_READ)
        peak, stopped_for = processes.Usage(0, 0.0, 0), None
        try:
            while not _has_exited(proc.pid):
                sample = processes.usage(processes.tree(proc.pid))
                peak = processes.Usage(
                    max(peak.memory_bytes, sample.memory_bytes), max(peak.cpu_seconds, sample.cpu_seconds),
                    max(peak.tasks, sample.tasks),
                )
                stopped_for = _exceeded(limits, sample, time.monotonic() - start)
                if stopped_for:
                    break
                _pump(selector, streams, min(time.monotonic() + TICK_SECONDS, start + limits.wall_seconds))
        finally:
            processes.kill_tree(proc.pid)  # on a limit, or what outlived the harness ("none" backend)
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
            wall_seconds = time.monotonic() - start
            selector.unregister(exit_fd)
            os.close(exit_fd)
            pipes_left_open = not _pump(selector, streams, time.monotonic() + DRAIN_SECONDS, until_closed=True)
            for stream in (proc.stdout, proc.stderr):
                stream.close()
            os.close(channel_read)
            os.close(started_read)
    decoder.finish()
    return _Ended(
        status, rusage, wall_seconds, stopped_for, bool(started), peak, pipes_left_open, stdout, stderr, decoder
    )


def _command(chosen: Backend, harness: Path, args: list[str], top: Path, workdir: Path, uid: int | None,
             rlimits: dict[str, list[int]], limits: Limits, channel_write: int,
             started_write: int, as_pid_1: bool = False) -> tuple[list[str], dict[str, str], Path]:
    """The command line, environment and folder that start the bootstrap running `harness`."""
    config = {
        "uid": uid,
        "parent_pid": os.getpid() if chosen == "none" else None,
        "rlimits": rlimits,
        "started_fd": started_write,
    }
    inside_harness = f"{bwrap.HARNESS_DIR}/{harness.name}" if chosen == "bwrap" else str(harness)
    argv = [sys.executable, "-I", "-B", "-u", bootstrap.__file__, json.dumps(config), inside_harness, *args]
    if chosen == "bwrap":
        env = {**_environment(limits.threads, "/tmp", channel_write), PID_NAMESPACE_VAR: "1"}
        command = bwrap.command(
            bwrap.availability().executable, argv, workdir=workdir, read_only={inside_harness: harness},
            env=env, limits=limits, as_root=uid is not None, as_pid_1=as_pid_1,
        )
        return command, {}, top
    return argv, _environment(limits.threads, str(top / "tmp"), channel_write), workdir


@dataclass
class Server:
    """A long-lived bwrap sandbox running a harness that talks on two pipes (`start_server`)."""

    process: subprocess.Popen
    top: Path
    requests: int  # the grader's end: write requests here
    answers: int  # the grader's end: read answers here

    def stop(self) -> None:
        """Kill the sandbox and everything in it, and delete its folder."""
        processes.kill_tree(self.process.pid)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.requests, self.answers):
            try:
                os.close(fd)
            except OSError:
                pass
        _remove(self.top)


def start_server(harness: Path, limits: Limits, args: Sequence[str] = ()) -> Server:
    """Start `harness REQUESTS ANSWERS ARGS...` as the init of a bwrap sandbox that lives until
    `Server.stop`, for a harness that supervises runs itself (grader/sandbox/zygote.py). The bootstrap sets no CPU, memory
    or file-size limit on it (it sets them on each run it forks) and the process limit of `limits`;
    SandboxError when bwrap is unusable here or the sandbox does not start."""
    chosen, _ = _choose("bwrap")
    as_root = os.geteuid() == 0
    uid = random.SystemRandom().randrange(*SANDBOX_UIDS) if as_root else None
    top = Path(tempfile.mkdtemp(prefix="grader-sandbox-"))
    workdir = _populate(top, {}, uid)
    rlimits = {name: value for name, value in _rlimits(limits, chosen, as_root, []).items()
               if name in ("NPROC", "CORE")}
    requests_read, requests_write = os.pipe()
    answers_read, answers_write = os.pipe()
    channel_read, channel_write = os.pipe()
    started_read, started_write = os.pipe()
    command, env, cwd = _command(chosen, Path(harness).absolute(), [str(requests_read), str(answers_write), *args], top,
                                 workdir, uid, rlimits, limits, channel_write, started_write, as_pid_1=True)
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True,
                                   pass_fds=(requests_read, answers_write, channel_write, started_write))
    except BaseException:
        for fd in (requests_write, answers_read):
            os.close(fd)
        _remove(top)
        raise
    finally:
        for fd in (requests_read, answers_write, channel_write, started_write):
            os.close(fd)
    server = Server(process, top, requests_write, answers_read)
    try:
        if not select.select([started_read], [], [], 30)[0] or not os.read(started_read, 1):
            server.stop()
            raise SandboxError("the warm bwrap sandbox did not start")
    finally:
        os.close(started_read)
        os.close(channel_read)
    return server


def _has_exited(pid: int) -> bool:
    """Whether the process has exited, leaving it unreaped so its pid (and group) stay reserved."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _pump(
    selector: selectors.BaseSelector, streams: dict[int, Callable[[bytes], None]], until: float,
    until_closed: bool = False,
) -> bool:
    """Read whatever arrives before `until`, stopping early when a registered descriptor that is not
    a stream (the process's pidfd) becomes readable or, with `until_closed`, once every stream has
    closed. Returns whether every stream has closed."""
    while (remaining := until - time.monotonic()) > 0:
        if until_closed and not selector.get_map():
            break
        for key, _ in selector.select(remaining):
            if key.fd not in streams:
                return False
            chunk = os.read(key.fd, READ_BYTES)
            if chunk:
                streams[key.fd](chunk)
            else:
                selector.unregister(key.fd)
    return not selector.get_map()


def _exceeded(limits: Limits, sample: processes.Usage, elapsed: float) -> Limit | None:
    if sample.memory_bytes > limits.memory_mib * MIB:
        return "memory"
    if sample.cpu_seconds > limits.cpu_seconds:
        return "cpu_time"
    if elapsed >= limits.wall_seconds:
        return "wall_time"
    return None


def _exit_code_and_signal(status: int, chosen: Backend) -> tuple[int | None, int | None]:
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    code = os.WEXITSTATUS(status)
    if chosen == "bwrap" and code > 128:  # bwrap exits with 128 + N when the program died of signal N
        return None, code - 128
    return code, None


def limit_from_status(code: int | None, sig: int | None, cpu_seconds: float, limits: Limits) -> Limit | None:
    """The limit a program that ended on its own ran into, judged by how it ended."""
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_seconds >= limits.cpu_seconds):
        return "cpu_time"
    if sig == signal.SIGXFSZ:
        return "file_size"
    for limit, status in bootstrap.LIMIT_EXITS.items():
        if code == status:
            return limit  # type: ignore[return-value]
    return None


def reason_for(limit: Limit | None, code: int | None, sig: int | None, completed: bool, limits: Limits) -> str | None:
    match limit:
        case "wall_time":
            return f"exceeded the {limits.wall_seconds:.1f} s wall-time limit"
        case "cpu_time":
            return f"exceeded its {limits.cpu_seconds:.1f} s CPU-time limit"
        case "memory":
            return f"ran out of its {limits.memory_mib} MiB memory limit"
        case "processes":
            return (
                f"could not start a new process or thread: it reached its limit of {limits.max_processes} "
                f"processes and threads, or its {limits.memory_mib} MiB memory limit (each thread's stack counts)"
            )
        case "file_size":
            return f"tried to write a file larger than its {limits.file_size_mib} MiB file-size limit"
    if sig is not None:
        try:
            return f"was killed by signal {sig} ({signal.Signals(sig).name})"
        except ValueError:
            return f"was killed by signal {sig}"
    if code != 0:
        return f"exited with status {code}"
    if not completed:
        return f"ended early: exited with status 0 before the harness sent '{channel.DONE}'"
    return None


def _remove(top: Path) -> str | None:
    """Delete the run's temporary folder, even where the run took away its own permissions."""

    def allow_and_retry(function: Callable[[str], object], path: str, _error: object) -> None:
        for folder in {os.path.dirname(path), path}:
            if os.path.isdir(folder) and not os.path.islink(folder):
                os.chmod(folder, 0o700)
        function(path)

    try:
        shutil.rmtree(top, onerror=allow_and_retry)
    except OSError as error:
        return f"could not remove the run's temporary folder {top}: {error}"
    return None
