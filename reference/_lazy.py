"""torch, imported on first use: the solvers' modules are imported to build step graphs (follow-
through) and to list the solvers, which need no tensor, so a process grading answer files with a
rubric's cached key never pays torch's import (seconds)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _OnFirstUse(ModuleType):
    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)


torch = _OnFirstUse("torch")
