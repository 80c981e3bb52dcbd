"""The solver registry. Each solver module in this package registers itself; adding a solver
touches one file."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

_REGISTRY: dict[str, type["Solver"]] = {}
_loaded = False


class Params(BaseModel):
    """Base of solver parameter models: unknown parameters are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Solver:
    """Computes named outputs from validated parameters.

    `solve` returns a flat dict: output name -> JSON-able value (float, int, str, nested lists of
    numbers). Names use dots for structure, e.g. `grad.w1`, `forward.h1`, `updated.w1`.
    """

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = Params

    def __init__(self, params: BaseModel):
        self.params = params

    def solve(self) -> dict[str, Any]:
        raise NotImplementedError


def register(cls: type[Solver]) -> type[Solver]:
    if cls.name in _REGISTRY:
        raise RuntimeError(f"solver {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = importlib.import_module("reference")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in ("registry",) and not module.name.startswith("_"):
            importlib.import_module(f"reference.{module.name}")


def get(name: str) -> type[Solver]:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown solver {name!r}; known solvers: {', '.join(names())}") from None


def names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)
