"""Classes registered by name and found by importing every public module of their package, so that
adding one (an answer kind, a solver) touches one file."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """`homes` names the module of a class whose module is not named after it; a class is looked up
    by importing its own module first, so that a rubric of numbers never imports the expression
    kind's parser and numpy, and every module only when a name is not found there."""

    def __init__(self, package: str, what: str, attribute: str, skip: tuple[str, ...] = (),
                 homes: dict[str, str] | None = None):
        self.package, self.what, self.attribute, self.skip = package, what, attribute, skip
        self.homes = homes or {}
        self._classes: dict[str, T] = {}
        self._loaded = False

    def register(self, cls: T) -> T:
        name = getattr(cls, self.attribute)
        if name in self._classes:
            raise RuntimeError(f"{self.what} {name!r} registered twice")
        self._classes[name] = cls
        return cls

    def _load_all(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            if module.name not in self.skip and not module.name.startswith("_"):
                importlib.import_module(f"{self.package}.{module.name}")

    def _load_home(self, name: str) -> None:
        module = self.homes.get(name, name)
        if not module.isidentifier() or module.startswith("_") or module in self.skip:
            return
        try:
            importlib.import_module(f"{self.package}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{self.package}.{module}":  # a module that is there failed to import
                raise

    def get(self, name: str) -> T:
        """The class registered as `name`; KeyError naming the known ones if there is none."""
        if name not in self._classes and not self._loaded:
            self._load_home(name)
        if name not in self._classes:
            self._load_all()
        try:
            return self._classes[name]
        except KeyError:
            raise KeyError(f"unknown {self.what} {name!r}; known {self.what}s: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        self._load_all()
        return sorted(self._classes)
