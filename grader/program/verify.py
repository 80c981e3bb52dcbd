"""Checking a run's report of its model by recomputing it from its own weights.

Everything the notebook's process says comes from student code, so a report on its own proves
nothing. What can be checked is arithmetic: the student's class is built, its weights and what its
forward returned for inputs and a hidden state chosen outside it come back as plain numbers, and
the contract's architecture (embedding -> recurrent layers -> linear, `Canonical`) is rebuilt from
those weights and run on the same inputs. Agreement means the numbers came from a real model of
the contract's architecture. It is done twice per run: at sizes the grader draws at random for
that run (`VerificationProbe.draw`, recomputed here in the grader's process from the `verify`
message), and at the notebook's own sizes (recomputed by the trusted supervisor inside the
sandbox, whose weights are too many to send; that verified model is what the supervisor
retrains). A report that cannot be recomputed is `differs` or `unverifiable`, and the `program`
checks that rest on it are flagged for the instructor (grader/kinds/program.py).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from grader.program.observations import TensorData, Verification, Verify
from grader.program.spec import ModelContract

RECURRENT = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
DRAWN_SIZES = {"embedding_dim": range(3, 10), "hidden_size": range(4, 11), "num_layers": range(2, 4)}
BATCH, SEQ = 3, 5
MAX_PARAMETERS = 200_000  # a model this big at the drawn sizes ignores them; its weights are not sent
TOLERANCE = 1e-4  # on log-probabilities and hidden values, float32 computed twice
_RECURRENT_NAME = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?")


class Unverifiable(Exception):
    """The reported weights do not make the contract's architecture; the message says why."""


@dataclass(frozen=True)
class VerificationProbe:
    """The sizes, inputs and starting hidden state of one verification build."""

    sizes: dict[str, int]  # notebook variable -> the value the build gives it ({} at the notebook's own sizes)
    embedding: int | None
    hidden: int
    layers: int
    ids: list[list[int]]
    hidden_in: list[TensorData]  # (h, c) for an LSTM, h otherwise; random, so a forward ignoring it shows

    @classmethod
    def draw(cls, contract: ModelContract, vocab: int, rng: random.Random) -> VerificationProbe:
        """Small sizes drawn for one run (embedding and hidden different, so shapes tell layers
        apart), set on the notebook variables the contract names: a class cannot know them ahead."""
        sizes: dict[str, int] = {}

        def small(field: str) -> int | None:
            value = getattr(contract, field)
            if isinstance(value, str):
                if value not in sizes:
                    choices = [n for n in DRAWN_SIZES[field] if field == "num_layers" or n not in sizes.values()]
                    sizes[value] = rng.choice(choices)
                return sizes[value]
            return value

        embedding, hidden, layers = small("embedding_dim"), small("hidden_size"), small("num_layers")
        return cls.at(contract, vocab, embedding, hidden, layers, rng, sizes)

    @classmethod
    def at(cls, contract: ModelContract, vocab: int, embedding: int | None, hidden: int, layers: int,
           rng: random.Random, sizes: dict[str, int] | None = None) -> VerificationProbe:
        """A probe of the given sizes, with random inputs and hidden state from `rng`."""
        generator = np.random.default_rng(rng.getrandbits(64))
        ids = generator.integers(vocab, size=(BATCH, SEQ)).tolist()
        shape = [layers, BATCH, hidden]
        count = 2 if contract.cell == "lstm" else 1
        hidden_in = [TensorData(shape=shape, values=(0.5 * generator.standard_normal(layers * BATCH * hidden))
                                .astype(np.float32).tolist()) for _ in range(count)]
        return cls(sizes or {}, embedding, hidden, layers, ids, hidden_in)

    def task(self) -> dict:
        """What the supervisor needs (grader/program/supervisor.py)."""
        return {"sizes": self.sizes, "ids": self.ids, "hidden": [t.model_dump() for t in self.hidden_in],
                "max_parameters": MAX_PARAMETERS}

    def describe(self, contract: ModelContract, vocab: int) -> str:
        parts = ([f"embedding {vocab}x{self.embedding}"] if self.embedding else []) + [
            f"{self.layers}-layer {contract.cell.upper()} of {self.hidden}", f"linear {self.hidden}->{vocab}"]
        return " -> ".join(parts)


class Canonical(nn.Module):
    """The contract's architecture: (embedding or one-hot) -> recurrent layers -> linear, batch first."""

    def __init__(self, contract: ModelContract, probe: VerificationProbe, vocab: int):
        super().__init__()
        self.vocab = vocab
        self.embedding = nn.Embedding(vocab, probe.embedding) if probe.embedding else None
        self.recurrent = RECURRENT[contract.cell](probe.embedding or vocab, probe.hidden, probe.layers,
                                                  batch_first=True)
        self.linear = nn.Linear(probe.hidden, vocab)

    def forward(self, ids: torch.Tensor, hidden):
        x = self.embedding(ids) if self.embedding is not None else nn.functional.one_hot(ids, self.vocab).float()
        out, hidden = self.recurrent(x, hidden)
        return self.linear(out), hidden

    def initial_hidden(self, batch: int):
        zeros = torch.zeros(self.recurrent.num_layers, batch, self.recurrent.hidden_size,
                            device=self.linear.weight.device)
        return (zeros, zeros.clone()) if isinstance(self.recurrent, nn.LSTM) else zeros


def contract_parameters(contract: ModelContract, vocab: int, embedding: int | None, hidden: int, layers: int) -> int:
    """The parameter count of the contract's architecture at these sizes, counted on torch's meta
    device: nothing of that size is allocated."""
    modules = [nn.Embedding(vocab, embedding, device="meta")] if embedding else []
    modules += [RECURRENT[contract.cell](embedding or vocab, hidden, layers, device="meta"),
                nn.Linear(hidden, vocab, device="meta")]
    return sum(p.numel() for module in modules for p in module.parameters())


@dataclass(frozen=True)
class Weight:
    """One reported parameter: its name in the student's model, the class of the module owning it."""

    name: str
    module: str
    tensor: torch.Tensor


def load_weights(model: Canonical, reported: list[Weight], cell: str, unused: list[str]) -> tuple[list[str], dict]:
    """Copy the reported weights into `model`, matched by the owning module's type (Embedding, the
    contract's recurrent type, Linear) and, inside the recurrent layers, by torch's parameter names in
    order (so one nn.LSTM of 2 layers and a list of two 1-layer ones both fit). Parameters the outputs
    do not depend on are set aside. Returns notes on what was set aside or filled in (absent biases
    are zeros) and the student's name of each of `model`'s parameters that came from one; raises
    Unverifiable naming what does not fit."""
    recurrent_type = RECURRENT[cell].__name__
    targets = dict(model.named_parameters())
    filled: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}
    layer = -1
    notes = [f"set aside, as forward never uses them: {', '.join(unused[:6])}"] if unused else []
    reported = [p for p in reported if p.name not in unused]
    for kind in ("Embedding", "Linear"):
        owners = list(dict.fromkeys(p.name.rpartition(".")[0] or "(the model)" for p in reported if p.module == kind))
        if len(owners) > 1:
            raise Unverifiable(f"it has {len(owners)} {kind} layers ({', '.join(owners[:4])}); the contract's "
                               "architecture has one")
    for parameter in reported:
        shape = list(parameter.tensor.shape)
        if not parameter.tensor.numel():
            continue
        if parameter.module == "Embedding" and model.embedding is not None and "embedding.weight" not in filled:
            target = "embedding.weight"
        elif parameter.module == recurrent_type:
            match = _RECURRENT_NAME.fullmatch(parameter.name.rsplit(".", 1)[-1])
            if match is None or match.group(3):
                what = "a bidirectional layer" if match else f"a parameter torch's {recurrent_type} does not name so"
                raise Unverifiable(f"{parameter.name} is {what}")
            layer += match.group(1) == "weight_ih"  # each layer's parameters start with it, in torch's order
            target = f"recurrent.{match.group(1)}_l{max(layer, 0)}"
        elif parameter.module == "Linear":
            target = "linear.weight" if len(shape) == 2 else "linear.bias"
        else:
            raise Unverifiable(f"{parameter.name} belongs to a {parameter.module}, which the contract's architecture "
                               "does not have")
        if target not in targets:
            raise Unverifiable(f"{parameter.name} has no counterpart in the contract's architecture (it has "
                               f"{model.recurrent.num_layers} recurrent layers)")
        if target in filled:
            raise Unverifiable(f"{parameter.name} is a second {target.split('.')[-1]}")
        if list(targets[target].shape) != shape:
            raise Unverifiable(f"{parameter.name} has shape {shape} where the contract's architecture has "
                               f"{list(targets[target].shape)}")
        filled[target] = parameter.tensor
        names[target] = parameter.name
    for name, target in targets.items():
        if name not in filled:
            if "bias" not in name:
                raise Unverifiable(f"no weights for the contract's {name.replace('recurrent', recurrent_type)}")
            notes.append(f"no {name.split('.')[-1]}: taken as zeros")
            filled[name] = torch.zeros_like(target)
    with torch.no_grad():
        for name, target in targets.items():
            target.copy_(filled[name])
    return notes, names


def _largest_difference(reported: torch.Tensor, computed: torch.Tensor) -> float:
    return float((reported - computed).abs().max()) if reported.numel() else 0.0


def _tensor(data: TensorData) -> torch.Tensor:
    return torch.tensor(data.values, dtype=torch.float32).reshape(data.shape)


def verify(contract: ModelContract, chars: list[str], probe: VerificationProbe, report: Verify) -> Verification:
    """Recompute a `verify` message, whose numbers came as JSON (see the module's docstring)."""
    if not report.ok:
        return _failed_build(probe, report.error)
    if not report.parameters:
        return _too_many(probe, report.count)
    weights = [Weight(p.name, p.module, _tensor(p)) for p in report.parameters]
    logits = _tensor(report.logits) if report.logits is not None else None
    return verify_weights(contract, len(chars), probe, weights, report.unused, logits,
                          [_tensor(h) for h in report.hidden])[0]


def _sizes(probe: VerificationProbe) -> str:
    return ", ".join(f"{name}={value}" for name, value in probe.sizes.items()) or "the notebook's own sizes"


def _failed_build(probe: VerificationProbe, error: str | None) -> Verification:
    return Verification(status="unverifiable", detail=f"built with {_sizes(probe)}, the model failed: {error}")


def _too_many(probe: VerificationProbe, count: int | None) -> Verification:
    return Verification(status="unverifiable", detail=f"built with {_sizes(probe)}, it has {count} parameters, too "
                        "many to send for checking: does it take its sizes from its arguments?")


def verify_weights(contract: ModelContract, vocab: int, probe: VerificationProbe, weights: list[Weight],
                   unused: list[str], logits: torch.Tensor | None, hidden_out: list[torch.Tensor]
                   ) -> tuple[Verification, Canonical | None, dict]:
    """The verification of a build from its weights and its outputs on `probe`'s inputs; with it,
    when verified, the contract's model holding those weights and the student's name of each."""
    architecture = probe.describe(contract, vocab)
    model = Canonical(contract, probe, vocab)
    try:
        notes, names = load_weights(model, weights, contract.cell, unused)
    except Unverifiable as exc:
        return Verification(status="unverifiable", detail=f"its weights do not make {architecture}: {exc}"), None, {}
    if logits is None or logits.numel() != BATCH * SEQ * vocab:
        shape = list(logits.shape) if logits is not None else None
        return Verification(status="differs", detail=f"forward returned logits of shape {shape} for a {BATCH}x{SEQ} "
                            "input"), None, {}
    ids = torch.tensor(probe.ids)
    hidden_in = [_tensor(t) for t in probe.hidden_in]
    reported_logits = torch.log_softmax(logits.reshape(BATCH * SEQ, vocab), dim=1)

    def difference(start) -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            computed, hidden = model(ids, tuple(start) if len(start) == 2 else start[0])
        hidden = [hidden] if isinstance(hidden, torch.Tensor) else list(hidden)
        logit_gap = _largest_difference(reported_logits, torch.log_softmax(computed.reshape(BATCH * SEQ, vocab), 1))
        if len(hidden_out) != len(hidden) or any(r.shape != h.shape for r, h in zip(hidden_out, hidden)):
            return logit_gap, math.inf
        return logit_gap, max(_largest_difference(r, h) for r, h in zip(hidden_out, hidden))

    logit_gap, hidden_gap = difference(hidden_in)
    if logit_gap <= TOLERANCE and hidden_gap <= TOLERANCE:
        detail = f"recomputed from its own weights as {architecture}, the model gives the outputs it reported"
        return Verification(status="verified", detail=detail + (f" ({'; '.join(notes)})" if notes else "")), \
            model, names
    if logit_gap <= TOLERANCE:
        return Verification(status="differs", detail=f"the logits match {architecture} run on its own weights, but "
                            "the hidden state forward returned does not (is it the recurrent layer's new state?)"), \
            None, {}
    if max(difference([torch.zeros_like(h) for h in hidden_in])) <= TOLERANCE:
        return Verification(status="differs", detail="forward ignores the hidden state it is given: its outputs are "
                            f"those of {architecture} started from zeros"), None, {}
    return Verification(status="differs", detail=f"its outputs differ from {architecture} run on its own weights (log-"
                        f"probabilities by up to {logit_gap:.3g}): forward computes something else, e.g. an extra "
                        "non-linearity, a softmax applied twice, or batch and time axes swapped"), None, {}
