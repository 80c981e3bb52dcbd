"""The cells runner: the script the sandbox runs to compute a notebook's values.

Run by grader.cells.computed as `runner.py` in a work dir holding `task.json`, or forked by the warm
sandbox (`warm`) with the task on a pipe: the notebook's code
cells, each as the reader left it (IPython syntax made `pass`, cells that do not parse left out),
and the names of the values to read. It runs every cell in order in one namespace, as "Restart and
run all" with errors allowed would (nbgrader's and otter's semantics): a cell that raises costs
what it would have set and the next cell runs. Each cell has its own time limit; the installed
modules the cells import are imported first, outside those limits. Then each value
asked for is read as plain data (grader.program.calls.output_nodes) and sent on the channel, and
each rubric function is called on its cases (`call_cases`), each output sent the same way.

Student code runs in this very process, so everything sent is an untrusted observation, validated
by the grader, which judges the values in its own process: the notebook can only set its own
answers, which it could do by assigning them. Standard library and numpy until the notebook's
code imports more, so a notebook of numpy answers never waits for torch.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from grader.program import frames
from grader.program.calls import (CALL_MEMORY, AbsentFinder, data_size, describe, imported_names, memory_limit,
                                  output_nodes, time_limit)
from grader.sandbox import channel


def run_cells(cells: list[dict], seconds: float, namespace: dict) -> list[dict]:
    """Each cell run in `namespace`; per cell whether it finished, and its error."""
    results = []
    for cell in cells:
        started = time.monotonic()
        entry = {"cell": cell["cell"], "ok": True}
        try:
            code = compile(cell["source"], f"<cell {cell['cell']}>", "exec", dont_inherit=True)
            with time_limit(seconds, "the cell"):
                exec(code, namespace)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are the cell's errors
            entry.update(ok=False, error=describe(exc))
        entry["seconds"] = round(time.monotonic() - started, 3)
        results.append(entry)
    return results


def plain_value(value, max_bytes: int) -> list[dict]:
    """The value as OutputNode dicts, arrays with their raw numbers as base64."""
    nodes, arrays = output_nodes(value, max_bytes)
    remaining = iter(arrays)
    for node in nodes:
        if node["kind"] == "array":
            array = next(remaining)
            wire = frames.DTYPES[frames.ARRAY_DTYPES[node["dtype"]]]
            node["data"] = base64.b64encode(np.ascontiguousarray(array, dtype=wire).tobytes()).decode()
    return nodes


def call_cases(functions: dict, namespace: dict) -> None:
    """Each rubric function on each of its cases, with fresh copies of the inputs and the generators
    seeded, within the case's time and the call's memory limit; one `function` message per case."""
    baseline = data_size()
    for function, spec in functions.items():
        code = compile(spec["call"], "<rubric: function call>", "eval")
        for case in spec["cases"]:
            scope = {**namespace, **case["literals"]}
            scope.update({name: np.frombuffer(base64.b64decode(array["data"]), frames.DTYPES[array["dtype"]]).reshape(
                array["shape"]).copy() for name, array in case["arrays"].items()})
            entry = {"function": function, "name": case["name"], "ok": False, "seconds": 0.0}
            started = time.monotonic()
            random.seed(0)
            np.random.seed(0)
            if "torch" in sys.modules and hasattr(sys.modules["torch"], "manual_seed"):
                sys.modules["torch"].manual_seed(0)
            try:
                with memory_limit(baseline, CALL_MEMORY):  # reading the output copies it: that too within the limit
                    with time_limit(spec["seconds"]):
                        value = eval(code, scope)
                    entry.update(ok=True, output=plain_value(value, spec["max_bytes"]))
            except BaseException as exc:  # noqa: BLE001 - the case's own failure
                entry.update(ok=False, error=describe(exc), timed_out=isinstance(exc, TimeoutError))
            entry["seconds"] = round(time.monotonic() - started, 3)
            channel.send("function", **entry)


def execute(task: dict) -> None:
    """Run the task's cells and send its values; the process ends here, without tearing down the
    notebook's objects (a __del__ of theirs has nothing to say)."""
    imported = imported_names("\n".join(cell["source"] for cell in task["cells"]))
    for name in sorted(imported):  # outside the cells' time limits: a cold `import torch` takes seconds
        try:
            if name not in sys.modules and importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - the cell that imports it will say so
            pass
    sys.meta_path.append(AbsentFinder(imported))
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    cells = run_cells(task["cells"], task["cell_seconds"], namespace)
    channel.send("cells", cells=cells)
    for name in task["values"]:
        if name not in namespace:
            channel.send("value", name=name, ok=False, error=None)
            continue
        try:
            channel.send("value", name=name, ok=True, nodes=plain_value(namespace[name], task["max_value_bytes"]))
        except BaseException as exc:  # noqa: BLE001 - the value's own conversion (a tensor subclass) may raise anything
            channel.send("value", name=name, ok=False, error=describe(exc))
    call_cases(task.get("functions", {}), namespace)
    channel.done()
    sys.stdout.flush()
    os._exit(0)


def warm(session) -> None:
    """The warm sandbox's entry (grader/sandbox/zygote.py): the task from its pipe."""
    execute(session.read_task())


def main() -> None:
    task = json.loads(Path("task.json").read_text(encoding="utf-8"))
    Path("task.json").unlink()
    execute(task)


if __name__ == "__main__":
    main()
