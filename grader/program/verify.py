"""Checking a run's report of its model by recomputing it here, in the grader's process.

Everything the harness reports comes from a process that runs student code, so a report on its
own proves nothing: code written against the harness could send a clean one for a model that does
not build. What the grader can check is arithmetic. The harness builds the student's class a
second time at small sizes (`VerificationProbe`: embedding 5, hidden 6, 2 layers, set on the
notebook variables the contract names), and reports its weights and what its forward returned for
inputs and a hidden state the grader chose. Here the contract's architecture (embedding ->
recurrent layers -> linear) is rebuilt from those weights and run on the same inputs. Agreement
means the run's numbers come from a real model of the contract's architecture, wherever in the
notebook it was computed; a report that cannot be recomputed is `differs` or `unverifiable`, and
the `program` checks that rest on it are flagged for the instructor (grader/kinds/program.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from grader.program.observations import ReportedParameter, TensorData, Verification, Verify
from grader.program.spec import ModelContract

RECURRENT = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
SMALL_SIZES = {"embedding_dim": 5, "hidden_size": 6, "num_layers": 2}  # distinct, so shapes tell layers apart
BATCH, SEQ = 3, 5
MAX_PARAMETERS = 200_000  # a model this big at the small sizes ignores them; its weights are not sent
TOLERANCE = 1e-4  # on log-probabilities and hidden values, float32 computed twice
_RECURRENT_NAME = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?")


class Unverifiable(Exception):
    """The reported weights do not make the contract's architecture; the message says why."""


@dataclass(frozen=True)
class VerificationProbe:
    """The small sizes, inputs and starting hidden state of the verification build, chosen here."""

    sizes: dict[str, int]  # notebook variable -> the value the harness gives it
    embedding: int | None
    hidden: int
    layers: int
    ids: list[list[int]]
    hidden_in: list[TensorData]  # (h, c) for an LSTM, h otherwise; random, so a forward ignoring it shows

    @classmethod
    def for_contract(cls, contract: ModelContract, vocab: int, seed: int) -> VerificationProbe:
        sizes: dict[str, int] = {}

        def small(field: str) -> int | None:
            value = getattr(contract, field)
            if isinstance(value, str):
                sizes.setdefault(value, SMALL_SIZES[field])
                return sizes[value]
            return value

        embedding, hidden, layers = small("embedding_dim"), small("hidden_size"), small("num_layers")
        rng = np.random.default_rng(seed)
        ids = rng.integers(vocab, size=(BATCH, SEQ)).tolist()
        shape = [layers, BATCH, hidden]
        count = 2 if contract.cell == "lstm" else 1
        hidden_in = [TensorData(shape=shape, values=(0.5 * rng.standard_normal(layers * BATCH * hidden))
                                .astype(np.float32).tolist()) for _ in range(count)]
        return cls(sizes, embedding, hidden, layers, ids, hidden_in)

    def task(self) -> dict:
        """What the harness needs (grader/program/harness.py, `Harness.verify`)."""
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


def _tensor(data: TensorData) -> torch.Tensor:
    return torch.tensor(data.values, dtype=torch.float32).reshape(data.shape)


def load_weights(model: Canonical, reported: list[ReportedParameter], cell: str, unused: list[str]) -> list[str]:
    """Copy the reported weights into `model`, matched by the owning module's type (Embedding, the
    contract's recurrent type, Linear) and, inside the recurrent layers, by torch's parameter names in
    order (so one nn.LSTM of 2 layers and a list of two 1-layer ones both fit). Parameters the outputs
    do not depend on are set aside. Returns notes on what was set aside or filled in (absent biases
    are zeros); raises Unverifiable naming what does not fit."""
    recurrent_type = RECURRENT[cell].__name__
    targets = dict(model.named_parameters())
    filled: dict[str, torch.Tensor] = {}
    layer = -1
    notes = [f"set aside, as forward never uses them: {', '.join(unused[:6])}"] if unused else []
    reported = [p for p in reported if p.name not in unused]
    for kind in ("Embedding", "Linear"):
        owners = list(dict.fromkeys(p.name.rpartition(".")[0] or "(the model)" for p in reported if p.module == kind))
        if len(owners) > 1:
            raise Unverifiable(f"it has {len(owners)} {kind} layers ({', '.join(owners[:4])}); the contract's "
                               "architecture has one")
    for parameter in reported:
        if not parameter.values:
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
            target = "linear.weight" if len(parameter.shape) == 2 else "linear.bias"
        else:
            raise Unverifiable(f"{parameter.name} belongs to a {parameter.module}, which the contract's architecture "
                               "does not have")
        if target not in targets:
            raise Unverifiable(f"{parameter.name} has no counterpart in the contract's architecture (it has "
                               f"{model.recurrent.num_layers} recurrent layers)")
        if target in filled:
            raise Unverifiable(f"{parameter.name} is a second {target.split('.')[-1]}")
        if list(targets[target].shape) != parameter.shape:
            raise Unverifiable(f"{parameter.name} has shape {parameter.shape} where the contract's architecture has "
                               f"{list(targets[target].shape)}")
        filled[target] = _tensor(parameter)
    for name, target in targets.items():
        if name not in filled:
            if "bias" not in name:
                raise Unverifiable(f"no weights for the contract's {name.replace('recurrent', recurrent_type)}")
            notes.append(f"no {name.split('.')[-1]}: taken as zeros")
            filled[name] = torch.zeros_like(target)
    with torch.no_grad():
        for name, target in targets.items():
            target.copy_(filled[name])
    return notes


def _largest_difference(reported: torch.Tensor, computed: torch.Tensor) -> float:
    return float((reported - computed).abs().max()) if reported.numel() else 0.0


def verify(contract: ModelContract, chars: list[str], probe: VerificationProbe, report: Verify) -> Verification:
    """Recompute the run's verification build from its own weights (see the module's docstring)."""
    vocab = len(chars)
    architecture = probe.describe(contract, vocab)
    sizes = ", ".join(f"{name}={value}" for name, value in probe.sizes.items()) or "the contract's sizes"
    if not report.ok:
        return Verification(status="unverifiable", detail=f"built again with {sizes} the model failed: {report.error}")
    if not report.parameters:
        return Verification(status="unverifiable", detail=f"built with {sizes} it has {report.count} parameters, too "
                            "many to send for checking: does it take its sizes from its arguments?")
    model = Canonical(contract, probe, vocab)
    try:
        notes = load_weights(model, report.parameters, contract.cell, report.unused)
    except Unverifiable as exc:
        return Verification(status="unverifiable", detail=f"its weights do not make {architecture}: {exc}")
    if report.logits is None or math.prod(report.logits.shape) != BATCH * SEQ * vocab:
        shape = report.logits.shape if report.logits else None
        return Verification(status="differs", detail=f"forward returned logits of shape {shape} for a {BATCH}x{SEQ} "
                            "input")
    ids = torch.tensor(probe.ids)
    hidden_in = [_tensor(t) for t in probe.hidden_in]
    reported_logits = torch.log_softmax(_tensor(report.logits).reshape(BATCH * SEQ, vocab), dim=1)

    def difference(start) -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            logits, hidden = model(ids, tuple(start) if len(start) == 2 else start[0])
        hidden = [hidden] if isinstance(hidden, torch.Tensor) else list(hidden)
        logit_gap = _largest_difference(reported_logits, torch.log_softmax(logits.reshape(BATCH * SEQ, vocab), dim=1))
        if len(report.hidden) != len(hidden) or any(r.shape != list(h.shape) for r, h in zip(report.hidden, hidden)):
            return logit_gap, math.inf
        return logit_gap, max(_largest_difference(_tensor(r), h) for r, h in zip(report.hidden, hidden))

    logit_gap, hidden_gap = difference(hidden_in)
    if logit_gap <= TOLERANCE and hidden_gap <= TOLERANCE:
        detail = f"recomputed from its own weights as {architecture}, the model gives the outputs it reported"
        return Verification(status="verified", detail=detail + (f" ({'; '.join(notes)})" if notes else ""))
    if logit_gap <= TOLERANCE:
        return Verification(status="differs", detail=f"the logits match {architecture} run on its own weights, but "
                            "the hidden state forward returned does not (is it the recurrent layer's new state?)")
    if max(difference([torch.zeros_like(h) for h in hidden_in])) <= TOLERANCE:
        return Verification(status="differs", detail="forward ignores the hidden state it is given: its outputs are "
                            f"those of {architecture} started from zeros")
    return Verification(status="differs", detail=f"its outputs differ from {architecture} run on its own weights (log-"
                        f"probabilities by up to {logit_gap:.3g}): forward computes something else, e.g. an extra "
                        "non-linearity, a softmax applied twice, or batch and time axes swapped")
