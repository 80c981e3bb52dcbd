"""First code to run inside the sandbox: puts the process limits in place, then runs the harness.

Invoked by the runner as `python -I -B -u bootstrap.py CONFIG HARNESS ARGS...`; CONFIG is JSON:

- `uid`: when set (the grader runs as root), drop to this unprivileged uid and gid, which loses
  every capability. RLIMIT_NPROC is not enforced for uid 0, so without this a fork bomb run
  by root would be bounded only by the host's pid space.
- `parent_pid`: when set (the "none" backend, which has no --die-with-parent), die with SIGKILL
  when the grader dies.
- `rlimits`: name (CPU, DATA, FSIZE, NPROC, CORE) -> [soft, hard]. They are set here rather than
  before bwrap starts because the process count must be taken inside the sandbox's own user
  namespace, where it counts only this run's processes.
- `started_fd`: written to and closed once the limits hold: the runner uses it to tell a sandbox
  that failed to start (a grader problem) from student code that failed (a student problem).

Then the channel module takes its descriptor (the grader package's parent folder goes at the
end of `sys.path`, so the package imports however it was installed), and the harness runs as `python HARNESS ARGS`
would: as `__main__`, with `sys.argv` = [HARNESS, *ARGS] and the harness's folder first on
`sys.path`. An uncaught exception that means a limit was hit (MemoryError, torch's "can't
allocate memory", EFBIG from a write, EAGAIN from fork, "can't start new thread") ends the
process with the exit status in `LIMIT_EXITS`, which the runner turns into a reason. Student code
can exit with those statuses itself; that only mislabels its own failure.

Standard library only, plus the channel module: it runs inside the sandbox on every start.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import resource
import runpy
import signal
import sys
import traceback

LIMIT_EXITS = {"memory": 120, "file_size": 121, "processes": 122}
PR_SET_PDEATHSIG = 1


def _become(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _die_with_parent(parent_pid: int) -> None:
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the grader died before the signal was armed
        os._exit(1)


def limit_hit(error: BaseException | None) -> str | None:
    """The limit an uncaught exception (or one it was raised from) means, if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        message = str(error)
        if isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and "can't allocate memory" in message):
            return "memory"
        if isinstance(error, OSError) and error.errno == errno.EFBIG:
            return "file_size"
        if (isinstance(error, OSError) and error.errno == errno.EAGAIN) or (
            isinstance(error, RuntimeError) and "can't start new thread" in message
        ):
            return "processes"
        error = error.__cause__ or error.__context__
    return None


def main(argv: list[str]) -> None:
    config, harness, args = json.loads(argv[1]), argv[2], argv[3:]
    if config["uid"] is not None:
        _become(config["uid"])
    if config["parent_pid"] is not None:
        _die_with_parent(config["parent_pid"])
    for name, limits in config["rlimits"].items():
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), tuple(limits))

    sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    importlib.import_module("grader.sandbox.channel")  # takes the channel descriptor before student code runs

    os.write(config["started_fd"], b"1")
    os.close(config["started_fd"])
    sys.argv = [harness, *args]
    sys.path.insert(0, os.path.dirname(harness))
    try:
        runpy.run_path(harness, run_name="__main__")
    except BaseException as error:
        limit = limit_hit(error)
        if limit is None:
            raise
        try:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(LIMIT_EXITS[limit])


if __name__ == "__main__":
    main(sys.argv)
