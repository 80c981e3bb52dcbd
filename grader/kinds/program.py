"""Kind `program`: one check of a notebook's model, judged from its sandboxed run (`ProgramRun`).

The answer is not the student's to give: scoring hands this kind `Submission.program`, which only
the notebook reader fills, so an answer file cannot claim a passing run. Options: `check`, one of

- `builds`: the definitions import and the contract's constructor call returns an nn.Module;
- `init_hidden`: zero hidden state of the contract's form, each (layers, batch, hidden), for
  batch sizes 4, 3 and 1;
- `forward`: (batch 4, seq 16) ids give logits in an accepted layout, finite, and a hidden state
  of the right shapes (parameters that get no gradient are a warning: a layer built but unused);
- `variable_shapes`: the same for batch 1, sequence length 1 and (3, 7);
- `parameter_count`: the count equals the contract's architecture built from the student's own
  hyperparameters (embedding, recurrent layers, linear output);
- `required_layers`: forward calls the module classes the contract's `requires` lists, in that
  order among the others (e.g. [LSTM, Dropout, Linear]: the dropout the exercise asks for, applied
  between the recurrent layers and the output), as the build's own forward called them;
- `trains`: the model trains like a correct implementation at its own sizes and learning rate:
  full marks when it verified as the contract's architecture at those sizes (its retraining is
  then a correct implementation's); otherwise its own retrained loss against the contract's model
  at the same sizes and learning rate, trained the same way by the grader (grader/program/baseline.py);
- `convergence`: did the notebook's hyperparameters converge: the held-out loss after retraining
  on this device's budget, full marks up to the reference's calibrated loss plus the margin (for a
  model larger than the reference's, the contract's model at its sizes with the reference's
  learning rate, when that is higher: a fixed budget favours small models), none from the
  frequency-only loss, linear in between (both take `solution: program.convergence`, the others
  `solution: program.contract`);
- `generation`: the generation call returns text of gen_length characters (after seed_text, which
  it starts with when the contract says so) drawn from the vocabulary;
- `reproducible`: the same seed gives the same text;
- `function` (with `function: ID`, `solution: program.functions`): the notebook's function of
  that id in `program.functions`, called in the sandbox on each of the rubric's cases, gives what
  the reference notebook's gives on the same inputs: structure, shapes, dtypes and values (floats
  within `tolerance` when given, exactly otherwise); marks per case, and feedback that names a
  failing case by its `what`, never by its inputs unless the case shows them.

Every check judges what the supervisor (the harness's trusted half, which never loads student
code) reported from plain numbers the notebook's process sent back, and such numbers can come from
any code in the notebook. So the checks also need the model's verifications (grader/program/
verify.py): the build at the notebook's own sizes, recomputed by the supervisor, and the build at
sizes drawn for this run, recomputed here. A model that built but was never verified scores 0 on
them; one whose recomputation does not confirm it keeps its marks with a `review` for the
instructor and a warning for the student, unless the check scores 0 anyway (then there is nothing
for a person to confirm), except a 0 that a time limit caused, which is the machine's and is
flagged so that someone reruns it. `convergence` is unforgeable when the build verified: the supervisor
retrains the contract's architecture at the notebook's sizes with the rubric's settings, and the
loss is computed here from characters the sandbox never saw; a model that is not that
architecture is retrained by its own code, and that mark is flagged for review.

The checks of one run often fail, or go unconfirmed, for one reason (a model that does not build
fails them all with the same message), so a failure's message and the unconfirmed warning are
the verdict's `cause`, which feedback states once (grader.reports.feedback.student_view).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.kinds import register
from grader.kinds._tolerance import Tolerance
from grader.kinds.base import Comparator, InvalidAnswer, Verdict
from grader.kinds._values import short
from grader.kinds._function_key import case_reference, described
from grader.program.spec import ModelContract

if TYPE_CHECKING:
    from grader.program.observations import ForwardProbe, ProgramRun
# the run's models (grader.program.observations, numpy) are imported where a notebook's run is judged:
# every rubric loads this kind, few grade a notebook's program

Check = Literal["builds", "init_hidden", "forward", "variable_shapes", "parameter_count", "required_layers",
                "trains", "convergence", "generation", "reproducible", "function"]


class ProgramOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    check: Check
    function: str | None = Field(None, description="the function check's function: an id in program.functions")
    tolerance: Tolerance | None = Field(None, description="the function check's floats match within it; without "
                                        "it, exactly")

    @model_validator(mode="after")
    def _function_options(self) -> ProgramOptions:
        if self.check == "function" and self.function is None:
            raise ValueError("the function check needs `function:`, an id in program.functions")
        if self.check != "function" and (self.function is not None or self.tolerance is not None):
            raise ValueError("`function` and `tolerance` are options of the function check only")
        return self


RECORDED_MARGIN = 0.5  # nats/char below the frequency-only loss: a printed loss that shows learning
UNLEARNED_MARGIN = 0.1  # nats/char: a retraining this close to the frequency-only loss learned nothing
PARTIAL_BAND = 0.1  # nats/char: the least room between full marks and none, where a baseline nears frequencies
REFERENCE_LEARNS = 0.25  # nats/char: the reference, on the same budget, got at least this far below it


class _Failed(Exception):
    """A check cannot pass: the message says why, for the student and the instructor alike."""

    def __init__(self, message: str, warnings: list[str] | None = None, evidence: str = ""):
        super().__init__(message)
        self.warnings = warnings or []
        self.evidence = evidence  # what else says why, when the message points elsewhere (a time limit)


def recorded_flag(run: ProgramRun, limits: dict) -> str | None:
    """A notebook whose printed losses its own code cannot come near: the code does not train (so the
    outputs came from other code), or trains no better than character frequencies where a correct
    model of its sizes learns on the same budget (worth a look), yet the notebook printed a loss well
    below them. Printed losses below the short retraining's are normal: students train longer. So is
    any printed loss of a model that verified as the contract's architecture: its retraining is a
    correct implementation's, and a large model needs more steps than the budget gives."""
    best, zero = run.recorded.recorded_best, limits["zero"]
    if best is None or best >= zero - RECORDED_MARGIN or min(limits["reference"]) >= zero - REFERENCE_LEARNS:
        return None
    if run.train is not None and not run.train.ok:
        return (f"the notebook printed a loss of {best:.3g}, but its code as handed in fails to train here: the "
                "printed outputs came from different code (or a different environment)")
    if run.train is None or run.train.by == "grader":
        return None
    same = run.same_settings
    learns = same.loss if same is not None and same.loss is not None else min(limits["reference"])
    if run.holdout_loss is not None and run.holdout_loss > zero - UNLEARNED_MARGIN and learns < zero - REFERENCE_LEARNS:
        return (f"the notebook printed a loss of {best:.3g}, but its code, retrained on the grader's budget, reaches "
                f"{run.holdout_loss:.3g}, no better than character frequencies ({zero:.3g}), where a correct model of "
                f"its sizes reaches {learns:.3g}: worth a look (much longer training with a tiny learning rate could "
                "explain it; outputs from different code would too)")
    return None


def _time_review(run: ProgramRun, text: str) -> str | None:
    """A check lost to a time limit is the machine's verdict, not the model's: never a silent 0. The
    budget's steps decide a grade; the limits are only a ceiling, which a loaded machine can reach."""
    from grader.program.observations import STEP_TIMEOUT

    if run.limit in ("wall_time", "cpu_time") or STEP_TIMEOUT.search(text):
        return ("stopped by a time limit, not by the model: rerun it on a quieter machine (or with a larger "
                "wall_seconds in the budget) before taking this 0 as the model's")
    return None


def _resolve(run: ProgramRun, source: Any) -> Any:
    """A generation setting: a literal from the rubric, or the notebook variable it names."""
    if isinstance(source, dict):
        return source.get("value")
    return run.value(source) if isinstance(source, str) else source


def _named(source: Any, field: str) -> str:
    return source if isinstance(source, str) else field


MAX_SIZE = 1_000_000
MAX_LAYERS = 100  # the grader builds the contract's model at the student's sizes; each layer costs it time


def _dimension(run: ProgramRun, name_or_value: str | int | None, most: int = MAX_SIZE) -> int | None:
    if name_or_value is None or isinstance(name_or_value, int):
        return name_or_value
    value = run.value(name_or_value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        error = run.values.get(name_or_value, {}).get("error")
        raise _Failed(error or f"`{name_or_value}` must be a whole number between 1 and {most}, got {short(value)}")
    return value


def expected_parameters(contract: dict, run: ProgramRun) -> tuple[int, str]:
    """The parameter count of the contract's architecture at the student's sizes, and its description.
    Built on torch's meta device: counted exactly, nothing allocated."""
    vocab = len(contract["chars"])
    embedding, hidden = (_dimension(run, contract[k]) for k in ("embedding_dim", "hidden_size"))
    layers = _dimension(run, contract["num_layers"], MAX_LAYERS)
    from grader.program.verify import contract_parameters  # torch: only where a notebook's run is judged

    count = contract_parameters(ModelContract.model_validate({k: v for k, v in contract.items()
                                                              if k in ModelContract.model_fields}),
                                vocab, embedding, hidden, layers)
    parts = ([f"embedding {vocab}x{embedding}"] if embedding else []) + [
        f"{layers}-layer {contract['cell'].upper()} of {hidden}", f"linear {hidden}->{vocab}"]
    return count, ", ".join(parts)


def _hidden_problems(contract: dict, run: ProgramRun, batch: int, form: str | None, shapes: list) -> list[str]:
    hidden, layers = _dimension(run, contract["hidden_size"]), _dimension(run, contract["num_layers"], MAX_LAYERS)
    want = [layers, batch, hidden]
    pair = contract["cell"] == "lstm"
    if pair and (len(shapes) != 2 or form == "tensor"):
        got = "one tensor" if form == "tensor" else f"a {form or 'value'} of {len(shapes)}"
        return [f"the hidden state must be a pair (h, c), each {want} (layers, batch, hidden); got {got}"]
    if not pair and form != "tensor":
        return [f"the hidden state must be one tensor h of shape {want} (layers, batch, hidden), got a {form}"]
    return [f"{'hc'[i] if pair else 'h'} has shape {shape}, expected {want} (layers, batch, hidden)"
            for i, shape in enumerate(shapes) if shape != want]


def _probe_problems(contract: dict, run: ProgramRun, probe: ForwardProbe) -> list[str]:
    where = f"batch {probe.batch}, sequence length {probe.seq}"
    if not probe.ok:
        return [f"{where}: {probe.error}"]
    vocab = len(contract["chars"])
    layouts = {"batch_seq_vocab": [probe.batch, probe.seq, vocab], "flat": [probe.batch * probe.seq, vocab]}
    accepted = [layouts[name] for name in contract["outputs"]]
    problems = []
    if probe.logits not in accepted:
        problems.append(f"{where}: logits of shape {probe.logits}, expected " + " or ".join(map(str, accepted)))
    elif not probe.finite:
        problems.append(f"{where}: the logits hold NaN or infinite values")
    form = "tensor" if len(probe.hidden) == 1 else "tuple"
    problems += [f"{where}: {p}" for p in _hidden_problems(contract, run, probe.batch, form, probe.hidden)]
    return problems


@register
class Program(Comparator):
    kind = "program"
    Options = ProgramOptions
    reads_program: ClassVar[bool] = True

    def reference(self, value: Any) -> Any:
        if self.options.check == "function":
            return case_reference(value, self.options.function, "program")
        if self.options.check in ("trains", "convergence"):
            if not isinstance(value, dict) or not all(isinstance(v, dict) and {"full", "zero"} <= set(v)
                                                      for v in value.values()):
                raise ValueError(f"the {self.options.check} check takes solution: program.convergence")
        elif not isinstance(value, dict) or "constructor" not in value:
            raise ValueError(f"the {self.options.check} check takes solution: program.contract")
        elif self.options.check == "required_layers" and not value.get("requires"):
            raise ValueError("the required_layers check needs program.model.requires, the module classes forward "
                             "must call (e.g. [LSTM, Dropout, Linear])")
        return value

    def show(self, reference: Any) -> str:
        if self.options.check == "trains":
            return "the contract's model at your sizes and learning rate, trained the same way"
        if self.options.check == "function":
            return described(reference)
        if self.options.check != "convergence":
            return f"the model contract: {reference['constructor']}"
        return "; ".join(f"{device}: full marks at <= {t['full']:.3f} nats/char after {t['steps']} steps, none at "
                         f">= {t['zero']:.3f}" for device, t in reference.items()) or "not calibrated"

    def check(self, answer: Any, reference: Any) -> Verdict:
        from grader.program.observations import ProgramRun

        try:
            run = ProgramRun.model_validate(answer)
        except ValidationError:
            raise InvalidAnswer("this check needs a notebook run made by the grader") from None
        if run.tampering:
            why = f"the run's structured output was tampered with ({run.tampering[0]})"
            message = why + ": no marks for checks of this run"
            return Verdict.of(0.0, why, message, cause=message)
        try:
            if self.options.check == "function":  # judged on its own outputs: no model to confirm
                return self._function(run, reference)
            review = self._convergence_trust(run) if self.options.check in ("trains", "convergence") \
                else self._trust(run)
            fraction, reason, message, warnings = getattr(self, f"_{self.options.check}")(run, reference)
            review = review or self._mismatched_probes(run)
        except _Failed as exc:  # often a step every check needs (the build): the same text, shown once
            text = str(exc)
            if run.ended:
                text += f" (the run ended early: {run.ended})"
            return Verdict.of(0.0, text, text, exc.warnings, _time_review(run, f"{text} {exc.evidence}"), cause=text)
        if not review or fraction <= 0.0:  # a 0 stands with its reason: nothing for a person to decide
            return Verdict.of(fraction, reason, message, warnings)
        unconfirmed = (f"the grader could not confirm your model by recomputing it ({review}), so your instructor "
                       "will look at the marks that rest on it")
        return Verdict.of(fraction, reason, message, [*warnings, unconfirmed],
                          f"the model's report is not confirmed: {review}", cause=unconfirmed)

    def _trust(self, run: ProgramRun) -> str | None:
        """None when both recomputations confirmed the run's model, else why not; _Failed when a
        model that built was never verified, which the supervisor always does right after the build."""
        if run.build is None or not run.build.ok:
            return None  # the check fails on the build itself, with its own message
        if run.verification is None or run.verify_own is None:
            raise _Failed("the run reported its model but no verification of it (the harness sends one right after "
                          "the build), so the grader cannot trust its report")
        problems = [f"{where}: {v.detail}" for where, v in (("at your own sizes", run.verify_own),
                                                             ("at sizes drawn for this run", run.verification))
                    if v.status != "verified"]
        if not problems and run.source_problems:  # a model that checks out, from code that is not the class
            problems = [f"the model checks out, but {'; '.join(run.source_problems)}"]
        return "; ".join(problems) or None

    def _convergence_trust(self, run: ProgramRun) -> str | None:
        """The retraining is the grader's own only when the supervisor trained the contract's model."""
        if run.train is not None and run.train.ok and run.source_problems:
            return f"the model checks out, but {'; '.join(run.source_problems)}"
        if run.train is not None and run.train.ok and run.train.by != "grader":
            detail = run.verify_own.detail if run.verify_own else "it was never verified"
            return ("it is not the contract's architecture at your own sizes, so it was retrained by your own code and "
                    f"its held-out loss comes from its own forward ({detail})")
        return None

    def _mismatched_probes(self, run: ProgramRun) -> str | None:
        """Forward probes whose outputs are not the verified model's: a forward that behaves otherwise
        at some shapes than at the verification's."""
        if self.options.check not in ("forward", "variable_shapes") or run.forward is None:
            return None
        probes = run.forward.results[:1] if self.options.check == "forward" else run.forward.results[1:]
        odd = [f"batch {p.batch}, sequence length {p.seq}" for p in probes if p.matches is False]
        if odd:
            return ("forward's outputs are not those of your verified model on its own weights at " + "; ".join(odd))
        return None

    @staticmethod
    def _require(run: ProgramRun, *steps: str) -> None:
        labels = {"load": "importing the notebook's definitions", "build": "building the model",
                  "train": "retraining", "holdout": "scoring held-out text"}
        for name in steps:
            step = getattr(run, name)
            if step is None:
                raise _Failed(f"the run never reached {labels.get(name, name)}")
            if not step.ok:
                raise _Failed(f"{labels.get(name, name)} failed: {step.error}")

    def _builds(self, run: ProgramRun, contract: dict):
        self._require(run, "load", "build")
        checked = f"; {run.verification.detail}" if run.verification and run.verification.status == "verified" else ""
        return 1.0, f"built{checked}", f"{contract['class_name']} builds from your hyperparameters", []

    def _init_hidden(self, run: ProgramRun, contract: dict):
        self._require(run, "build")
        if run.init_hidden is None:
            raise _Failed("the run never reached init_hidden")
        problems = []
        for probe in run.init_hidden.results:
            if not probe.ok:
                problems.append(f"batch {probe.batch}: {probe.error}")
                continue
            problems += [f"batch {probe.batch}: {p}" for p in
                         _hidden_problems(contract, run, probe.batch, probe.form, probe.shapes)]
            if probe.zeros is False:
                problems.append(f"batch {probe.batch}: the initial hidden state is not all zeros")
        if problems:
            raise _Failed(f"{contract['init_hidden']}: " + "; ".join(problems[:4]))
        return 1.0, "zero hidden state of the right shapes", f"{contract['init_hidden']} is right", []

    def _probes(self, run: ProgramRun, contract: dict, first: bool):
        self._require(run, "build")
        if run.forward is None:
            raise _Failed("the run never reached forward")
        probes = run.forward.results[:1] if first else run.forward.results[1:]
        problems = [p for probe in probes for p in _probe_problems(contract, run, probe)]
        if problems:
            raise _Failed("forward: " + "; ".join(problems[:4]))

    def _forward(self, run: ProgramRun, contract: dict):
        self._probes(run, contract, first=True)
        warnings = []
        if run.backward is not None and run.backward.without_grad:
            warnings.append("these parameters got no gradient, so their layer is built but never used: "
                            + ", ".join(run.backward.without_grad[:8]))
        if run.backward is not None and not run.backward.ok:
            warnings.append(f"backpropagating a loss through forward failed: {run.backward.error}")
        return 1.0, "forward shapes right", "forward returns logits and hidden state of the right shapes", warnings

    def _variable_shapes(self, run: ProgramRun, contract: dict):
        self._probes(run, contract, first=False)
        return 1.0, "other shapes right", "forward works for batch 1 and other sequence lengths", []

    def _parameter_count(self, run: ProgramRun, contract: dict):
        self._require(run, "build")
        expected, architecture = expected_parameters(contract, run)
        got = run.build.parameters
        if got == expected:
            return 1.0, f"{got} parameters", f"{got} parameters, as {architecture} has", []
        raise _Failed(f"your model has {got} parameters; {architecture} has {expected}")

    def _required_layers(self, run: ProgramRun, contract: dict):
        self._require(run, "build")
        if run.layers is None:
            raise _Failed("the run never reported which layers forward calls (its forward failed first)")
        wanted, called = contract["requires"], run.layers.called
        remaining = iter(called)
        if all(any(name == layer for name in remaining) for layer in wanted):
            text = f"forward calls {' -> '.join(wanted)}, as required"
            return 1.0, text, text, []
        shown = " -> ".join(called[:12]) or "no layers"
        raise _Failed(f"forward calls {shown}; the exercise asks for {' -> '.join(wanted)} in this order (a layer "
                      "created in __init__ but never applied in forward does not count)")

    def _retrained(self, run: ProgramRun, reference: dict, warnings: list[str]) -> tuple[dict, str]:
        """This device's thresholds and a description of the retraining, once it is known to have run
        the budget; _Failed (keeping `warnings`) when it did not."""
        limits = reference.get(run.device)
        if limits is None:
            raise _Failed(f"the rubric has no calibration for {run.device}; the instructor must run grader calibrate")
        try:
            self._require(run, "build", "train", "holdout")
        except _Failed as exc:
            raise _Failed(str(exc), warnings) from None
        used, budget = run.train.settings, run.budget
        if (used.steps, used.batch_size, used.seq_length) != (budget.steps, budget.batch_size, budget.seq_length) \
                or run.train.steps != budget.steps:
            raise _Failed(f"the retraining ran {run.train.steps} steps of {used.batch_size} x {used.seq_length}, not "
                          f"the budget's {budget.steps} of {budget.batch_size} x {budget.seq_length}", warnings)
        at = f" at your sizes ({run.same_settings.describe()})" if run.same_settings else ""
        return limits, (f"retrained for {run.train.steps} steps on {run.device}{at} with your learning rate "
                        f"{short(used.learning_rate)} (the same budget and seed for everyone): {run.holdout_loss:.3f} "
                        "nats/char on held-out text")

    @staticmethod
    def _linear(loss: float, full: float, zero: float) -> float:
        return 1.0 if loss <= full else 0.0 if loss >= zero else (zero - loss) / (zero - full)

    def _trains(self, run: ProgramRun, reference: dict):
        """Does the model train like a correct implementation at its own sizes and learning rate?"""
        limits, retrained = self._retrained(run, reference, [])
        if run.train.by == "grader":
            text = (f"{retrained}; your model is the contract's architecture at your own sizes (the grader recomputed "
                    "it), so it trains exactly as a correct implementation does")
            return 1.0, text, text, []
        base = run.same_settings
        if base is not None and base.loss is not None:
            full = base.loss + limits["margin"]
            held = (f"the contract's model at the same sizes and learning rate, trained the same way by the grader, "
                    f"reaches {base.loss:.3f}: full marks at <= {full:.3f}")
        else:  # then the reference at its own sizes is the only measure there is
            why = base.error if base is not None else "your sizes or learning rate are not usable numbers"
            full = limits["full"]
            held = (f"the grader could not train the contract's model at your settings ({why}), so the reference "
                    f"solution's loss stands: full marks at <= {full:.3f}")
        zero = max(limits["zero"], full + PARTIAL_BAND)
        text = f"{retrained}; {held}, none at >= {zero:.3f}"
        return self._linear(run.holdout_loss, full, zero), text, text, []

    def _convergence(self, run: ProgramRun, reference: dict):
        """Did the notebook's choice of hyperparameters converge, on a budget that does not punish a
        larger model than the reference's for needing more steps?"""
        flag = recorded_flag(run, reference[run.device]) if run.device in reference else None
        warnings = [flag] if flag else []
        limits, retrained = self._retrained(run, reference, warnings)
        full, zero = limits["full"], limits["zero"]
        held = (f"full marks at <= {full:.3f} (the reference solution's held-out loss on this budget, plus "
                f"{limits.get('margin', 0):g})")
        base = run.reference_settings
        if base is not None and base.loss is not None and base.loss + limits["margin"] > full:
            full = base.loss + limits["margin"]
            held = (f"your model is larger than the reference's ({base.parameters:,} parameters against "
                    f"{limits['parameters']:,}), and larger models need more steps, so it is held to the contract's "
                    f"model at your sizes with the reference's learning rate {short(base.learning_rate)}, which "
                    f"reaches {base.loss:.3f} on this budget: full marks at <= {full:.3f}")
        elif base is not None and base.loss is None:
            held += (f"; the larger model's own baseline could not be trained ({base.error}), so the reference's "
                     "loss stands")
        zero = max(zero, full + PARTIAL_BAND)
        text = f"{retrained}; {held}, none at >= {zero:.3f} (a model that knows only character frequencies)"
        return self._linear(run.holdout_loss, full, zero), text, text, warnings

    def _generation_runs(self, run: ProgramRun):
        self._require(run, "build")
        if run.generate is None:
            raise _Failed("the run never reached generation")
        return run.generate.runs

    def _generation(self, run: ProgramRun, contract: dict):
        first = self._generation_runs(run)[0]
        if not first.ok:
            raise _Failed(f"generation failed: {first.error}")
        if first.text is None:
            raise _Failed(f"generation returned a {first.type}, not text")
        spec = contract["generation"]
        seed_text, length = _resolve(run, spec["seed_text"]), _resolve(run, spec["gen_length"])
        if not isinstance(seed_text, str) or isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise _Failed(f"`{_named(spec['seed_text'], 'seed_text')}` must be text and "
                          f"`{_named(spec['gen_length'], 'gen_length')}` a whole number >= 0")
        length = min(length, spec["max_length"]) + spec["extra_characters"]
        want = len(seed_text) + length if spec["includes_seed"] else length
        problems = []
        if spec["includes_seed"] and not first.text.startswith(seed_text):
            problems.append(f"the text does not start with seed_text {seed_text[:40]!r}")
        if len(first.text) != want:
            problems.append(f"{len(first.text)} characters, expected {want}")
        strangers = sorted(set(first.text[len(seed_text):] if spec["includes_seed"] else first.text)
                           - set(contract["chars"]))
        if strangers:
            problems.append(f"characters outside the vocabulary: {''.join(strangers)[:20]!r}")
        if problems:
            raise _Failed("generation: " + "; ".join(problems))
        text = f"generation gives {want} characters from seed_text"
        if run.sample is not None and run.sample.text:
            text += f"; after retraining it wrote {run.sample.text[:160]!r}"
        return 1.0, text, text, []

    def _reproducible(self, run: ProgramRun, contract: dict):
        runs = self._generation_runs(run)
        same = runs[:2]
        if not all(r.ok and r.text is not None for r in same):
            raise _Failed("generation failed, so reproducibility could not be checked",
                          evidence=" ".join(r.error or "" for r in same))
        if same[0].text != same[1].text:
            raise _Failed(f"two generations with seed {same[0].seed} gave different text: the sampling does not "
                          "use the seed it is given")
        return 1.0, "same seed, same text", "the same seed gives the same text", []

    def _function(self, run: ProgramRun, spec: dict) -> Verdict:
        """Each case's output against the reference notebook's on the same inputs (functions.judge)."""
        self._require(run, "load")
        name = spec["name"]
        if run.functions is None or name not in run.functions.results:
            raise _Failed(f"the run never reached the checks of {name}")
        theirs = run.reference_functions.results.get(name, []) if run.reference_functions else []
        from grader.program.functions import judge

        return judge(spec, run.functions.results[name], theirs, self.options.tolerance)
