"""The harness's side of the structured channel: `send(kind, **data)` writes one observation.

The sandbox passes the harness a pipe, separate from stdout, whose descriptor number is in the
environment variable `GRADER_SANDBOX_CHANNEL_FD`. Importing this module takes that descriptor,
removes the variable and marks the descriptor not inheritable, so programs that student code
starts do not get it. The bootstrap imports this module before the harness runs, so the capture
happens before any student code.

Wire format: one JSON object per line, `{"kind": "epoch", "data": {"loss": 1.37}}`. `kind` is
1-64 letters, digits, `.`, `_` or `-`; `data` holds JSON values (NaN and infinities are allowed:
a diverged loss is an observation too). The harness ends with `done(...)`; a run without it
ended early.

Student code runs in the same process and can write to the pipe as well, so everything on the
channel is an untrusted observation: the grader validates it and computes scores in its own
process. This module imports only the standard library, because it runs inside the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

ENV_VAR = "GRADER_SANDBOX_CHANNEL_FD"
DONE = "done"
KIND_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _capture() -> int | None:
    value = os.environ.pop(ENV_VAR, None)
    if value is None:
        return None
    fd = int(value)
    os.set_inheritable(fd, False)
    return fd


_fd = _capture()
_lock = threading.Lock()


def send(kind: str, **data: Any) -> None:
    """Write one observation; `data` must be JSON-serialisable (convert tensors with `.tolist()`)."""
    if _fd is None:
        raise RuntimeError(f"no sandbox channel: {ENV_VAR} was not set when {__name__} was first imported")
    if not KIND_PATTERN.fullmatch(kind):
        raise ValueError(f"kind {kind!r} must be 1-64 letters, digits, '.', '_' or '-'")
    line = (json.dumps({"kind": kind, "data": data}, separators=(",", ":")) + "\n").encode()
    with _lock:
        view = memoryview(line)
        while view:
            view = view[os.write(_fd, view):]


def done(**summary: Any) -> None:
    """Report that the harness finished its work; the grader treats a run without it as ended early."""
    send(DONE, **summary)
