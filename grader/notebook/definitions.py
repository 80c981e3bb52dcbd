"""A notebook's definitions as the text of a Python module, by static analysis with `ast`.

Nothing is run. Code cells are read in notebook order (not execution order: that is what the
student hands in and what "Restart and run all" would do). Of each cell's top-level statements:

- kept: imports, function and class definitions, and assignments to plain names whose value is an
  expression of literals, names, operators, attribute access, subscripts and calls of the
  whitelisted functions below, plus if-blocks made only of such statements;
- left out, with a note: everything that runs work: calls (training, `model.cuda()`, plotting,
  `drive.mount`), loops, with- and try-blocks, assignments that call anything else (`model =
  CharLSTM(...)`, `text = open(path).read()`) or change an object (`model.fc = ...`), augmented
  assignments, and imports of `google.colab` (it exists only on Colab);
- otter-grader's statements (`import otter`, `grader = otter.Notebook()`, `grader.check("q1")`;
  see grader.notebook.otter) are left out with a `dropped` note: otter is not installed here;
- a kept assignment also needs every name it reads to be defined by kept code before it;
  `vocab_size = len(chars)` is left out when `chars` came from a statement that was;
- IPython syntax (`%matplotlib inline`, `!pip install`, `x = !ls`, `obj?`) is replaced by `pass`
  when a cell does not parse without it, so line numbers stay those of the cell; a cell magic
  other than `%%time`, `%%timeit`, `%%capture` and `%%prun` (`%%bash`, `%%writefile`) is not
  Python and the cell is skipped;
- a cell that does not parse (a blank template line `n_hidden=`) is skipped with a note naming the
  cell, the line and the syntax error; so is one with a NUL or a lone surrogate in it;
- bounds (`limit` notes, the cell skipped): a cell nested more than MAX_DEPTH levels deep (`1+1+...+1`
  of thousands of terms, deeply nested brackets), found before any recursive analysis runs, and code
  beyond MAX_CODE characters in all (a cell that does not fit in what is left).

The last definition wins: a definition is dropped when a later one binds the same names and
nothing in between reads them while the module loads; a repeat of an identical statement (the
same import in every cell) is dropped in favour of the first. Definitions that read, when they
are defined, a name nothing kept defines (a default argument `n_hidden=n_hidden` above the cell
that sets it) are kept with an "unbound" note: the module will fail to import, as the notebook
would on a fresh run. Functions that use a global nothing kept defines (`train_on_gpu` set by a
dropped statement) get the same note. `from __future__` imports move to the top.

Why a whitelist of calls: student classes read globals such as `device` or `train_on_gpu` when
they run, so `device = torch.device("cuda" if torch.cuda.is_available() else "cpu")` must be
kept; it only asks torch what hardware there is, and on a CPU machine it yields "cpu". Every other
call may do anything (train, download, open files, allocate GPU memory), so it is left out, and
the grader supplies data and runs training itself. Whitelisted: `SAFE_CALLS`, matched after
resolving import aliases (`import torch as T` makes `T.device` torch.device).

Hyperparameters are the names the final module binds to literals (`ast.literal_eval` only:
numbers, strings, tuples, lists, dicts, sets, True/False/None; `2 * 256` is kept in the module
but has no literal value), tuples as lists.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import re
import symtable
from dataclasses import dataclass, field
from typing import Any

from grader.notebook.model import CellNote
from grader.notebook.otter import otter_statements
from grader.textsafety import printable

SAFE_CALLS = frozenset({
    "torch.device", "torch.cuda.is_available", "torch.cuda.device_count", "torch.backends.mps.is_available",
    "int", "float", "str", "bool", "tuple", "list", "dict", "set", "frozenset", "range", "len", "min", "max",
    "abs", "round",
})  # fmt: skip
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
COLAB_ONLY = "google.colab"
OTTER_REASON = "is otter-grader's (the rubric replaces its checks; otter is not installed where grader runs)"
MODULE_NAMES = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__", "__spec__", "__package__"}

# a line IPython rewrites: %magic, !shell, x = !shell / %magic, obj? / ?obj help
_IPYTHON_LINE = re.compile(r"\s*+(?:[%!]|\?{1,2}[\w.]|[\w.]+\?{1,2}\s*$|[\w.\s,]+=\s*[%!])")
_NOT_SOURCE = re.compile("[\0\ud800-\udfff]")  # what ast.parse cannot take: it fails naming no line
MAX_CODE = 1_000_000  # characters of code analysed per notebook (about 2 s): a course notebook has under 100,000
MAX_DEPTH = 100  # levels of syntax-tree nesting analysed; hand-written code stays under 30
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass
class Definition:
    """A kept top-level statement: `first_line` is its first line in the cell (decorators included)."""

    cell: int
    node: ast.stmt
    text: str
    first_line: int
    binds: set[str]
    reads: set[str]  # names read while the module loads
    module_line: int = 0  # where its text starts in the module, once assembled


@dataclass
class Extraction:
    source: str
    hyperparameters: dict[str, Any]
    definitions: list[Definition]
    aliases: dict[str, str]
    notes: list[CellNote] = field(default_factory=list)
    runnable: list[tuple[int, str, set[str]]] = field(default_factory=list)  # (cell, its Python, names it binds)


def _shorten(text: str, limit: int = 60) -> str:
    """The first line of a statement, cut to `limit` characters, with "..." where text is left off,
    and escape sequences shown, not sent (student code goes into messages)."""
    lines = text.strip().splitlines() or [""]
    if len(lines[0]) > limit:
        return printable(lines[0][: limit - 3].rstrip()) + "..."
    return printable(lines[0]) + (" ..." if len(lines) > 1 else "")


class _TooDeep(SyntaxError):
    """A cell nested too deeply to analyse: the analysis here, ast.unparse and symtable recurse once
    or more per level of the tree, and Python's stack holds about 1000 frames."""

    def __init__(self, line: int | None):
        super().__init__(f"is nested too deeply to analyse (more than {MAX_DEPTH} levels)")
        self.lineno = line


def parse_cell(number: int, source: str, notes: list[CellNote]) -> tuple[ast.Module, list[str]] | None:
    """The cell's syntax tree and lines, IPython syntax replaced by `pass`; None to skip the cell."""
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return None
    unreadable = _NOT_SOURCE.search(source)
    if unreadable:
        what = "a NUL character" if unreadable[0] == "\0" else f"a lone surrogate ({unreadable[0]!a}), not text"
        notes.append(CellNote(cell=number, line=source.count("\n", 0, unreadable.start()) + 1, kind="syntax",
                              message=f"contains {what}, which Python source cannot: the cell is skipped"))
        return None
    if lines[first].lstrip().startswith("%%"):
        magic = (lines[first].lstrip()[2:].split() or [""])[0]
        if magic not in PYTHON_CELL_MAGICS:
            notes.append(CellNote(cell=number, line=first + 1, kind="magic",
                                  message=f"a %%{_shorten(magic, 30)} cell is not Python: skipped"))
            return None
        notes.append(CellNote(cell=number, line=first + 1, kind="magic", message=f"removed %%{magic}"))
        lines[first] = ""
    try:
        tree = _parse(lines)
    except _TooDeep as error:
        notes.append(CellNote(cell=number, line=error.lineno, kind="limit",
                              message=f"{error.msg}: the cell is skipped"))
        return None
    except SyntaxError as error:
        rewritten = [line[: len(line) - len(line.lstrip())] + "pass" if _IPYTHON_LINE.match(line) else line
                     for line in lines]
        try:
            tree = _parse(rewritten) if rewritten != lines else None
        except SyntaxError:  # too deep included: the first error is the one to report
            tree = None
        if tree is None:
            line = error.lineno or 0
            shown = f"`{_shorten(lines[line - 1])}`: " if 0 < line <= len(lines) and lines[line - 1].strip() else ""
            notes.append(CellNote(cell=number, line=error.lineno, kind="syntax",
                                  message=f"{shown}{error.msg}; the cell is skipped"))
            return None
        for i, (before, after) in enumerate(zip(lines, rewritten)):
            if before != after:
                notes.append(CellNote(cell=number, line=i + 1, kind="magic",
                                      message=f"removed IPython syntax `{_shorten(before)}`"))
        lines = rewritten
    return tree, lines


def _parse(lines: list[str]) -> ast.Module:
    """The tree of a cell at most MAX_DEPTH deep. Raises SyntaxError, _TooDeep."""
    try:
        tree = ast.parse("\n".join(lines))
    except (RecursionError, MemoryError):  # a long chain `1+1+...+1` is as deep as it is long
        raise _TooDeep(next((i + 1 for i, line in enumerate(lines) if _too_deep_alone(line)), None)) from None
    except ValueError as exc:
        raise SyntaxError(str(exc)) from None
    except SyntaxError as exc:
        if "too many nested parentheses" in str(exc.msg):
            raise _TooDeep(exc.lineno) from None
        raise
    line = _too_deep_at(tree)
    if line is not None:
        raise _TooDeep(line)
    return tree


def _too_deep_alone(line: str) -> bool:
    """Whether this one line is what made the parser give up (parsing lines alone finds it)."""
    try:
        ast.parse(line.strip())
    except (RecursionError, MemoryError):
        return True
    except (SyntaxError, ValueError):
        pass
    return False


def _too_deep_at(tree: ast.AST) -> int | None:
    """The line of a node nested deeper than MAX_DEPTH, or None; walked with a stack of its own, as
    a recursive walk would overflow on exactly these trees."""
    stack: list[tuple[ast.AST, int, int | None]] = [(tree, 0, None)]
    while stack:
        node, depth, line = stack.pop()
        line = getattr(node, "lineno", line)
        if depth > MAX_DEPTH:
            return line
        for name in node._fields:  # ast.iter_child_nodes, inlined: this walk is a tenth of the reading time
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend([(child, depth + 1, line) for child in value if isinstance(child, ast.AST)])
            elif isinstance(value, ast.AST) and not isinstance(value, ast.expr_context):
                stack.append((value, depth + 1, line))
    return None


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of attribute accesses on a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def qualified_name(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The full dotted name a call target refers to, import aliases resolved (`nn.LSTM` ->
    torch.nn.LSTM after `from torch import nn`)."""
    dotted = _dotted(node)
    if dotted is None:
        return None
    root, _, rest = dotted.partition(".")
    root = aliases.get(root, root)
    return f"{root}.{rest}" if rest else root


def _import_aliases(node: ast.Import | ast.ImportFrom) -> dict[str, str]:
    if isinstance(node, ast.Import):
        return {alias.asname or alias.name.split(".")[0]: alias.name if alias.asname else alias.name.split(".")[0]
                for alias in node.names}
    return {alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"}


def _unsafe(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """What in an expression runs work (as a verb phrase), or None if it only computes a value."""
    if isinstance(node, ast.Lambda):  # its body runs only when called
        defaults = [d for d in [*node.args.defaults, *node.args.kw_defaults] if d]
        return next(filter(None, (_unsafe(d, aliases) for d in defaults)), None)
    if isinstance(node, ast.Call):  # what a call's target and arguments call runs first
        inner = next(filter(None, (_unsafe(child, aliases) for child in ast.iter_child_nodes(node))), None)
        if inner or qualified_name(node.func, aliases) in SAFE_CALLS:
            return inner
        return f"calls {_shorten(ast.unparse(node.func), 40)}()"
    if isinstance(node, _COMPREHENSIONS):
        return "runs a comprehension (a loop)"
    if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
        return f"uses {type(node).__name__}"
    return next(filter(None, (_unsafe(child, aliases) for child in ast.iter_child_nodes(node))), None)


def _plain_target(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, ast.Starred):
        return _plain_target(target.value)
    return isinstance(target, (ast.Tuple, ast.List)) and all(map(_plain_target, target.elts))


def _drop_reason(node: ast.stmt, aliases: dict[str, str]) -> str | None:
    """Why a top-level statement is left out (a verb phrase; "" to leave it out silently), or None."""
    match node:
        case ast.Import() | ast.ImportFrom():
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            colab = next((m for m in modules if m == COLAB_ONLY or m.startswith(COLAB_ONLY + ".")), None)
            return f"imports {colab}, which exists only on Colab" if colab else None
        case ast.FunctionDef() | ast.AsyncFunctionDef() | ast.ClassDef():
            return None
        case ast.Assign(targets=targets, value=value) | ast.AnnAssign(target=targets, value=value) if value:
            if not all(map(_plain_target, targets if isinstance(targets, list) else [targets])):
                return "changes an attribute or item of an object"
            return _unsafe(value, aliases)
        case ast.If():
            inner = _unsafe(node.test, aliases) or next(
                filter(None, (_drop_reason(s, aliases) for s in [*node.body, *node.orelse])), None)
            return f"is an if-block that {inner}" if inner else None
        case ast.For() | ast.AsyncFor() | ast.While():
            return "runs a loop"
        case ast.With() | ast.AsyncWith():
            return "runs a with-block"
        case ast.Try() | ast.TryStar():
            return "runs a try-block"
        case ast.AugAssign():
            return "updates a variable in place"
        case ast.Expr(value=ast.Constant()) | ast.Pass() | ast.AnnAssign():
            return ""
        case ast.Expr(value=ast.Call() as call):
            return f"calls {_shorten(ast.unparse(call.func), 40)}()"
        case ast.Expr():
            return "displays a value"
    return f"is a {type(node).__name__.lower()} statement"


def bound_names(node: ast.AST) -> set[str]:
    """Names a statement binds in its own scope (a nested function's locals are not)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return set(_import_aliases(node)) | ({"*"} if any(a.name == "*" for a in node.names) else set())
    if isinstance(node, _DEFINITIONS):
        return {node.name}
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, (ast.Store, ast.Del)) else set()
    if isinstance(node, (ast.Lambda, *_COMPREHENSIONS)):
        return set()
    return set().union(*map(bound_names, ast.iter_child_nodes(node)))


def _all_args(args: ast.arguments) -> list[ast.arg]:
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *filter(None, [args.vararg, args.kwarg])]


def load_time_reads(node: ast.AST, future_annotations: bool) -> set[str]:
    """Names a statement reads while the module loads: a function's decorators, defaults and
    annotations, but not its body; a class's bases and its whole body; an expression's names."""
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) else set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        parts = [*getattr(node, "decorator_list", []), *node.args.defaults, *filter(None, node.args.kw_defaults)]
        if not future_annotations and not isinstance(node, ast.Lambda):
            parts += [a.annotation for a in _all_args(node.args) if a.annotation] + [node.returns] * bool(node.returns)
        return set().union(*(load_time_reads(p, future_annotations) for p in parts))
    if isinstance(node, _COMPREHENSIONS):
        inner = set().union(*(load_time_reads(c, future_annotations) for c in ast.iter_child_nodes(node)))
        return inner - set().union(*(bound_names(g.target) for g in node.generators))
    reads: set[str] = set()
    for value in (v for _, v in ast.iter_fields(node)):
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            bound: set[str] = set()
            for statement in value:  # a block: later statements may read what earlier ones bound
                reads |= load_time_reads(statement, future_annotations) - bound
                bound |= bound_names(statement)
        else:
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    reads |= load_time_reads(child, future_annotations)
    return reads


def _segment(index: int, body: list[ast.stmt], lines: list[str]) -> tuple[str, int]:
    """Statement `index` of `body`: its text as written, with its comments and the comment lines
    right above it, and its first line; unparsed when it shares a line with another statement
    (`import torch; model.cuda()`: only its neighbours in the body can)."""
    node = body[index]
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    neighbours = body[max(index - 1, 0) : index] + body[index + 1 : index + 2]
    if any(other.lineno <= node.end_lineno and other.end_lineno >= first for other in neighbours):
        return ast.unparse(node), first
    previous_end = body[index - 1].end_lineno if index else 0
    while first - 1 > previous_end and lines[first - 2].lstrip().startswith("#"):
        first -= 1
    return "\n".join(lines[first - 1 : node.end_lineno]), first


def _literal_values(node: ast.stmt) -> dict[str, Any]:
    """name -> value for each name the statement binds to a literal; empty when any is not one."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return {}
    try:
        literal = _jsonable(ast.literal_eval(value))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return {}
    out: dict[str, Any] = {}
    for target in targets:
        if isinstance(target, ast.Name):
            out[target.id] = literal
        elif (isinstance(target, (ast.Tuple, ast.List)) and isinstance(literal, list)
              and len(literal) == len(target.elts) and all(isinstance(e, ast.Name) for e in target.elts)):
            out.update({e.id: v for e, v in zip(target.elts, literal)})
        else:
            return {}
    return out


def _jsonable(value: Any) -> Any:
    """The literal as JSON-able data (tuples and sets become lists); TypeError if it has no such form."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(map(_jsonable, value), key=repr)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _jsonable(v) for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} has no JSON form")


def _last_definitions_win(kept: list[Definition], notes: list[CellNote]) -> list[Definition]:
    """Drop repeats of identical statements, then definitions a later one replaces unread. Linear
    but for sorting: each name's binders and readers are looked up by position, not rescanned."""
    first_seen: dict[str, int] = {}
    last_binder: dict[str, int] = {}
    deduplicated: list[Definition] = []
    for definition in kept:
        key = ast.dump(definition.node, include_attributes=False)
        earlier = first_seen.get(key)
        if earlier is not None and not any(last_binder[name] > earlier for name in definition.binds):
            continue  # the same statement again, nothing rebinding its names since
        first_seen[key] = len(deduplicated)
        last_binder.update(dict.fromkeys(definition.binds, len(deduplicated)))
        deduplicated.append(definition)

    binders: dict[str, list[int]] = {}
    readers: dict[str, list[int]] = {}
    for position, definition in enumerate(deduplicated):
        for name in definition.binds:
            binders.setdefault(name, []).append(position)
        for name in definition.reads:
            readers.setdefault(name, []).append(position)
    final: list[Definition] = []
    for i, definition in enumerate(deduplicated):
        replacement = None
        for name in definition.binds:
            rebound, read = _next(binders[name], i), _next(readers.get(name, []), i)
            if rebound is None or (read is not None and read <= rebound):
                replacement = None
                break
            replacement = deduplicated[rebound]
        if replacement is None:
            final.append(definition)
        else:
            names = ", ".join(sorted(definition.binds))
            notes.append(CellNote(cell=definition.cell, line=definition.first_line, kind="superseded", message=(
                f"`{names}` is defined again in cell {replacement.cell}; this one is dropped")))
    return final


def _next(positions: list[int], after: int) -> int | None:
    """The first of the sorted `positions` past `after`, or None."""
    k = bisect.bisect_right(positions, after)
    return positions[k] if k < len(positions) else None


def _without(lines: list[str], body: list[ast.stmt], skipped: set[int]) -> list[str]:
    """The cell's lines with the skipped top-level statements made `pass` (line numbers kept), except
    where one shares a line with a statement that runs."""
    kept_lines = {line for index, node in enumerate(body) if index not in skipped
                  for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
    lines = list(lines)
    for index in sorted(skipped):
        node = body[index]
        span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        if kept_lines.isdisjoint(span):
            for line in span:
                lines[line - 1] = "pass" if line == node.lineno else ""
    return lines


def extract_definitions(cells: list[tuple[int, str]]) -> Extraction:
    """Module text, hyperparameters and notes from (cell number, source) pairs of code cells."""
    notes: list[CellNote] = []
    kept: list[Definition] = []
    bound = set(MODULE_NAMES)
    left_out: dict[str, int] = {}  # name -> the cell of a left-out statement that would have bound it
    aliases: dict[str, str] = {}
    runnable: list[tuple[int, str, set[str]]] = []
    otter_names: set[str] = set()
    future_annotations = star_import = False
    budget = MAX_CODE
    for number, source in cells:
        if len(source) > budget:  # skipped whole, so one pasted data dump costs only its own cell
            notes.append(CellNote(cell=number, kind="limit", message=(
                f"has {len(source)} characters of code, more than the {budget} left of the {MAX_CODE} analysed in a "
                "notebook: the cell is skipped")))
            continue
        budget -= len(source)
        parsed = parse_cell(number, source, notes)
        if parsed is None:
            continue
        tree, lines = parsed
        otter = otter_statements(tree, otter_names)
        runnable.append((number, "\n".join(_without(lines, tree.body, otter)), set()))
        for index, node in enumerate(tree.body):
            try:
                text, first_line = _segment(index, tree.body, lines)
                binds, reads = bound_names(node), load_time_reads(node, future_annotations)
                runnable[-1][2].update(binds)
                reason = OTTER_REASON if index in otter else _drop_reason(node, aliases)
            except (RecursionError, MemoryError):  # MAX_DEPTH keeps the recursion short; this is the backstop
                notes.append(CellNote(cell=number, line=node.lineno, kind="limit",
                                      message="a statement too deep or too large to analyse: left out"))
                continue
            missing = sorted(reads - bound) if not star_import else []
            if reason is None and missing and not isinstance(node, _DEFINITIONS):
                reason = f"needs {_describe_missing(missing, left_out)}"
            if reason is not None:
                if reason:
                    notes.append(CellNote(cell=number, line=node.lineno, kind="dropped",
                                          message=f"`{_shorten(text)}` left out: it {reason}"))
                left_out.update({name: number for name in binds - bound})
                continue
            if missing:
                notes.append(CellNote(cell=number, line=node.lineno, kind="unbound", message=(
                    f"`{node.name}` reads {_describe_missing(missing, left_out)} when it is defined: "
                    "the module will fail to import")))
            kept.append(Definition(number, node, text, first_line, binds, reads))
            bound |= binds
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                aliases.update(_import_aliases(node))
                star_import |= "*" in binds
                future_annotations |= isinstance(node, ast.ImportFrom) and node.module == "__future__" and any(
                    a.name == "annotations" for a in node.names)

    final = _last_definitions_win(kept, notes)
    source = _assemble(final)
    hyperparameters: dict[str, Any] = {}
    for definition in final:
        for name in definition.binds:
            hyperparameters.pop(name, None)
        hyperparameters.update(_literal_values(definition.node))
    if not star_import:
        notes += _unbound_globals(source, final, left_out)
    return Extraction(source, hyperparameters, final, aliases, notes, runnable)


def _describe_missing(missing: list[str], left_out: dict[str, int], shown: int = 5) -> str:
    described = [f"`{name}`" + (f" (set in cell {left_out[name]} by a statement left out)" if name in left_out else "")
                 for name in missing[:shown]]
    more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
    return ", ".join(described) + more + ", which nothing kept defines"


def _assemble(final: list[Definition]) -> str:
    """Module text: `from __future__` imports first, then each cell's kept statements under a
    comment naming the cell. Records where each definition starts in it."""
    future = [d for d in final if isinstance(d.node, ast.ImportFrom) and d.node.module == "__future__"]
    lines: list[str] = []
    cell = None
    for definition in [*future, *(d for d in final if d not in future)]:
        if definition not in future and definition.cell != cell:
            cell = definition.cell
            lines += [""] * bool(lines) + [f"# cell {cell}"]
        elif isinstance(definition.node, _DEFINITIONS) and lines and lines[-1].strip():
            lines.append("")  # a blank line before a function or class, as it was written
        definition.module_line = len(lines) + 1
        lines += definition.text.split("\n")
    return "\n".join(lines) + "\n" if lines else ""


def _scopes(table: symtable.SymbolTable, name: str):
    """(qualified name, table) of every function scope in and under `table`."""
    if table.get_type() == "function":
        yield name, table
    for child in table.get_children():
        yield from _scopes(child, f"{name}.{child.get_name()}")


def _unbound_globals(source: str, final: list[Definition], left_out: dict[str, int]) -> list[CellNote]:
    """Notes for functions that use a global name the module never binds (NameError when called)."""
    by_line = sorted(final, key=lambda d: d.module_line)
    starts = [d.module_line for d in by_line]
    try:
        top = symtable.symtable(source, "notebook", "exec")
    except SyntaxError as exc:  # scoping errors ast.parse lets through, e.g. a name both parameter and global
        where = _containing(by_line, starts, exc.lineno or 0)
        cell, line = (where[0].cell, where[0].first_line + exc.lineno - where[0].module_line) if where else (None, None)
        return [CellNote(cell=cell, line=line, kind="syntax", message=f"{exc.msg}: the module will not compile")]
    except (RecursionError, MemoryError, ValueError):  # cells are at most MAX_DEPTH deep; the backstop
        return [CellNote(cell=None, kind="limit", message="the module is too large to check for unbound names")]
    defined = set(MODULE_NAMES).union(*(d.binds for d in final))
    scopes = [(d, scope) for child in top.get_children() for d in _containing(by_line, starts, child.get_lineno())
              for scope in _scopes(child, child.get_name())]
    defined |= {s.get_name() for _, (_, table) in scopes for s in table.get_symbols() if s.is_declared_global()}
    notes: list[CellNote] = []
    reported: set[tuple[int, str]] = set()
    for definition, (qualname, table) in scopes:
        for symbol in table.get_symbols():
            name = symbol.get_name()
            if symbol.is_referenced() and symbol.is_global() and name not in defined \
                    and (id(definition), name) not in reported:
                reported.add((id(definition), name))
                line = definition.first_line + table.get_lineno() - definition.module_line
                notes.append(CellNote(cell=definition.cell, line=line, kind="unbound", message=(
                    f"`{qualname}` uses {_describe_missing([name], left_out)}: calling it raises NameError")))
    return notes


def _containing(by_line: list[Definition], starts: list[int], module_line: int) -> list[Definition]:
    """The definition whose text holds `module_line` of the module (a list of at most one), from
    the definitions in module order and their first lines."""
    k = bisect.bisect_right(starts, module_line) - 1
    d = by_line[k] if k >= 0 else None
    return [d] if d and module_line < d.module_line + d.text.count("\n") + 1 else []
