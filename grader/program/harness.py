"""The program harness: the script the sandbox runs for a notebook's coding question.

This process is the trusted half, the supervisor (grader/program/supervisor.py): it never loads
student code. It reads its task, deletes the file so the notebook's process cannot read the sizes
drawn for this run, makes itself undumpable (so a process of the same user can neither attach to
it, read or write its memory, nor open its descriptors through /proc), and only then starts the
worker (grader/program/worker.py), which loads the notebook's definitions holding no channel to
the grader. Every message on the channel is the supervisor's.

Run by grader.program.run as `harness.py` in a work dir holding `task.json`, `student.py` (the
notebook's definitions) and `train.txt` (the training split). Standard library until the worker
has started, so the two processes import torch at the same time. In the warm sandbox (`warm`)
both halves are forked from a process that has imported everything, and a run costs only its work.
"""

from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path

PR_SET_DUMPABLE = 4


def dumpable(value: bool) -> None:
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, int(value), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def warm(session) -> None:
    """The warm sandbox's entry (grader/sandbox/zygote.py), forked from an image that has imported
    torch and both halves: the worker is forked first, before this process reads its task, so it
    holds nothing of it; then the task (with the notebook's definitions and the training split)
    comes off the pipe and the run goes on as `main`'s."""
    from grader.program.worker_control import Worker, fork_worker

    dumpable(False)
    forked = fork_worker(session.private_fds)
    payload = session.read_task()
    Path("student.py").write_bytes(payload["student"].encode("utf-8", "surrogateescape"))
    Path("train.txt").write_text(payload["train"], encoding="utf-8")
    from grader.program.supervisor import Supervisor

    Supervisor(payload["task"], Worker(payload["task"], True, forked), payload["train"]).run()


def main() -> None:
    task = json.loads(Path("task.json").read_text(encoding="utf-8"))
    Path("task.json").unlink()
    text = Path("train.txt").read_text(encoding="utf-8")
    dumpable(False)
    isolated = os.environ.pop("GRADER_SANDBOX_PID_NAMESPACE", None) == "1"
    from grader.program.worker_control import Worker

    worker = Worker(task, isolated)
    worker.start()
    from grader.program.supervisor import Supervisor

    Supervisor(task, worker, text).run()


if __name__ == "__main__":
    main()
