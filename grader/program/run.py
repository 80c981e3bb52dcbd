"""Running a notebook's model in the sandbox and turning what it reported into a `ProgramRun`.

`ProgramSetup.load(spec, folder)` reads what every run shares (the corpus, the training split,
the held-out windows and the characters that follow them) once per rubric; `observe(notebook,
setup)` runs the harness on one notebook, with verification sizes drawn for that run, and
validates its messages. The scored characters stay in this process: the held-out loss is
computed here, from the logits the supervisor reports.

With function checks in the rubric, each student's run also carries the reference notebook's
outputs on the same cases (`reference_functions`): the grader runs the reference notebook through
the same harness once per process with its model steps left out (`reference_functions`), and
caches the outputs by the reference's source, the functions section and the harness's code.
A run recorded in the gradebook keeps them, so rescoring it needs no sandbox.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import random
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from grader.notebook import StudentNotebook, read_notebook
from grader.program.functions import function_task
from grader.program.observations import (PROTOCOL, STEP_TIMEOUT, CaseOutput, Functions, ProgramRun,
                                         RecordedComparison, Verification)
from grader.program.spec import Device, ProgramSpec, literal
from grader.program.verify import VerificationProbe, verify
from grader.sandbox.models import Limits
from grader.sandbox.runner import run_python
from grader.sandbox.warm import run_warm

HARNESS = Path(__file__).with_name("harness.py")
WARM_ENTRY = "grader.program.harness:warm"  # what the warm sandbox's child runs, in an image that imported:
WARM_PRELOAD = ["numpy", "torch", "grader.program.supervisor", "grader.program.worker", "grader.program.worker_control"]
SANDBOX_SIDE = ["harness.py", "supervisor.py", "worker_control.py", "worker.py", "calls.py", "frames.py",
                "training.py", "verify.py"]  # what runs in the sandbox: a change to any of them makes calibrations stale
PROBES = [(4, 16), (1, 16), (4, 1), (3, 7)]  # (batch, seq): the first is the main forward check
GENERATION_SEEDS = [1234, 1234, 4321]  # twice the same seed: the reproducibility check
SAMPLE_LENGTH = 200
_STUDENT_LINE = re.compile(r"\(student\.py:(\d+)\)")


class ProgramSetupError(ValueError):
    """The program section points at something unusable (a missing corpus, a holdout with unknown
    characters); the message names the file."""


@dataclass(frozen=True)
class ProgramSetup:
    spec: ProgramSpec
    folder: Path  # the rubric's folder: the spec's paths are relative to it
    chars: list[str]
    train_text: str
    windows: list[list[int]]  # inputs of the scored windows, apart from each other: these go into the sandbox
    targets: list[int]  # the character after each window, in no window: these never do
    unigram_loss: float  # the held-out loss of a model that knows only the training text's frequencies
    fingerprint_base: dict

    @classmethod
    def load(cls, spec: ProgramSpec, folder: Path) -> ProgramSetup:
        corpus = _read_text(folder / spec.corpus, "corpus")
        fraction = spec.holdout.validation_fraction
        if spec.holdout.path:
            train_text, held = corpus, _read_text(folder / spec.holdout.path, "holdout.path")
        else:
            cut = int(len(corpus) * (1 - fraction))
            train_text, held = corpus[:cut], corpus[cut:]
        chars = sorted(set(train_text))
        unknown = sorted(set(held) - set(chars))
        policy = spec.holdout.unknown
        if unknown and policy == "refuse":
            raise ProgramSetupError(f"the held-out text has characters the training text never shows: "
                                    f"{''.join(unknown)[:40]!r}; set holdout.unknown to drop or to a character "
                                    "to map them to")
        if unknown and policy not in ("refuse", "drop") and policy not in chars:
            raise ProgramSetupError(f"holdout.unknown maps to {policy!r}, which the training text never shows")
        if unknown:
            replacement = "" if policy == "drop" else policy
            held = "".join(c if c not in unknown else replacement for c in held)
        length, count = spec.holdout.length, spec.holdout.count
        slots = len(held) // (length + 1)  # a window and the character it predicts, which no window holds
        if slots < count:
            raise ProgramSetupError(f"the held-out text has {len(held)} characters, too few for {count} separate "
                                    f"windows of {length} and the character after each ({count * (length + 1)})")
        index = {c: i for i, c in enumerate(chars)}
        ids = np.array([index[c] for c in held], dtype=np.int64)
        starts = (length + 1) * np.sort(np.random.default_rng(spec.holdout.seed).choice(slots, count, replace=False))
        windows = [ids[s:s + length].tolist() for s in starts]
        targets = [int(ids[s + length]) for s in starts]
        counts = Counter(train_text)
        unigram = -sum(math.log(counts[chars[t]] / len(train_text)) for t in targets) / count
        base = {"corpus": _sha(corpus), "held": _sha(held), "spec": spec.model_dump(  # what the losses depend on
            include={"model", "training", "holdout"}, exclude={"training": {"device"}, "model": {"requires"}}),
                "harness": _sha("".join(HARNESS.with_name(name).read_text(encoding="utf-8") for name in SANDBOX_SIDE))}
        return cls(spec, folder, chars, train_text, windows, targets, unigram, base)

    def device(self, calibrated: set[str]) -> Device:
        """The device runs use here: cuda when asked for or (auto) when present and calibrated."""
        wanted = self.spec.training.device
        if wanted == "auto":
            return "cuda" if "cuda" in calibrated and torch.cuda.is_available() else "cpu"
        return wanted

    def fingerprint(self, device: Device, reference_source: str) -> str:
        """What a calibration on `device` depends on; a calibration with another is stale."""
        spec = self.spec
        data = {**self.fingerprint_base, "budget": spec.training.budgets[device].model_dump(),
                "reference": {"source": _sha(reference_source), "seeds": spec.reference.seeds}}
        return _sha(json.dumps(data, sort_keys=True))

    def held_out_loss(self, logits: list[list[float]]) -> float:
        """Mean cross-entropy (nats) of the held-out characters under the reported logits."""
        scores = np.asarray(logits, dtype=np.float64)
        if scores.shape != (len(self.targets), len(self.chars)):
            raise ValueError(f"expected {len(self.targets)} x {len(self.chars)} logits, got {list(scores.shape)}")
        if not np.isfinite(scores).all():
            return math.inf
        top = scores.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(scores - top).sum(axis=1))
        return float(np.mean(log_norm - scores[np.arange(len(self.targets)), self.targets]))


def _read_text(path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgramSetupError(f"{field}: cannot read {path}: {exc}") from None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _task(setup: ProgramSetup, device: Device, seed: int, probe: VerificationProbe, own_seed: int,
          model: bool, ceiling: float = 1.0) -> dict:
    spec = setup.spec
    budget = spec.training.budgets[device]
    wall = budget.wall_seconds * ceiling
    return {
        "model": model, "functions": function_task(spec.functions),
        "contract": spec.model.model_dump(), "variables": spec.variables(), "defaults": spec.model.defaults,
        "chars": setup.chars, "probes": PROBES, "learning_rate": spec.training.learning_rate,
        "threads": budget.threads, "wall_seconds": wall, "own_seed": own_seed,
        "seconds": {"start": max(10.0, wall / 4), "step": max(2.0, min(60.0, wall / 10)), "generate": max(5.0, wall / 6)},
        "max_answer_bytes": min(budget.memory_mib // 4, 256) * 1024 * 1024,
        "training": {"steps": budget.steps, "batch_size": budget.batch_size, "seq_length": budget.seq_length,
                     "seed": seed, "grad_clip": spec.training.grad_clip, "device": device},
        "windows": setup.windows,
        "verification": probe.task(),
        "generation": {**spec.generation.model_dump(include={"call", "provide", "max_length"}),
                       "gen_length": spec.generation.bindings()["gen_length"],
                       "literals": {spec.generation.bindings()[field]: literal(getattr(spec.generation, field))[1]
                                    for field in ("seed_text", "gen_length")
                                    if literal(getattr(spec.generation, field))[0]},
                       "seeds": GENERATION_SEEDS, "sample_length": SAMPLE_LENGTH},
    }


def limits_for(setup: ProgramSetup, device: Device, ceiling: float = 1.0) -> Limits:
    """The sandbox's limits; `ceiling` scales the time limits only (a rerun of a run a loaded machine
    stopped), never the budget's work."""
    budget = setup.spec.training.budgets[device]
    channel = 16 * 1024 * 1024
    wall = budget.wall_seconds * ceiling
    return Limits(wall_seconds=wall, cpu_seconds=wall * budget.threads,
                  memory_mib=budget.memory_mib, threads=budget.threads, max_processes=max(64, budget.threads + 8),
                  channel_bytes=channel, channel_line_bytes=channel, gpu=device == "cuda")


def observe(notebook: StudentNotebook, setup: ProgramSetup, device: Device = "cpu", *, seed: int | None = None,
            backend: str = "auto", rng: random.Random | None = None, model: bool = True,
            ceiling: float = 1.0) -> ProgramRun:
    """Run the harness on `notebook`'s definitions; `seed` overrides the training seed (calibration).
    The verification sizes and probe inputs are drawn from `rng`, by default fresh for each run;
    `ceiling` scales the time limits (never the work). `model` False runs the rubric's functions
    alone (the reference's outputs for the function checks)."""
    seed = setup.spec.training.seed if seed is None else seed
    rng = rng or random.Random(secrets.randbits(64))
    probe = VerificationProbe.draw(setup.spec.model, len(setup.chars), rng)
    task = _task(setup, device, seed, probe, rng.getrandbits(64), model, ceiling)
    limits = limits_for(setup, device, ceiling)
    result = None
    if device == "cpu" and backend in ("auto", "bwrap"):  # CUDA cannot be forked once started: cuda runs cold
        result = run_warm(WARM_ENTRY, {"task": task, "student": notebook.source, "train": setup.train_text}, limits,
                          WARM_PRELOAD)
    if result is None:
        files = {"task.json": json.dumps(task).encode(),
                 "student.py": notebook.source.encode("utf-8", "surrogateescape"),
                 "train.txt": setup.train_text.encode("utf-8")}
        result = run_python(HARNESS, files=files, limits=limits, backend=backend)
    run = ProgramRun(device=device, budget=setup.spec.training.budgets[device], backend=result.backend,
                     ended=result.reason, limit=result.limit, wall_seconds=result.wall_seconds, cpu_seconds=result.cpu_seconds,
                     peak_memory_mib=result.peak_memory_mib, warnings=result.warnings,
                     output_tail=(result.stdout[-2000:] + result.stderr[-2000:]).strip(), chars=setup.chars)
    run.tampering += [f"malformed channel output: {problem}" for problem in result.channel_problems[:5]]
    order = list(PROTOCOL)
    position = -1
    for message in result.messages:
        if message.kind == "done":
            continue
        if message.kind not in PROTOCOL:
            run.tampering.append(f"a message of unknown kind {message.kind[:64]!r}")
            continue
        if order.index(message.kind) <= position:
            run.tampering.append(f"a {message.kind!r} message out of order or repeated")
            continue
        position = order.index(message.kind)
        try:
            data = PROTOCOL[message.kind].model_validate(message.data)
        except ValidationError as exc:
            run.tampering.append(f"a malformed {message.kind!r} message: {exc.errors()[0]['msg']}")
            continue
        if message.kind == "values":
            run.values = data.values
        elif message.kind == "verify_own":
            run.verify_own = data
        elif message.kind == "notices":
            run.notices = data.notices
        elif message.kind == "holdout":
            run.holdout = data
            if data.ok:
                try:
                    run.holdout_loss = setup.held_out_loss(data.logits or [])
                except ValueError as exc:
                    run.holdout = data.model_copy(update={"ok": False, "error": str(exc)})
        else:
            setattr(run, message.kind, data)
    _locate_errors(run, notebook)
    run.source_problems = source_problems(notebook.source, setup.spec.model.class_name)
    if run.verify is not None:
        try:
            run.verification = verify(setup.spec.model, setup.chars, probe, run.verify)
        except Exception as exc:  # numbers no model gives (validated, but odd) must cost this check, not the batch
            run.verification = Verification(status="unverifiable", detail=f"the grader could not recompute the "
                                            f"reported model: {type(exc).__name__}: {str(exc)[:300]}")
    run.recorded = _compare_recorded(notebook, run)
    if model and setup.spec.functions:
        run.reference_functions = reference_functions(setup, device, backend)
    return run


RERUN_CEILING = 3.0  # a run a time limit cut short (a large model, a loaded machine) runs once more with this
# much time: the budget's steps decide a grade, the clock only bounds it. A notebook that is stuck (a loop in
# forward) is cut short again, at a cost of at most 1 + RERUN_CEILING times the budget's wall_seconds

def time_limit(run: ProgramRun) -> str | None:
    """What a time limit cut short in this run, in words, or None."""
    if run.limit in ("wall_time", "cpu_time"):
        return f"the run was stopped by its {run.limit.replace('_', '-')} limit"
    stopped = next((found for step in run.steps() if step.error and (found := STEP_TIMEOUT.search(step.error))), None)
    return f"a step was stopped by its time limit ({stopped.group(0).strip()})" if stopped else None


def observe_patiently(notebook: StudentNotebook, setup: ProgramSetup, device: Device = "cpu",
                      **options) -> tuple[ProgramRun, str | None]:
    """`observe`, and once more with RERUN_CEILING x the time limits when a time limit cut the first run
    short; the run, and a note saying so for the instructor (None when one run sufficed)."""
    run = observe(notebook, setup, device, **options)
    stopped = time_limit(run)
    if not stopped:
        return run, None
    run = observe(notebook, setup, device, **options, ceiling=RERUN_CEILING)
    again = time_limit(run)
    return run, (f"{stopped}, so the notebook was run again with {RERUN_CEILING:g}x the time limits (the same "
                 "work)" + (f"; the second run was stopped too ({again})" if again else ""))


_REFERENCE_OUTPUTS: dict[str, Functions] = {}  # reference notebook, functions section and harness -> outputs


def reference_functions(setup: ProgramSetup, device: Device = "cpu", backend: str = "auto") -> Functions:
    """The reference notebook's functions on the rubric's cases, from a run of it through the same
    harness without the model's steps; kept for the process once a run gave them. When it gives
    none, every case says why, and the checks send that to the instructor."""
    notebook = read_notebook(setup.folder / setup.spec.reference.notebook)
    key = _sha(json.dumps([notebook.source, setup.spec.model_dump(mode="json", include={"functions"}),
                           setup.fingerprint_base["harness"]]))
    if key in _REFERENCE_OUTPUTS:
        return _REFERENCE_OUTPUTS[key]
    why = f"the reference notebook cannot be read: {notebook.error}"
    if notebook.readable:
        run = observe(notebook, setup, device, backend=backend, model=False)
        if run.functions is not None and not run.ended and not run.tampering:
            _REFERENCE_OUTPUTS[key] = run.functions
            return run.functions
        why = "; ".join(filter(None, [run.ended, run.load and run.load.error, *run.tampering])) or \
            "its run reported no function outputs"
    error = f"the reference notebook's run gave no outputs: {why[:500]}"
    return Functions(results={name: [CaseOutput(name=case.name, ok=False, error=error, seconds=0) for case in
                                     function.cases] for name, function in setup.spec.functions.items()})


STUB_METHODS = ("__init__", "forward")


def source_problems(source: str, class_name: str) -> list[str]:
    """What the notebook's own text says against a run whose model checks out: no class of the
    contract's name, or its __init__ or forward a stub (only pass, ..., a docstring, `return None`
    or a raise). The worker answers for whatever code the notebook holds; a model that verifies
    although the class it names is a stub came from other code, and a person should look."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # the run itself says what is wrong with the code
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    if not classes:
        return [f"the notebook has no `class {class_name}` statement at top level"]
    methods = {node.name: node for node in classes[-1].body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return [f"`{class_name}.{name}` is a stub (its body only {_stub(methods[name])})" for name in STUB_METHODS
            if name in methods and _stub(methods[name])]


def _stub(function: ast.FunctionDef) -> str | None:
    body = [s for s in function.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if not body:
        return "holds a docstring or ..."
    if all(isinstance(s, ast.Pass) for s in body):
        return "passes"
    if len(body) == 1 and isinstance(body[0], ast.Raise):
        return "raises"
    if len(body) == 1 and isinstance(body[0], ast.Return) and (
            body[0].value is None or isinstance(body[0].value, ast.Constant) and body[0].value.value is None):
        return "returns None"
    return None


def _locate_errors(run: ProgramRun, notebook: StudentNotebook) -> None:
    """Rewrite `(student.py:LINE)` in every error as the notebook cell and line it came from."""
    def place(match: re.Match) -> str:
        where = notebook.locate(int(match.group(1)))
        return f"(cell {where[0]}, line {where[1]})" if where else "(in the notebook's code)"

    def fix(step, memory: bool = True):
        if step is not None and getattr(step, "error", None):
            step.error = _STUDENT_LINE.sub(place, step.error)
            if memory and step.error.startswith("MemoryError:"):  # torch and Python say nothing more than that
                step.error = step.error.replace("MemoryError:", "MemoryError: out of memory (the run may use "
                                                f"{run.budget.memory_mib} MiB in all):", 1)

    for step in run.steps():
        fix(step, memory=not isinstance(step, CaseOutput))  # a call's MemoryError names its own limit
    if run.verify_own is not None:  # its detail quotes the forward's error
        run.verify_own.detail = _STUDENT_LINE.sub(place, run.verify_own.detail)


def _compare_recorded(notebook: StudentNotebook, run: ProgramRun) -> RecordedComparison:
    printed = [x for loss in notebook.losses for x in (loss.val_loss, loss.loss) if x is not None and x >= 0]
    return RecordedComparison(recorded_best=min(printed) if printed else None, retrained=run.holdout_loss)
