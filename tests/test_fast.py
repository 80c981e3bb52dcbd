"""Issue 15: the key cache, workers that are handed the key, serial and parallel alike, and views
written from a stream. On the bundled rubrics and sample answer files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import key as keys
from grader.batch import Task, run_task
from grader.key import cache_files, compiled
from grader.output import Member, render_student_reports, write_views
from grader.rubric import load_rubric
from grader.store import grading_digest, unpack_documents

ROOT = Path(__file__).resolve().parent.parent
RUBRICS = ("dl-quiz", "lab8", "exam", "assignment1")


@pytest.fixture
def quiz(tmp_path: Path) -> Path:
    """dl-quiz's rubric in a folder of its own, so its cache starts empty."""
    shutil.copy(ROOT / "rubrics" / "dl-quiz.yaml", tmp_path / "dl-quiz.yaml")
    return tmp_path / "dl-quiz.yaml"


def samples(rubric: str) -> list[Path]:
    return sorted((ROOT / "submissions" / rubric).glob("*.json"))


def test_a_key_is_computed_once_then_read_back_with_nothing_computed(quiz):
    first = compiled(quiz)
    assert first.rubric.computed is None and cache_files(quiz)[0].is_file()
    again = compiled(quiz)
    assert again.rubric.computed is not None  # read back: no solver ran
    assert again.key.model_dump_json() == first.key.model_dump_json()
    assert grading_digest(quiz, again.key.model_dump_json()) == grading_digest(quiz, first.key.model_dump_json())


@pytest.mark.parametrize("rubric", [*RUBRICS, "ml-quiz1"])
def test_a_rubric_read_back_with_its_key_grades_exactly_as_one_computed(rubric):
    path = ROOT / "rubrics" / f"{rubric}.yaml"
    compiled(path)
    cached = compiled(path)
    assert cached.rubric.computed is not None
    full = load_rubric(path)
    files = samples(rubric) or [ROOT / "submissions" / "dl-quiz" / "s001-ada.json"]
    for file in files:
        ours = run_task(cached.rubric, cached.key, render_student_reports, Task(str(file)))
        theirs = run_task(full, keys.build_key(full), render_student_reports, Task(str(file)))
        assert json.loads(ours.result_json) | {"duration_s": 0} == json.loads(theirs.result_json) | {"duration_s": 0}
        assert ours.documents == theirs.documents


def test_a_changed_rubric_is_computed_again(quiz):
    compiled(quiz)
    quiz.write_text(quiz.read_text(encoding="utf-8") + "\n# a comment is a change too\n", encoding="utf-8")
    changed = compiled(quiz)
    assert changed.rubric.computed is None
    assert compiled(quiz).rubric.computed is not None  # and cached again


def test_changed_grader_code_computes_the_key_again(quiz, monkeypatch):
    compiled(quiz)
    monkeypatch.setattr(keys, "code_digest", lambda: "another grader")
    assert compiled(quiz).rubric.computed is None


@pytest.mark.parametrize("damage", ["garbage", "cut short", "value edited", "entry removed, checksum redone"])
def test_a_damaged_cache_file_is_computed_again_never_trusted(quiz, damage):
    expected = compiled(quiz).key.model_dump_json()
    cache = cache_files(quiz)[0]
    text = cache.read_text(encoding="utf-8")
    if damage == "garbage":
        cache.write_bytes(b"\x00\xffnot json")
    elif damage == "cut short":
        cache.write_text(text[: len(text) // 2], encoding="utf-8")
    else:
        entry = keys.CachedKey.model_validate_json(text)
        if damage == "value edited":
            entry.key.entries[0].value = 12345
        else:
            entry.key.entries.pop()
            entry = entry.model_copy(update={"checksum": entry.computed_checksum()})
        cache.write_text(entry.model_dump_json(), encoding="utf-8")
    again = compiled(quiz)
    assert again.rubric.computed is None and again.key.model_dump_json() == expected
    assert compiled(quiz).rubric.computed is not None  # the entry was replaced


def test_an_unwritable_rubric_folder_caches_in_the_report_folder_and_neither_still_grades(quiz, tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    real = keys.cache_files  # beside the rubric cannot be written: its folder would be a file
    monkeypatch.setattr(keys, "cache_files", lambda rubric, out=None: [blocked / "x.json", *real(rubric, out)[1:]])
    out = tmp_path / "out"
    assert compiled(quiz, out).rubric.computed is None
    assert len(list((out / ".keys").glob("*.json"))) == 1 and compiled(quiz, out).rubric.computed is not None
    for _ in range(2):  # the report folder cannot be written either: computed every time, graded all the same
        nowhere = compiled(quiz, blocked)
        assert nowhere.rubric.computed is None and nowhere.key.entries


def test_grading_answer_files_imports_no_torch_and_starts_sympy_only_for_proofs(tmp_path):
    """A worker's work (the rubric read back with its key, each file graded and rendered), in a fresh
    interpreter: torch is never imported, and sympy's checker starts only for a rubric whose
    expression checks ask for proofs (`simplify: true`); the others are decided in this process."""
    quiz = tmp_path / "ml-quiz1.json"  # the 10-part quiz has none: its answers from the key
    entries = keys.compiled(ROOT / "rubrics" / "ml-quiz1.yaml").key.entries
    quiz.write_text(json.dumps({"student_id": "q1", "answers": {e.part: e.value for e in entries}}), encoding="utf-8")
    proving = tmp_path / "dl-quiz-proofs.yaml"
    text = (ROOT / "rubrics" / "dl-quiz.yaml").read_text(encoding="utf-8")
    assert text.count("options: {variables: [z]}") == 1
    proving.write_text(text.replace("options: {variables: [z]}", "options: {variables: [z], simplify: true}"),
                       encoding="utf-8")
    batches = {str(ROOT / "rubrics" / f"{rubric}.yaml"): [str(path) for path in samples(rubric)] for rubric in RUBRICS}
    batches |= {str(ROOT / "rubrics" / "ml-quiz1.yaml"): [str(quiz)],
                str(proving): [str(path) for path in samples("dl-quiz")]}
    for rubric in batches:
        compiled(rubric)
    script = """
import json, sys
from grader.batch import Task, run_task, _start_checker
from grader.key import compiled
from grader.mathexpr import client
from grader.output import render_student_reports
rubric, *files = sys.argv[1:]
prepared = compiled(rubric)
_start_checker(prepared.rubric)
for path in files:
    run_task(prepared.rubric, prepared.key, render_student_reports, Task(path))
print(json.dumps([prepared.rubric.computed is not None, "torch" in sys.modules,
                  client._default.starts if client._default else 0]))
"""
    for rubric, files in batches.items():
        cached, torch, checker_starts = json.loads(subprocess.run(
            [sys.executable, "-c", script, rubric, *files], cwd=ROOT, check=True, capture_output=True, text=True).stdout)
        assert cached and not torch, rubric
        assert checker_starts == (1 if rubric == str(proving) else 0), rubric


def grade(rubric: str, out: Path, *extra: str) -> None:
    subprocess.run([sys.executable, "-m", "grader", "grade", f"rubrics/{rubric}.yaml", f"submissions/{rubric}",
                    "--out", str(out), "--quiet", *extra], cwd=ROOT, check=True, capture_output=True)


def view_of(out: Path) -> dict[str, bytes]:
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*"))
            if path.is_file() and path.suffix != ".sqlite" and ".keys" not in path.parts
            and not path.name.startswith("gradebook.sqlite")}


@pytest.mark.parametrize("rubric", RUBRICS)
def test_serial_and_parallel_give_the_same_views_byte_for_byte(rubric, tmp_path):
    grade(rubric, tmp_path / "serial", "--jobs", "1")
    grade(rubric, tmp_path / "parallel", "--jobs", "2")
    serial, parallel = view_of(tmp_path / "serial"), view_of(tmp_path / "parallel")
    assert serial.keys() == parallel.keys() and "gradebook.csv" in serial
    assert serial == parallel


def test_the_rendering_process_writes_the_documents_the_gradebook_stores(tmp_path):
    """A task's documents are written, where its folder can be made, as the very text that is
    packed for the gradebook; where it cannot (a retried task finds its first try's folder), they
    are only packed, and the view writes them from the gradebook."""
    prepared = compiled(ROOT / "rubrics" / "dl-quiz.yaml")
    path = samples("dl-quiz")[1]
    done = run_task(prepared.rubric, prepared.key, render_student_reports, Task(str(path), documents_to=str(tmp_path / "0")))
    on_disk = {file.name: file.read_text(encoding="utf-8") for file in (tmp_path / "0").iterdir()}
    assert done.written and on_disk == unpack_documents(done.documents) and "feedback.html" in on_disk
    again = run_task(prepared.rubric, prepared.key, render_student_reports, Task(str(path), documents_to=str(tmp_path / "0")))
    assert not again.written and unpack_documents(again.documents) == on_disk


def test_the_view_is_written_from_a_stream_one_result_at_a_time(tmp_path):
    """Each result's documents are on disk before the next result is asked for: nothing waits for the batch."""
    prepared = compiled(ROOT / "rubrics" / "dl-quiz.yaml")
    files = samples("dl-quiz")
    done = [run_task(prepared.rubric, prepared.key, render_student_reports, Task(str(path)), here=True)
            for path in files]
    out = tmp_path / "out"
    out.mkdir()
    seen = []

    def entries():
        for i, graded in enumerate(done):
            if i:
                staging = next(out.glob(".students.*.new"))
                seen.append(sum(1 for folder in staging.iterdir() if (folder / "feedback.md").is_file()))
            yield graded.result, unpack_documents(graded.documents)

    members = [Member(d.result.student_id, d.result.source, d.result.readable) for d in done]
    shown = write_views(out, prepared.rubric.assessment, entries(), members)
    assert seen == list(range(1, len(done)))
    assert [s.student_id for s in shown] == [d.result.student_id for d in done]
    assert len((out / "results.jsonl").read_text().splitlines()) == len(done)


def test_one_answer_file_from_the_command_line_takes_well_under_a_few_seconds(tmp_path):
    """A generous sanity bound (CI machines are slow): the figures are benchmarks/bench_fast.py's."""
    grade("lab8", tmp_path / "warm")  # the key cache is warm, as after a course's first run
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", "grade", "rubrics/lab8.yaml", "submissions/lab8/s101-minh.json",
                    "--out", str(tmp_path / "one"), "--quiet"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "grader", "grade", "rubrics/lab8.yaml", "submissions/lab8/s101-minh.json",
                    "--out", str(tmp_path / "two"), "--quiet"], cwd=ROOT, check=True, capture_output=True)
    assert time.perf_counter() - started < 20


def test_a_quiet_command_line_run_imports_only_what_its_rubric_needs(tmp_path):
    """`grader grade --quiet` of one answer file, in a fresh interpreter: nothing printed, so no rich;
    no torch anywhere; a rubric of numbers and vectors reads no formulas (no numpy, lark or the
    homoglyph tables), and one with an expression check parses and evaluates them here (numpy)."""
    quiz = tmp_path / "ml-quiz1.json"
    entries = keys.compiled(ROOT / "rubrics" / "ml-quiz1.yaml").key.entries
    quiz.write_text(json.dumps({"student_id": "q1", "answers": {e.part: e.value for e in entries}}), encoding="utf-8")
    script = """
import json, sys
from grader.cli import main
code = main(["grade", sys.argv[1], sys.argv[2], "--quiet", "--out", sys.argv[3]])
print(json.dumps([code] + [name in sys.modules for name in ("rich", "torch", "numpy", "lark", "confusable_homoglyphs")]))
"""
    runs = {"ml-quiz1": str(quiz), "dl-quiz": str(samples("dl-quiz")[0])}
    seen = {}
    for rubric, path in runs.items():
        for rep in range(2):  # the first computes the key (torch, solvers); the second reads it back
            seen[rubric] = json.loads(subprocess.run(
                [sys.executable, "-c", script, f"rubrics/{rubric}.yaml", path, str(tmp_path / f"{rubric}{rep}")],
                cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    assert seen["ml-quiz1"] == [0, False, False, False, False, False]
    assert seen["dl-quiz"] == [0, False, False, True, True, False]


def _render_or_die(result):
    """Reports, except for one student, whose worker dies (module level: the workers import it)."""
    import os

    if result.student_id == "dies":
        os._exit(9)
    return render_student_reports(result)


def test_a_file_that_kills_its_worker_costs_that_file_alone_and_the_pool_goes_on(tmp_path):
    """With a few tasks in flight per worker, a worker's death breaks the pool: the file it was on
    and those not yet finished run again in a fresh pool, where the file dies again and is reported
    so; every other file is graded once, and each is handed on once."""
    from grader.batch import Done, Failed, LocalPool

    prepared = compiled(ROOT / "rubrics" / "dl-quiz.yaml")
    files = []
    for i in range(24):
        data = json.loads(samples("dl-quiz")[1].read_text(encoding="utf-8"))
        data["student_id"] = "dies" if i == 5 else f"s{i:02}"
        files.append(tmp_path / f"s{i:02}.json")
        files[-1].write_text(json.dumps(data), encoding="utf-8")
    pool = LocalPool(str(ROOT / "rubrics" / "dl-quiz.yaml"), prepared.entry, _render_or_die, 2)
    outcomes = [(Path(task.path), outcome) for task, outcome in pool.run([Task(str(path)) for path in files])]
    assert sorted(path for path, _ in outcomes) == sorted(files)
    died = [path for path, outcome in outcomes if isinstance(outcome, Failed)]
    assert died == [files[5]] and dict(outcomes)[files[5]].died
    assert all(isinstance(outcome, Done) and "feedback.md" in unpack_documents(outcome.documents)
               for path, outcome in outcomes if path != files[5])
