"""The program harness: runs inside the sandbox, loads a notebook's definitions and reports what
its model does. Scores are never computed here: this process shares its memory with student code,
so everything it sends is an observation the grader validates, and the one thing worth forging,
the held-out loss, cannot be: only the inputs of the scored windows come in, never the characters
that follow them.

Run by grader.program.run as `harness.py` in a work dir holding `task.json` (what to do),
`student.py` (the notebook's definitions) and `train.txt` (the training split). It reads all
three before any student code runs, keeps its own reference to the channel's `send`, and sends
one message per step, in this order (each step after `load` is skipped when what it needs
failed):

    load       the module imported                  {ok, error}
    values     the notebook variables it reads      {values: {name: {value} | {error}}}
    build      the constructor call                 {ok, error, parameters, shapes}
    verify     the class built again at the grader's small sizes: its weights and its outputs on the
               grader's inputs, as plain numbers    {ok, error, count, parameters, unused, logits, hidden}
    init_hidden  for each probe batch size          {results: [{batch, ok, error, form, shapes, zeros}]}
    forward    for each (batch, seq) probe          {results: [{batch, seq, ok, error, logits, hidden, finite}]}
    backward   one loss.backward() on a probe       {ok, error, without_grad}
    generate   the sampling call, 3 seeds           {ok, error, runs: [{seed, ok, error, text, type}]}
    train      retraining from the fixed seed       {ok, error, device, steps, seconds, losses}
    holdout    last-position logits per window      {ok, error, logits}
    sample     text from the retrained model        {ok, error, text}
    notices    what the harness made allowances for {notices}: modules not installed, .cuda() on a CPU
    done

Errors are "Type: message" plus the innermost line of student.py, as `student.py:LINE`, which
the grader maps back to a notebook cell. Standard library and torch only.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.util
import json
import math
import signal
import sys
import time
import traceback
import types
from pathlib import Path

import torch

from grader.sandbox import channel

send, finish = channel.send, channel.done  # captured before student code runs: rebinding them does not reach here
MODULE_FILE = "student.py"
MAX_ERROR = 600


def describe(exc: BaseException) -> str:
    """`Type: message (student.py:LINE)`, the line being the innermost frame in the student's module."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(MODULE_FILE):
            line = frame.lineno
    text = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
    if isinstance(exc, SystemExit):
        text = f"SystemExit: the code called exit({exc.code!r})"[:MAX_ERROR]
    return text + (f" ({MODULE_FILE}:{line})" if line else "")


def attempt(function, *args):
    """(result, None) or (None, error text); student code may raise anything, SystemExit included."""
    try:
        return function(*args), None
    except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt and SystemExit are student errors here
        return None, describe(exc)


def shape_of(value) -> list[int] | str:
    return list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def hidden_shapes(hidden) -> list:
    """The hidden state as a list of shapes: [[L, B, H], [L, B, H]] for (h, c), [[L, B, H]] for h."""
    if isinstance(hidden, torch.Tensor):
        return [shape_of(hidden)]
    if isinstance(hidden, (tuple, list)):
        return [shape_of(h) for h in hidden][:4]
    return [type(hidden).__name__]


def to_device(hidden, device):
    if isinstance(hidden, torch.Tensor):
        return hidden.to(device)
    return tuple(h.to(device) for h in hidden)


def detach(hidden):
    if isinstance(hidden, torch.Tensor):
        return hidden.detach()
    return tuple(h.detach() for h in hidden)


def tensor_data(tensor: torch.Tensor) -> dict:
    return {"shape": list(tensor.shape), "values": tensor.detach().float().cpu().reshape(-1).tolist()}


def verification_report(model: torch.nn.Module, inputs: torch.Tensor, hidden, max_parameters: int) -> dict:
    """`model`'s weights, each with the class of the module that owns it, and what its forward returns
    for `inputs` and `hidden` in eval mode: what the grader recomputes (grader/program/verify.py)."""
    owners = {id(p): type(module).__name__ for module in model.modules() for p in module.parameters(recurse=False)}
    named = list(model.named_parameters())
    count = sum(p.numel() for _, p in named)
    if count > max_parameters:
        return {"count": count}
    report = {"count": count, "parameters": [{"name": name, "module": owners.get(id(p), "?"), **tensor_data(p)}
                                             for name, p in named]}
    device = named[0][1].device if named else torch.device("cpu")
    model.eval()
    model.zero_grad(set_to_none=True)
    out = model(inputs.to(device), to_device(hidden, device))
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[0], torch.Tensor)):
        raise TypeError(f"forward returned a {type(out).__name__}, not (logits, hidden)")
    logits, new_hidden = out
    new_hidden = [h for h in ([new_hidden] if isinstance(new_hidden, torch.Tensor) else list(new_hidden)
                              if isinstance(new_hidden, (tuple, list)) else []) if isinstance(h, torch.Tensor)][:4]
    outputs = [t for t in (logits, *new_hidden) if t.requires_grad]
    if outputs:  # which parameters the outputs depend on: a layer built but never used can be set aside
        sum(t.float().sum() for t in outputs).backward()
    unused = [name for name, p in named if p.requires_grad and p.grad is None]
    return {**report, "unused": unused, "logits": tensor_data(logits), "hidden": [tensor_data(h) for h in new_hidden]}


class VerificationTimeout(BaseException):
    """Raised by the alarm in `Harness.verify`; a BaseException, so `except Exception` in student code lets it by."""


class Absent:
    """Stands in for anything from a module that is not installed here: using it raises."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return Absent(f"{self._name}.{name}")

    def __call__(self, *args, **kwargs):
        raise ModuleNotFoundError(f"{self._name} is from {self._name.split('.')[0]}, which is not installed where "
                                  "the grader runs")


class AbsentModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return Absent(f"{self.__name__}.{name}")


class AbsentFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on sys.meta_path while the student's module loads: a module the notebook imports that is
    not installed here (tqdm, matplotlib, google.colab) becomes a stand-in, so definitions that only
    use it when called (progress bars, plots) still load. Only the modules the notebook's own import
    statements name are stood in for, never those torch looks for."""

    def __init__(self, names: set[str]):
        self.names = names
        self.used: set[str] = set()

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] not in self.names:
            return None
        self.used.add(fullname.split(".")[0])
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec):
        module = AbsentModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def imported_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}


def gpu_calls_run_on_cpu(notices: list[str]) -> None:
    """Where there is no GPU, `.cuda()` moves nothing instead of failing: hard-coded `.cuda()` calls
    are common in notebooks written on Colab, and the grade is about the model, not the machine."""
    def tensor_cuda(self, *args, **kwargs):
        note("`.cuda()` was called on a tensor; there is no GPU here, so it stayed on the CPU")
        return self

    def module_cuda(self, *args, **kwargs):
        note("`.cuda()` was called on a module; there is no GPU here, so it stayed on the CPU")
        return self

    def note(text: str) -> None:
        if text not in notices:
            notices.append(text)

    torch.Tensor.cuda = tensor_cuda
    torch.nn.Module.cuda = module_cuda


class Harness:
    def __init__(self, task: dict, text: str):
        self.task = task
        self.chars = task["chars"]
        self.vocab_size = len(self.chars)
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.text = text
        self.namespace: dict = {}
        self.module_globals: dict = {}
        self.model = None
        self.notices: list[str] = []

    # --- inputs in the contract's encoding -------------------------------------------------------
    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        if self.task["input"] == "one_hot":
            return torch.nn.functional.one_hot(ids, self.vocab_size).float()
        return ids

    def initial_hidden(self, batch: int):
        return getattr(self.model, self.task["init_hidden"])(batch)

    def logits_2d(self, logits: torch.Tensor, batch: int, seq: int) -> torch.Tensor:
        """(batch * seq, vocab) from either accepted layout; ValueError for anything else."""
        if not isinstance(logits, torch.Tensor) or logits.numel() != batch * seq * self.vocab_size:
            raise ValueError(f"logits of shape {shape_of(logits)} hold no ({batch}, {seq}, {self.vocab_size}) scores")
        return logits.reshape(batch * seq, self.vocab_size)

    # --- the steps --------------------------------------------------------------------------------
    def load(self) -> bool:
        spec = importlib.util.spec_from_file_location("student", MODULE_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules["student"] = module  # dataclasses and pickling look classes up here
        finder = AbsentFinder(imported_names(Path(MODULE_FILE).read_text(encoding="utf-8", errors="replace")))
        sys.meta_path.append(finder)
        try:
            _, error = attempt(spec.loader.exec_module, module)
        finally:
            sys.meta_path.remove(finder)
        self.notices += [f"`{name}` is not installed where the grader runs: the notebook loads, but calling anything "
                         "from it fails" for name in sorted(finder.used)]
        send("load", ok=error is None, error=error)
        self.module_globals = module.__dict__
        # a notebook's own value beats a default
        self.namespace = {**self.task["defaults"], **module.__dict__} if error is None else {}
        self.namespace.update(vocab_size=self.vocab_size, chars=tuple(self.chars), text=self.text)
        return error is None

    def values(self) -> None:
        found = {}
        for name in self.task["variables"]:
            if name not in self.namespace:
                found[name] = {"error": f"the notebook defines no `{name}` (a cell that sets it may have been "
                                        "skipped or left out)"}
                continue
            value = self.namespace[name]
            if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
                found[name] = {"value": value if not isinstance(value, str) else value[:10_000]}
            else:
                found[name] = {"error": f"`{name}` is a {type(value).__name__}, not a number or text"}
        send("values", values=found)

    def build(self) -> bool:
        torch.manual_seed(self.task["training"]["seed"])
        code = compile(self.task["constructor"], "<rubric: constructor>", "eval")
        model, error = attempt(eval, code, dict(self.namespace))
        if error is None and not isinstance(model, torch.nn.Module):
            model, error = None, f"the constructor returned a {type(model).__name__}, not a torch.nn.Module"
        parameters, shapes = None, {}
        if model is not None:
            named, error = attempt(lambda: list(model.named_parameters()))
            if error is None:
                parameters = sum(p.numel() for _, p in named)
                shapes = {name: list(p.shape) for name, p in named[:200]}
            else:
                model = None
        send("build", ok=model is not None, error=error, parameters=parameters, shapes=shapes)
        self.model = model
        return model is not None

    def verify(self) -> None:
        """Build the class again with the contract's size variables set to the grader's small values,
        in the module's globals too (a class may read them there), and report it for recomputation.
        Time-limited, so that a forward that never returns fails here and the later steps still run."""
        spec = self.task["verification"]
        saved = {name: self.module_globals[name] for name in spec["sizes"] if name in self.module_globals}
        self.module_globals.update(spec["sizes"])

        def run():
            torch.manual_seed(self.task["training"]["seed"])
            code = compile(self.task["constructor"], "<rubric: constructor>", "eval")
            model = eval(code, {**self.namespace, **spec["sizes"]})
            if not isinstance(model, torch.nn.Module):
                raise TypeError(f"the constructor returned a {type(model).__name__}, not a torch.nn.Module")
            hidden = [torch.tensor(t["values"], dtype=torch.float32).reshape(t["shape"]) for t in spec["hidden"]]
            inputs = self.encode(torch.tensor(spec["ids"], dtype=torch.long))
            return verification_report(model, inputs, tuple(hidden) if len(hidden) == 2 else hidden[0],
                                       spec["max_parameters"])

        def too_slow(signum, frame):
            raise VerificationTimeout(f"building the model at the small sizes and running its forward took over "
                                      f"{spec['seconds']:g} s")

        previous = signal.signal(signal.SIGALRM, too_slow)
        signal.setitimer(signal.ITIMER_REAL, spec["seconds"])
        try:
            report, error = attempt(run)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            for name in spec["sizes"]:
                if name in saved:
                    self.module_globals[name] = saved[name]
                else:
                    self.module_globals.pop(name, None)
        send("verify", ok=error is None, error=error, **(report or {}))

    def init_hidden(self) -> None:
        results = []
        for batch in sorted({b for b, _ in self.task["probes"]}, reverse=True):
            hidden, error = attempt(self.initial_hidden, batch)
            entry = {"batch": batch, "ok": error is None, "error": error}
            if error is None:
                entry["form"] = "tensor" if isinstance(hidden, torch.Tensor) else type(hidden).__name__
                entry["shapes"] = hidden_shapes(hidden)
                tensors = [hidden] if isinstance(hidden, torch.Tensor) else list(hidden) \
                    if isinstance(hidden, (tuple, list)) else []
                entry["zeros"] = bool(tensors) and all(
                    isinstance(t, torch.Tensor) and not bool(t.detach().abs().sum()) for t in tensors)
            results.append(entry)
        send("init_hidden", results=results)

    def forward_once(self, batch: int, seq: int, generator: torch.Generator):
        ids = torch.randint(self.vocab_size, (batch, seq), generator=generator)
        hidden, error = attempt(self.initial_hidden, batch)
        if error is not None:
            hidden = None  # the forward check stands on its own: nn.LSTM starts from zeros given None
        return self.model(self.encode(ids), hidden)

    def forward(self) -> bool:
        self.model.eval()
        generator = torch.Generator().manual_seed(1)
        results, all_ok = [], True
        for batch, seq in self.task["probes"]:
            out, error = attempt(lambda: self.forward_once(batch, seq, generator))
            entry = {"batch": batch, "seq": seq, "ok": error is None, "error": error}
            if error is None:
                if isinstance(out, (tuple, list)) and len(out) == 2:
                    logits, hidden = out
                    entry["logits"] = shape_of(logits)
                    entry["hidden"] = hidden_shapes(hidden)
                    entry["finite"] = isinstance(logits, torch.Tensor) and bool(torch.isfinite(logits).all())
                else:
                    entry.update(ok=False, error=f"forward returned a {type(out).__name__}, not (logits, hidden)")
            all_ok &= entry["ok"]
            results.append(entry)
        send("forward", results=results)
        return all_ok

    def backward(self) -> None:
        def run():
            self.model.train()
            self.model.zero_grad()
            batch, seq = self.task["probes"][0]
            logits, _ = self.forward_once(batch, seq, torch.Generator().manual_seed(2))
            targets = torch.randint(self.vocab_size, (batch * seq,), generator=torch.Generator().manual_seed(3))
            torch.nn.functional.cross_entropy(self.logits_2d(logits, batch, seq), targets).backward()
            return [name for name, p in self.model.named_parameters() if p.requires_grad and p.grad is None]

        missing, error = attempt(run)
        send("backward", ok=error is None, error=error, without_grad=(missing or [])[:50])

    def generate(self, seeds: list[int], length: int | None = None) -> list[dict]:
        spec = self.task["generation"]
        scope = dict(self.namespace)
        for name, source in spec["provide"].items():
            value, error = attempt(eval, compile(source, f"<rubric: provide {name}>", "eval"), dict(scope))
            if error is not None:
                return [{"seed": seed, "ok": False, "error": f"setting up `{name}` = {source}: {error}"}
                        for seed in seeds]
            scope[name] = value
        scope["model"] = self.model
        if length is not None:
            scope[spec["gen_length"]] = length
        elif isinstance(scope.get(spec["gen_length"]), int):
            scope[spec["gen_length"]] = min(scope[spec["gen_length"]], spec["max_length"])
        code = compile(spec["call"], "<rubric: generation call>", "eval")
        runs = []
        for seed in seeds:
            scope["seed"] = seed
            text, error = attempt(eval, code, dict(scope))
            run = {"seed": seed, "ok": error is None, "error": error, "type": type(text).__name__}
            if error is None and isinstance(text, str):
                run["text"] = text[:20_000]
            runs.append(run)
        return runs

    def train(self) -> bool:
        config = self.task["training"]
        device = torch.device(config["device"])
        batch, seq = config["batch_size"], config["seq_length"]
        rate = self.task["learning_rate"]
        rate = self.namespace.get(rate) if isinstance(rate, str) else rate
        losses: list[float] = []
        started = time.perf_counter()

        def run():
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < math.inf:
                raise ValueError(f"the learning rate must be a positive number, got {rate!r}")
            torch.manual_seed(config["seed"])
            torch.use_deterministic_algorithms(True, warn_only=True)
            ids = torch.tensor([self.index[c] for c in self.text], dtype=torch.long)
            rows = (len(ids) - 1) // (batch * seq)
            if rows == 0:
                raise ValueError(f"the training text is too short for one {batch} x {seq} batch")
            length = rows * batch * seq
            inputs = ids[:length].reshape(batch, -1)
            targets = ids[1:length + 1].reshape(batch, -1)
            model = self.model.to(device)
            model.train()
            optimizer = torch.optim.Adam(model.parameters(), lr=float(rate))
            step = 0
            while step < config["steps"]:
                hidden = to_device(self.initial_hidden(batch), device)
                for start in range(0, inputs.shape[1], seq):
                    x = self.encode(inputs[:, start:start + seq]).to(device)
                    y = targets[:, start:start + seq].to(device)
                    logits, hidden = model(x, detach(hidden))
                    loss = torch.nn.functional.cross_entropy(self.logits_2d(logits, batch, seq), y.reshape(-1))
                    optimizer.zero_grad()
                    loss.backward()
                    if config["grad_clip"] is not None:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
                    optimizer.step()
                    losses.append(round(loss.item(), 5))
                    step += 1
                    if step == config["steps"]:
                        break

        _, error = attempt(run)
        send("train", ok=error is None, error=error, device=str(device), steps=len(losses),
             seconds=round(time.perf_counter() - started, 3), losses=losses)
        return error is None

    def holdout(self) -> None:
        def run():
            device = torch.device(self.task["training"]["device"])
            windows = torch.tensor(self.task["windows"], dtype=torch.long)
            count, length = windows.shape
            self.model.eval()
            with torch.no_grad():
                hidden = to_device(self.initial_hidden(count), device)
                logits, _ = self.model(self.encode(windows).to(device), hidden)
                last = self.logits_2d(logits, count, length).reshape(count, length, -1)[:, -1, :]
            return [[round(float(v), 4) for v in row] for row in last.float().cpu()]

        logits, error = attempt(run)
        send("holdout", ok=error is None, error=error, logits=logits)


def main() -> None:
    task = json.loads(Path("task.json").read_text(encoding="utf-8"))
    text = Path("train.txt").read_text(encoding="utf-8")
    torch.set_num_threads(task["threads"])
    harness = Harness(task, text)
    if not torch.cuda.is_available():
        gpu_calls_run_on_cpu(harness.notices)
    if harness.load():
        harness.values()
        if harness.build():
            harness.verify()
            harness.init_hidden()
            harness.forward()
            harness.backward()
            send("generate", runs=harness.generate(task["generation"]["seeds"]))
            if harness.train():
                harness.holdout()
                runs = harness.generate([task["generation"]["seeds"][0]], task["generation"]["sample_length"])
                send("sample", ok=runs[0]["ok"], error=runs[0].get("error"), text=runs[0].get("text"))
    send("notices", notices=harness.notices[:20])
    finish()


if __name__ == "__main__":
    main()
