"""The reference character-level LSTM of Assignment 1's coding question, with its data pipeline,
deterministic training and text generation: what the grader retrains and compares student models
against. A library, not a solver: no answer key is computed from it yet, so nothing is registered.

The starter and solution notebooks (assignments/charlstm/) embed the source of `Vocabulary`,
`split_corpus`, `batches`, `detach_hidden`, `evaluate`, `generate` and, in the solution,
`CharLSTM`, so what students run is this code, not a copy that can drift.

Data (`load_corpus`, default `DEFAULT_CORPUS`; pass any UTF-8 text file instead):

- `Vocabulary.from_text(text)`: the sorted set of characters; `encode(text)` -> int64 tensor,
  `decode(ids)` -> str.
- `split_corpus(ids, validation_fraction)`: the last fraction of the text is validation, in one
  piece, so no passage is in both splits.
- `batches(ids, batch_size, seq_length)`: the text cut into `batch_size` rows read side by side
  (row i of one batch continues in row i of the next, so the hidden state can be carried over),
  windows of `seq_length`; targets are the inputs shifted by one character, and every batch is
  full (a short last batch is dropped, never padded or wrapped).

Model: `CharLSTM(vocab_size, embedding_dim, hidden_size, num_layers, dropout)` is
nn.Embedding -> nn.LSTM(batch_first) -> dropout -> nn.Linear. `forward(x, hidden)` takes int64
ids (batch, seq) and (h, c), returns logits (batch, seq, vocab) and the new (h, c);
`init_hidden(batch_size)` returns zero (h, c), each (num_layers, batch_size, hidden_size), on the
model's device. Student models are trained, evaluated and sampled through the same interface;
logits flattened to (batch * seq, vocab), as many students return them, are accepted too.

Training: `train(text, TrainingConfig(...), build_model=build_reference_model)` builds the model
with `build_model(vocab_size, config)` (a student's class goes in here), seeds every random number,
switches torch to deterministic algorithms where they exist (and back afterwards), runs
`config.steps` Adam steps (epochs repeat as needed, hidden state carried within an epoch,
gradients clipped) and evaluates on the validation split every `eval_every` steps and at the end.
It returns a `TrainingRun`: per evaluation the step, epoch, mean training loss since the last
evaluation and validation loss, both in nats per character (bits = nats / ln 2). Training is in
float32: these are losses of a stochastic model, compared with tolerances, not answer-key values.

Generation: `generate(model, vocabulary, seed_text, gen_length, temperature=1.0, top_k=None,
seed=0)` returns `seed_text` followed by `gen_length` sampled characters; the same seed gives the
same text. `unigram_entropy(text)` is the loss of a model that knows only character frequencies,
the level a working model must get below.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from reference.registry import Params

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "assignments" / "charlstm" / "corpus.txt"


def load_corpus(path: str | Path = DEFAULT_CORPUS) -> str:
    """The training text. The default exists in a source checkout; an installed grader must be
    given the path of the assignment's corpus."""
    return Path(path).read_text(encoding="utf-8")


def unigram_entropy(text: str) -> float:
    """-sum p(c) ln p(c) over the characters of `text`, in nats."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log(n / len(text)) for n in counts.values())


@dataclass(frozen=True)
class Vocabulary:
    """Characters and their ids: id i is the i-th character in sorted order."""

    chars: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {''.join(unknown)!r}")
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def split_corpus(ids: torch.Tensor, validation_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation): the validation split is the last `validation_fraction` of the text."""
    cut = int(len(ids) * (1 - validation_fraction))
    return ids[:cut], ids[cut:]


def batches(ids: torch.Tensor, batch_size: int, seq_length: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, targets) pairs of shape (batch_size, seq_length); targets are the next characters.

    The text is cut into batch_size equal rows; batch k holds characters k*seq_length onwards of
    every row, so row i continues from one batch to the next.
    """
    n_batches = (len(ids) - 1) // (batch_size * seq_length)
    if n_batches == 0:
        raise ValueError(
            f"{len(ids)} characters are too few for one batch of {batch_size} x {seq_length} "
            f"(needs {batch_size * seq_length + 1})"
        )
    length = n_batches * batch_size * seq_length
    inputs = ids[:length].reshape(batch_size, -1)
    targets = ids[1 : length + 1].reshape(batch_size, -1)
    for start in range(0, inputs.shape[1], seq_length):
        yield inputs[:, start : start + seq_length], targets[:, start : start + seq_length]


class CharLSTM(nn.Module):
    """Embedding -> LSTM -> dropout -> linear: logits for the next character at every position."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        # nn.LSTM applies dropout between its layers only, so a single layer gets none there
        self.lstm = nn.LSTM(
            embedding_dim, hidden_size, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, hidden: tuple[torch.Tensor, torch.Tensor]):
        """x: (batch, seq) character ids -> logits (batch, seq, vocab_size) and the new (h, c)."""
        output, hidden = self.lstm(self.embedding(x), hidden)
        return self.fc(self.dropout(output)), hidden

    def init_hidden(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c), each (num_layers, batch_size, hidden_size), on the model's device."""
        weight = next(self.parameters())
        shape = (self.num_layers, batch_size, self.hidden_size)
        return weight.new_zeros(shape), weight.new_zeros(shape)


def detach_hidden(hidden):
    """Cut the graph between batches (truncated backpropagation through time); accepts (h, c) or
    a single tensor."""
    if isinstance(hidden, torch.Tensor):
        return hidden.detach()
    return tuple(h.detach() for h in hidden)


def evaluate(model: nn.Module, ids: torch.Tensor, batch_size: int, seq_length: int) -> float:
    """Mean cross-entropy in nats per character over every full batch of `ids`, dropout off."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        hidden = model.init_hidden(batch_size)
        for x, y in batches(ids, batch_size, seq_length):
            logits, hidden = model(x.to(device), hidden)
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.to(device).reshape(-1), reduction="sum"
            )
            total, count = total + loss.item(), count + y.numel()
    model.train(was_training)
    return total / count


def generate(model: nn.Module, vocabulary: Vocabulary, seed_text: str, gen_length: int,
             temperature: float = 1.0, top_k: int | None = None, seed: int = 0) -> str:
    """seed_text followed by gen_length characters sampled one at a time from the model.

    temperature < 1 sharpens the distribution, > 1 flattens it; top_k keeps only the k likeliest
    characters (top_k=1 is greedy). The sampler has its own generator seeded with `seed`, so the
    same call gives the same text and the global random state is left alone.
    """
    if not seed_text:
        raise ValueError("seed_text must have at least one character to start from")
    if gen_length < 0 or temperature <= 0:
        raise ValueError(f"need gen_length >= 0 and temperature > 0, got {gen_length} and {temperature}")
    if top_k is not None and not 1 <= top_k <= len(vocabulary):
        raise ValueError(f"top_k must be between 1 and the vocabulary size {len(vocabulary)}, got {top_k}")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    generated: list[int] = []
    with torch.no_grad():
        logits, hidden = model(vocabulary.encode(seed_text).unsqueeze(0).to(device), model.init_hidden(1))
        for _ in range(gen_length):
            scores = logits.reshape(-1, len(vocabulary))[-1] / temperature
            if top_k is not None:
                threshold = torch.topk(scores, top_k).values[-1]
                scores = scores.masked_fill(scores < threshold, float("-inf"))
            next_id = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))
            generated.append(next_id)
            logits, hidden = model(torch.tensor([[next_id]], device=device), hidden)
    model.train(was_training)
    return seed_text + vocabulary.decode(generated)


class TrainingConfig(Params):
    """Hyperparameters and budget of one training run; unknown fields are errors."""

    embedding_dim: int = Field(64, ge=1)
    hidden_size: int = Field(256, ge=1)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    learning_rate: float = Field(2e-3, gt=0)
    batch_size: int = Field(32, ge=1)
    seq_length: int = Field(64, ge=1)
    steps: int = Field(500, ge=1, description="optimizer steps; epochs repeat as needed")
    eval_every: int = Field(100, ge=1, description="steps between validation evaluations (and one at the end)")
    grad_clip: float | None = Field(5.0, gt=0, description="max gradient norm; None for no clipping")
    validation_fraction: float = Field(0.1, gt=0, lt=1)
    seed: int = 0
    device: Literal["cpu", "cuda"] = "cpu"


@dataclass(frozen=True)
class Evaluation:
    step: int
    epoch: int
    train_loss: float  # mean over the steps since the previous evaluation, nats per character
    val_loss: float  # nats per character on the validation split


@dataclass
class TrainingRun:
    config: TrainingConfig
    vocabulary: Vocabulary
    model: nn.Module
    evaluations: list[Evaluation]
    seconds: float

    @property
    def val_loss(self) -> float:
        return self.evaluations[-1].val_loss


@contextmanager
def _deterministic(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch, prefer deterministic kernels (warning where none exists), restore all after."""
    if device.type == "cuda":
        # cuBLAS is only deterministic with a fixed workspace, read when its first handle is made
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


def build_reference_model(vocab_size: int, config: TrainingConfig) -> nn.Module:
    return CharLSTM(vocab_size, config.embedding_dim, config.hidden_size, config.num_layers, config.dropout)


def train(text: str, config: TrainingConfig,
          build_model: Callable[[int, TrainingConfig], nn.Module] = build_reference_model) -> TrainingRun:
    """Train a model built by `build_model(vocab_size, config)` on `text`; see the module docstring."""
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for, but torch sees no CUDA device here")
    device = torch.device(config.device)
    vocabulary = Vocabulary.from_text(text)
    train_ids, val_ids = split_corpus(vocabulary.encode(text), config.validation_fraction)
    for name, ids in [("training", train_ids), ("validation", val_ids)]:
        if len(ids) <= config.batch_size * config.seq_length:
            raise ValueError(
                f"the {name} split has {len(ids)} characters, too few for one batch of "
                f"batch_size x seq_length = {config.batch_size} x {config.seq_length}"
            )
    started = time.perf_counter()
    evaluations: list[Evaluation] = []
    with _deterministic(config.seed, device):
        model = build_model(len(vocabulary), config).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        step, epoch, losses = 0, 0, []
        while step < config.steps:
            epoch += 1
            model.train()
            hidden = model.init_hidden(config.batch_size)
            for x, y in batches(train_ids, config.batch_size, config.seq_length):
                logits, hidden = model(x.to(device), detach_hidden(hidden))
                loss = nn.functional.cross_entropy(logits.reshape(-1, len(vocabulary)), y.to(device).reshape(-1))
                optimizer.zero_grad()
                loss.backward()
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                step += 1
                losses.append(loss.item())
                if step % config.eval_every == 0 or step == config.steps:
                    val_loss = evaluate(model, val_ids, config.batch_size, config.seq_length)
                    evaluations.append(Evaluation(step, epoch, sum(losses) / len(losses), val_loss))
                    losses = []
                if step == config.steps:
                    break
    return TrainingRun(config, vocabulary, model, evaluations, time.perf_counter() - started)
