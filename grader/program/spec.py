"""The rubric's `program:` section: how a notebook's model is built, trained, probed and judged.

Everything course-specific lives here, so that another scaffold (a `CharRNN(tokens, n_hidden,
n_layers, drop_prob, lr)` taking one-hot input, a GRU) needs a new rubric and no code change:

- `model`: the constructor call as Python source over notebook variables and the names the
  grader provides (`vocab_size`, `chars`, `text`), which dimensions the architecture has, how
  input is encoded, which output layouts are accepted and the hidden state's form;
- `training`: the notebook variable holding the learning rate, the seed, and one budget per
  device (steps, batch, window, limits), so that a grade never depends on which machine gave it;
- `holdout`: the windows of held-out text the retrained model is scored on;
- `generation`: the call that samples text, and the notebook variables that set it up;
- `reference`: the solution notebook and the seeds it is calibrated over;
- `functions`: helper functions of the notebook (`get_batches`) called on cases the grader
  chooses, their outputs compared with the reference notebook's on the same inputs.

Expressions (`constructor`, `generation.call`, `provide`) are any Python expressions, written by
the instructor and only ever evaluated inside the sandbox, next to the student's code; the grader
just parses them at load. Wherever a notebook variable is read (sizes, the learning rate,
seed_text, gen_length), a literal may stand instead: a number as it is, text as `{value: "The"}`,
for scaffolds that pass these as function arguments rather than set them at top level.
"""

from __future__ import annotations

import ast
import keyword
import math
from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, StrictBool, StrictFloat, StrictInt, StrictStr, Tag,
                      field_validator, model_validator)

Device = Literal["cpu", "cuda"]
Scalar = int | float | str | bool | None
PROVIDED = ("vocab_size", "chars", "text")  # names the harness binds for the constructor and setup
MAX_EXPRESSION = 1000  # characters; Python's parser recurses, and runs out of stack or memory, on deep nesting


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _identifier(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"{name!r} is not a Python name")
    return name


def parse_expression(source: str) -> ast.expr:
    """One Python expression (a call, a lambda, a conditional...); ValueError naming what is wrong."""
    if len(source) > MAX_EXPRESSION:
        raise ValueError(f"the expression is {len(source):,} characters long; at most {MAX_EXPRESSION} are accepted")
    try:
        return ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"{source!r} is not a single Python expression: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"{source[:60]!r}... is nested too deeply to parse") from None


class Value(BaseModel):
    """A literal where a notebook variable would be read: `{value: "The"}`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    value: int | float | str | bool


Source = str | int | float | Value  # a notebook variable's name, or a literal (numbers as they are, text as Value)


def literal(source: Source) -> tuple[bool, object]:
    """(True, the value) for a literal, (False, the variable's name) for a notebook variable."""
    if isinstance(source, Value):
        return True, source.value
    return not isinstance(source, str), source


def names_read(source: str) -> list[str]:
    """The free names an expression reads, in order of appearance."""
    seen: dict[str, None] = {}
    for node in ast.walk(ast.parse(source, mode="eval")):
        if isinstance(node, ast.Name):
            seen.setdefault(node.id, None)
    return list(seen)


class ModelContract(_Strict):
    """What the notebook's model must be."""

    class_name: str = Field("CharLSTM", description="the class the notebook defines")
    constructor: str = Field(
        "CharLSTM(vocab_size, embedding_dim, hidden_size, num_layers, dropout)",
        description="how the grader builds it: a call over notebook variables and the provided names "
        "vocab_size, chars and text")
    cell: Literal["lstm", "gru", "rnn"] = Field("lstm", description="the recurrent layer; lstm carries (h, c)")
    embedding_dim: str | int | None = Field(
        "embedding_dim", description="the notebook variable (or a number) of the embedding size; null for "
        "models without an embedding, whose recurrent layer reads the input encoding directly")
    hidden_size: str | int = "hidden_size"
    num_layers: str | int = "num_layers"
    input: Literal["indices", "one_hot"] = Field("indices", description="(batch, seq) int64 ids, or one-hot floats "
                                                 "(batch, seq, vocab_size)")
    outputs: list[Literal["batch_seq_vocab", "flat"]] = Field(
        ["batch_seq_vocab", "flat"], min_length=1,
        description="accepted logits layouts: (batch, seq, vocab) and/or (batch * seq, vocab), batch-major")
    init_hidden: str = Field("init_hidden", description="the method giving the zero hidden state for a batch size")
    requires: list[str] = Field([], max_length=20, description="module classes forward must call, in this order "
                                "among the others (e.g. [LSTM, Dropout, Linear]): the `required_layers` check")
    defaults: dict[str, Scalar] = Field({}, description="values for notebook variables a notebook may leave out")

    @field_validator("requires")
    @classmethod
    def _classes(cls, value: list[str]) -> list[str]:
        return [_identifier(name) for name in value]

    @field_validator("class_name", "init_hidden")
    @classmethod
    def _names(cls, value: str) -> str:
        return _identifier(value)

    @field_validator("embedding_dim", "hidden_size", "num_layers")
    @classmethod
    def _dimension(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, str):
            return _identifier(value)
        if isinstance(value, int) and value < 1:
            raise ValueError("a dimension given as a number must be at least 1")
        return value

    @model_validator(mode="after")
    def _constructor_builds_the_class(self) -> ModelContract:
        parse_expression(self.constructor)
        if self.class_name not in names_read(self.constructor):
            raise ValueError(f"constructor {self.constructor!r} never names the class {self.class_name}")
        return self

    @property
    def hidden_form(self) -> Literal["pair", "tensor"]:
        return "pair" if self.cell == "lstm" else "tensor"

    def variables(self) -> list[str]:
        """Notebook variables the contract reads (not the provided names, not the class)."""
        dims = [d for d in (self.embedding_dim, self.hidden_size, self.num_layers) if isinstance(d, str)]
        used = [*names_read(self.constructor), *dims]
        return list(dict.fromkeys(n for n in used if n not in PROVIDED and n != self.class_name))


class Budget(_Strict):
    """One device's retraining budget: the same for every student and for the calibration."""

    steps: int = Field(ge=1, le=1_000_000, description="Adam steps")
    batch_size: int = Field(32, ge=1, le=4096)
    seq_length: int = Field(64, ge=1, le=4096)
    wall_seconds: float = Field(300, gt=0, description="a ceiling on the whole sandboxed run, checks and training, "
                                "never a measure: a run it stops after the model built runs once more with 3x the "
                                "time, and a check it still cuts short scores 0 flagged for review, to be rerun")
    memory_mib: int = Field(3072, ge=256)
    threads: int = Field(2, ge=1, le=64, description="torch threads in the sandbox")


class TrainingSpec(_Strict):
    learning_rate: str | float = Field("learning_rate", description="the notebook variable, or a number for "
                                       "scaffolds that pass it to a function (`lr=0.001`)")
    seed: int = Field(0, description="seeds the student's retraining; calibration uses reference.seeds")
    grad_clip: float | None = Field(5.0, gt=0)
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: cuda when this machine has one and the calibration has a cuda entry")
    budgets: dict[Device, Budget] = Field(min_length=1)

    @field_validator("learning_rate")
    @classmethod
    def _rate(cls, value: str | float) -> str | float:
        return _identifier(value) if isinstance(value, str) else value


class HoldoutSpec(_Strict):
    """Scored text: `count` windows of `length` characters; only the character after each window is
    scored, and it never enters the sandbox."""

    path: str | None = Field(None, description="a private text file (relative to the rubric); default: the "
                             "corpus's last validation_fraction, which training never sees")
    unknown: Literal["refuse", "drop"] | str = Field(
        "refuse", description="characters of the held-out text the training text lacks: refuse the rubric (the "
        "default), drop them, or one character of the training text to map each to")
    validation_fraction: float = Field(0.1, gt=0, lt=1)
    count: int = Field(256, ge=16, le=4096)
    length: int = Field(64, ge=1, le=1024)
    seed: int = 20261121


    @field_validator("unknown")
    @classmethod
    def _unknown(cls, value: str) -> str:
        if value not in ("refuse", "drop") and len(value) != 1:
            raise ValueError(f"unknown must be refuse, drop or one character to map to, got {value!r}")
        return value


class GenerationSpec(_Strict):
    call: str = Field("generate(model, vocab, seed_text, gen_length, seed=seed)",
                      description="samples text: any expression over `model` and `seed` (set by the grader), the "
                      "provided names and notebook variables; random, numpy and torch are seeded with `seed` first")
    provide: dict[str, str] = Field({"vocab": "Vocabulary.from_text(text)"},
                                    description="names the call needs that no cell can define statically")
    seed_text: Source = Field("seed_text", description="the notebook variable holding the seed text, or {value: "
                              "TEXT}; a literal is bound to the name seed_text for the call")
    gen_length: Source = Field("gen_length", description="the notebook variable holding the number of characters, "
                               "or a number; a literal is bound to the name gen_length for the call")
    includes_seed: bool = Field(True, description="the text returned starts with seed_text")
    extra_characters: int = Field(0, ge=0, le=100, description="characters the sampler returns beyond gen_length "
                                  "(after the seed text): 1 for a sample() that returns the prime plus size + 1")
    max_length: int = Field(2000, ge=1, description="gen_length is capped at this for the check")

    @field_validator("seed_text", "gen_length")
    @classmethod
    def _names(cls, value: Source) -> Source:
        return _identifier(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _expressions(self) -> GenerationSpec:
        parse_expression(self.call)
        for name, source in self.provide.items():
            _identifier(name)
            parse_expression(source)
        if literal(self.gen_length)[0] and not (type(literal(self.gen_length)[1]) is int
                                                and literal(self.gen_length)[1] >= 0):
            raise ValueError("gen_length as a literal must be a whole number >= 0")
        if literal(self.seed_text)[0] and not isinstance(literal(self.seed_text)[1], str):
            raise ValueError("seed_text as a literal must be text: {value: \"The\"}")
        return self

    def bindings(self) -> dict[str, str]:
        """Field -> the name the call reads it by: the notebook variable, or the field's own name."""
        return {field: field if literal(getattr(self, field))[0] else getattr(self, field)
                for field in ("seed_text", "gen_length")}


class ReferenceSpec(_Strict):
    notebook: str = Field(description="the solution notebook (relative to the rubric), run like a student's")
    seeds: list[int] = Field([0, 1, 2], min_length=1, max_length=20)
    margin: float = Field(0.1, ge=0, description="nats per character above the worst reference run that still "
                          "earn full marks")


MAX_FUNCTIONS = 10
MAX_CASES = 20  # per function
MAX_GENERATED = 100_000  # elements of one generated input
MAX_INPUT_ELEMENTS = 1_000_000  # elements of every case's inputs together: they travel in the run's task file
MAX_LITERAL = 10_000  # numbers in one literal list
MAX_OUTPUT_BYTES = 4 << 20  # one case's output, as raw numbers
MAX_ALL_OUTPUT_BYTES = 8 << 20  # every case's, together: the run's channel to the grader holds 16 MiB
MAX_DIMENSIONS = 8


def _shape(value: int | list[int]) -> list[int]:
    shape = [value] if isinstance(value, int) else value
    if not 1 <= len(shape) <= MAX_DIMENSIONS or any(size < 0 for size in shape):
        raise ValueError(f"shape must be a size or a list of 1 to {MAX_DIMENSIONS} sizes >= 0, got {value!r}")
    if math.prod(shape) > MAX_GENERATED:
        raise ValueError(f"shape {value!r} holds {math.prod(shape):,} elements; at most {MAX_GENERATED:,} are "
                         "generated")
    return shape


class _Drawn(_Strict):
    shape: int | list[int] = Field(description="a length, or a list of sizes")
    seed: int = Field(ge=0)

    @field_validator("shape")
    @classmethod
    def _sizes(cls, value: int | list[int]) -> list[int]:
        return _shape(value)


class Ints(_Drawn):
    """`shape` whole numbers drawn uniformly from low to high - 1 by numpy's default generator from `seed`."""

    low: int = 0
    high: int = Field(description="one more than the largest value drawn")

    @model_validator(mode="after")
    def _range(self) -> Ints:
        if self.high <= self.low or max(abs(self.low), abs(self.high)) > 2 ** 62:
            raise ValueError(f"high ({self.high}) must be above low ({self.low}), both within +-2**62")
        return self


class Floats(_Drawn):
    """`shape` float64 numbers drawn uniformly from [low, high) by numpy's default generator from `seed`."""

    low: float = 0.0
    high: float = 1.0

    @model_validator(mode="after")
    def _range(self) -> Floats:
        if self.high <= self.low:
            raise ValueError(f"high ({self.high}) must be above low ({self.low})")
        return self


class Generated(_Strict):
    """An input the grader draws from a seed: a numpy array of `ints` or of `floats`."""

    ints: Ints | None = None
    floats: Floats | None = None

    @model_validator(mode="after")
    def _one(self) -> Generated:
        if (self.ints is None) == (self.floats is None):
            raise ValueError("a generated input is {ints: {...}} or {floats: {...}}, one of them")
        return self

    @property
    def elements(self) -> int:
        return math.prod((self.ints or self.floats).shape)


LiteralInput = StrictBool | StrictInt | StrictFloat | StrictStr | list[Any] | None
Input = Annotated[Annotated[Generated, Tag("generated")] | Annotated[LiteralInput, Tag("literal")],
                  Discriminator(lambda value: "generated" if isinstance(value, (dict, Generated)) else "literal")]


def _literal_size(value: Any, depth: int = 0) -> int:
    """How many numbers a literal holds; ValueError for anything but numbers, text, None and lists of them."""
    if isinstance(value, list):
        if depth >= MAX_DIMENSIONS:
            raise ValueError(f"a literal list nested over {MAX_DIMENSIONS} deep")
        return sum(_literal_size(item, depth + 1) for item in value) + (not value)
    if value is None or type(value) in (bool, int, float, str):
        if type(value) is float and not math.isfinite(value):
            raise ValueError("a literal must be a finite number")
        return 1
    raise ValueError(f"a literal input is a number, text, null or a list of them, not a {type(value).__name__}")


class FunctionCase(_Strict):
    """One call of a function: the inputs bound to the names the call reads."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)
    what: str = Field(min_length=1, max_length=200, description="what the case tests, in words for the feedback "
                      "(\"a text that does not divide into whole batches\"): the inputs themselves stay hidden")
    inputs: dict[str, Input] = Field(max_length=20, description="name -> a literal (8, 2.5, \"abc\", [1, 2]) or "
                                     "an array the grader generates: {ints: {shape, low, high, seed}} or {floats: "
                                     "{shape, low, high, seed}}")
    show_inputs: bool = Field(False, description="name the inputs in the feedback")

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, inputs: dict) -> dict:
        for name, value in inputs.items():
            _identifier(name)
            if not isinstance(value, Generated) and _literal_size(value) > MAX_LITERAL:
                raise ValueError(f"input {name!r} holds over {MAX_LITERAL:,} literal values; generate it instead")
        return inputs

    @property
    def elements(self) -> int:
        return sum(value.elements for value in self.inputs.values() if isinstance(value, Generated))


class FunctionSpec(_Strict):
    """A notebook function checked on the rubric's cases against the reference notebook's."""

    call: str = Field(description="the call, any Python expression over the notebook's names and the case's "
                      "inputs: list(get_batches(arr, batch_size, seq_length))")
    cases: list[FunctionCase] = Field(min_length=1, max_length=MAX_CASES)
    labels: list[str | list[str]] = Field([], max_length=MAX_DIMENSIONS, description="names for the output's "
                                          "items in feedback, one per level of nesting: a word numbers them "
                                          "(batch 1, batch 2), a list names each ([x, y]); [batch, [x, y]] "
                                          "says `batch 2, y`")
    seconds: float = Field(2.0, gt=0, le=60, description="each case's time limit")
    max_output_bytes: int = Field(256 << 10, ge=1, le=MAX_OUTPUT_BYTES,
                                  description="the most one case may return, as raw numbers")

    @model_validator(mode="after")
    def _consistent(self) -> FunctionSpec:
        parse_expression(self.call)
        read = set(names_read(self.call))
        names = [case.name for case in self.cases]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"case names must differ: {', '.join(twice)} used more than once")
        for case in self.cases:
            unread = sorted(set(case.inputs) - read)
            if unread:
                raise ValueError(f"case {case.name!r}: input {unread[0]!r} is never read by the call {self.call!r}")
        return self


def check_functions(functions: dict[str, FunctionSpec], seconds_allowed: float, allowed_words: str) -> None:
    """ValueError unless the function checks fit one run: identifier ids, generated inputs and
    outputs within the run's task file and channel, and time limits within `seconds_allowed`."""
    for name in functions:
        _identifier(name)
    elements = sum(case.elements for spec in functions.values() for case in spec.cases)
    if elements > MAX_INPUT_ELEMENTS:
        raise ValueError(f"functions: the cases generate {elements:,} input elements; at most "
                         f"{MAX_INPUT_ELEMENTS:,} in all")
    output = sum(spec.max_output_bytes * len(spec.cases) for spec in functions.values())
    if output > MAX_ALL_OUTPUT_BYTES:
        raise ValueError(f"functions: max_output_bytes times the cases comes to {output:,} bytes; at most "
                         f"{MAX_ALL_OUTPUT_BYTES:,} in all")
    seconds = sum(spec.seconds * len(spec.cases) for spec in functions.values())
    if seconds > seconds_allowed:
        raise ValueError(f"functions: the cases' time limits add up to {seconds:g} s, over {allowed_words}")


class ProgramSpec(_Strict):
    corpus: str = Field(description="the training text (relative to the rubric); the one handed out")
    model: ModelContract = ModelContract()
    training: TrainingSpec
    holdout: HoldoutSpec = HoldoutSpec()
    generation: GenerationSpec = GenerationSpec()
    reference: ReferenceSpec
    calibration: str | None = Field(None, description="the calibration file (relative to the rubric); default: "
                                    "RUBRIC.calibration.json next to the rubric, written by `grader calibrate`")
    functions: dict[str, FunctionSpec] = Field({}, max_length=MAX_FUNCTIONS, description="id -> a notebook function "
                                               "called on the rubric's cases in the sandbox and compared with the "
                                               "reference notebook's: the `function` check")

    @model_validator(mode="after")
    def _functions_fit(self) -> ProgramSpec:
        wall = min(budget.wall_seconds for budget in self.training.budgets.values())
        check_functions(self.functions, wall / 4, f"a quarter of the shortest budget's wall_seconds ({wall:g} s)")
        return self

    def variables(self) -> list[str]:
        """Every notebook variable the harness reads."""
        extra = [self.training.learning_rate] if isinstance(self.training.learning_rate, str) else []
        extra += [source for source in (self.generation.seed_text, self.generation.gen_length)
                  if not literal(source)[0]]
        return list(dict.fromkeys([*self.model.variables(), *extra]))
