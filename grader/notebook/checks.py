"""Known bug patterns in a notebook's kept definitions, found statically so feedback can name the
line before (or instead of) a sandboxed run failing on it. From real student char-LSTM notebooks:

- `.cuda()` outside a branch that tests for a GPU (`if train_on_gpu:`, `if torch.cuda...`): the
  code fails on a machine without one; `.to(device)` does not;
- attribute typos torch has no such method for (`.contigious()`);
- a fourth positional argument to nn.LSTM or nn.GRU: that slot is `bias`, so
  `nn.LSTM(n_in, n_hidden, n_layers, drop_prob)` silently gets no dropout;
- an nn layer created in `__init__` as `self.x = nn.Something(...)` and never used (the dropout
  that was defined but never applied).
"""

from __future__ import annotations

import ast

from grader.notebook.definitions import Definition, qualified_name
from grader.notebook.model import CellNote

TYPOS = {"contigious": "contiguous", "contigous": "contiguous", "continguous": "contiguous"}
BIAS_IN_FOURTH_SLOT = frozenset({"torch.nn.LSTM", "torch.nn.GRU"})
_GPU_WORDS = ("cuda", "gpu")


def check_definitions(definitions: list[Definition], aliases: dict[str, str]) -> list[CellNote]:
    notes: list[CellNote] = []
    for definition in definitions:
        found: list[tuple[int, str]] = []
        try:
            if isinstance(definition.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found += _calls_and_attributes(definition.node, aliases, gpu_guarded=False)
            if isinstance(definition.node, ast.ClassDef):
                found += _unused_layers(definition.node, aliases)
        except (RecursionError, MemoryError):  # definitions are at most MAX_DEPTH deep; the backstop
            found.append((definition.first_line, "too deep or too large to check for known bugs"))
        notes += [CellNote(cell=definition.cell, line=line, kind="check", message=message) for line, message in found]
    return notes


def _tests_for_gpu(test: ast.expr) -> bool:
    return any(word in ast.unparse(test).lower() for word in _GPU_WORDS)


def _calls_and_attributes(node: ast.AST, aliases: dict[str, str], gpu_guarded: bool):
    """(line, message) for unguarded .cuda() calls, typos and nn.LSTM's bias slot, under `node`."""
    if isinstance(node, (ast.If, ast.IfExp)) and _tests_for_gpu(node.test):
        gpu_guarded = True
    if isinstance(node, ast.Attribute) and node.attr in TYPOS:
        yield node.lineno, (f"`.{node.attr}` is a typo for `.{TYPOS[node.attr]}`: "
                            "AttributeError when this line runs")
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and node.func.attr == "cuda" and not gpu_guarded:
            yield node.lineno, (f"`{ast.unparse(node)}` needs a GPU: it fails where there is none; "
                                "use .to(device) with device from torch.cuda.is_available()")
        name = qualified_name(node.func, aliases)
        if name in BIAS_IN_FOURTH_SLOT and len(node.args) >= 4:
            layer = name.rsplit(".", 1)[-1]
            yield node.lineno, (f"nn.{layer}'s fourth positional parameter is `bias`, so "
                                f"`{ast.unparse(node.args[3])}` sets bias, not dropout; pass dropout= by name")
    for child in ast.iter_child_nodes(node):
        yield from _calls_and_attributes(child, aliases, gpu_guarded)


def _unused_layers(cls: ast.ClassDef, aliases: dict[str, str]):
    """(line, message) for `self.x = nn.Layer(...)` in __init__ with `self.x` never read in the class."""
    init = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
    if init is None or not init.args.args:
        return
    me = init.args.args[0].arg
    read = {n.attr for method in cls.body if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef))
            and method.args.args for n in ast.walk(method) if isinstance(n, ast.Attribute)
            and isinstance(n.ctx, ast.Load) and isinstance(n.value, ast.Name) and n.value.id == method.args.args[0].arg}
    for statement in ast.walk(init):
        if not (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call)):
            continue
        layer = qualified_name(statement.value.func, aliases) or ""
        for target in statement.targets:
            if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == me
                    and layer.startswith("torch.nn.") and target.attr not in read):
                yield statement.lineno, (f"`{cls.name}.{target.attr}` ({layer.removeprefix('torch.')}) is created "
                                         "in __init__ but never used")
