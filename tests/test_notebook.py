"""Reading notebooks without running them: the assignment's own notebooks, the sample student
submissions (each mess in submissions/charlstm/ and what the reader makes of it), and the rules for
definitions, answer cells, recorded losses and unreadable files."""

from __future__ import annotations

import importlib.util
import inspect
import json
import math

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader.notebook import read_notebook
from grader.notebook.outputs import parse_loss_line
from reference import charlstm
from tests.conftest import ROOT

ASSIGNMENT = ROOT / "assignments" / "charlstm"
SAMPLES = ROOT / "submissions" / "charlstm"


def load_script(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kinds(notebook) -> set[str]:
    return {note.kind for note in notebook.notes}


def note(notebook, kind: str, cell: int, containing: str):
    """The one note of `kind` on `cell` whose message contains `containing`."""
    found = [n for n in notebook.notes_of(kind) if n.cell == cell and containing in n.message]
    assert len(found) == 1, [str(n) for n in notebook.notes]
    return found[0]


@pytest.fixture
def notebook_file(tmp_path):
    """Write a notebook of the given cells (strings are code cells) and return its path."""

    def _write(*cells, name="nb.ipynb"):
        made = [new_code_cell(c) if isinstance(c, str) else c for c in cells]
        path = tmp_path / name
        path.write_text(nbformat.writes(new_notebook(cells=made)), encoding="utf-8")
        return path

    return _write


def trains_below_unigram_entropy(model_class) -> float:
    """Validation loss of `model_class` trained by the reference loop on a slice of the corpus."""
    text = charlstm.load_corpus()[:60_000]
    config = charlstm.TrainingConfig(embedding_dim=16, hidden_size=64, num_layers=1, dropout=0.0, batch_size=16,
                                     seq_length=32, steps=60, eval_every=60, learning_rate=1e-2)
    run = charlstm.train(text, config, lambda vocab_size, c: model_class(
        vocab_size, c.embedding_dim, c.hidden_size, c.num_layers, c.dropout))
    assert run.val_loss < charlstm.unigram_entropy(text)
    return run.val_loss


# --- the assignment's notebooks -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["starter", "solution"])
def test_assignment_notebooks_are_valid_and_rebuilt_by_their_script(kind):
    path = ASSIGNMENT / f"{kind}.ipynb"
    nbformat.validate(nbformat.read(path, as_version=nbformat.NO_CONVERT))
    assert load_script(ASSIGNMENT / "build_notebooks.py").build(kind) == path.read_text(encoding="utf-8")


def test_starter_reads_as_the_stub_the_hyperparameters_and_two_answer_cells():
    starter = read_notebook(ASSIGNMENT / "starter.ipynb")
    assert kinds(starter) == {"dropped"}  # prints, data loading, training: nothing else to remark
    assert "raise NotImplementedError(\"CharLSTM.forward\")" in starter.source
    assert {k: starter.hyperparameters[k] for k in ("embedding_dim", "hidden_size", "num_layers", "learning_rate")} \
        == {"embedding_dim": 8, "hidden_size": 32, "num_layers": 1, "learning_rate": 0.05}
    assert starter.hyperparameters["seed_text"] == "The miller" and starter.hyperparameters["gen_length"] == 300
    assert set(starter.answers) == {"coding.convergence", "coding.inference"}
    assert "history = train(" not in starter.source and "open(DATA_PATH" not in starter.source


def test_solution_module_is_the_reference_code_and_its_model_learns():
    """The extracted module is what the sandbox will import; our own solution is safe to run here."""
    solution = read_notebook(ASSIGNMENT / "solution.ipynb")
    assert inspect.getsource(charlstm.CharLSTM) in solution.source
    namespace: dict = {}
    exec(compile(solution.source, "solution.ipynb", "exec"), namespace)  # noqa: S102 - our own notebook
    assert namespace["learning_rate"] == solution.hyperparameters["learning_rate"] == 0.002
    trains_below_unigram_entropy(namespace["CharLSTM"])


# --- the sample submissions -----------------------------------------------------------------------


def test_samples_are_rebuilt_by_their_script_and_all_but_one_are_valid_notebooks():
    samples = load_script(SAMPLES / "make_samples.py").SAMPLES
    assert sorted(samples) == sorted(p.name for p in SAMPLES.glob("*.ipynb"))
    for name, make in samples.items():
        assert make() == (SAMPLES / name).read_text(encoding="utf-8"), name
        if name != "s08-not-json.ipynb":
            nbformat.validate(nbformat.read(SAMPLES / name, as_version=nbformat.NO_CONVERT))


def test_correct_submission():
    student = read_notebook(SAMPLES / "s01-correct.ipynb")
    assert student.readable and student.nbformat == "4.5" and not student.colab
    assert kinds(student) == {"dropped"}
    assert {k: student.hyperparameters[k] for k in ("embedding_dim", "hidden_size", "num_layers", "learning_rate")} \
        == {"embedding_dim": 64, "hidden_size": 512, "num_layers": 2, "learning_rate": 0.003}
    assert [(loss.epoch, loss.epochs, loss.step) for loss in student.losses][-1] == (9, 10, 500)
    assert [loss.val_loss for loss in student.losses] == [1.7655, 1.0518, 0.8402, 0.7650, 0.7318]
    assert student.answers["coding.convergence"].endswith("Final validation loss: 0.7318 nats per character.")
    namespace: dict = {}
    exec(compile(student.source, student.path, "exec"), namespace)  # noqa: S102 - our own sample
    trains_below_unigram_entropy(namespace["CharLSTM"])


def test_out_of_order_cells_keep_the_last_model_and_the_moved_hyperparameters():
    student = read_notebook(SAMPLES / "s02-out-of-order.ipynb")
    assert student.source.count("class CharLSTM") == 1 and "# fixed: batch_first" in student.source
    note(student, "superseded", 11, "`CharLSTM` is defined again in cell 15")
    note(student, "order", 15, "ran as In [14], before cell 14")
    assert student.hyperparameters["num_layers"] == 3 and student.hyperparameters["epochs"] == 20
    assert student.source.index("class CharLSTM") < student.source.index("num_layers = 3")  # cell order kept


def test_blank_template_cell_is_skipped_with_the_syntax_error():
    student = read_notebook(SAMPLES / "s03-blank-template.ipynb")
    skipped = note(student, "syntax", 13, "`n_hidden=`: invalid syntax")
    assert skipped.line == 3 and str(skipped).startswith("cell 13, line 3:")
    assert "embedding_dim" not in student.hyperparameters  # the whole cell is lost, as on a fresh run
    note(student, "error", 13, "SyntaxError")
    note(student, "error", 16, "NameError: name 'hidden_size' is not defined")
    assert "class CharLSTM" in student.source


def test_interrupted_training_and_saved_tracebacks():
    student = read_notebook(SAMPLES / "s04-interrupted.ipynb")
    note(student, "interrupted", 16, "KeyboardInterrupt")
    note(student, "error", 19, "RuntimeError: Expected all tensors to be on the same device")
    progress = [loss for loss in student.losses if loss.val_loss is None]
    assert [(p.epoch, p.loss) for p in progress] == [(1, 2.871), (1, 2.412), (1, 2.035)]  # tqdm on stderr
    assert [(loss.step, loss.val_loss) for loss in student.losses if loss.val_loss] == [(100, 1.8112), (200, 1.1609)]
    assert "from tqdm.auto import tqdm" in student.source and "history = train(" not in student.source


def test_top_level_training_magics_drive_and_cuda():
    student = read_notebook(SAMPLES / "s05-toplevel-training.ipynb")
    note(student, "magic", 3, "`!pip install -q torch`")
    note(student, "magic", 3, "`%matplotlib inline`")
    note(student, "dropped", 3, "imports google.colab")
    note(student, "dropped", 16, "`for epoch in range(epochs): ...` left out: it runs a loop")
    note(student, "dropped", 16, "`model.cuda()`")
    assert [n.line for n in student.notes_of("check")] == [15, 16]  # init_hidden's hard-coded .cuda()
    note(student, "unbound", 15, "`train` uses `device`")  # device was never set in this copy
    for gone in ("drive.mount", "for epoch in range(epochs):", "model.cuda()", "plt.plot", "pip install"):
        assert gone not in student.source
    assert student.hyperparameters["DATA_PATH"] == "/content/drive/MyDrive/DL/assignment1/corpus.txt"
    assert [(loss.epoch, loss.step, loss.loss, loss.val_loss) for loss in student.losses][0] == (1, 50, 2.304, None)


def test_colab_saved_notebook():
    student = read_notebook(SAMPLES / "s06-colab.ipynb")
    assert student.colab and student.nbformat == "4.0"
    assert kinds(student) == {"dropped"}  # its .cuda() calls sit under `if train_on_gpu:`
    assert "train_on_gpu = torch.cuda.is_available()" in student.source
    assert [(loss.step, loss.loss, loss.val_loss) for loss in student.losses][-1] == (300, 0.8127, 0.7901)
    assert student.answers["coding.convergence"].startswith("96 / 384")
    assert student.hyperparameters["learning_rate"] == 0.002


def test_common_bugs_are_named_with_their_lines():
    student = read_notebook(SAMPLES / "s07-common-bugs.ipynb")
    assert note(student, "check", 11, "fourth positional parameter is `bias`").line == 7
    assert note(student, "check", 11, "`CharLSTM.dropout` (nn.Dropout) is created in __init__ but never used").line == 8
    assert note(student, "check", 11, "`.contigious` is a typo for `.contiguous`").line == 13
    note(student, "error", 16, "AttributeError: 'Tensor' object has no attribute 'contigious'")


def test_a_file_that_is_not_json_is_reported_not_raised():
    student = read_notebook(SAMPLES / "s08-not-json.ipynb")
    assert not student.readable and student.source == "" and not student.notes
    assert student.error.startswith(f"{SAMPLES / 's08-not-json.ipynb'}: is not JSON, so not a notebook:")
    assert "(line " in student.error


# --- rules, on small notebooks --------------------------------------------------------------------


def test_device_queries_are_kept_other_calls_are_not(notebook_file):
    read = read_notebook(notebook_file(
        "import torch as T\nimport numpy as np\n"
        'device = T.device("cuda" if T.cuda.is_available() else "cpu")\n'
        "n_gpus = T.cuda.device_count()\nweights = T.randn(3)\nrows = [i for i in range(3)]\n"
        "sizes = dict(hidden=128, layers=len((1, 2)))\nscale = np.sqrt(2)"))
    assert 'device = T.device("cuda" if T.cuda.is_available() else "cpu")' in read.source
    assert "n_gpus" in read.source and "sizes = dict" in read.source
    note(read, "dropped", 1, "`weights = T.randn(3)` left out: it calls T.randn()")
    note(read, "dropped", 1, "runs a comprehension")
    note(read, "dropped", 1, "calls np.sqrt()")
    namespace: dict = {}
    exec(read.source, namespace)  # noqa: S102 - kept statements only ask torch about the hardware
    assert namespace["device"].type in {"cpu", "cuda"}


def test_last_definition_wins_unless_something_read_the_earlier_one(notebook_file):
    read = read_notebook(notebook_file(
        "import torch\nn_hidden = 128\nlr = 0.1",
        "def make(size=n_hidden):\n    return size",
        "import torch\nn_hidden = 256\nlr = 0.01\nemb, layers = 32, (2, 3)\ncfg = {'a': [1, 2]}\nhalf = n_hidden // 2",
    ))
    assert read.source.count("import torch") == 1
    assert "n_hidden = 128" in read.source  # make()'s default read it while the module loaded
    assert "lr = 0.1" not in read.source
    note(read, "superseded", 1, "`lr` is defined again in cell 3")
    assert read.hyperparameters == {"n_hidden": 256, "lr": 0.01, "emb": 32, "layers": [2, 3], "cfg": {"a": [1, 2]}}


def test_dependencies_on_left_out_statements(notebook_file):
    read = read_notebook(notebook_file(
        "text = open('data.txt').read()\nchars = tuple(set(text))\nvocab_size = len(chars)",
        "def size(k=vocab_size):\n    return k\n\ndef uses_global():\n    return chars[0]",
    ))
    note(read, "dropped", 1, "`chars = tuple(set(text))` left out: it needs `text` (set in cell 1")
    note(read, "dropped", 1, "`vocab_size = len(chars)` left out: it needs `chars`")
    note(read, "unbound", 2, "`size` reads `vocab_size`")
    assert note(read, "unbound", 2, "`uses_global` uses `chars`").line == 4


@pytest.mark.parametrize("cell, kept, message", [
    ("%%bash\npip install torch", None, "a %%bash cell is not Python: skipped"),
    ("%%time\nlr = 0.5", "lr = 0.5", "removed %%time"),
    ("files = !ls\nlr = 0.5", "lr = 0.5", "removed IPython syntax `files = !ls`"),
    ("nn.LSTM?\nlr = 0.5", "lr = 0.5", "removed IPython syntax `nn.LSTM?`"),
])
def test_ipython_syntax(notebook_file, cell, kept, message):
    read = read_notebook(notebook_file(cell))
    note(read, "magic", 1, message)
    assert (kept in read.source) if kept else read.source == ""


def test_future_imports_move_to_the_top_and_in_place_updates_are_left_out(notebook_file):
    read = read_notebook(notebook_file("x = 1\nx += 1", "from __future__ import annotations\nimport torch"))
    assert read.source.startswith("from __future__ import annotations\n")
    note(read, "dropped", 1, "`x += 1` left out: it updates a variable in place")
    compile(read.source, "module", "exec")


def test_answer_cells_by_metadata(notebook_file):
    tagged = {"grader": {"part": "q1.a"}}
    read = read_notebook(notebook_file(
        new_markdown_cell("A **short** answer.", metadata=tagged),
        new_code_cell("the rest of my answer, typed in a code cell", metadata=tagged),
        new_markdown_cell("", metadata={"grader": {"part": "q1.b"}}),
        new_markdown_cell("x", metadata={"grader": {"part": "q 1"}}),
        "lr = 0.1",
    ))
    assert read.answers == {"q1.a": "A **short** answer.\n\nthe rest of my answer, typed in a code cell"}
    note(read, "answer", 2, "a second answer cell for q1.a (the first is cell 1)")
    note(read, "answer", 3, "the answer cell for q1.b is empty")
    note(read, "answer", 4, "must be a part id")
    assert read.source == "# cell 5\nlr = 0.1\n" and "syntax" not in kinds(read)


def test_answer_cells_by_tag_and_metadata_wins(notebook_file):
    read = read_notebook(notebook_file(
        new_markdown_cell("by tag", metadata={"tags": ["solution", "answer:q2.a"]}),
        new_markdown_cell("by metadata", metadata={"grader": {"part": "q2.b"}, "tags": ["answer:q9"]}),
        new_markdown_cell("an ordinary cell", metadata={"tags": ["answers", "answer"]}),
    ))
    assert read.answers == {"q2.a": "by tag", "q2.b": "by metadata"}


@pytest.mark.parametrize("line, expected", [
    ("Epoch: 3/20... Step: 100... Loss: 1.2345... Val Loss: 1.4567",
     {"epoch": 3, "epochs": 20, "step": 100, "steps": None, "loss": 1.2345, "val_loss": 1.4567}),
    ("Epoch [3/20] train_loss=1.23 val_loss=1.45", {"epoch": 3, "epochs": 20, "loss": 1.23, "val_loss": 1.45}),
    ("step 500: train loss 1.2345, val loss 1.4567", {"step": 500, "steps": None, "loss": 1.2345, "val_loss": 1.4567}),
    ("Epoch 3/20 - loss: 1.2345 - val_loss: 1.4567", {"epoch": 3, "epochs": 20, "loss": 1.2345, "val_loss": 1.4567}),
    ("iter 200 of 1000 | loss 1.98", {"step": 200, "steps": 1000, "loss": 1.98}),
    ("Epoch 1 validation loss: 2.5e-1", {"epoch": 1, "epochs": None, "val_loss": 0.25}),
    ("Epoch 7... Loss: nan", {"epoch": 7, "epochs": None, "loss": math.nan}),
    ("{'step': 300, 'loss': 1.9, 'val_loss': 2.1}", {"step": 300, "loss": 1.9, "val_loss": 2.1}),
    ("Validation loss decreased (1.50 --> 1.40). Saving model ...", None),
    ("Epoch 2 test loss 1.2", None),
])
def test_training_log_formats(line, expected):
    found = parse_loss_line(line)
    if expected is None:
        assert found is None
    else:
        assert {k: v for k, v in found.items() if k in expected} == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize("content, problem", [
    (b"", "is empty, not a notebook"),
    (b"\xff\xfe{}", "is not UTF-8 text (byte 0)"),
    (b"[1, 2]", "is JSON (list) but not a notebook: it has no 'nbformat' version"),
    (b'{"answers": {}}', "is JSON (dict) but not a notebook"),
    (b'{"nbformat": 5, "nbformat_minor": 0, "cells": []}', "declares nbformat 5; only 4.x"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "is not a readable notebook"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": {}}', "has no list of cells"),
])
def test_unreadable_files_name_the_file_and_the_problem(write, content, problem):
    path = write("broken.ipynb", content)
    read = read_notebook(path)
    assert not read.readable and read.error.startswith(f"{path}: {problem}"), read.error


def test_old_and_malformed_notebooks_are_still_read(write):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "lr = 0.5", "language": "python", "outputs": [], "metadata": {}}]}]}
    read = read_notebook(write("v3.ipynb", json.dumps(v3)))
    assert read.hyperparameters == {"lr": 0.5} and read.nbformat == "3.0"
    note(read, "format", None, "converted to 4")

    no_source = {"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": ["lr = ", "0.5"]}]}
    read = read_notebook(write("malformed.ipynb", json.dumps(no_source)))
    note(read, "format", None, "does not follow the nbformat 4.4 schema")
    assert read.hyperparameters == {"lr": 0.5}


def test_outputs_in_a_written_notebook_are_read(notebook_file):
    cell = new_code_cell("for step in range(3):\n    print(step)", execution_count=4, outputs=[
        new_output("stream", name="stdout", text="\x1b[1mStep: 1\x1b[0m Loss: 2.5\nStep: 2 Loss: 2.25\n"),
        new_output("stream", name="stderr", text="Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                                                 "torch.OutOfMemoryError: CUDA out of memory.\n")])
    read = read_notebook(notebook_file(cell))
    assert [(loss.step, loss.loss) for loss in read.losses] == [(1, 2.5), (2, 2.25)]
    note(read, "error", 1, "torch.OutOfMemoryError: CUDA out of memory. (run as In [4])")
