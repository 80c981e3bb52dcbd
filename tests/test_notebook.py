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
    (b"\xff\xfe{\x00}\x00", "is UTF-16 text; save it as UTF-8"),
    ('{"nbformat": 4}'.encode("utf-16-le"), "is UTF-16 text; save it as UTF-8"),
    (b'{"a": "\xe9"}', "is not UTF-8 text (byte 7)"),
    (b"[1, 2]", "is JSON (a list) but not a notebook: it has no 'nbformat' version"),
    (b'{"answers": {}}', "is JSON (an object) but not a notebook"),
    (b'{"nbformat": 5, "nbformat_minor": 0, "cells": []}', "declares nbformat 5, a version that does not exist"),
    (b'{"nbformat": 2, "nbformat_minor": 0, "worksheets": []}', "declares nbformat 2, an old version: open it"),
    (b'{"nbformat": "4", "cells": []}', "declares nbformat '4', not a version number"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "has no list of cells (its 'cells' is missing)"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": null}', "has no list of cells (its 'cells' is "),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": {}}', "has no list of cells (its 'cells' is an "),
    (b'{"nbformat": 4, "nbformat_minor": ' + b"9" * 5000 + b"}", "is not JSON a notebook can hold"),
    (b'{"nbformat": 4, "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "is JSON nested too deeply"),
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


# --- bad input: one bad cell costs that cell, every read is bounded ---------------------------------


def raw_notebook(*cells, **fields) -> str:
    """A notebook's JSON as a file may hold it, whatever the cells are: an answer cell for q1 first."""
    answer = {"cell_type": "markdown", "metadata": {"grader": {"part": "q1"}}, "source": "kept"}
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [answer, *cells], **fields})


def code(source, **fields) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None, **fields}


@pytest.mark.parametrize("cell, kind, message", [
    (code([1, 2]), "cell", "its source is a list with something other than text in it, not text: skipped"),
    (code({"a": 1}), "cell", "its source is an object, not text: skipped"),
    ({"cell_type": "code", "metadata": {}}, "cell", "its source is missing, not text: skipped"),
    (code("x = 1", metadata="m"), "cell", "its metadata is a string, not an object: skipped"),
    (code("x = 1", metadata=None), "cell", "its metadata is null, not an object: skipped"),
    (code("lr = 0.5", outputs="o"), "format", "its outputs are a string, not a list: ignored"),
    (code("lr = 0.5", outputs=[1]), "format", "its output 1 is a number, not an object: ignored"),
    (code("lr = 0.5", outputs=[{"output_type": "stream", "text": [1]}]), "format",
     "the text of its output 1 is a list, not text: ignored"),
    (code("lr = 0.5", execution_count=True), "format", "its execution_count is True, not a whole number: ignored"),
    (5, "cell", "is a number, not a cell object: skipped"),
    ({"metadata": {}, "source": "x"}, "cell", "has no cell_type: skipped"),
    ({"cell_type": "weird" * 1000, "source": "x"}, "cell", "has cell_type 'weirdweird"),
    (code("x = 1\ny = '\0'"), "syntax", "contains a NUL character, which Python source cannot"),
    (code("x = '\ud800'"), "syntax", "contains a lone surrogate ('\\ud800'), not text"),
    (code("lr = 0.5\nx = " + "+".join(["1"] * 50_000)), "limit", "is nested too deeply to analyse"),
    (code("x = " + "-" * 500 + "1"), "limit", "is nested too deeply to analyse (more than 100 levels)"),
    (code("x = " + "[" * 5000 + "]" * 5000), "limit", "is nested too deeply to analyse"),
    (code("def f():\n    return " + "g(" * 150 + ")" * 150), "limit", "is nested too deeply to analyse"),
])
def test_a_malformed_cell_costs_only_that_cell(write, cell, kind, message):
    read = read_notebook(write("nb.ipynb", raw_notebook(cell, code("n_hidden = 64"))))
    found = note(read, kind, 2, message)
    assert len(str(found)) < 200  # the bad value is quoted bounded, never dumped
    assert read.answers == {"q1": "kept"} and read.hyperparameters.get("n_hidden") == 64
    assert ("lr = 0.5" in read.source) == (message.endswith("ignored"))  # an ignored field keeps the code


def test_deep_code_is_located_and_what_parses_stays_within_the_stack(write):
    deep = code("x = 1\ny = " + "-" * 99 + "1\nz = " + "+".join(["1"] * 50_000))
    read = read_notebook(write("nb.ipynb", raw_notebook(deep)))
    assert note(read, "limit", 2, "nested too deeply").line == 3
    near_the_limit = code("def f(a=" + "-" * 97 + "1):\n    return " + "g(" * 95 + "x.cuda()" + ")" * 95)
    read = read_notebook(write("nb.ipynb", raw_notebook(near_the_limit)))
    assert "limit" not in kinds(read) and "needs a GPU" in note(read, "check", 2, "x.cuda()").message


def test_answer_labels_and_texts_that_are_not_answers(write):
    read = read_notebook(write("nb.ipynb", raw_notebook(
        {"cell_type": "markdown", "metadata": {"grader": {"part": {"a": 1}}}, "source": "x"},
        {"cell_type": "markdown", "metadata": {"grader": {"part": "q" * 1_000_000}}, "source": "x"},
        {"cell_type": "markdown", "metadata": {"grader": "q2"}, "source": "x"},
        {"cell_type": "markdown", "metadata": {"grader": {"part": "q3"}}, "source": "word " * 100_000},
    )))
    note(read, "answer", 2, "must be a part id (letters, digits, . _ -), got {'a': 1}")
    assert len(note(read, "answer", 3, "must be a part id").message) < 200
    note(read, "answer", 4, "metadata grader is 'q2', not {\"part\": \"<part id>\"}: not read as an answer cell")
    note(read, "limit", 5, "the answer for q3 is 499999 characters; only the first 20000 are read")
    assert set(read.answers) == {"q1", "q3"} and len(read.answers["q3"]) == 20_000


def test_format_noise_is_noted_for_the_instructor_not_warned_to_the_student(write):
    from grader.program.submission import read_notebook_submission
    from grader.rubric import load_rubric

    colab = json.loads(raw_notebook(code("lr = 0.5", id="abc"), code([1])))
    colab.update(nbformat_minor=0, metadata={"colab": {}})
    path = write("s9.ipynb", json.dumps(colab))
    note(read_notebook(path), "format", None, "does not follow the nbformat 4.0 schema")
    submission = read_notebook_submission(path, load_rubric(ROOT / "rubrics" / "dl-quiz.yaml"))
    assert submission.answers == {"q1": "kept"}
    assert submission.warnings == ["s9.ipynb, cell 3: its source is a list with something other than text in it, "
                                   "not text: skipped"]  # the cell's code is lost: the student is told
    [schema] = submission.file_notes
    assert schema.startswith("s9.ipynb: does not follow the nbformat 4.0 schema") and schema.endswith("; read anyway")


def test_warnings_are_capped_per_kind(write):
    from grader.program.submission import MAX_WARNINGS, read_notebook_submission
    from grader.rubric import load_rubric

    path = write("many.ipynb", raw_notebook(*[5] * 50, code("x = (")))
    warnings = read_notebook_submission(path, load_rubric(ROOT / "rubrics" / "dl-quiz.yaml")).warnings
    assert len(warnings) == MAX_WARNINGS + 2 and "cell 52, line 1: `x = (`" in warnings[-2]
    assert warnings[-1] == f"many.ipynb: {50 - MAX_WARNINGS} more notes of this kind (cell) are not listed"


def test_big_notebooks_are_read_within_their_bounds(write, monkeypatch):
    """The bounds, made small: cells read, code analysed, output scanned, each with its note."""
    from grader.notebook import definitions, files, outputs

    monkeypatch.setattr(files, "MAX_CELLS", 5)
    monkeypatch.setattr(definitions, "MAX_CODE", 100)
    monkeypatch.setattr(outputs, "MAX_STREAM", 300)
    monkeypatch.setattr(outputs, "MAX_SCANNED", 400)
    log = {"output_type": "stream", "text": "".join(f"Step: {i} Loss: {i / 10}\n" for i in range(100))}  # 1890
    read = read_notebook(write("nb.ipynb", raw_notebook(
        code("a = 1"), code("x = [" + "1, " * 50 + "]"), code("b = 2", outputs=[log]), code("c = 3", outputs=[log] * 2),
        code("d = 4"), code("e = 5"))))
    note(read, "limit", 3, "has 156 characters of code, more than the 95 left of the 100 analysed")
    note(read, "limit", 4, "its output 1 is 1890 characters; only the last 300 are read")
    note(read, "limit", 5, "its output 1 is 1890 characters; only the last 100 are read")
    note(read, "limit", 5, "the saved outputs run past the 400 characters read: output 2")
    note(read, "limit", 6, "the notebook has 7 cells, more than the 5 read")
    assert read.hyperparameters == {"a": 1, "b": 2, "c": 3} and read.losses[-1].loss == 9.9


def test_quadratic_corners_stay_linear(write):
    """Each took minutes: 20,000 definitions in a cell, 3,000 rebinding cells, and a line of spaces
    beside a syntax error (a backtracking regular expression)."""
    import time

    started = time.perf_counter()
    read = read_notebook(write("nb.ipynb", raw_notebook(
        code("".join(f"def f{i}(): pass\n" for i in range(20_000))), *(code(f"lr = {i}") for i in range(1_500)),
        code("x = (\n" + " " * 200_000 + "y"))))
    assert time.perf_counter() - started < 10
    assert read.hyperparameters["lr"] == 1499 and read.source.count("def f") == 20_000
    note(read, "syntax", 1503, "was never closed")


def test_a_reader_bug_costs_the_file_not_the_batch(notebook_file, monkeypatch):
    import grader.notebook as reader

    monkeypatch.setattr(reader, "extract_definitions", lambda cells: 1 / 0)
    read = read_notebook(notebook_file("x = 1"))
    assert not read.readable and "could not be read (internal error ZeroDivisionError" in read.error
