"""Baselines for the convergence checks: the contract's architecture at a notebook's own sizes, trained
by the grader itself exactly as that notebook's model was retrained (the same budget, seed, device
and threads), with a given learning rate.

A fixed budget of steps favours small models: a correct model of 1024 units needs more steps than
one of 256 to reach the same loss. So a notebook's retrained loss is held against what a correct
implementation reaches at the same sizes on the same budget, not only against the reference
solution at its own sizes (docs/programs.md, "Convergence"). These trainings run in the grader's
process, on grader code and plain settings, so nothing a notebook does can reach them; each is
cached per configuration (sizes, learning rate, budget, seed, device and everything the
calibration's fingerprint covers), in memory and under GRADER_CACHE (default ~/.cache/grader), so
a class of 300 with five distinct configurations trains five baselines, once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from grader.program import training
from grader.program.observations import Baseline, ProgramRun
from grader.program.spec import Device, ModelContract
from grader.program.verify import VerificationProbe, contract_parameters

MAX_PARAMETERS = 30_000_000  # as the supervisor's own-size verification: beyond it the grader trains nothing
MAX_LAYERS = 100
_MEMORY: dict[str, Baseline] = {}


def cache_folder() -> Path:
    return Path(os.environ.get("GRADER_CACHE") or Path.home() / ".cache" / "grader") / "baselines"


def sizes(contract: ModelContract, run: ProgramRun) -> tuple[int | None, int, int] | None:
    """(embedding, hidden, layers) at the notebook's own values; None when any is not a usable size."""
    found = []
    for field, most in (("embedding_dim", MAX_PARAMETERS), ("hidden_size", MAX_PARAMETERS),
                        ("num_layers", MAX_LAYERS)):
        value = getattr(contract, field)
        if isinstance(value, str):
            value = run.value(value)
            if type(value) is not int or not 1 <= value <= most:
                return None
        found.append(value)
    embedding, hidden, layers = found
    return embedding, hidden, layers


def parameters(contract: ModelContract, vocab: int, at: tuple[int | None, int, int]) -> int:
    return contract_parameters(contract, vocab, *at)


@contextlib.contextmanager
def _isolated(threads: int):
    """Training sets torch's seed, its determinism switch and thread count globally: give the
    grader's process back as it was."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[0] if torch.cuda.is_available() else []):
            yield
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def baseline(setup, device: Device, at: tuple[int | None, int, int], learning_rate: float,
             seed: int) -> Baseline:
    """The contract at sizes `at`, trained on this device's budget with `learning_rate` from `seed`,
    and its held-out loss (computed, cached or refused as too large: `error` says which)."""
    contract, budget = setup.spec.model, setup.spec.training.budgets[device]
    embedding, hidden, layers = at
    count = parameters(contract, len(setup.chars), at)
    made = dict(embedding=embedding, hidden=hidden, layers=layers, learning_rate=learning_rate, parameters=count)
    if count > MAX_PARAMETERS:
        return Baseline(**made, error=f"a model of {count:,} parameters is more than the grader trains as a "
                        f"baseline ({MAX_PARAMETERS:,})")
    key = hashlib.sha256(json.dumps({**setup.fingerprint_base, "device": device, "budget": budget.model_dump(),
                                     "seed": seed, "made": made, "grad_clip": setup.spec.training.grad_clip,
                                     "torch": torch.__version__}, sort_keys=True, default=str).encode()).hexdigest()
    if key in _MEMORY:
        return _MEMORY[key]
    folder = cache_folder()
    path = folder / f"{key}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / f"{key}.lock", "w")
    except OSError:  # no writable cache (a read-only home): train it here, for this process only
        result = _MEMORY[key] = _train(setup, device, at, learning_rate, seed, made)
        return result
    with lock:  # parallel graders wait for one training, not repeat it
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = _read(path)
        if result is None:
            result = _train(setup, device, at, learning_rate, seed, made)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            with contextlib.suppress(OSError):
                temporary.write_text(result.model_dump_json(), encoding="utf-8")
                temporary.replace(path)
    _MEMORY[key] = result
    return result


def _read(path: Path) -> Baseline | None:
    try:
        return Baseline.model_validate_json(path.read_bytes()[:100_000])
    except (OSError, ValueError):
        return None  # absent or broken: the grader's own cache, so it is simply trained again


def _train(setup, device: Device, at, learning_rate: float, seed: int, made: dict) -> Baseline:
    budget = setup.spec.training.budgets[device]
    settings = {"steps": budget.steps, "batch_size": budget.batch_size, "seq_length": budget.seq_length,
                "seed": seed, "grad_clip": setup.spec.training.grad_clip, "learning_rate": learning_rate}
    probe = VerificationProbe(sizes={}, embedding=at[0], hidden=at[1], layers=at[2], ids=[], hidden_in=[])
    try:
        with _isolated(budget.threads):
            _, losses, last = training.retrain_contract(setup.spec.model, probe, len(setup.chars), settings,
                                                        setup.train_text, setup.chars, np.array(setup.windows),
                                                        torch.device(device))
    except (ValueError, RuntimeError, MemoryError) as exc:  # the grader's own model, at sizes a notebook chose
        return Baseline(**made, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    logits = np.round(last.float().cpu().numpy().astype(np.float64), 4)  # as the supervisor reports them
    loss = setup.held_out_loss(logits.tolist())
    return Baseline(**made, loss=round(loss, 6) if math.isfinite(loss) else None, steps=len(losses),
                    error=None if math.isfinite(loss) else "the loss is not finite")


def attach(run: ProgramRun, setup, limits: dict | None) -> None:
    """Fill the run's baselines where its checks need them (`limits`: this device's thresholds).
    Idempotent, so a recorded run gets them too, afresh when the calibration's learning rate changed."""
    if run.train is None or not run.train.ok or run.holdout_loss is None or run.tampering:
        return
    at = sizes(setup.spec.model, run)
    rate = run.train.settings.learning_rate
    if at is None or isinstance(rate, bool) or not isinstance(rate, (int, float)):
        return
    seed, device = run.train.settings.seed, run.device
    own = parameters(setup.spec.model, len(setup.chars), at)
    if run.same_settings is None and run.train.by == "grader":  # the retraining was the contract's model
        run.same_settings = Baseline(embedding=at[0], hidden=at[1], layers=at[2], learning_rate=rate, parameters=own,
                                     loss=round(run.holdout_loss, 6), steps=run.train.steps, from_run=True)
    elif run.same_settings is None:
        run.same_settings = baseline(setup, device, at, float(rate), seed)
    reference_rate, reference_size = (limits or {}).get("learning_rate"), (limits or {}).get("parameters")
    if reference_rate is None or reference_size is None or own <= reference_size:
        run.reference_settings = None  # the reference's own loss is the measure for a model no larger than it
    elif run.reference_settings is None or run.reference_settings.learning_rate != reference_rate:
        run.reference_settings = run.same_settings if reference_rate == rate else \
            baseline(setup, device, at, float(reference_rate), seed)
