"""What a sandboxed run may use (`Limits`) and what the grader learns from it (`SandboxResult`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Backend = Literal["bwrap", "none"]
Limit = Literal["wall_time", "cpu_time", "memory", "processes", "file_size"]


class Limits(BaseModel):
    """Resource limits for one run; the defaults suit a short CPU training job of a small model.

    `memory_mib` bounds every process's private memory (RLIMIT_DATA) and the sandbox's total
    (anonymous + shared memory of all its processes, sampled every 20 ms). `max_processes` counts
    processes and threads together, the sandbox's own init included. `threads` sets the thread
    pools of torch, OpenMP, MKL and OpenBLAS. The `*_bytes` limits bound what the grader keeps.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_seconds: float = Field(60.0, gt=0, description="wall-clock time of the whole run")
    cpu_seconds: float = Field(60.0, gt=0, description="CPU time of all the run's processes together")
    memory_mib: int = Field(1024, ge=64, description="private memory, per process and in total")
    max_processes: int = Field(64, ge=4, description="processes and threads at any one time")
    threads: int = Field(1, ge=1, le=256, description="threads for torch / OpenMP / BLAS")
    file_size_mib: int = Field(64, ge=1, description="largest file the run may write")
    tmp_mib: int = Field(64, ge=1, description="size of each of /tmp and /dev/shm (bwrap backend)")
    gpu: bool = Field(False, description="let the run use the host's NVIDIA GPUs (their /dev nodes; bwrap backend)")
    output_tail_bytes: int = Field(64 * 1024, ge=1024, description="last bytes of stdout and of stderr kept")
    channel_bytes: int = Field(1024 * 1024, ge=1024, description="channel bytes decoded; the rest is counted")
    channel_line_bytes: int = Field(64 * 1024, ge=256, description="longest channel line accepted")

    @model_validator(mode="after")
    def _room_for_threads(self) -> Limits:
        needed = self.threads + 3  # the thread pool, the main thread, the sandbox's init and one helper
        if self.max_processes < needed:
            raise ValueError(
                f"max_processes ({self.max_processes}) leaves no room for {self.threads} threads: "
                f"it must be at least {needed}"
            )
        if self.channel_line_bytes > self.channel_bytes:
            raise ValueError(
                f"channel_line_bytes ({self.channel_line_bytes}) must not exceed channel_bytes ({self.channel_bytes})"
            )
        return self


class Message(BaseModel):
    """One observation the harness sent; untrusted: validate before computing anything from it."""

    kind: str
    data: dict[str, Any]


class SandboxResult(BaseModel):
    """How a run ended, its output tails and the harness's messages.

    `reason` is None only for a normal end: exit status 0 after a "done" message. Otherwise it
    says what happened in words, e.g. "exceeded the 2.0 s wall-time limit"; `limit` names the
    limit reached, if any.
    """

    backend: Backend
    exit_code: int | None = Field(description="the exit status, when the program exited")
    signal: int | None = Field(description="the signal that ended it, when one did")
    timed_out: bool
    limit: Limit | None
    completed: bool = Field(description="the harness sent its 'done' message")
    reason: str | None
    stdout: str = Field(description="the last output_tail_bytes of stdout, decoded leniently")
    stderr: str
    stdout_bytes: int = Field(description="bytes written to stdout in all")
    stderr_bytes: int
    messages: list[Message]
    channel_problems: list[str] = Field(description="malformed, oversized or dropped channel lines")
    wall_seconds: float
    cpu_seconds: float
    peak_memory_mib: float = Field(description="largest sampled total of private and shared memory")
    peak_processes: int = Field(description="most processes and threads seen at one sample")
    warnings: list[str] = Field(description="weaker isolation than bwrap, and why")

    @property
    def ok(self) -> bool:
        return self.reason is None
