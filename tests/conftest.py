from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from grader import kinds
from grader.errors import RubricError
from grader.rubric import load_rubric
from grader.sandbox import bwrap

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _baseline_cache(tmp_path_factory):
    """The grader's baseline trainings are cached per configuration; tests keep theirs apart from a
    user's ~/.cache/grader (and from each other's sessions)."""
    os.environ["GRADER_CACHE"] = str(tmp_path_factory.mktemp("grader-cache"))


def make(kind: str, **options):
    """A comparator of `kind` built from options exactly as a rubric would give them."""
    cls = kinds.get(kind)
    return cls(cls.Options.model_validate(options))


@pytest.fixture
def write(tmp_path):
    """Write a dedented text (or bytes) file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
        return path

    return _write


def require_bwrap(why: str = "") -> None:
    """Skip (or, with GRADER_SANDBOX_REQUIRE_BWRAP=1, fail) where bubblewrap is unusable: the
    'none' fallback does not isolate, so isolation tests cannot pass on it."""
    found = bwrap.availability()
    if not found.usable:
        message = f"bubblewrap is unusable here ({found.reason})" + (
            f"; the 'none' fallback does not protect against {why}" if why else "")
        if os.environ.get("GRADER_SANDBOX_REQUIRE_BWRAP") == "1":
            pytest.fail(message)
        pytest.skip(message)


def rubric_problems(path: Path) -> list[str]:
    """The problems loading the rubric at `path` reports, as `file:line: field: message` lines."""
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    return [str(p) for p in info.value.problems]
