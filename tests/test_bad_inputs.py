"""The bad-input corpus (tests/badinput/cases_*.py): rubrics, answer files, expressions, notebooks
and command lines written to break the grader. Each must exit with its documented code, print no
traceback, finish within its time bound, say what is wrong, and leave the rest of its batch graded."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tests.badinput as corpus
from tests.badinput.framework import Case, assert_handled, run_case


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for module in pkgutil.iter_modules(corpus.__path__):
        if module.name.startswith("cases_"):
            cases += importlib.import_module(f"tests.badinput.{module.name}").CASES
    return cases


CASES = all_cases()


def test_the_corpus_is_large_and_names_are_unique():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_input_is_handled(case: Case, tmp_path):
    assert_handled(case, tmp_path, run_case(case, tmp_path))
