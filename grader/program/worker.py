"""The harness's untrusted half: the only process that loads the notebook's definitions.

Started by the supervisor (grader/program/supervisor.py) inside the sandbox as `python -I -B -u
-c ... REQUESTS ANSWERS`, or forked in the warm sandbox before the supervisor has read its task
(grader/program/harness.py:warm), holding two pipe ends and no channel to the grader. It answers one
request at a time (grader/program/frames.py): everything it sends is plain numbers and text that
the supervisor and the grader judge themselves, since student code shares this process and may
rewrite any of it. Nothing here decides a mark.

Requests, each answered by one frame with `ok` and `error`:

    load        import student.py; the notebook variables asked for     {values, notices}
    build       the constructor call, at the notebook's sizes or others  {count, parameters} + weights
    probe       a kept model's forward in eval mode on given inputs      {unused, hidden_form, called} + logits, hidden
    init_hidden the hidden state for a batch size                        {form} + tensors
    forward     a forward from init_hidden on given ids                  {form, hidden_form} + start, logits, hidden
    backward    one loss.backward() on a probe                           {without_grad}
    generate    the rubric's sampling call, per seed                     {runs}
    set_weights the main model's parameters, by name                     {}
    train       the notebook's own model retrained (only when it is not the contract's architecture)
    holdout     last-position logits of given windows, after `train`
    call        a rubric function call on given inputs, within a time and memory limit   {nodes} + arrays

Errors are "Type: message" plus the innermost line of student.py, as `student.py:LINE`, which the
grader maps back to a notebook cell.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from grader.program import frames, training
from grader.program.calls import (CALL_MEMORY, AbsentFinder, data_size, describe, imported_names, memory_limit,
                                  output_nodes, time_limit)

MODULE_FILE = "student.py"
MAX_TEXT = 20_000


def plain(tensor) -> np.ndarray:
    """A tensor's values as a float32 numpy array, read past any tensor subclass's overrides."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"a {type(tensor).__name__}, not a tensor")
    with torch._C.DisableTorchFunctionSubclass():
        return torch.Tensor.detach(tensor).to("cpu", torch.float32).contiguous().numpy().copy()


def tensors_of(value) -> tuple[str, list]:
    """A hidden state's form ('tensor', 'tuple', 'list' or a type name) and its parts."""
    if isinstance(value, torch.Tensor):
        return "tensor", [value]
    if isinstance(value, (tuple, list)):
        return type(value).__name__, list(value)[:4]
    return type(value).__name__, []


def hidden_arrays(value) -> tuple[str, list[np.ndarray], list]:
    """(form, arrays of the tensor parts, shape-or-type of every part)."""
    form, parts = tensors_of(value)
    return form, [plain(p) for p in parts if isinstance(p, torch.Tensor)], [
        list(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__ for p in parts]


def gpu_calls_run_on_cpu(notices: list[str]) -> None:
    """Where there is no GPU, `.cuda()` moves nothing instead of failing: hard-coded `.cuda()` calls
    are common in notebooks written on Colab, and the grade is about the model, not the machine."""
    def note(text: str) -> None:
        if text not in notices:
            notices.append(text)

    def tensor_cuda(self, *args, **kwargs):
        note("`.cuda()` was called on a tensor; there is no GPU here, so it stayed on the CPU")
        return self

    def module_cuda(self, *args, **kwargs):
        note("`.cuda()` was called on a module; there is no GPU here, so it stayed on the CPU")
        return self

    torch.Tensor.cuda = tensor_cuda
    torch.nn.Module.cuda = module_cuda


class StudentSide:
    def __init__(self, chars: list[str], encoding: str, init_hidden: str, constructor: str):
        self.chars, self.encoding, self.init_hidden_name = chars, encoding, init_hidden
        self.constructor = compile(constructor, "<rubric: constructor>", "eval")
        self.vocab_size = len(chars)
        self.namespace: dict = {}
        self.module_globals: dict = {}
        self.models: dict[str, torch.nn.Module] = {}
        self.notices: list[str] = []
        self.baseline: int | None = None  # memory in use before the first function call
        self.text = Path("train.txt").read_text(encoding="utf-8")

    @property
    def model(self) -> torch.nn.Module:
        return self.models["main"]

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        if self.encoding == "one_hot":
            return torch.nn.functional.one_hot(ids, self.vocab_size).float()
        return ids

    def initial_hidden(self, model, batch: int):
        return getattr(model, self.init_hidden_name)(batch)

    def device_of(self, model) -> torch.device:
        for parameter in model.parameters():
            return parameter.device
        return torch.device("cpu")

    # --- requests -------------------------------------------------------------------------------
    def load(self, request: dict, arrays: list) -> tuple[dict, list]:
        spec = importlib.util.spec_from_file_location("student", MODULE_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules["student"] = module  # dataclasses and pickling look classes up here
        finder = AbsentFinder(imported_names(Path(MODULE_FILE).read_text(encoding="utf-8", errors="replace")))
        sys.meta_path.append(finder)
        try:
            spec.loader.exec_module(module)
        finally:
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)
            self.notices += [f"`{name}` is not installed where the grader runs: the notebook loads, but calling "
                             "anything from it fails" for name in sorted(finder.used)]
        self.module_globals = module.__dict__
        self.namespace = {**request["defaults"], **module.__dict__}  # a notebook's own value beats a default
        self.namespace.update(vocab_size=self.vocab_size, chars=tuple(self.chars), text=self.text)
        values = {}
        for name in request["variables"]:
            if name not in self.namespace:
                values[name] = {"missing": True}
                continue
            value = self.namespace[name]
            if value is None or type(value) in (bool, int, float, str):
                values[name] = {"value": value[:10_000] if type(value) is str else value}
            else:
                values[name] = {"type": type(value).__name__}
        return {"values": values}, []

    def build(self, request: dict, arrays: list) -> tuple[dict, list]:
        """Build with the notebook variables in `sizes` overridden (in the module's globals too: a
        class may read them there), keep it under `name`, and send its weights if not too many."""
        sizes = request["sizes"]
        saved = {name: self.module_globals[name] for name in sizes if name in self.module_globals}
        self.module_globals.update(sizes)
        try:
            torch.manual_seed(request["seed"])
            model = eval(self.constructor, {**self.namespace, **sizes})
        finally:
            for name in sizes:
                if name in saved:
                    self.module_globals[name] = saved[name]
                else:
                    self.module_globals.pop(name, None)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"the constructor returned a {type(model).__name__}, not a torch.nn.Module")
        self.models[request["name"]] = model
        owners = {id(p): type(m).__name__ for m in model.modules() for p in m.parameters(recurse=False)}
        named = list(model.named_parameters())
        count = sum(p.numel() for _, p in named)
        parameters = [{"name": name[:300], "module": owners.get(id(p), "?")[:100], "shape": list(p.shape)}
                      for name, p in named[:500]]
        weights = count <= request["max_parameters"] and len(named) <= 500
        return {"count": count, "parameters": parameters, "weights": weights}, \
            [plain(p) for _, p in named] if weights else []

    def probe(self, request: dict, arrays: list) -> tuple[dict, list]:
        """Forward in eval mode on the supervisor's ids and hidden state; which parameters the
        outputs depend on (a layer built but never used is set aside by the verification)."""
        model = self.models[request["name"]]
        ids, *hidden = arrays
        device = self.device_of(model)
        start = tuple(torch.from_numpy(h.copy()).to(device) for h in hidden)
        model.eval()
        model.zero_grad(set_to_none=True)
        called: list[str] = []  # the modules forward calls, in order: which layers it really uses
        hook = torch.nn.modules.module.register_module_forward_pre_hook(
            lambda module, args: called.append(type(module).__name__) if len(called) < 200 else None)
        try:
            out = model(self.encode(torch.from_numpy(ids.copy())).to(device), start if len(start) == 2 else start[0])
        finally:
            hook.remove()
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[0], torch.Tensor)):
            raise TypeError(f"forward returned a {type(out).__name__}, not (logits, hidden)")
        logits, new_hidden = out
        form, parts = tensors_of(new_hidden)
        outputs = [t for t in (logits, *parts) if isinstance(t, torch.Tensor) and t.requires_grad]
        if outputs:
            sum(t.float().sum() for t in outputs).backward()
        unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
        return {"unused": unused[:500], "hidden_form": form, "called": called[1:]}, \
            [plain(logits), *[plain(p) for p in parts if isinstance(p, torch.Tensor)]]

    def init_hidden(self, request: dict, arrays: list) -> tuple[dict, list]:
        form, tensors, shapes = hidden_arrays(self.initial_hidden(self.model, request["batch"]))
        return {"form": form, "shapes": shapes}, tensors

    def forward(self, request: dict, arrays: list) -> tuple[dict, list]:
        """A forward from the model's own init_hidden (None when that fails: nn.LSTM starts from
        zeros), on the supervisor's ids; the start state comes back too, for recomputation."""
        (ids,) = arrays
        self.model.eval()
        try:
            hidden = self.initial_hidden(self.model, ids.shape[0])
        except Exception:  # noqa: BLE001 - the forward check stands on its own
            hidden = None
        start_form, start, _ = hidden_arrays(hidden) if hidden is not None else ("none", [], [])
        out = self.model(self.encode(torch.from_numpy(ids.copy())), hidden)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"forward returned a {type(out).__name__}, not (logits, hidden)")
        logits, new_hidden = out
        if not isinstance(logits, torch.Tensor):
            return {"logits_type": type(logits).__name__, "starts": 0, "hidden": []}, []
        form, parts, shapes = hidden_arrays(new_hidden)
        return {"start_form": start_form, "starts": len(start), "hidden_form": form, "hidden": shapes}, \
            [*start, plain(logits), *parts]

    def backward(self, request: dict, arrays: list) -> tuple[dict, list]:
        ids, targets = arrays
        batch, seq = ids.shape
        self.model.train()
        self.model.zero_grad()
        try:
            hidden = self.initial_hidden(self.model, batch)
        except Exception:  # noqa: BLE001
            hidden = None
        logits, _ = self.model(self.encode(torch.from_numpy(ids.copy())), hidden)
        torch.nn.functional.cross_entropy(training.logits_2d(logits, batch, seq, self.vocab_size),
                                          torch.from_numpy(targets.copy())).backward()
        missing = [name for name, p in self.model.named_parameters() if p.requires_grad and p.grad is None]
        return {"without_grad": missing[:50]}, []

    def generate(self, request: dict, arrays: list) -> tuple[dict, list]:
        scope = dict(self.namespace)
        for name, source in request["provide"].items():
            try:
                scope[name] = eval(compile(source, f"<rubric: provide {name}>", "eval"), dict(scope))
            except BaseException as exc:  # noqa: BLE001
                error = f"setting up `{name}` = {source}: {describe(exc)}"
                return {"runs": [{"seed": seed, "ok": False, "error": error} for seed in request["seeds"]]}, []
        scope.update(request["literals"])
        scope["model"] = self.model
        length_name = request["gen_length"]
        if request["length"] is not None:
            scope[length_name] = request["length"]
        elif type(scope.get(length_name)) is int:
            scope[length_name] = min(scope[length_name], request["max_length"])
        code = compile(request["call"], "<rubric: generation call>", "eval")
        runs = []
        for seed in request["seeds"]:
            scope["seed"] = seed
            run = {"seed": seed, "ok": True, "error": None}
            random.seed(seed)  # so that a sampler drawing from the global generators is reproducible too
            np.random.seed(seed)
            torch.manual_seed(seed)
            try:
                text = eval(code, dict(scope))
                run["type"] = type(text).__name__
                if type(text) is str:
                    run["text"] = text[:MAX_TEXT]
            except BaseException as exc:  # noqa: BLE001
                run.update(ok=False, error=describe(exc))
            runs.append(run)
        return {"runs": runs}, []

    def set_weights(self, request: dict, arrays: list) -> tuple[dict, list]:
        parameters = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, values in zip(request["names"], arrays):
                target = parameters[name]
                target.copy_(torch.from_numpy(values.copy()).reshape(target.shape).to(target.device, target.dtype))
        return {}, []

    def train(self, request: dict, arrays: list) -> tuple[dict, list]:
        settings = request["settings"]
        device = torch.device(settings["device"])
        model = self.model.to(device)
        vocab = self.vocab_size

        def step(x, hidden):
            logits, hidden = model(self.encode(x).to(device), hidden)
            return training.logits_2d(logits, x.shape[0], x.shape[1], vocab), hidden

        started = time.perf_counter()
        losses = training.train(model, step, lambda batch: self.initial_hidden(model, batch), settings,
                                training.encode_text(self.text, self.chars), device)
        return {"losses": losses, "seconds": round(time.perf_counter() - started, 3)}, []

    def call(self, request: dict, arrays: list) -> tuple[dict, list]:
        """Evaluate a rubric function call with the case's inputs bound (fresh copies: a function
        that changes its input changes no other case), the generators seeded as for generation."""
        scope = {**self.namespace, **request["literals"]}
        scope.update({name: array.copy() for name, array in zip(request["names"], arrays)})
        code = compile(request["call"], "<rubric: function call>", "eval")
        random.seed(0)
        np.random.seed(0)
        torch.manual_seed(0)
        if self.baseline is None:
            self.baseline = data_size()
        with memory_limit(self.baseline, CALL_MEMORY):  # reading the output copies it: that too within the limit
            with time_limit(request["limit"]):
                value = eval(code, scope)
            nodes, out = output_nodes(value, request["max_bytes"])
        return {"nodes": nodes}, out

    def holdout(self, request: dict, arrays: list) -> tuple[dict, list]:
        (windows,) = arrays
        device = self.device_of(self.model)
        self.model.eval()
        rows = []
        with torch.no_grad():
            for window in torch.from_numpy(windows.copy()):  # one at a time: no window sees another
                hidden = self.initial_hidden(self.model, 1)
                logits, _ = self.model(self.encode(window[None]).to(device), hidden)
                rows.append(training.logits_2d(logits, 1, len(window), self.vocab_size)[-1])
        return {}, [plain(torch.stack(rows))]


def main() -> None:
    serve(int(sys.argv[1]), int(sys.argv[2]))


def serve(requests: int, answers: int) -> None:
    """Answer the supervisor's requests until it closes the pipe: in a process started as
    `python -c ...` (main), or forked from the warm sandbox's image before the task was read."""
    header, _ = frames.read_frame(requests)
    torch.set_num_threads(header["threads"])
    side = StudentSide(header["chars"], header["input"], header["init_hidden"], header["constructor"])
    if not torch.cuda.is_available():
        gpu_calls_run_on_cpu(side.notices)
    frames.write_frame(answers, {"ok": True, "ready": True})
    while True:
        try:
            request, arrays = frames.read_frame(requests)
        except frames.FrameError:
            return  # the supervisor is done with this worker
        try:
            answer, out = getattr(side, request["op"])(request, arrays)
            answer.update(ok=True, error=None)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are student errors here
            answer, out = {"ok": False, "error": describe(exc)}, []
        answer["notices"] = side.notices[:20]
        frames.write_frame(answers, answer, out)


if __name__ == "__main__":
    main()
