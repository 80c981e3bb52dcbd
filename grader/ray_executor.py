"""Grading on a Ray cluster (`grader grade --ray [ADDRESS]`, `pip install grader[ray]`): the batch
engine's `Executor` run as Ray tasks, so that one `grader grade` grades on many machines into the
one gradebook, with the results the local pool gives.

A task is pure: the submission's bytes (read here, bounded as the readers bound them) and the
rubric with its computed key (its files and the key cache entry, put in the object store once per
batch and written out once per worker process) in; the result as JSON, its documents and a
notebook's fresh run out, validated here. A node needs grader, the same code as here (a node
whose code differs refuses: it could grade differently), bubblewrap, and no shared filesystem.
This process alone records results, each file once (`grade_stream`), so exactly-once holds as on
one machine:

- a task lost with its worker or node (WorkerCrashedError, NodeDiedError, ObjectLostError...) is
  run again by Ray, up to `retries` times, then reported as died, as the local pool reports it;
- an exception in a task is never retried: a student's file never raises (`run_task`), so one
  that does is a grading bug, recorded for that file alone.

Notebooks whose code runs ask for their program's budget of CPU threads and, where the program
trains on cuda, a fraction of a GPU, so that several short retrainings share one; answer files
(milliseconds each) go in chunks, so that Ray's milliseconds per task do not dominate.
docs/ray.md has the design, and why Ray rather than Dask or Celery.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import math
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from grader.batch import Done, Failed, Render, Task, run_task
from grader.key import AnswerKey, CachedKey, Compiled, code_digest, from_entry
from grader.kinds._values import short
from grader.rubric import PROGRAM, Rubric

MAX_CHUNK = 128  # answer files per task: Ray's overhead per task is a few ms, an answer file's grading about one
GPU_FRACTION = 0.25  # of one GPU per cuda retraining: four share a GPU (benchmarks/RESULTS.md)
RETRIES = 3  # runs of a task lost with its worker or node, after the first
IN_FLIGHT_PER_CPU = 2  # tasks submitted ahead per cluster CPU: bytes are read as tasks are submitted


class ClusterError(Exception):
    """The cluster cannot grade this batch as asked (unreachable, or a node that refuses): nothing
    more is graded; what was recorded is kept, and the same command resumes."""


@dataclass(frozen=True)
class Bundle:
    """What a node grades with: the rubric's files by name relative to its folder (the rubric
    first, the key cache's `inputs`), the key cache entry, and this machine's code digest."""

    files: dict[str, bytes]
    entry_json: str
    code: str

    @classmethod
    def of(cls, rubric_path: Path, entry: CachedKey) -> Bundle:
        files = {}
        for name in list(entry.inputs) or [rubric_path.name]:
            try:
                files[name] = (rubric_path.parent / name).read_bytes()
            except OSError as exc:
                raise ClusterError(f"cannot read {rubric_path.parent / name}, a file of the rubric, to send to the "
                                   f"nodes: {exc.strerror or exc}") from None
        return cls(files, entry.model_dump_json(), code_digest())

    def digest(self) -> str:
        digest = hashlib.sha256(self.entry_json.encode())
        for name, data in self.files.items():
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return digest.hexdigest()


@dataclass(frozen=True)
class Refused:
    """A node that cannot grade a chunk as asked: which, and why."""

    node: str
    why: str


# --- resources ----------------------------------------------------------------------------------
def runs_code(rubric: Rubric) -> bool:
    """Whether the rubric's notebooks run code (in the sandbox): a program section, `value:` checks
    or notebook functions."""
    notebook = rubric.assessment.notebook
    return rubric.assessment.program is not None or bool(notebook is not None and notebook.functions) \
        or any(item.value for _, part in rubric.assessment.parts() for item in part.items())


def notebook_resources(rubric: Rubric, cluster_gpus: float, largest_node_cpus: float,
                       gpu_fraction: float = GPU_FRACTION) -> dict[str, float]:
    """What one notebook's task asks Ray for: its program's budget of CPU threads (at most a
    node's CPUs, or it would never be scheduled) on the device its runs use, and `gpu_fraction`
    of a GPU where that is cuda: the rubric asks for cuda, or (auto) has a cuda calibration and
    the cluster has GPUs, as a node's own choice (`RubricProgram.device`) would be. A task asking
    for no GPU sees none (Ray hides them), so auto falls back to cpu there too."""
    program = rubric.assessment.program
    if program is None:
        return {"num_cpus": 1, "num_gpus": 0}
    calibrated = set(rubric.solutions.get(PROGRAM, {}).get("convergence", {}))
    wanted = program.training.device
    device = wanted if wanted != "auto" else ("cuda" if "cuda" in calibrated and cluster_gpus > 0 else "cpu")
    budget = program.training.budgets.get(device) or next(iter(program.training.budgets.values()))
    return {"num_cpus": max(1, min(budget.threads, int(largest_node_cpus) or 1)),
            "num_gpus": gpu_fraction if device == "cuda" else 0}


def chunked(tasks: list[Task], cluster_cpus: float) -> list[list[Task]]:
    """Answer files in chunks of at most MAX_CHUNK, and at least one chunk per CPU where there are
    enough files, so that every node gets work."""
    if not tasks:
        return []
    size = max(1, min(MAX_CHUNK, math.ceil(len(tasks) / max(1, int(cluster_cpus)))))
    return [tasks[i:i + size] for i in range(0, len(tasks), size)]


def shipped(path: Path) -> bytes | None:
    """The file's bytes for a node, read as its reader bounds them; None where they cannot be
    shipped (unreadable, or over the reader's limit): such a file is graded here, where reading it
    fails in a millisecond with the message a local run gives."""
    from grader.notebook.files import MAX_BYTES as NOTEBOOK_BYTES
    from grader.submission import MAX_BYTES as ANSWER_BYTES

    limit = NOTEBOOK_BYTES if path.suffix.lower() == ".ipynb" else ANSWER_BYTES
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


# --- on a node ----------------------------------------------------------------------------------
_prepared: dict[str, tuple[Rubric, AnswerKey]] = {}  # by bundle digest: a worker process writes each rubric once


def _materialised(bundle: Bundle) -> tuple[Rubric, AnswerKey]:
    """The rubric read back with its key from the bundle's files, written under a fresh folder
    (deep enough that the rubric's `../` names stay inside it), removed when the worker exits."""
    root = Path(tempfile.mkdtemp(prefix="grader-rubric-")).resolve()
    atexit.register(shutil.rmtree, root, True)
    up = max(PurePosixPath(name).parts.count("..") for name in bundle.files)
    folder = root.joinpath(*["r"] * up)
    for name, data in bundle.files.items():
        target = (folder / name).resolve()
        if not target.is_relative_to(root):
            raise ValueError(f"the rubric's file {name!r} lies outside its bundle")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    entry = CachedKey.model_validate_json(bundle.entry_json)
    return from_entry(folder / next(iter(bundle.files)), entry), entry.key


def _node() -> str:
    import ray

    return f"{socket.gethostname()} ({ray.util.get_node_ip_address()}, node {ray.get_runtime_context().get_node_id()[:12]})"


def _refusal(bundle_code: str, sandboxed: bool, allow_unsandboxed: bool) -> str | None:
    """Why this node must not grade the chunk: other grader code, or (for notebooks whose code
    runs) no usable bubblewrap without the instructor's leave to use the fallback."""
    if code_digest() != bundle_code:
        return ("its grader (code, Python or library versions) is not the driver's, so its grades could differ; "
                "install the same grader on every node")
    if sandboxed and not allow_unsandboxed:
        from grader.sandbox.bwrap import availability

        found = availability()
        if not found.usable:
            return (f"bubblewrap is unusable there ({found.reason}), so student code would run on the weaker "
                    "fallback (docs/sandbox.md); install bubblewrap on the node, or pass --ray-allow-unsandboxed")
    return None


def grade_on_node(digest: str, bundle: list, tasks: list[Task], render: Render | None, sandboxed: bool,
                  allow_unsandboxed: bool, code: str) -> list[Done | Failed] | Refused:
    """A Ray task: grade `tasks` with the bundle (`[ObjectRef]`, fetched only by a worker that has
    not written this rubric yet). Each task's bug costs that task alone."""
    import ray

    why = _refusal(code, sandboxed, allow_unsandboxed)
    if why is not None:
        return Refused(_node(), why)
    if digest not in _prepared:
        _prepared[digest] = _materialised(ray.get(bundle[0]))
    rubric, key = _prepared[digest]
    outcomes: list[Done | Failed] = []
    for task in tasks:
        try:
            outcomes.append(run_task(rubric, key, render, task))
        except Exception as exc:  # a grading bug costs this file, never the chunk
            outcomes.append(Failed(f"{type(exc).__name__}: {short(str(exc))}"))
    return outcomes


# --- the executor -------------------------------------------------------------------------------
@dataclass
class RayExecutor:
    """Tasks run on the Ray cluster at `address` (None: RAY_ADDRESS, a cluster `ray start`ed on
    this machine, or else a local one Ray starts and stops with the batch)."""

    rubric_path: str
    prepared: Compiled
    render: Render | None
    address: str | None = None
    allow_unsandboxed: bool = False
    gpu_fraction: float = GPU_FRACTION
    retries: int = RETRIES
    _started: bool = field(default=False, init=False)

    def _connect(self) -> Any:
        try:
            import ray
        except ImportError:
            raise ClusterError("--ray needs Ray: pip install 'grader[ray]'") from None
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError... for a bad address
                where = self.address or "the default (RAY_ADDRESS, or a local cluster)"
                raise ClusterError(f"cannot connect to the Ray cluster at {where}: {short(str(exc))}") from None
            self._started = True
        return ray

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Done | Failed]]:
        ray = self._connect()
        try:
            yield from self._run(ray, tasks)
        finally:
            if self._started:
                ray.shutdown()
                self._started = False

    def _run(self, ray: Any, tasks: list[Task]) -> Iterator[tuple[Task, Done | Failed]]:
        from ray.exceptions import RayError, RayTaskError

        rubric, key = self.prepared.rubric, self.prepared.key
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        cpus = sum(node["Resources"].get("CPU", 0) for node in nodes)
        largest = max((node["Resources"].get("CPU", 0) for node in nodes), default=1)
        gpus = sum(node["Resources"].get("GPU", 0) for node in nodes)
        bundle = Bundle.of(Path(self.rubric_path), self.prepared.entry)
        digest, bundle_ref = bundle.digest(), ray.put(bundle)
        remote = ray.remote(max_retries=self.retries, retry_exceptions=False)(grade_on_node)
        code_runs = runs_code(rubric)
        notebook = notebook_resources(rubric, gpus, largest, self.gpu_fraction)

        here, notebooks, answers = [], [], []
        for task in tasks:
            (notebooks if code_runs and task.path.lower().endswith(".ipynb") else answers).append(task)
        chunks = [[task] for task in notebooks] + chunked(answers, cpus)
        waiting: dict[Any, list[Task]] = {}
        window = max(8, int(cpus) * IN_FLIGHT_PER_CPU)

        def submit() -> None:
            while chunks and len(waiting) < window:
                chunk = chunks.pop(0)
                ready = []
                for task in chunk:
                    content = shipped(Path(task.path))
                    (here if content is None else ready).append(Task(task.path, task.recorded_run, task.into, content))
                if not ready:
                    continue
                sandboxed = code_runs and ready[0].path.lower().endswith(".ipynb")
                options = notebook if sandboxed else {"num_cpus": 1}
                ref = remote.options(**options).remote(digest, [bundle_ref], ready, self.render, sandboxed,
                                                        self.allow_unsandboxed, bundle.code)
                waiting[ref] = ready

        try:
            submit()
            while waiting or here:
                while here:
                    task = here.pop()
                    yield task, run_task(rubric, key, self.render, task, here=True)
                if not waiting:
                    submit()
                    continue
                (ref,), _ = ray.wait(list(waiting), num_returns=1)
                chunk = waiting.pop(ref)
                try:
                    outcomes = ray.get(ref)
                except RayTaskError as exc:  # raised past the per-task guard: a bug, not retried
                    outcomes = [Failed(f"{type(exc.cause).__name__}: {short(str(exc.cause))}")] * len(chunk)
                except RayError as exc:  # lost with its worker or node, every retry too
                    outcomes = [Failed(f"the grading process died on the cluster, {self.retries + 1} times "
                                       f"({type(exc).__name__})", died=True)] * len(chunk)
                if isinstance(outcomes, Refused):
                    raise ClusterError(f"Ray node {outcomes.node} refuses to grade: {outcomes.why}")
                for task, outcome in zip(chunk, outcomes):
                    yield task, outcome
                submit()
        finally:
            for ref in waiting:  # Ctrl-C, a refusal, or the driver stopped reading
                ray.cancel(ref, force=True)
