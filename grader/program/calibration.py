"""Calibration: the reference notebook retrained like a student's, over several seeds, per device.

Its held-out losses set the convergence thresholds in the key: full marks up to the worst
reference run plus `reference.margin`, none from the loss of a model that knows only character
frequencies, linear in between. Training is too slow to run at every rubric load, so `grader
calibrate RUBRIC` runs it once per device and writes RUBRIC.calibration.json; the rubric then
loads it and refuses one whose fingerprint (corpus, held-out text, contract, budget, harness,
reference notebook, seeds) no longer matches. Each device has its own budget and entry, so a
grade does not depend on the machine: a CPU grader uses the CPU budget and thresholds. A broken
file (not JSON, a wrong field, another format) is a load error naming the field, and `grader
calibrate` replaces it.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from grader.errors import dotted
from grader.notebook import StudentNotebook, read_notebook
from grader.program import baseline
from grader.program.observations import ProgramRun
from grader.program.run import ProgramSetup, observe_patiently
from grader.program.spec import Budget, Device

FORMAT = "grader-calibration/1"
MAX_BYTES = 1_000_000  # a few kilobytes per device in practice


class CalibrationError(ValueError):
    """The reference notebook cannot be calibrated: unreadable, or it fails its own checks."""


class DeviceCalibration(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    fingerprint: str
    budget: Budget
    seeds: list[int]
    losses: list[float]  # held-out nats per character, one per seed
    seconds: list[float]  # wall time of each sandboxed run, harness start included
    learning_rate: float | None = None  # the reference's; None in files written before it was kept
    parameters: int | None = None  # the contract's count at the reference's sizes
    machine: str
    created: str


class Calibration(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    format: Literal["grader-calibration/1"] = FORMAT
    devices: dict[Device, DeviceCalibration] = {}


def calibration_path(rubric_path: Path, setup: ProgramSetup) -> Path:
    if setup.spec.calibration:
        return setup.folder / setup.spec.calibration
    return rubric_path.with_name(rubric_path.name.rsplit(".", 1)[0] + ".calibration.json")


def reference_notebook(setup: ProgramSetup) -> StudentNotebook:
    notebook = read_notebook(setup.folder / setup.spec.reference.notebook)
    if not notebook.readable:
        raise CalibrationError(f"reference.notebook: {notebook.error}")
    return notebook


def _field_errors(exc: ValidationError, shown: int = 3) -> str:
    """The first few pydantic errors as `field: what is wrong, got VALUE`."""
    out = []
    for e in exc.errors()[:shown]:
        loc = dotted(tuple(item for item in e["loc"] if item != "[key]"))
        quoted = isinstance(e["input"], (str, int, float)) and e["type"] != "json_invalid"
        got = f", got {e['input']!r:.60}" if quoted else ""
        out.append(f"{loc + ': ' if loc else ''}{e['msg']}{got}")
    more = exc.error_count() - shown
    return "; ".join(out) + (f" (and {more} more)" if more > 0 else "")


def read_calibration(path: Path, rubric: str = "RUBRIC") -> Calibration:
    """The file's calibrations; an absent file is an empty one, a broken file a CalibrationError
    saying what is wrong where, and how to rewrite it."""
    if not path.exists():
        return Calibration()

    def broken(why: str) -> CalibrationError:
        return CalibrationError(f"the calibration file {path} {why}; run `grader calibrate {rubric}` (with "
                                "--device for each device it had) to write it afresh")

    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise broken(f"cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise broken(f"is over {MAX_BYTES:,} bytes, far more than a calibration holds")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise broken(f"is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise broken("is empty")
    try:
        return Calibration.model_validate_json(text)
    except ValidationError as exc:
        raise broken(f"is not a {FORMAT} file: {_field_errors(exc)}") from None


def thresholds(entry: DeviceCalibration, setup: ProgramSetup) -> dict:
    """The convergence check's reference for one device."""
    margin = setup.spec.reference.margin
    full = max(entry.losses) + margin
    return {"full": round(full, 6), "zero": round(setup.unigram_loss, 6), "reference": entry.losses,
            "steps": entry.budget.steps, "margin": margin, "learning_rate": entry.learning_rate,
            "parameters": entry.parameters}


def machine() -> str:
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{platform.machine()} {os.cpu_count()} cores{gpu}, torch {torch.__version__}"


def _reference_problems(run: ProgramRun) -> list[str]:
    problems = [f"the run ended early: {run.ended}"] if run.ended else []
    problems += [f"{name}: {step.error}" for name, step in
                 [("load", run.load), ("build", run.build), ("train", run.train), ("holdout", run.holdout)]
                 if step is not None and not step.ok]
    if run.holdout_loss is None and not problems:
        problems.append("no held-out loss was reported")
    return problems + run.tampering


def calibrate(setup: ProgramSetup, device: Device, *, backend: str = "auto",
              progress: Callable[[str], None] = lambda line: None) -> DeviceCalibration:
    """Retrain the reference notebook once per seed on `device`; raise CalibrationError if it fails."""
    notebook = reference_notebook(setup)
    losses, seconds = [], []
    for seed in setup.spec.reference.seeds:
        run, rerun = observe_patiently(notebook, setup, device, seed=seed, backend=backend)
        if rerun:
            progress(f"seed {seed}: {rerun}")
        problems = _reference_problems(run)
        if problems:
            raise CalibrationError(f"the reference notebook fails with seed {seed}: {'; '.join(problems)}")
        at = baseline.sizes(setup.spec.model, run)
        if at is None or run.train.by != "grader":
            raise CalibrationError("the reference notebook's model is not the contract's architecture at its own "
                                   f"sizes: {run.verify_own.detail if run.verify_own else 'it was never verified'}")
        losses.append(round(run.holdout_loss, 6))
        seconds.append(round(run.wall_seconds, 2))
        progress(f"seed {seed}: {run.holdout_loss:.4f} nats/char held out, {run.wall_seconds:.1f} s")
    entry = DeviceCalibration(fingerprint=setup.fingerprint(device, notebook.source),
                              budget=setup.spec.training.budgets[device], seeds=setup.spec.reference.seeds,
                              losses=losses, seconds=seconds, learning_rate=float(run.train.settings.learning_rate),
                              parameters=baseline.parameters(setup.spec.model, len(setup.chars), at),
                              machine=machine(), created=datetime.date.today().isoformat())
    if thresholds(entry, setup)["full"] >= setup.unigram_loss:
        raise CalibrationError(
            f"on this budget the reference reaches {max(losses):.3f} nats/char, which plus the margin "
            f"{setup.spec.reference.margin} is no better than character frequencies ({setup.unigram_loss:.3f}): "
            "raise the budget's steps")
    return entry


def write_calibration(path: Path, device: Device, entry: DeviceCalibration) -> None:
    """Add or replace one device's entry; a broken file is replaced (it is the grader's own output)."""
    try:
        calibration = read_calibration(path)
    except CalibrationError:
        calibration = Calibration()
    calibration.devices[device] = entry
    path.write_text(calibration.model_dump_json(indent=2) + "\n", encoding="utf-8")
