"""otter-grader's own statements in a student notebook, found statically so they are skipped.

`otter assign` writes into every student notebook an init cell (`import otter` and `grader =
otter.Notebook("quiz1.ipynb")`, or `otter.Notebook()`, or `import otter as ot`) and check cells
(`grader.check("q1")`, `grader.check_all()`, `grader.export(...)`). otter is not installed where
grader runs, and its checks are the course's old tests, which the rubric replaces: kept, the import
would fail the whole module and every check would raise NameError. Courses switching from otter
keep their notebooks as they are, so both the definitions extraction
(grader.notebook.definitions) and anything that runs a notebook's top-level statements skip these.

Otter's statements are: imports of otter (every module imported is otter or inside it), and
expression statements and plain-name assignments whose value is a call of something otter bound
(`otter.Notebook(...)`, `grader.check(...)`, `Notebook()` after `from otter import Notebook`); the
names such an assignment binds are otter's from then on. Nothing is run.
"""

from __future__ import annotations

import ast

OTTER = "otter"


def _root(node: ast.expr) -> str | None:
    """The name at the root of `a.b.c` (a chain of attribute accesses on a name), else None."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def is_otter_statement(node: ast.stmt, names: set[str]) -> bool:
    """Whether a top-level statement is otter's. `names` holds the names otter statements bound
    so far (the module and its aliases, the Notebook objects): pass one set for all the statements
    of a notebook, in order; this adds to it what an otter statement binds."""
    if isinstance(node, ast.Import):
        if not all(alias.name == OTTER or alias.name.startswith(OTTER + ".") for alias in node.names):
            return False
        names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        return True
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if node.level or not (module == OTTER or module.startswith(OTTER + ".")):
            return False
        names.update(alias.asname or alias.name for alias in node.names if alias.name != "*")
        return True
    if isinstance(node, ast.Expr):
        value, targets = node.value, []
    elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        value, targets = node.value, node.targets
    else:
        return False
    if not (isinstance(value, ast.Call) and _root(value.func) in names):
        return False
    names.update(target.id for target in targets)
    return True


def otter_statements(tree: ast.Module, names: set[str]) -> set[int]:
    """Indexes in `tree.body` (one cell's statements) of otter's statements; `names` as for
    is_otter_statement, one set for the whole notebook in cell order."""
    return {index for index, node in enumerate(tree.body) if is_otter_statement(node, names)}
