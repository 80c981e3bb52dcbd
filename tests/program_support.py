"""A tiny CharLSTM assignment for tests: a small corpus, a small reference notebook, a rubric with a
CPU budget of a few seconds, and notebooks built from the solution with one thing changed.

`tiny_assignment(folder)` writes it all (the held-out text private, from make_corpus's other
seed, as in the shipped rubric) and calibrates it (two reference seeds); the rubric's
coding parts are those of rubrics/assignment1.yaml, so tests exercise the shipped checks.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import nbformat
import yaml

from grader.program.calibration import calibrate, calibration_path, write_calibration
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "assignments" / "charlstm" / "solution.ipynb"
CORPUS = ROOT / "assignments" / "charlstm" / "corpus.txt"
SHIPPED_RUBRIC = ROOT / "rubrics" / "assignment1.yaml"
TINY_HYPERPARAMETERS = {"embedding_dim": 16, "hidden_size": 64, "num_layers": 1, "learning_rate": 0.01}
BUDGET = {"steps": 40, "batch_size": 16, "seq_length": 32, "wall_seconds": 60, "memory_mib": 2048, "threads": 1}

CORRECT_MODEL = '''
class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, dropout):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, hidden):
        output, hidden = self.lstm(self.embedding(x), hidden)
        return self.fc(self.dropout(output)), hidden

    def init_hidden(self, batch_size):
        weight = next(self.parameters())
        shape = (self.num_layers, batch_size, self.hidden_size)
        return weight.new_zeros(shape), weight.new_zeros(shape)
'''


def _make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS.with_name("make_corpus.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell_index(notebook, marker: str) -> int:
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and marker in cell.source:
            return index
    raise LookupError(f"no code cell of the solution holds {marker!r}")


def notebook_with(path: Path, *, model: str | None = None, hyperparameters: dict | None = None,
                  extra_cells: list[str] = (), outputs: dict[str, list] | None = None) -> Path:
    """The solution notebook with the CharLSTM cell replaced by `model`, the hyperparameter values
    replaced, and `extra_cells` (code) appended; written to `path`."""
    notebook = nbformat.read(SOLUTION, as_version=4)
    if model is not None:
        notebook.cells[_cell_index(notebook, "class CharLSTM")].source = textwrap.dedent(model).strip() + "\n"
    values = {**TINY_HYPERPARAMETERS, **(hyperparameters or {})}
    cell = notebook.cells[_cell_index(notebook, "embedding_dim =")]
    lines = [line for line in cell.source.splitlines() if line.split("=")[0].strip() not in values]
    cell.source = "\n".join([f"{name} = {value!r}" for name, value in values.items()] + lines) + "\n"
    for source in extra_cells:
        notebook.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(source).strip() + "\n"))
    for marker, cell_outputs in (outputs or {}).items():
        notebook.cells[_cell_index(notebook, marker)].outputs = [nbformat.from_dict(o) for o in cell_outputs]
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def tiny_assignment(folder: Path, budget: dict | None = None) -> Path:
    """Write and calibrate the tiny assignment under `folder`; returns the rubric's path."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = CORPUS.read_text(encoding="utf-8")[:54_000]
    (folder / "corpus.txt").write_text(corpus, encoding="utf-8")
    (folder / "holdout.txt").write_text(_make_corpus().build_holdout(target_chars=6_000, corpus=corpus), encoding="utf-8")
    notebook_with(folder / "reference.ipynb")
    shipped = yaml.safe_load(SHIPPED_RUBRIC.read_text(encoding="utf-8"))
    coding = [q for q in shipped["questions"] if q["id"] == "coding"]
    program = {**shipped["program"], "corpus": "corpus.txt",
               "training": {"learning_rate": "learning_rate", "budgets": {"cpu": {**BUDGET, **(budget or {})}}},
               "holdout": {"path": "holdout.txt", "count": 64, "length": 32},
               "reference": {"notebook": "reference.ipynb", "seeds": [0, 1], "margin": 0.1}}
    rubric = {"schema_version": 1, "id": "tiny-charlstm", "title": "Tiny CharLSTM", "program": program,
              "questions": coding}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(rubric, sort_keys=False), encoding="utf-8")
    loaded = load_rubric(path, calibrated=False)
    write_calibration(calibration_path(path, loaded.program), "cpu", calibrate(loaded.program, "cpu"))
    return path
