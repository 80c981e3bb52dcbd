"""The answer key: every automatic check's canonical answer, as JSON, computed from the rubric.

An answer is either the rubric's literal or a reference-solver output (`source: solver`, with the
output it came from). The key carries every solver's full outputs, intermediates included, so an
instructor reviewing `grader key` sees how each answer was reached. Scoring compares against it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from grader.errors import RubricError
from grader.rubric import Computed, Rubric, load_rubric
from grader.yamlsource import load_yaml


class KeyEntry(BaseModel):
    part: str
    criterion: str
    kind: str
    value: Any
    shown: str  # the answer as a person would write it, with its tolerance
    source: Literal["literal", "solver"] = "literal"
    solution: str | None = None  # INSTANCE.OUTPUT for solver answers
    depends_on: list[str] = []  # other checks ("part/criterion") whose answers this one is computed from


class AnswerKey(BaseModel):
    schema_version: Literal[1] = 1
    assessment_id: str
    entries: list[KeyEntry]
    solutions: dict[str, dict[str, Any]] = {}  # every solver run's outputs, intermediates included

    def lookup(self) -> dict[tuple[str, str], KeyEntry]:
        return {(e.part, e.criterion): e for e in self.entries}


def _dependencies(rubric: Rubric) -> dict[tuple[str, str], list[str]]:
    """For each solver-backed check, the checks upstream of it in its solver's step graph: what
    follow-through marking may recompute it from."""
    by_instance: dict[str, list[tuple[tuple[str, str], str]]] = {}
    for check, solution in rubric.sources.items():
        instance, _, output = solution.partition(".")
        by_instance.setdefault(instance, []).append((check, output))
    out = {}
    for instance, checks in by_instance.items():
        graph = rubric.graphs.get(instance)
        for check, output in checks:
            if graph is not None and output in graph:
                ancestors = graph.ancestors(output)
                out[check] = [f"{c[0]}/{c[1]}" for c, o in checks if o in ancestors]
    return out


def build_key(rubric: Rubric) -> AnswerKey:
    entries = []
    dependencies = _dependencies(rubric)
    for (part_id, criterion_id), comparator in rubric.comparators.items():
        value = rubric.references[(part_id, criterion_id)]
        solution = rubric.sources.get((part_id, criterion_id))
        entries.append(KeyEntry(part=part_id, criterion=criterion_id, kind=comparator.kind, value=value,
                                shown=comparator.show(value), source="solver" if solution else "literal",
                                solution=solution, depends_on=dependencies.get((part_id, criterion_id), [])))
    return AnswerKey(assessment_id=rubric.assessment.id, entries=entries, solutions=rubric.solutions)


# --- the key cache ------------------------------------------------------------------------------
# Computing a key runs the solvers (torch), the reference notebook (the sandbox) and the program
# section's loading: seconds, and the same every time for the same inputs. So the key is computed
# once and kept, with what else computing it produced, in a cache file beside the rubric
# (`.RUBRIC.key.json`) or, where that folder cannot be written, in the report folder
# (`OUT/.keys/`); where neither can, it is computed each time. An entry is used only when the
# rubric and every file it reads are byte for byte those it was computed from and the grader's
# and solvers' code (and Python's and the libraries' versions) are the same; anything else, a
# file cut short, edited or not JSON included, is computed again and the entry replaced.

CODE_PACKAGES = ("grader", "reference")  # whose source computes keys
LIBRARIES = ("numpy", "torch", "sympy", "pydantic")


class CachedKey(BaseModel):
    """A computed key as cached: what it was computed from, and what computing it produced."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    inputs: dict[str, str]  # each file it was computed from (relative to the rubric's folder, the rubric first): sha256
    code: str  # code_digest() when it was computed
    key: AnswerKey
    stepped: list[str]  # solver instances with a step graph
    preload: list[str]  # modules the warm sandbox imports for notebooks' values
    data: Any = None  # the rubric file's content as read (where it is JSON): read back without parsing YAML
    checksum: str = ""  # sha256 of the rest: an entry not written whole by grader is not used

    def computed_checksum(self) -> str:
        return hashlib.sha256(self.model_dump_json(exclude={"checksum"}).encode()).hexdigest()


@functools.cache
def code_digest() -> str:
    """The grader's and the solvers' source (every .py file), with Python's and the key-computing
    libraries' versions: a change to any of them computes every key again."""
    digest = hashlib.sha256(sys.version.encode())
    installed = _installed(LIBRARIES)
    for library in LIBRARIES:
        digest.update(f"{library} {installed.get(library, 'absent')}".encode())
    root = Path(__file__).resolve().parents[1]
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _installed(libraries: tuple[str, ...]) -> dict[str, str]:
    """Each library's installed distribution as its metadata folder on the import path names it
    (`numpy-2.1.0.dist-info`, version included): what importlib.metadata reads, without the 60 ms
    its import costs every run."""
    found: dict[str, str] = {}
    for folder in sys.path:
        if not os.path.isabs(folder):
            continue
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in sorted(names):
            library = name.split("-", 1)[0].lower()
            if library in libraries and library not in found and name.endswith((".dist-info", ".egg-info")):
                found[library] = name
    return found


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inputs(rubric: Rubric) -> dict[str, str]:
    """The files the key is computed from, relative to the rubric's folder, with their hashes."""
    rubric_path = Path(rubric.source)
    names = [rubric_path.name]
    program, notebook = rubric.assessment.program, rubric.assessment.notebook
    if program is not None:
        names += [program.corpus, program.reference.notebook,
                  program.calibration or rubric_path.name.rsplit(".", 1)[0] + ".calibration.json"]
        names += [program.holdout.path] if program.holdout.path else []
    if notebook is not None and notebook.reference:
        names.append(notebook.reference)
    folder = rubric_path.parent
    return {name: _sha(folder / name) for name in dict.fromkeys(names) if (folder / name).is_file()}


def cache_files(rubric_path: Path, out: Path | None = None) -> list[Path]:
    """Where a rubric's key is cached, in the order tried: beside the rubric, then in the report folder."""
    beside = rubric_path.with_name(f".{rubric_path.name}.key.json")
    if out is None:
        return [beside]
    named = hashlib.sha256(str(rubric_path.resolve()).encode()).hexdigest()[:16]
    return [beside, out / ".keys" / f"{rubric_path.name}.{named}.json"]


def from_entry(rubric_path: Path, entry: CachedKey) -> Rubric:
    """The rubric read back with a cache entry's key, nothing computed; RubricError if they do not fit."""
    entries = {(e.part, e.criterion): e for e in entry.key.entries}
    computed = Computed(references={check: e.value for check, e in entries.items()},
                        sources={check: e.solution for check, e in entries.items() if e.solution},
                        solutions=entry.key.solutions, stepped=frozenset(entry.stepped), preload=entry.preload,
                        data=entry.data)
    return load_rubric(rubric_path, computed=computed)


def _read_cached(path: Path, rubric_path: Path) -> Compiled | None:
    """The rubric read back with the key cached in `path`; None where that entry cannot be used."""
    try:
        entry = CachedKey.model_validate_json(path.read_bytes())
        if entry.checksum != entry.computed_checksum() or entry.code != code_digest() \
                or next(iter(entry.inputs), None) != rubric_path.name \
                or any(_sha(rubric_path.parent / name) != sha for name, sha in entry.inputs.items()):
            return None
        return Compiled(from_entry(rubric_path, entry), entry.key, entry)
    except (OSError, ValueError, RubricError):  # missing, unreadable, not an entry, or not this rubric's
        return None


def _write_cached(targets: list[Path], entry: CachedKey) -> None:
    """Write the entry to the first target that can be written (atomically); none may be."""
    text = entry.model_dump_json()
    for target in targets:
        temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, target)
            return
        except OSError:
            try:
                temporary.unlink(missing_ok=True)
            except OSError:  # its folder cannot be made: nothing was written
                pass


@dataclass(frozen=True)
class Compiled:
    """A rubric ready to grade with, its key, and the cache entry that hands both to a worker."""

    rubric: Rubric
    key: AnswerKey
    entry: CachedKey


def _data(rubric_path: Path) -> Any:
    """The rubric file's content, where it survives JSON unchanged (a `due:` date does not)."""
    data, _ = load_yaml(rubric_path)
    try:
        return data if json.loads(json.dumps(data)) == data else None
    except (TypeError, ValueError):
        return None


def compiled(rubric_path: str | Path, out: Path | None = None) -> Compiled:
    """The rubric, ready to grade with, and its key: read back from the key cache where an entry is
    current, else computed (RubricError for an invalid rubric, as `load_rubric`) and cached where
    a folder can be written. The rubric read back has run no solver and loaded no program section
    (`Rubric.with_program`)."""
    rubric_path = Path(rubric_path)
    targets = cache_files(rubric_path, out)
    for target in targets:
        found = _read_cached(target, rubric_path)
        if found is not None:
            return found
    rubric = load_rubric(rubric_path)
    key = build_key(rubric)
    try:
        entry = CachedKey(inputs=_inputs(rubric), code=code_digest(), key=key, stepped=sorted(rubric.graphs),
                          preload=rubric.preload, data=_data(rubric_path))
    except OSError:  # a file the key was computed from went away meanwhile: hand it on, never cache it
        return Compiled(rubric, key, CachedKey(inputs={}, code="", key=key, stepped=sorted(rubric.graphs),
                                               preload=rubric.preload))
    entry = entry.model_copy(update={"checksum": entry.computed_checksum()})
    _write_cached(targets, entry)
    return Compiled(rubric, key, entry)
