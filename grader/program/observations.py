"""What one sandboxed run of a notebook showed: `ProgramRun`, the answer the `program` checks judge.

Built only by `grader.program.run.observe`, in the grader's own process, from the harness's
messages after validating each one; a submission file can never supply it (scoring takes it from
`Submission.program`, which only the notebook reader sets). Each step is None when it never ran:
an earlier step failed or the run ended first (`ended` says why).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

from grader.program.frames import ARRAY_DTYPES, DTYPES
from grader.program.spec import MAX_ALL_OUTPUT_BYTES, MAX_CASES, MAX_FUNCTIONS, Budget, Device

STEP_TIMEOUT = re.compile(r"[\w ]+ took over [\d.]+ s")  # how a step stopped by its own time limit says so
Shape = list[int] | str  # a tensor's shape, or the type name of what was returned instead


class _Message(BaseModel):
    """A harness message's data: strict about what is there, so junk is caught, not guessed at."""

    model_config = ConfigDict(extra="forbid")


class Step(_Message):
    ok: bool
    error: str | None = None


class Values(_Message):
    values: dict[str, dict[str, Any]]


class Build(Step):
    parameters: int | None = Field(None, ge=0)
    shapes: dict[str, list[int]] = {}


class TensorData(_Message):
    """A tensor as plain numbers: its shape and its values, flattened in row-major order."""

    shape: list[int] = Field(max_length=8)
    values: list[float]

    @model_validator(mode="after")
    def _values_fill_the_shape(self) -> TensorData:
        count = 1
        for size in self.shape:
            count *= max(size, 0)
        if count != len(self.values):
            raise ValueError(f"shape {self.shape} holds {count} values, not {len(self.values)}")
        return self


class ReportedParameter(TensorData):
    name: str = Field(max_length=300)
    module: str = Field(max_length=100, description="the class name of the module that owns it")


class Verify(Step):
    """The model built again at the grader's small sizes: its weights, and what its forward returned
    for the grader's inputs. Plain numbers, so the grader can recompute them (grader.program.verify)."""

    count: int | None = Field(None, ge=0, description="its parameter count")
    parameters: list[ReportedParameter] = Field([], max_length=500)
    unused: list[str] = Field([], max_length=500, description="parameters the outputs do not depend on")
    logits: TensorData | None = None
    hidden: list[TensorData] = Field([], max_length=4)


class HiddenProbe(Step):
    batch: int
    form: str | None = None
    shapes: list[Shape] = []
    zeros: bool | None = None


class InitHidden(_Message):
    results: list[HiddenProbe]


class ForwardProbe(Step):
    batch: int
    seq: int
    logits: Shape | None = None
    hidden: list[Shape] = []
    finite: bool | None = None
    matches: bool | None = Field(None, description="the outputs are those of the contract's model on the verified "
                                 "build's weights from the same start; None when there is no verified build")


class Forward(_Message):
    results: list[ForwardProbe]


class Backward(Step):
    without_grad: list[str] = []


class GenerationRun(Step):
    seed: int
    type: str | None = None
    text: str | None = None


class Generate(_Message):
    runs: list[GenerationRun]


class TrainingSettings(_Message):
    steps: int
    batch_size: int
    seq_length: int
    seed: int
    grad_clip: float | None
    learning_rate: Any = Field(description="the notebook's value, as read; the retraining refuses one that is not "
                               "a positive number")


class Train(Step):
    by: Literal["grader", "notebook"] = Field(description="grader: the contract's model at the notebook's verified "
                                              "sizes, trained by the supervisor; notebook: the notebook's own model "
                                              "trained in its own process, because it is not that architecture")
    settings: TrainingSettings
    device: str
    steps: int = Field(ge=0)
    seconds: float
    losses: list[float]


class Holdout(Step):
    logits: list[list[float]] | None = None


class Sample(Step):
    text: str | None = None


class Notices(_Message):
    notices: list[str]


class Verification(_Message):
    """Whether the grader, rebuilding the contract's architecture from the reported weights, got the
    outputs the run reported: `verified`; `differs` (the weights fit, the outputs do not); or
    `unverifiable` (the weights do not fit that architecture, or the model failed at the small sizes).
    `detail` says why, in words for the student and the instructor."""

    status: Literal["verified", "differs", "unverifiable"]
    detail: str


class Layers(_Message):
    called: list[str] = Field(max_length=200, description="module class names, in the order forward called them")


MAX_NODES = 10_000  # values in one function output
MAX_DEPTH = 16  # lists and tuples nested in one
MAX_STRING = 10_000
NodeKind = Literal["none", "bool", "int", "float", "str", "list", "tuple", "array"]
SCALARS = {"bool": bool, "int": int, "float": float, "str": str}


class OutputNode(_Message):
    """One value of a function's output. An output is a list of these in preorder: a list or tuple
    of `length` items is followed by its items, so any nesting travels flat and is rebuilt here with
    bounded depth. Arrays carry their raw numbers as base64, decoded by numpy, never unpickled."""

    kind: NodeKind
    value: StrictBool | StrictInt | StrictFloat | StrictStr | None = None
    length: int | None = Field(None, ge=0, le=MAX_NODES, description="a list's or tuple's number of items")
    library: Literal["numpy", "torch"] | None = None
    dtype: Literal[tuple(ARRAY_DTYPES)] | None = None
    shape: list[Annotated[int, Field(ge=0)]] | None = Field(None, max_length=8)
    data: str | None = Field(None, description="an array's values, row-major, as base64 of little-endian int64, "
                             "float32 or float64 (as its dtype travels: frames.ARRAY_DTYPES)")

    @model_validator(mode="after")
    def _consistent(self) -> OutputNode:
        given = {name for name in ("value", "length", "library", "dtype", "shape", "data")
                 if getattr(self, name) is not None}
        allowed = {"list": {"length"}, "tuple": {"length"}, "array": {"library", "dtype", "shape", "data"},
                   "none": set()}.get(self.kind, {"value"})
        if given != allowed:
            raise ValueError(f"a {self.kind} node with fields {sorted(given)}")
        if self.kind in SCALARS and type(self.value) is not SCALARS[self.kind]:
            raise ValueError(f"a {self.kind} node holding a {type(self.value).__name__}")
        if self.kind == "int" and abs(self.value) >= 2 ** 63 or self.kind == "str" and len(self.value) > MAX_STRING:
            raise ValueError(f"a {self.kind} too large")
        if self.kind == "array":
            self.array()
        return self

    def array(self) -> np.ndarray:
        """The array's values, with numpy's type for how they travel (int64, float32 or float64)."""
        dtype = DTYPES[ARRAY_DTYPES[self.dtype]]
        count = math.prod(self.shape)
        if len(self.data) != 4 * math.ceil(count * dtype.itemsize / 3):
            raise ValueError(f"an array of shape {self.shape} whose data is not {count} {dtype} values")
        try:
            raw = base64.b64decode(self.data, validate=True)
        except binascii.Error:
            raise ValueError("an array whose data is not base64") from None
        if len(raw) != count * dtype.itemsize:
            raise ValueError(f"an array of shape {self.shape} whose data is not {count} {dtype} values")
        return np.frombuffer(raw, dtype=dtype).reshape(self.shape)


def tree_problem(nodes: list[OutputNode]) -> str | None:
    """Why `nodes` is not exactly one value in preorder within MAX_DEPTH, or None."""
    if not nodes:
        return "no value"
    open_items: list[int] = []  # items still to come in each list or tuple being read
    for index, node in enumerate(nodes):
        if index and not open_items:
            return f"{len(nodes) - index} nodes after the value ends"
        if open_items:
            open_items[-1] -= 1
        if node.kind in ("list", "tuple") and node.length:
            if len(open_items) >= MAX_DEPTH:
                return f"lists nested over {MAX_DEPTH} deep"
            open_items.append(node.length)
        while open_items and open_items[-1] == 0:
            open_items.pop()
    return f"a list or tuple {open_items[-1]} items short" if open_items else None


class CaseOutput(Step):
    """One case of a function check: the call's output as plain data, or why there is none."""

    name: str = Field(max_length=64)
    seconds: float = Field(ge=0, description="how long the call took, as the supervisor timed it")
    timed_out: bool = Field(False, description="stopped by its time limit (or the run's)")
    output: list[OutputNode] = Field([], max_length=MAX_NODES)

    @model_validator(mode="after")
    def _one_value(self) -> CaseOutput:
        if self.ok and (problem := tree_problem(self.output)):
            raise ValueError(f"case {self.name!r}: the output is not one value ({problem})")
        if sum(len(node.data) for node in self.output if node.data) * 3 // 4 > MAX_ALL_OUTPUT_BYTES:
            raise ValueError(f"case {self.name!r}: an output over {MAX_ALL_OUTPUT_BYTES:,} bytes")
        return self


class Functions(_Message):
    """Per function id, its cases in the rubric's order."""

    results: dict[str, Annotated[list[CaseOutput], Field(max_length=MAX_CASES)]] = Field(max_length=MAX_FUNCTIONS)


PROTOCOL: dict[str, type[_Message]] = {  # message kind -> its data, in the order the supervisor sends them
    "load": Step, "values": Values, "functions": Functions, "build": Build, "verify_own": Verification, "layers": Layers, "verify": Verify,
    "init_hidden": InitHidden, "forward": Forward, "backward": Backward, "generate": Generate, "train": Train,
    "holdout": Holdout, "sample": Sample, "notices": Notices,
}


class RecordedComparison(BaseModel):
    """The notebook's own printed losses next to the retraining's: evidence, not marks (the
    convergence check flags a gap the code cannot explain)."""

    recorded_best: float | None = Field(None, description="the lowest loss the notebook printed (nats/char)")
    retrained: float | None = Field(None, description="the retraining's held-out loss")


class Baseline(BaseModel):
    """The contract's architecture at a notebook's sizes, trained by the grader as that notebook's
    model was (grader/program/baseline.py): what a correct implementation reaches there."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    embedding: int | None
    hidden: int
    layers: int
    parameters: int
    learning_rate: float
    loss: float | None = Field(None, description="held-out nats/char; None when it could not be trained")
    steps: int | None = None
    from_run: bool = Field(False, description="the run's own retraining, which was this model: nothing trained again")
    error: str | None = None

    def describe(self) -> str:
        parts = ([f"embedding {self.embedding}"] if self.embedding else []) + [f"hidden {self.hidden}",
                                                                              f"{self.layers} layer(s)"]
        return ", ".join(parts)


class ProgramRun(BaseModel):
    """Everything the `program` checks judge, validated. Errors name notebook cells where they can."""

    device: Device
    budget: Budget
    backend: str
    ended: str | None = Field(None, description="why the run stopped before the harness finished")
    limit: str | None = Field(None, description="the sandbox limit that stopped it (wall_time, cpu_time, memory...)")
    tampering: list[str] = Field([], description="channel traffic the harness did not send")
    source_problems: list[str] = Field([], description="what the notebook's text says against its model: no class "
                                       "of the contract's name, or a stub __init__ or forward")
    wall_seconds: float
    cpu_seconds: float
    peak_memory_mib: float
    warnings: list[str] = []
    output_tail: str = Field("", description="the end of what the run printed, for the instructor")
    chars: list[str]
    load: Step | None = None
    values: dict[str, dict[str, Any]] = {}
    functions: Functions | None = Field(None, description="the notebook's functions called on the rubric's cases")
    reference_functions: Functions | None = Field(None, description="the reference notebook's functions on the same "
                                                  "inputs, from the grader's own run of it (grader.program.run)")
    build: Build | None = None
    verify_own: Verification | None = Field(None, description="the supervisor's recomputation of the build at the "
                                            "notebook's own sizes")
    layers: Layers | None = Field(None, description="the modules the build's forward called, as its process said")
    verify: Verify | None = None
    verification: Verification | None = Field(None, description="the grader's recomputation of `verify` (the build "
                                              "at sizes drawn for this run); None when the run reported none")
    init_hidden: InitHidden | None = None
    forward: Forward | None = None
    backward: Backward | None = None
    generate: Generate | None = None
    train: Train | None = None
    holdout: Step | None = None
    holdout_loss: float | None = Field(None, description="nats per character on the held-out windows, computed "
                                       "by the grader from the reported logits and targets it never sent")
    sample: Sample | None = None
    notices: list[str] = Field([], description="allowances the harness made: modules not installed here, .cuda() "
                               "calls without a GPU")
    recorded: RecordedComparison = RecordedComparison()
    same_settings: Baseline | None = Field(None, description="the contract's model at the notebook's sizes with "
                                           "the notebook's learning rate: what the `trains` check compares with")
    reference_settings: Baseline | None = Field(None, description="the same with the reference solution's learning "
                                                "rate, for a model larger than the reference's (`convergence`)")

    def steps(self) -> list[Step]:
        """Every step, probe, generation and function case the run reported: what can carry an error."""
        found = [step for step in (self.load, self.build, self.verify, self.backward, self.train, self.holdout,
                                   self.sample) if step is not None]
        found += [case for cases in (self.functions.results.values() if self.functions else []) for case in cases]
        found += [probe for group in (self.init_hidden, self.forward) if group for probe in group.results]
        return found + (self.generate.runs if self.generate else [])

    def value(self, name: str) -> Any:
        """A notebook variable's reported value, or None when it was missing or not a scalar."""
        return self.values.get(name, {}).get("value")
