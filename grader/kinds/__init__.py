"""Registry of answer kinds. Each kind is one module in this package that registers its comparator,
so adding a kind touches one file."""

from __future__ import annotations

import importlib
import pkgutil

from grader.kinds.base import Comparator, InvalidAnswer, Verdict

_REGISTRY: dict[str, type[Comparator]] = {}
_loaded = False


def register(cls: type[Comparator]) -> type[Comparator]:
    if cls.kind in _REGISTRY:
        raise RuntimeError(f"answer kind {cls.kind!r} registered twice")
    _REGISTRY[cls.kind] = cls
    return cls


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in pkgutil.iter_modules(__path__):
        if module.name not in ("base",) and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


def get(kind: str) -> type[Comparator]:
    """The comparator class of `kind`; KeyError with the known kinds if there is none."""
    _load_all()
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise KeyError(f"unknown answer kind {kind!r}; known kinds: {', '.join(names())}") from None


def names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


__all__ = ["Comparator", "InvalidAnswer", "Verdict", "get", "names", "register"]
