"""Running student code inside the sandbox: each call within a time and a memory limit, its errors
named by the student's own line, its output read as plain data past any subclass's overrides, and
stand-ins for modules the notebook imports that are not installed here.

Shared by the model harness's worker (grader/program/worker.py) and the cells runner
(grader/cells/runner.py). Standard library and numpy only: torch is looked at only when the
student's code has imported it (an output can hold a tensor only then), so a notebook of numpy
answers never pays for importing torch.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.abc
import importlib.util
import re
import resource
import signal
import sys
import traceback
import types
from pathlib import Path

import numpy as np

from grader.program import frames

MODULE_FILE = "student.py"  # the model harness's module of the notebook's definitions
CELL_FILE = re.compile(r"<cell (\d+)>")  # the cells runner compiles each notebook cell under this name
MAX_ERROR = 600
CALL_MEMORY = 512 << 20  # bytes a function call may allocate: a list(...) of an endless generator fails alone
MAX_NODES = 10_000  # values in one function output (observations.MAX_NODES)
MAX_DEPTH = 16
MAX_STRING = 10_000


def student_line(exc: BaseException) -> str:
    """Where in the student's code the innermost frame of theirs was: ` (student.py:LINE)` in the
    harness's module, ` (cell N, line L)` in a cell the cells runner ran, or nothing."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        cell = CELL_FILE.fullmatch(frame.filename)
        if cell:
            where = f" (cell {cell[1]}, line {frame.lineno})"
        elif frame.filename.endswith(MODULE_FILE):
            where = f" ({MODULE_FILE}:{frame.lineno})"
    if not where and isinstance(exc, SyntaxError) and exc.filename and CELL_FILE.fullmatch(exc.filename):
        where = f" (cell {CELL_FILE.fullmatch(exc.filename)[1]}, line {exc.lineno})"
    return where


def describe(exc: BaseException) -> str:
    """`Type: message` and where in the student's code it was raised (student_line)."""
    try:
        text = f"{type(exc).__name__}: {exc}".removesuffix(": ")[:MAX_ERROR]
    except BaseException:  # noqa: BLE001 - an exception whose __str__ raises
        text = f"{type(exc).__name__} (its message could not be shown)"
    if isinstance(exc, SystemExit):
        text = f"SystemExit: the code called exit({exc.code!r})"[:MAX_ERROR]
    return text + student_line(exc)


class _TookTooLong(BaseException):
    """Raised by the alarm inside a function call; BaseException, so `except Exception` in it goes on."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "the call"):
    """Stop a call that runs on past `seconds` (a loop that never ends) without losing this process,
    so the next case needs no restart. Code that swallows it is killed by the supervisor's deadline."""
    def stop(signum, frame):
        raise _TookTooLong

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _TookTooLong as exc:
        raise TimeoutError(f"{what} took over {seconds:g} s{student_line(exc)}") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def data_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def memory_limit(baseline: int, extra: int):
    """Lower this process's RLIMIT_DATA to `baseline` (what it used before the first call) plus
    `extra` while a call runs, so a call that grows without end gets a MemoryError instead of the
    whole run being killed for memory, and memory a failed call leaves behind counts for the next."""
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = min(c for c in (baseline + extra, soft, hard) if c != resource.RLIM_INFINITY)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    try:
        yield
    except MemoryError as exc:
        raise MemoryError(f"the call ran out of memory (a call may allocate about {extra >> 20} MiB)"
                          f"{student_line(exc)}") from None
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def output_nodes(value, max_bytes: int) -> tuple[list[dict], list[np.ndarray]]:
    """A function's output as preorder nodes (a list or tuple is followed by its items) and the
    arrays they hold, read past subclasses' overrides: a tensor's own storage, a list's own items.
    TypeError or ValueError for what cannot be sent as plain data."""
    torch = sys.modules.get("torch")  # a tensor exists only where the student's code imported torch
    tensor_type = getattr(torch, "Tensor", None) if torch is not None else None
    tensor_type = tensor_type if isinstance(tensor_type, type) else ()
    nodes: list[dict] = []
    arrays: list[np.ndarray] = []
    size = 0
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if len(nodes) >= MAX_NODES:
            raise ValueError(f"the output holds over {MAX_NODES:,} values")
        if item is None:
            nodes.append({"kind": "none"})
        elif type(item) in (bool, int, float, str):
            if type(item) is int and abs(item) >= 2 ** 63:
                raise ValueError("the output holds a whole number beyond 64 bits")
            if type(item) is str and len(item) > MAX_STRING:
                raise ValueError(f"the output holds a text of {len(item):,} characters, over {MAX_STRING:,}")
            nodes.append({"kind": type(item).__name__, "value": item})
        elif isinstance(item, (list, tuple)):
            items = list.copy(item) if isinstance(item, list) else [tuple.__getitem__(item, i)
                                                                    for i in range(tuple.__len__(item))]
            if items and depth >= MAX_DEPTH:
                raise ValueError(f"the output nests lists or tuples over {MAX_DEPTH} deep")
            nodes.append({"kind": "list" if isinstance(item, list) else "tuple", "length": len(items)})
            pending += [(child, depth + 1) for child in reversed(items)]
        elif isinstance(item, (np.ndarray, np.generic)) or (tensor_type and isinstance(item, tensor_type)):
            if not isinstance(item, (np.ndarray, np.generic)):
                with torch._C.DisableTorchFunctionSubclass():
                    base = torch.Tensor.detach(item).to("cpu")
                    dtype = str(base.dtype).removeprefix("torch.")
                    array = (base.float() if dtype == "bfloat16" else base).contiguous().numpy().copy()
                library = "torch"
            else:
                array = np.array(item, subok=False)
                dtype, library = array.dtype.name, "numpy"
            if dtype not in frames.ARRAY_DTYPES:
                raise TypeError(f"the output holds an array of {dtype}, which cannot be compared")
            size += array.size * frames.DTYPES[frames.ARRAY_DTYPES[dtype]].itemsize
            if size > max_bytes:
                raise ValueError(f"the output is over {max_bytes:,} bytes")
            nodes.append({"kind": "array", "library": library, "dtype": dtype, "shape": list(array.shape)})
            arrays.append(array)
        else:
            raise TypeError(f"the output holds a {type(item).__name__}; only numbers, text, None, lists, tuples, "
                            "numpy arrays and tensors can be compared")
    return nodes, arrays


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
        self.names = {name for name in names if not _installed(name)}  # never an installed one's absent optional parts
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


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def imported_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return set()
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
