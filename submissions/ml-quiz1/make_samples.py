"""Write the sample notebooks of ML quiz 1 (rubrics/ml-quiz1.yaml): `python make_samples.py [--check]`.

Each is a student's notebook as Jupyter saves it: a setup cell, then per question a prompt and the
student's code, which sets `q1` ... `q10`. They cover what a class hands in: answers computed with
numpy, with plain Python or with torch, numbers typed in, the usual mistakes, cells that raise,
otter-grader's and nbgrader's own cells, a blank template and a hostile notebook. `--check` says
whether the files on disk are what this script writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
SETUP = "import numpy as np"

CORRECT = {
    "q1": "z = np.array([3., 2., 1., 0., -1.])\nT = 2.0\ne = np.exp(z / T)\nq1 = e / e.sum()",
    "q2": "w, x, b, t = 0.5, 2.0, 0.0, 1.0\nh = np.tanh(w * x + b)\nq2 = -(t - h) * (1 - h**2) * x",
    "q3": "q3 = 5 * (1 * 7) + 5",
    "q4": "p = np.array([0.25, 0.95, 0.10, 0.70, 0.40, 0.55, 0.30, 0.85, 0.60, 0.05])\n"
          "y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 0])\npred = p >= 0.4\nq4 = (pred & (y == 1)).sum() / pred.sum()",
    "q5": "s = np.array([0.7, 0.65, 0.92, 0.75, 0.45, 0.8, 0.3, 0.8, 0.1, 0.1])\n"
          "lab = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 0])\npred = s >= 0.5\n"
          "q5 = (pred & (lab == 1)).sum() / (lab == 1).sum()",
    "q6": "q6 = 1 / (1 + np.exp(-(0.15 * 0.05 + 0.20 * 0.10 + 0.35)))",
    "q7": "w = 5.0\nfor _ in range(2):\n    w = w - 0.1 * (2 * w + 2)\nq7 = w",
    "q8": "q8 = -np.log(0.7)",
    "q9": "q9 = 10 * 4 + (4 * 2 + 2)",
    "q10": "W1 = np.array([[1.] * 4 if r % 2 == 0 else [-1.] * 4 for r in range(5)])\n"
           "x = np.array([1., 2., 1., 4.])\no = np.maximum(0, W1 @ x).sum()\nq10 = (15 - o) ** 2",
}

STUDENTS: dict[str, dict[str, str]] = {
    "s01-numpy": CORRECT,
    "s02-python-and-typed": {
        **CORRECT,
        "q1": "import math\nz = [3, 2, 1, 0, -1]\nex = [math.exp((v - max(z)) / 2) for v in z]\nq1 = [v / sum(ex) for v in ex]",
        "q4": "q4 = 0.6667", "q5": "q5 = 5 / 6", "q6": "import math\nq6 = 1 / (1 + math.exp(-0.3775))",
        "q7": "q7 = 2.84", "q10": "q10 = 81",
    },
    "s03-mistakes": {
        **CORRECT,
        "q1": "z = np.array([3., 2., 1., 0., -1.])\nq1 = np.exp(z) / np.exp(z).sum()",  # the temperature forgotten
        "q4": CORRECT["q4"].replace(">= 0.4", "> 0.4"),  # > for >=
        "q5": CORRECT["q5"].replace("/ (lab == 1).sum()", "/ len(lab)"),  # divided by all the examples
        "q10": CORRECT["q10"].replace("np.maximum(0, W1 @ x)", "(W1 @ x)"),  # no ReLU
    },
    "s04-errors": {
        **CORRECT,
        "q1": "q1 = softmax(np.array([3., 2., 1., 0., -1.]) / 2)",  # a helper never defined
        "q4": CORRECT["q4"].replace("p >= 0.4", "p >= '0.4'"),  # a threshold typed as text
        "q5": "tp = 5\nq5 = tp / 0",
        "q7": "ws = [5.0]\nq7 = ws[2]",
        "q10": CORRECT["q10"].replace("W1 @ x", "x @ W1"),  # a shape mismatch
    },
    "s05-torch": {
        **CORRECT,
        "q1": "import torch\nq1 = torch.softmax(torch.tensor([3., 2., 1., 0., -1.]) / 2, dim=0)",
        "q2": "import torch\nw = torch.tensor(0.5, requires_grad=True)\nh = torch.tanh(w * 2.0)\n"
              "loss = 0.5 * (1.0 - h) ** 2\nloss.backward()\nq2 = w.grad.item()",
        "q3": "import torch.nn as nn\nq3 = sum(p.numel() for p in nn.Conv1d(1, 5, 7, padding=3).parameters())",
        "q9": "import torch.nn as nn\nnet = nn.Sequential(nn.Linear(10, 4, bias=False), nn.Linear(4, 2))\n"
              "q9 = sum(p.numel() for p in net.parameters())",
    },
}


def cell(kind: str, source: str, number: int, metadata: dict | None = None) -> dict:
    made = {"cell_type": kind, "id": f"c{number:02d}", "metadata": metadata or {}, "source": source}
    if kind == "code":
        made.update(execution_count=None, outputs=[])
    return made


def notebook(cells: list[dict]) -> dict:
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                        "name": "python3"},
                                         "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}


def plain(name: str, answers: dict[str, str]) -> dict:
    cells = [cell("markdown", f"# ML quiz 1 ({name})", 0), cell("code", SETUP, 1)]
    for i, (question, code) in enumerate(answers.items()):
        cells += [cell("markdown", f"**{question.upper()}**", 2 * i + 2), cell("code", code, 2 * i + 3)]
    return notebook(cells)


def otter() -> dict:
    """As `otter assign` hands it out: an init cell and a check cell after each answer."""
    cells = [cell("code", 'import otter\ngrader = otter.Notebook("ml-quiz1.ipynb")', 0), cell("code", SETUP, 1)]
    for i, (question, code) in enumerate(CORRECT.items()):
        cells += [cell("code", code, 3 * i + 2), cell("code", f'grader.check("{question}")', 3 * i + 3)]
    cells.append(cell("code", "grader.check_all()", 99))
    return notebook(cells)


def nbgrader_blank() -> dict:
    """nbgrader's released template with nothing filled in: each answer raises NotImplementedError."""
    cells = [cell("code", SETUP, 1, {"nbgrader": {"grade": False, "solution": False, "locked": True,
                                                  "grade_id": "setup", "schema_version": 3}})]
    for i, question in enumerate(CORRECT):
        cells.append(cell("code", f"{question} = None\n# YOUR CODE HERE\nraise NotImplementedError()", i + 2,
                          {"nbgrader": {"grade": False, "solution": True, "locked": False,
                                        "grade_id": f"{question}-answer", "schema_version": 3}}))
    return notebook(cells)


def hostile() -> dict:
    """Right answers, and code that tries to get more than right answers can."""
    attacks = [
        "import sys, json\nsys.stdout.write(json.dumps({'kind': 'value', 'data': {'name': 'q3', 'ok': True}}))",
        "import os\ntry:\n    secrets = open('/etc/shadow').read()\nexcept OSError:\n    secrets = None",
        "while True:\n    pass",  # stopped by its cell's time limit; the cells after it still run
        "import sys\nsys.exit('done early')",  # costs its own cell only
        "class Sure(float):\n    def __eq__(self, other):\n        return True\nq8 = Sure(0.0)",  # refused: not a float
    ]
    cells = [cell("code", SETUP, 1)] + [cell("code", code, i + 2) for i, code in enumerate(CORRECT.values())]
    cells += [cell("code", code, 20 + i) for i, code in enumerate(attacks)]
    return notebook(cells)


def samples() -> dict[str, dict]:
    made = {name: plain(name, answers) for name, answers in STUDENTS.items()}
    made.update({"s06-otter": otter(), "s07-nbgrader-blank": nbgrader_blank(), "s08-hostile": hostile()})
    return made


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for name, book in samples().items():
        path = HERE / f"{name}.ipynb"
        text = json.dumps(book, indent=1, ensure_ascii=False) + "\n"
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale: " + ", ".join(stale) + "; run python submissions/ml-quiz1/make_samples.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
