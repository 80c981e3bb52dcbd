"""The bad-input corpus (tests/badinput/cases_*.py): rubrics, answer files, expressions, notebooks
and command lines written to break the grader. Each must exit with its documented code, print no
traceback, finish within its time bound, say what is wrong, and leave the rest of its batch graded.

The cases run first, as many at once as there are cores (each is its own process); each test
then judges its case's outcome."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
from concurrent.futures import ThreadPoolExecutor

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


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory):
    """The outcome of every case selected for this session (`-k` narrows it), run concurrently."""
    selected = {item.callspec.params["case"].name for item in request.session.items
                if getattr(item, "originalname", "") == "test_bad_input_is_handled"}
    cases = [case for case in CASES if case.name in selected]
    root = tmp_path_factory.mktemp("badinput")
    folders = {case.name: root / f"{i:03d}-{re.sub(r'[^A-Za-z0-9]+', '-', case.name)[:60]}" for i, case in enumerate(cases)}
    for folder in folders.values():
        folder.mkdir()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = {case.name: pool.submit(run_case, case, folders[case.name]) for case in cases}
    return {name: (folders[name], future.result()) for name, future in futures.items()}


def test_the_corpus_is_large_and_names_are_unique():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_input_is_handled(case: Case, outcomes):
    folder, outcome = outcomes[case.name]
    assert_handled(case, folder, outcome)
