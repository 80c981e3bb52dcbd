"""Registry of answer kinds. Each kind is one module in this package that registers its comparator,
so adding a kind touches one file."""

from __future__ import annotations

from grader.kinds.base import Comparator, InvalidAnswer, Verdict
from grader.registry import Registry

_kinds: Registry[type[Comparator]] = Registry(__name__, "answer kind", "kind", skip=("base",),
                                                  homes={"vector": "array", "matrix": "array", "multi": "choice"})
register, get, names = _kinds.register, _kinds.get, _kinds.names

__all__ = ["Comparator", "InvalidAnswer", "Verdict", "get", "names", "register"]
