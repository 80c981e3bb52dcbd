"""The harness's trusted half: drives the worker (the notebook's process) and reports to the grader.

It never loads student code, and it holds the only channel to the grader, so a notebook cannot
speak the protocol: what reaches the grader is the supervisor's judgement of plain numbers and
text the worker sent back. One message per step, in this order (each step after `load` is
skipped when what it needs failed):

    load        the module imported                                  {ok, error}
    values      the notebook variables it reads                      {values: {name: {value} | {error}}}
    functions   each rubric function on each of its cases            {results: {id: [{name, ok, error, seconds,
                                                                      timed_out, output}]}}
    build       the constructor call at the notebook's sizes         {ok, error, parameters, shapes}
    verify_own  that build recomputed here from its own weights      {status, detail}
    layers      the modules its forward called, in order             {called}
    verify      the class built again at sizes drawn for this run: its weights and outputs as
                plain numbers, recomputed by the grader              {ok, error, count, parameters, unused, logits, hidden}
    init_hidden for each probe batch size, judged here               {results: [{batch, ok, error, form, shapes, zeros}]}
    forward     for each (batch, seq) probe, judged here             {results: [{batch, seq, ok, error, logits, hidden,
                                                                      finite, matches}]}
    backward    one loss.backward() on a probe                       {ok, error, without_grad}
    generate    the sampling call, 3 seeds                           {runs: [{seed, ok, error, text, type}]}
    train       the retraining                                       {ok, error, by, settings, device, steps, seconds, losses}
    holdout     last-position logits per held-out window             {ok, error, logits}
    sample      text from the retrained model                        {ok, error, text}
    notices     what the harness made allowances for                 {notices}
    done

The functions run first, each case with its own time limit (an alarm in the worker, then the
supervisor's deadline), so a helper that never returns costs its own cases and not the model's
steps; a task without a model (`model` false: the reference notebook's functions alone) stops
there.

Retraining, the one step whose result is a mark on its own, runs here when the build verified at
the notebook's sizes: the contract's architecture at those sizes, initialised from the rubric's
seed (never from weights the notebook supplies: a constructor could load a model trained
elsewhere), trained with the rubric's settings while every process of the notebook is frozen,
then scored on the held-out windows here. Only a model that is not the contract's architecture is
retrained by its own code in the worker, `by: notebook`, and the grader flags that mark.
"""

from __future__ import annotations

import base64
import math
import random
import time

import numpy as np
import torch
from pydantic import ValidationError

from grader.program import frames, training
from grader.program.observations import MAX_NODES, OutputNode, TensorData, Verification, tree_problem
from grader.program.spec import ModelContract
from grader.program.verify import (TOLERANCE, Canonical, VerificationProbe, Weight, contract_parameters,
                                   verify_weights)
from grader.program.worker_control import StepFailed, Worker
from grader.sandbox import channel

send, finish = channel.send, channel.done
MAX_OWN_PARAMETERS = 30_000_000  # weights sent from the notebook's process at its own sizes (120 MB)
MAX_LAYERS = 100
CALL_GRACE = 5.0  # seconds past a case's limit before its worker is killed: the worker's alarm comes first
MAX_FUNCTION_LOSSES = 2  # function cases that may cost the worker; later ones are not run, so the build has a start
TIMED_OUT = ("TimeoutError: the call took over", "call took over")  # the worker's alarm; the supervisor's deadline


class Supervisor:
    def __init__(self, task: dict, worker: Worker, text: str):
        self.task = task
        self.worker = worker
        self.text = text  # the training split, read before the worker started: the notebook cannot swap it
        self.contract = ModelContract.model_validate(task["contract"])
        self.chars = task["chars"]
        self.vocab = len(self.chars)
        self.values: dict[str, dict] = {}
        self.weights: list[Weight] = []
        self.own: Canonical | None = None  # the build, verified, as the contract's architecture
        self.own_probe: VerificationProbe | None = None
        self.names: dict[str, str] = {}  # contract parameter -> the student's name for it
        self.trained: Canonical | None = None  # the retrained contract model, for the sample
        self.called: list[str] | None = None  # the module types the build's forward called, in order
        self.started = time.monotonic()
        self.rng = random.Random(task["own_seed"])
        torch.set_num_threads(task["threads"])

    @property
    def step_seconds(self) -> float:
        return self.task["seconds"]["step"]

    def ask(self, op: str, arrays=(), *, seconds: float | None = None, remember: bool = False, **request):
        """(answer, arrays) from the worker; an answer with ok False when student code raised or
        no answer came (StepFailed's reason as the error)."""
        try:
            return self.worker.call(op, arrays, seconds=seconds or self.step_seconds, remember=remember, **request)
        except StepFailed as exc:
            return {"ok": False, "error": str(exc)}, []

    # --- the steps --------------------------------------------------------------------------------
    def load(self) -> bool:
        answer, _ = self.ask("load", seconds=self.task["seconds"]["start"], remember=True,
                             variables=self.task["variables"], defaults=self.task["defaults"])
        send("load", ok=answer["ok"], error=answer.get("error"))
        if not answer["ok"]:
            return False
        reported = answer.get("values") if isinstance(answer.get("values"), dict) else {}
        for name in self.task["variables"]:
            entry = reported.get(name)
            if isinstance(entry, dict) and "value" in entry and (entry["value"] is None or type(entry["value"]) in (
                    bool, int, float, str)):
                value = entry["value"]
                self.values[name] = {"value": value[:10_000] if isinstance(value, str) else value}
            elif isinstance(entry, dict) and isinstance(entry.get("type"), str):
                self.values[name] = {"error": f"`{name}` is a {entry['type'][:100]}, not a number or text"}
            else:
                self.values[name] = {"error": f"the notebook defines no `{name}` (a cell that sets it may have been "
                                              "skipped or left out)"}
        send("values", values=self.values)
        return True

    def functions(self) -> None:
        """Each rubric function on each of its cases, one request per case; an output is checked here
        as plain data (nodes and arrays that match, within the case's bytes) before it is forwarded."""
        if not self.task["functions"]:
            return
        results, losses = {}, 0
        for function, spec in self.task["functions"].items():
            cases = results[function] = []
            for case in spec["cases"]:
                entry = {"name": case["name"], "ok": False, "seconds": 0.0}
                if losses >= MAX_FUNCTION_LOSSES:
                    cases.append({**entry, "error": "not run: earlier cases stopped the notebook's process twice"})
                    continue
                names = list(case["arrays"])
                arrays = [np.frombuffer(base64.b64decode(case["arrays"][name]["data"]), frames.DTYPES[
                    case["arrays"][name]["dtype"]]).reshape(case["arrays"][name]["shape"]) for name in names]
                started = time.monotonic()
                answer, out = self.ask("call", arrays, seconds=spec["seconds"] + CALL_GRACE, call=spec["call"],
                                       literals=case["literals"], names=names, limit=spec["seconds"],
                                       max_bytes=spec["max_bytes"])
                entry["seconds"] = round(time.monotonic() - started, 3)
                losses += self.worker.process is None
                if answer["ok"]:
                    try:
                        entry.update(ok=True, output=self.plain_output(answer, out, spec["max_bytes"]))
                    except ValueError as exc:
                        why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                        entry["error"] = f"the notebook's process sent an output that is not plain data ({why[:200]})"
                else:
                    entry.update(error=answer["error"][:1000], timed_out=answer["error"].startswith(TIMED_OUT))
                cases.append(entry)
        send("functions", results=results)

    @staticmethod
    def plain_output(answer: dict, arrays: list[np.ndarray], max_bytes: int) -> list[dict]:
        """The worker's nodes, each array node given the raw bytes of its array, all validated."""
        nodes = answer.get("nodes")
        if not isinstance(nodes, list) or len(nodes) > MAX_NODES:
            raise ValueError("no list of values")
        remaining, built, size = iter(arrays), [], 0
        for node in nodes:
            if not isinstance(node, dict):
                raise ValueError(f"a {type(node).__name__} where a value was expected")
            if node.get("kind") == "array":
                array = next(remaining, None)
                if array is None:
                    raise ValueError("more arrays described than sent")
                wire = frames.ARRAY_DTYPES.get(node.get("dtype")) if isinstance(node.get("dtype"), str) else None
                if wire is None or frames.DTYPES[wire] != array.dtype or node.get("shape") != list(array.shape):
                    raise ValueError(f"an array sent as {array.dtype} {list(array.shape)}, described as "
                                     f"{str(node.get('dtype'))[:20]} {str(node.get('shape'))[:60]}")
                size += array.nbytes
                node = {**node, "data": base64.b64encode(array.tobytes()).decode()}
            built.append(OutputNode.model_validate(node))
        if next(remaining, None) is not None or size > max_bytes:
            raise ValueError("arrays that are not the output's" if size <= max_bytes else f"over {max_bytes:,} bytes")
        problem = tree_problem(built)
        if problem:
            raise ValueError(problem)
        return [node.model_dump(exclude_none=True) for node in built]

    def dimension(self, field: str, most: int) -> int | None:
        value = getattr(self.contract, field)
        if value is None or isinstance(value, int):
            return value
        value = self.values.get(value, {}).get("value")
        return value if type(value) is int and 1 <= value <= most else None

    def build(self) -> bool:
        answer, arrays = self.ask("build", remember=True, name="main", sizes={}, seed=self.task["training"]["seed"],
                                  max_parameters=MAX_OWN_PARAMETERS)
        parameters = answer.get("parameters") if answer["ok"] else None
        if answer["ok"] and not (isinstance(parameters, list) and type(answer.get("count")) is int):
            answer = {"ok": False, "error": "the notebook's process sent no parameters for its model"}
        if not answer["ok"]:
            send("build", ok=False, error=answer["error"], parameters=None, shapes={})
            return False
        shapes = {p["name"]: p["shape"] for p in parameters[:200] if isinstance(p, dict) and isinstance(
            p.get("name"), str) and isinstance(p.get("shape"), list)}
        count = answer["count"]
        if answer.get("weights") and len(arrays) == len(parameters):
            self.weights = [Weight(str(p.get("name")), str(p.get("module")), torch.from_numpy(a.copy()))
                            for p, a in zip(parameters, arrays) if isinstance(p, dict)]
            count = sum(int(w.tensor.numel()) for w in self.weights)  # what was sent, not what was said
        send("build", ok=True, error=None, parameters=max(count, 0), shapes=shapes)
        return True

    def verify_own(self) -> None:
        """The build at the notebook's own sizes, recomputed here; verified, it is what gets retrained."""
        embedding = self.dimension("embedding_dim", 1_000_000)
        hidden, layers = self.dimension("hidden_size", 1_000_000), self.dimension("num_layers", MAX_LAYERS)
        if self.contract.embedding_dim is not None and embedding is None or hidden is None or layers is None:
            send("verify_own", status="unverifiable", detail="the notebook's size variables are not all whole "
                 f"numbers in range (num_layers at most {MAX_LAYERS})")
            return
        count = contract_parameters(self.contract, self.vocab, embedding, hidden, layers)
        if not self.weights or count > MAX_OWN_PARAMETERS:
            send("verify_own", status="unverifiable", detail=f"its model has over {MAX_OWN_PARAMETERS:,} parameters, "
                 "too many to check")
            return
        probe = VerificationProbe.at(self.contract, self.vocab, embedding, hidden, layers, self.rng)
        verification = self.probe_and_verify("main", probe, self.weights)
        if verification.status == "verified":
            self.own_probe = probe
        send("verify_own", **verification.model_dump())
        if self.called is not None:
            send("layers", called=self.called)

    def probe_and_verify(self, name: str, probe: VerificationProbe, weights: list[Weight]) -> Verification:
        ids = np.array(probe.ids, dtype=np.int64)
        hidden = [np.array(t.values, dtype=np.float32).reshape(t.shape) for t in probe.hidden_in]
        answer, arrays = self.ask("probe", [ids, *hidden], name=name)
        if not answer["ok"] or not arrays:
            return Verification(status="unverifiable", detail=f"its forward failed: {answer.get('error')}")
        unused = [u for u in answer.get("unused", []) if isinstance(u, str)] if isinstance(
            answer.get("unused"), list) else []
        if name == "main":
            called = answer.get("called") if isinstance(answer.get("called"), list) else []
            self.called = [str(c)[:100] for c in called][:200]
        logits, *hidden_out = (torch.from_numpy(a.copy()) for a in arrays)
        try:
            verification, model, names = verify_weights(self.contract, self.vocab, probe, weights, unused, logits,
                                                        hidden_out)
        except (RuntimeError, ValueError) as exc:
            return Verification(status="unverifiable", detail=f"its numbers do not make a model: {str(exc)[:300]}")
        if name == "main" and model is not None:
            self.own, self.names = model, names
        return verification

    def verify(self) -> None:
        """The class built again at the drawn sizes; the numbers go to the grader, which recomputes them."""
        spec = self.task["verification"]
        answer, arrays = self.ask("build", name="small", sizes=spec["sizes"], seed=self.task["training"]["seed"],
                                  max_parameters=spec["max_parameters"])
        if not answer["ok"]:
            send("verify", ok=False, error=answer["error"])
            return
        parameters = answer.get("parameters") if isinstance(answer.get("parameters"), list) else []
        count = answer.get("count") if type(answer.get("count")) is int and answer["count"] >= 0 else None
        if not answer.get("weights") or len(arrays) != len(parameters):
            send("verify", ok=True, error=None, count=count)
            return
        ids = np.array(spec["ids"], dtype=np.int64)
        hidden = [np.array(t["values"], dtype=np.float32).reshape(t["shape"]) for t in spec["hidden"]]
        probed, outputs = self.ask("probe", [ids, *hidden], name="small")
        if not probed["ok"] or not outputs:
            send("verify", ok=False, error=probed.get("error") or "forward returned nothing")
            return
        unused = [u for u in probed.get("unused", []) if isinstance(u, str)][:500] if isinstance(
            probed.get("unused"), list) else []
        send("verify", ok=True, error=None, count=count, unused=unused,
             parameters=[{"name": str(p.get("name"))[:300], "module": str(p.get("module"))[:100],
                          **tensor_data(a)} for p, a in zip(parameters, arrays) if isinstance(p, dict)][:500],
             logits=tensor_data(outputs[0]), hidden=[tensor_data(h) for h in outputs[1:5]])

    def init_hidden(self) -> None:
        results = []
        for batch in sorted({b for b, _ in self.task["probes"]}, reverse=True):
            answer, arrays = self.ask("init_hidden", batch=batch)
            entry = {"batch": batch, "ok": answer["ok"], "error": answer.get("error")}
            if answer["ok"]:
                shapes = answer.get("shapes") if isinstance(answer.get("shapes"), list) else []
                entry["form"] = str(answer.get("form"))[:100]
                entry["shapes"] = [s if isinstance(s, (list, str)) else "?" for s in shapes][:4]
                entry["zeros"] = bool(arrays) and len(arrays) == len(shapes) and all(
                    not np.any(a != 0) for a in arrays)
            results.append(entry)
        send("init_hidden", results=results)

    def forward(self) -> None:
        generator = torch.Generator().manual_seed(1)
        results = []
        for batch, seq in self.task["probes"]:
            ids = torch.randint(self.vocab, (batch, seq), generator=generator).numpy()
            answer, arrays = self.ask("forward", [ids])
            entry = {"batch": batch, "seq": seq, "ok": answer["ok"], "error": answer.get("error")}
            if answer["ok"]:
                entry.update(self.judge_forward(answer, arrays, ids))
            results.append(entry)
        send("forward", results=results)

    def judge_forward(self, answer: dict, arrays: list[np.ndarray], ids: np.ndarray) -> dict:
        """Shapes and finiteness from the numbers themselves; with a verified build, whether they are
        what the contract's model on its weights gives from the same start."""
        if isinstance(answer.get("logits_type"), str):
            return {"logits": answer["logits_type"][:100], "hidden": [], "finite": False}
        starts = answer.get("starts") if type(answer.get("starts")) is int else -1
        if not 0 <= starts < len(arrays):
            return {"ok": False, "error": "the notebook's process sent a forward without its logits"}
        start, logits, parts = arrays[:starts], arrays[starts], arrays[starts + 1:]
        shapes = answer.get("hidden") if isinstance(answer.get("hidden"), list) else []
        entry = {"logits": list(logits.shape), "finite": bool(np.isfinite(logits).all()),
                 "hidden": [s if isinstance(s, (list, str)) else "?" for s in shapes][:4]}
        if self.own is not None:
            entry["matches"] = self.matches(ids, start, logits, parts)
        return entry

    def matches(self, ids, start, logits, parts) -> bool | None:
        batch, seq = ids.shape
        if logits.size != batch * seq * self.vocab:
            return None
        zeros = training_hidden(self.own, batch)
        begin = [torch.from_numpy(a.copy()) for a in start] if start else zeros
        if len(begin) != len(zeros) or any(b.shape != z.shape for b, z in zip(begin, zeros)):
            return None
        self.own.eval()
        with torch.no_grad():
            computed, hidden = self.own(torch.from_numpy(ids), tuple(begin) if len(begin) == 2 else begin[0])
        reported = torch.log_softmax(torch.from_numpy(logits.copy()).reshape(-1, self.vocab), 1)
        gap = (reported - torch.log_softmax(computed.reshape(-1, self.vocab), 1)).abs().max()
        hidden = [hidden] if isinstance(hidden, torch.Tensor) else list(hidden)
        hidden_ok = len(parts) == len(hidden) and all(
            p.shape == tuple(h.shape) and float(np.abs(p - h.numpy()).max(initial=0)) <= TOLERANCE
            for p, h in zip(parts, hidden))
        return bool(gap <= TOLERANCE) and hidden_ok

    def backward(self) -> None:
        batch, seq = self.task["probes"][0]
        ids = torch.randint(self.vocab, (batch, seq), generator=torch.Generator().manual_seed(2)).numpy()
        targets = torch.randint(self.vocab, (batch * seq,), generator=torch.Generator().manual_seed(3)).numpy()
        answer, _ = self.ask("backward", [ids, targets])
        missing = answer.get("without_grad") if isinstance(answer.get("without_grad"), list) else []
        send("backward", ok=answer["ok"], error=answer.get("error"),
             without_grad=[str(m)[:300] for m in missing][:50])

    def generate(self, seeds: list[int], length: int | None) -> list[dict]:
        spec = self.task["generation"]
        answer, _ = self.ask("generate", seconds=self.task["seconds"]["generate"], seeds=seeds, length=length,
                             **{k: spec[k] for k in ("provide", "call", "gen_length", "max_length", "literals")})
        if not answer["ok"]:
            return [{"seed": seed, "ok": False, "error": answer["error"]} for seed in seeds]
        runs = answer.get("runs") if isinstance(answer.get("runs"), list) else []
        out = []
        for seed, run in zip(seeds, runs + [None] * len(seeds)):
            if not isinstance(run, dict) or not isinstance(run.get("ok"), bool):
                out.append({"seed": seed, "ok": False, "error": "the notebook's process sent no generation"})
                continue
            entry = {"seed": seed, "ok": run["ok"], "error": str(run.get("error"))[:600] if run.get("error") else None,
                     "type": str(run.get("type"))[:100] if run.get("type") else None}
            if isinstance(run.get("text"), str):
                entry["text"] = run["text"][:20_000]
            out.append(entry)
        return out

    def settings(self) -> dict:
        config = self.task["training"]
        rate = self.task["learning_rate"]
        if isinstance(rate, str):
            rate = self.values.get(rate, {}).get("value")
        return {"steps": config["steps"], "batch_size": config["batch_size"], "seq_length": config["seq_length"],
                "seed": config["seed"], "grad_clip": config["grad_clip"], "learning_rate": rate,
                "device": config["device"]}

    def train_and_score(self) -> bool:
        """Retrain and score the held-out windows: here, the contract's model at the notebook's sizes,
        when the build verified; otherwise the notebook's own model in the worker (flagged)."""
        settings = self.settings()
        report = {k: v for k, v in settings.items() if k != "device"}
        device = torch.device(settings["device"])
        windows = np.array(self.task["windows"], dtype=np.int64)
        started = time.perf_counter()
        if self.own_probe is not None:
            self.worker.freeze()
            try:
                model, losses, last = training.retrain_contract(self.contract, self.own_probe, self.vocab, settings,
                                                                self.text, self.chars, windows, device)
                error = None
            except (ValueError, RuntimeError) as exc:
                losses, error, model = [], f"{type(exc).__name__}: {str(exc)[:500]}", None
            finally:
                self.worker.thaw()
            send("train", ok=error is None, error=error, by="grader", settings=report, device=str(device),
                 steps=len(losses), seconds=round(time.perf_counter() - started, 3), losses=losses)
            if error is not None:
                return False
            send("holdout", ok=True, error=None, logits=rounded(last))
            self.trained = model
            return True
        left = self.task["wall_seconds"] - (time.monotonic() - self.started) - 5
        answer, _ = self.ask("train", seconds=max(left, 1.0), settings=settings)
        losses = answer.get("losses") if answer["ok"] and isinstance(answer.get("losses"), list) else []
        losses = [float(x) for x in losses if type(x) in (int, float)][:settings["steps"]]
        send("train", ok=answer["ok"], error=answer.get("error"), by="notebook", settings=report, device=str(device),
             steps=len(losses), seconds=round(time.perf_counter() - started, 3), losses=losses)
        if not answer["ok"]:
            return False
        scored, arrays = self.ask("holdout", [windows], seconds=max(self.step_seconds, 10.0))
        ok = scored["ok"] and len(arrays) == 1 and arrays[0].shape == (len(windows), self.vocab)
        send("holdout", ok=ok, error=scored.get("error") or (None if ok else "the held-out logits have the wrong "
                                                                               "shape"),
             logits=rounded(torch.from_numpy(arrays[0].copy())) if ok else None)
        return True

    def sample(self) -> None:
        if self.trained is not None:
            names = [(self.names[name], p) for name, p in self.trained.named_parameters() if name in self.names]
            answer, _ = self.ask("set_weights", [p.detach().cpu().numpy() for _, p in names],
                                 names=[n for n, _ in names])
            if not answer["ok"]:
                send("sample", ok=False, error=answer["error"], text=None)
                return
        run = self.generate([self.task["generation"]["seeds"][0]], self.task["generation"]["sample_length"])[0]
        send("sample", ok=run["ok"], error=run.get("error"), text=run.get("text"))

    def model_steps(self) -> None:
        self.verify_own()
        self.verify()
        self.init_hidden()
        self.forward()
        self.backward()
        send("generate", runs=self.generate(self.task["generation"]["seeds"], None))
        if self.train_and_score():
            self.sample()

    def run(self) -> None:
        try:
            if self.load():
                self.functions()
                if self.task["model"] and self.build():
                    self.model_steps()
        finally:
            notices = list(self.worker.notices)
            self.worker.stop()
        send("notices", notices=notices[:20])
        finish()


def training_hidden(model: Canonical, batch: int) -> list[torch.Tensor]:
    hidden = model.initial_hidden(batch)
    return [hidden] if isinstance(hidden, torch.Tensor) else list(hidden)


def tensor_data(array: np.ndarray) -> dict:
    return TensorData(shape=list(array.shape), values=array.astype(np.float64).reshape(-1).tolist()).model_dump()


def rounded(logits: torch.Tensor) -> list[list[float]]:
    return [[round(float(v), 4) if math.isfinite(v) else float(v) for v in row] for row in logits.float().cpu().tolist()]
