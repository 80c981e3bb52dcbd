"""The retraining loop, one definition for every place it runs: the supervisor trains the contract's
architecture on a verified model's sizes (the graded path), the worker trains the notebook's own
model only when it is not that architecture (a flagged path), and the grader trains the contract's
architecture itself for the convergence checks' baselines (grader/program/baseline.py). Consecutive windows of the
training text, `batch_size` streams side by side, hidden state carried over and detached, Adam,
gradient clipping; the same for every student and for the calibration.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def logits_2d(logits, batch: int, seq: int, vocab: int) -> torch.Tensor:
    """(batch * seq, vocab) from either accepted layout; ValueError for anything else."""
    if not isinstance(logits, torch.Tensor) or logits.numel() != batch * seq * vocab:
        shape = list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits of shape {shape} hold no ({batch}, {seq}, {vocab}) scores")
    return logits.reshape(batch * seq, vocab)


def encode_text(text: str, chars: list[str]) -> torch.Tensor:
    index = {c: i for i, c in enumerate(chars)}
    return torch.tensor([index[c] for c in text], dtype=torch.long)


def detach(hidden):
    if isinstance(hidden, torch.Tensor):
        return hidden.detach()
    return tuple(h.detach() for h in hidden)


def to_device(hidden, device):
    if isinstance(hidden, torch.Tensor):
        return hidden.to(device)
    return tuple(h.to(device) for h in hidden)


def check_rate(rate) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < math.inf:
        raise ValueError(f"the learning rate must be a positive number, got {rate!r}")
    return float(rate)


def train(model: torch.nn.Module, step: Callable, initial_hidden: Callable, settings: dict, ids: torch.Tensor,
          device: torch.device) -> list[float]:
    """Train `model` in place for settings["steps"] Adam steps; the loss of each step. `step(x, hidden)`
    gives ((batch * seq, vocab) logits, new hidden) for a (batch, seq) block of ids."""
    batch, seq = settings["batch_size"], settings["seq_length"]
    rate = check_rate(settings["learning_rate"])
    torch.manual_seed(settings["seed"])
    torch.use_deterministic_algorithms(True, warn_only=True)
    rows = (len(ids) - 1) // (batch * seq)
    if rows == 0:
        raise ValueError(f"the training text is too short for one {batch} x {seq} batch")
    length = rows * batch * seq
    inputs = ids[:length].reshape(batch, -1)
    targets = ids[1:length + 1].reshape(batch, -1)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=rate)
    losses: list[float] = []
    while len(losses) < settings["steps"]:
        hidden = to_device(initial_hidden(batch), device)
        for start in range(0, inputs.shape[1], seq):
            x = inputs[:, start:start + seq]
            y = targets[:, start:start + seq].to(device)
            logits, hidden = step(x, detach(hidden))
            loss = torch.nn.functional.cross_entropy(logits, y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            if settings["grad_clip"] is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings["grad_clip"])
            optimizer.step()
            losses.append(round(loss.item(), 5))
            if len(losses) == settings["steps"]:
                break
    return losses


def retrain_contract(contract, probe, vocab: int, settings: dict, text: str, chars: list[str], windows,
                     device: torch.device):
    """The contract's architecture at `probe`'s sizes, from `settings["seed"]`, trained on `text`:
    (the model, the loss of each step, the last-position logits of each held-out window)."""
    from grader.program.verify import Canonical  # verify needs nothing of this module: no cycle

    check_rate(settings["learning_rate"])
    torch.manual_seed(settings["seed"])
    model = Canonical(contract, probe, vocab).to(device)

    def step(x, hidden):
        logits, hidden = model(x.to(device), hidden)
        return logits.reshape(-1, vocab), hidden

    losses = train(model, step, model.initial_hidden, settings, encode_text(text, chars), device)
    model.eval()
    with torch.no_grad():
        windows = torch.as_tensor(windows, dtype=torch.long, device=device)
        logits, _ = model(windows, model.initial_hidden(len(windows)))
    return model, losses, logits[:, -1, :]
