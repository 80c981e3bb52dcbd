"""Write the sample student notebooks of the CharLSTM assignment: copies of
assignments/charlstm/starter.ipynb as students hand them in, mess included. Each is what a real
submission of this exercise looks like; tests/test_notebook.py asserts what grader.notebook reads
from each. Rebuild after changing the starter:

    python submissions/charlstm/make_samples.py

- s01-correct: the model done right, run top to bottom, training log and answers saved;
- s02-out-of-order: hyperparameters moved below the training cell, a first CharLSTM replaced by a
  fixed one further down, cells run out of order;
- s03-blank-template: a hyperparameter cell with a blank template line `n_hidden=` (saved
  SyntaxError, then NameError in training);
- s04-interrupted: training stopped by hand (KeyboardInterrupt, tqdm bar on stderr) and a saved
  device-mismatch RuntimeError;
- s05-toplevel-training: `!pip`, `%matplotlib`, Drive mounting and a data path, a training loop at
  top level, `model.cuda()` and a hard-coded `.cuda()` in init_hidden;
- s06-colab: saved by Colab (nbformat 4.0, Colab metadata, cell ids in metadata, widget state),
  a guarded `.cuda()`, another log format;
- s07-common-bugs: dropout created but never applied, drop_prob in nn.LSTM's bias slot, and
  `.contigious()` (saved AttributeError);
- s08-not-json: an upload cut off half way.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
STARTER = HERE.parents[1] / "assignments" / "charlstm" / "starter.ipynb"
ANSI_RED, ANSI_RESET = "\x1b[0;31m", "\x1b[0m"


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def stream(text: str, name: str = "stdout") -> dict:
    return {"name": name, "output_type": "stream", "text": lines(text)}


def error(ename: str, evalue: str, frames: list[str]) -> dict:
    traceback = [f"{ANSI_RED}---------------------------------------------------------------------------{ANSI_RESET}",
                 f"{ANSI_RED}{ename}{ANSI_RESET}                         Traceback (most recent call last)",
                 *frames, f"{ANSI_RED}{ename}{ANSI_RESET}: {evalue}"]
    return {"ename": ename, "evalue": evalue, "output_type": "error", "traceback": traceback}


def code(source: str, count: int | None = None, outputs: list | None = None, cell_id: str | None = None) -> dict:
    cell = {"cell_type": "code", "execution_count": count, "metadata": {}, "outputs": outputs or [],
            "source": lines(source)}
    return cell | ({"id": cell_id} if cell_id else {})


class Copy:
    """A student's copy of the starter: cells found by their starter id, replaced or filled in."""

    def __init__(self):
        self.notebook = json.loads(STARTER.read_text(encoding="utf-8"))
        self.counter = 0

    def cell(self, number: int) -> dict:
        return next(c for c in self.notebook["cells"] if c["id"] == f"starter-{number:02d}")

    def run(self, number: int, source: str | None = None, outputs: list | None = None, count: int | None = None):
        """Set a code cell's text (when given), execution count and outputs, as running it would."""
        cell = self.cell(number)
        if source is not None:
            cell["source"] = lines(source)
        self.counter = count if count is not None else self.counter + 1
        cell["execution_count"], cell["outputs"] = self.counter, outputs or []

    def answer(self, part: str, text: str):
        next(c for c in self.notebook["cells"] if c["metadata"].get("grader", {}).get("part") == part)["source"] = lines(text)

    def insert_after(self, number: int, *cells: dict):
        index = self.notebook["cells"].index(self.cell(number)) + 1
        self.notebook["cells"][index:index] = list(cells)

    def move_after(self, number: int, after: int):
        cell = self.cell(number)
        self.notebook["cells"].remove(cell)
        self.insert_after(after, cell)

    def run_pipeline(self):
        """Cells 3 to 9 (setup, data, vocabulary, batches) run as given, on a Colab GPU."""
        self.run(3, outputs=[stream("device: cuda\n")])
        self.run(5, outputs=[stream("403925 characters\nTHE VALLEY CHRONICLE\n\n\nCHAPTER I\n\nTHE FERRY\n")])
        self.run(7, outputs=[stream("67 characters in the vocabulary: ' !\"\\',.0123456789?ABC...'\n")])
        self.run(9, outputs=[stream("'THE VALLEY C' -> 'HE VALLEY CH'\n")])

    def text(self) -> str:
        return json.dumps(self.notebook, indent=1, ensure_ascii=False) + "\n"


GOOD_MODEL = '''class CharLSTM(nn.Module):
    """Embedding -> LSTM -> dropout -> linear: logits for the next character at every position."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, hidden):
        out, hidden = self.lstm(self.embedding(x), hidden)
        out = self.dropout(out)
        return self.fc(out), hidden

    def init_hidden(self, batch_size):
        weight = next(self.parameters())
        return (weight.new_zeros(self.num_layers, batch_size, self.hidden_size),
                weight.new_zeros(self.num_layers, batch_size, self.hidden_size))
'''

GOOD_LOG = """Epoch: 2/10... Step: 100... Loss: 1.8342... Val Loss: 1.7655
Epoch: 4/10... Step: 200... Loss: 1.1020... Val Loss: 1.0518
Epoch: 6/10... Step: 300... Loss: 0.8813... Val Loss: 0.8402
Epoch: 8/10... Step: 400... Loss: 0.7921... Val Loss: 0.7650
Epoch: 9/10... Step: 500... Loss: 0.7555... Val Loss: 0.7318
"""

SAMPLE_TEXT = ("The miller walked to the old mill at Kelmoor, and he counted the sacks. \"I felt glad,\" "
               "said the miller. She waited for a long time before the rain was cold.")


def correct() -> str:
    nb = Copy()
    nb.run_pipeline()
    nb.run(11, GOOD_MODEL)
    nb.run(13, "embedding_dim = 64\nhidden_size = 512\nnum_layers = 2\nlearning_rate = 0.003\n\n"
               "dropout = 0.3\nbatch_size = 64\nseq_length = 100\nepochs = 10")
    nb.run(15)
    nb.run(16, outputs=[stream(GOOD_LOG)])
    nb.run(18)
    nb.run(19, 'seed_text = "The miller"\ngen_length = 200\ntemperature = 0.7\ntop_k = None\n\n'
               "print(generate(model, vocab, seed_text, gen_length, temperature=temperature, top_k=top_k, seed=0))",
           outputs=[stream(SAMPLE_TEXT + "\n")])
    nb.answer("coding.convergence", "I went from 128 to 512 hidden units and from 1 to 2 layers; a learning rate of 0.01 "
                           "was unstable, 0.003 was best. Final validation loss: 0.7318 nats per character.")
    nb.answer("coding.inference", f"Sample: {SAMPLE_TEXT}\n\nLow temperatures repeat the commonest sentences; at 1.5 "
                            "words break apart. Longer outputs drift off topic.")
    return nb.text()


FIRST_ATTEMPT = '''class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, hidden):
        out, hidden = self.lstm(self.embedding(x), hidden)
        return self.fc(out), hidden

    def init_hidden(self, batch_size):
        return torch.zeros(batch_size, self.hidden_size)
'''


def out_of_order() -> str:
    nb = Copy()
    nb.run_pipeline()
    nb.run(11, FIRST_ATTEMPT)
    nb.run(13, "embedding_dim = 128\nhidden_size = 256\nnum_layers = 3\nlearning_rate = 0.002\n\n"
               "dropout = 0.2\nbatch_size = 128\nseq_length = 100\nepochs = 20")
    nb.move_after(13, after=16)  # the student dragged the hyperparameters below the training cell
    fixed = "# fixed: batch_first, and init_hidden returns (h, c)\n" + GOOD_MODEL
    nb.insert_after(15, code(fixed, count=14, cell_id="a3f09c1e"))
    nb.run(15, count=15)
    nb.run(16, outputs=[stream(GOOD_LOG.replace("/10", "/20"))], count=16)
    nb.cell(11)["execution_count"] = 12  # rerun after the fix was written below
    return nb.text()


def blank_template() -> str:
    nb = Copy()
    nb.run_pipeline()
    nb.run(11, GOOD_MODEL)
    nb.run(13, "# hyperparameters\nembedding_dim = 32\nn_hidden=\nnum_layers = 2\nlearning_rate = 0.01\n",
           outputs=[error("SyntaxError", "invalid syntax (1497604523.py, line 3)",
                          ['  Cell In[6], line 3', '    n_hidden=', '             ^'])])
    nb.run(15)
    nb.run(16, outputs=[error("NameError", "name 'hidden_size' is not defined", [
        "Cell In[8], line 1", "----> 1 model = CharLSTM(len(vocab), embedding_dim, hidden_size, num_layers, dropout)"])])
    return nb.text()


def interrupted() -> str:
    nb = Copy()
    nb.run_pipeline()
    nb.run(11, GOOD_MODEL)
    nb.run(13, "embedding_dim = 64\nhidden_size = 256\nnum_layers = 2\nlearning_rate = 0.002\n\n"
               "dropout = 0.2\nbatch_size = 64\nseq_length = 100\nepochs = 30")
    nb.run(15)
    bar = "".join(f"\r epoch 1:  {p:3d}%|{'#' * (p // 10):<10}| {p * 56 // 100}/56 [00:{p // 4:02d}<00:19, loss={loss}]"
                  for p, loss in [(25, "2.871"), (50, "2.412"), (75, "2.035")])
    nb.run(16, "from tqdm.auto import tqdm\n\n"
               "model = CharLSTM(len(vocab), embedding_dim, hidden_size, num_layers, dropout).to(device)\n"
               "history = train(model, train_ids, val_ids, epochs, batch_size, seq_length, learning_rate)",
           outputs=[stream(bar, name="stderr"),
                    stream("Epoch: 2/30... Step: 100... Loss: 1.9027... Val Loss: 1.8112\n"
                           "Epoch: 4/30... Step: 200... Loss: 1.2214... Val Loss: 1.1609\n"),
                    error("KeyboardInterrupt", "", [
                        "Cell In[10], line 4", "----> 4 history = train(model, train_ids, val_ids, epochs, ...)",
                        "Cell In[9], line 34, in train(model, train_ids, val_ids, epochs, ...)",
                        "---> 34     loss.backward()"])])
    nb.run(18)
    nb.run(19, 'seed_text = "Mara"\ngen_length = 100\ntemperature = 0.8\ntop_k = 5\n\n'
               "print(generate(model.cpu(), vocab, seed_text, gen_length, temperature=temperature, top_k=top_k))",
           outputs=[error("RuntimeError", "Expected all tensors to be on the same device, but found at least two "
                          "devices, cuda:0 and cpu!", ["Cell In[12], line 6", "----> 6 print(generate(model.cpu(), ...))"])])
    return nb.text()


TOP_LEVEL_SETUP = """!pip install -q torch
%matplotlib inline
import matplotlib.pyplot as plt
from google.colab import drive
drive.mount('/content/drive')

import torch
from torch import nn
from collections.abc import Iterator
from dataclasses import dataclass, field"""

CUDA_MODEL = '''class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, dropout):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, hidden):
        out, hidden = self.lstm(self.embedding(x), hidden)
        return self.fc(self.dropout(out)), hidden

    def init_hidden(self, batch_size):
        h = torch.zeros(self.num_layers, batch_size, self.hidden_size).cuda()
        c = torch.zeros(self.num_layers, batch_size, self.hidden_size).cuda()
        return (h, c)
'''

TOP_LEVEL_LOOP = """model = CharLSTM(len(vocab), embedding_dim, hidden_size, num_layers, dropout)
model.cuda()
opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
criterion = nn.CrossEntropyLoss()
losses = []
step = 0
for epoch in range(epochs):
    hidden = model.init_hidden(batch_size)
    for x, y in batches(train_ids, batch_size, seq_length):
        x, y = x.cuda(), y.cuda()
        hidden = tuple(h.detach() for h in hidden)
        logits, hidden = model(x, hidden)
        loss = criterion(logits.reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            losses.append(loss.item())
            print(f"epoch {epoch + 1}/{epochs} | step {step} | loss {loss.item():.3f}")
plt.plot(losses)"""


def toplevel_training() -> str:
    nb = Copy()
    nb.run(3, TOP_LEVEL_SETUP, outputs=[stream("Mounted at /content/drive\n")])
    nb.run(5, 'DATA_PATH = "/content/drive/MyDrive/DL/assignment1/corpus.txt"\n\n'
              'with open(DATA_PATH, encoding="utf-8") as f:\n    text = f.read()\nprint(len(text), "characters")',
           outputs=[stream("403925 characters\n")])
    nb.run(7)
    nb.run(9)
    nb.run(11, CUDA_MODEL)
    nb.run(13, "embedding_dim = 64\nhidden_size = 256\nnum_layers = 2\nlearning_rate = 0.003\n\n"
               "dropout = 0.2\nbatch_size = 64\nseq_length = 100\nepochs = 3")
    log = "".join(f"epoch {1 + (s - 1) // 56}/3 | step {s} | loss {v}\n"
                  for s, v in [(50, "2.304"), (100, "1.812"), (150, "1.389")])
    nb.run(16, TOP_LEVEL_LOOP, outputs=[stream(log), {
        "data": {"text/plain": ["<Figure size 640x480 with 1 Axes>"]}, "metadata": {}, "output_type": "display_data"}])
    return nb.text()


COLAB_MODEL = '''class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, dropout):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, hidden):
        out, hidden = self.lstm(self.embedding(x), hidden)
        out = self.dropout(out)
        out = out.contiguous().view(-1, self.hidden_size)
        return self.fc(out), hidden

    def init_hidden(self, batch_size):
        weight = next(self.parameters()).data
        if train_on_gpu:
            return (weight.new(self.num_layers, batch_size, self.hidden_size).zero_().cuda(),
                    weight.new(self.num_layers, batch_size, self.hidden_size).zero_().cuda())
        return (weight.new(self.num_layers, batch_size, self.hidden_size).zero_(),
                weight.new(self.num_layers, batch_size, self.hidden_size).zero_())
'''


def colab() -> str:
    """Colab saves nbformat 4.0: no cell ids (4.5), its own ids in cell metadata, output metadata."""
    nb = Copy()
    nb.run(3, "from collections.abc import Iterator\nfrom dataclasses import dataclass, field\n\nimport torch\n"
              "from torch import nn\n\ntrain_on_gpu = torch.cuda.is_available()\n"
              'device = torch.device("cuda" if train_on_gpu else "cpu")\nprint("device:", device)',
           outputs=[stream("device: cuda\n")])
    for number in (5, 7, 9):
        nb.run(number)
    nb.run(11, COLAB_MODEL)
    nb.run(13, "embedding_dim = 96\nhidden_size = 384\nnum_layers = 2\nlearning_rate = 2e-3\n\n"
               "dropout = 0.25\nbatch_size = 64\nseq_length = 120\nepochs = 12")
    nb.run(15, "".join(nb.cell(15)["source"]).replace(
        'print(f"Epoch: {epoch}/{epochs}... Step: {step}... Loss: {loss.item():.4f}... Val Loss: {val_loss:.4f}")',
        'print(f"step {step}: train loss {loss.item():.4f}, val loss {val_loss:.4f}")'))
    nb.run(16, outputs=[stream("step 100: train loss 1.7420, val loss 1.6903\nstep 200: train loss 1.0311, "
                               "val loss 0.9876\nstep 300: train loss 0.8127, val loss 0.7901\n")])
    nb.answer("coding.convergence", "96 / 384 / 2 layers / 2e-3. Val loss 0.79 after 300 steps.")
    notebook = nb.notebook
    notebook["nbformat_minor"] = 0
    notebook["metadata"] = {
        "accelerator": "GPU",
        "colab": {"gpuType": "T4", "provenance": [], "toc_visible": True},
        "kernelspec": {"display_name": "Python 3", "name": "python3"},
        "language_info": {"name": "python"},
        "widgets": {"application/vnd.jupyter.widget-state+json": {
            "4c1b2f3e9a0d4e6f8a7b6c5d4e3f2a1b": {"model_module": "@jupyter-widgets/controls",
                                                "model_name": "HBoxModel", "state": {}}}},
    }
    for number, cell in enumerate(notebook["cells"]):
        cell["metadata"]["id"] = f"{number:03d}colab{cell.pop('id')[-2:]}"
        if cell["cell_type"] == "code" and cell["outputs"]:
            cell["metadata"]["colab"] = {"base_uri": "https://localhost:8080/"}
            cell["metadata"]["outputId"] = f"e{number:02d}b7c0de-1234"
    return nb.text()


BUGGY_MODEL = '''class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, drop_prob=0.5):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, drop_prob, batch_first=True)
        self.dropout = nn.Dropout(drop_prob)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, hidden):
        out, hidden = self.lstm(self.embedding(x), hidden)
        out = out.contigious().view(-1, self.hidden_size)
        return self.fc(out), hidden

    def init_hidden(self, batch_size):
        weight = next(self.parameters())
        return (weight.new_zeros(self.num_layers, batch_size, self.hidden_size),
                weight.new_zeros(self.num_layers, batch_size, self.hidden_size))
'''


def common_bugs() -> str:
    nb = Copy()
    nb.run_pipeline()
    nb.run(11, BUGGY_MODEL)
    nb.run(13, "embedding_dim = 64\nhidden_size = 256\nnum_layers = 2\nlearning_rate = 0.001\n\n"
               "dropout = 0.5\nbatch_size = 64\nseq_length = 100\nepochs = 10")
    nb.run(15)
    nb.run(16, outputs=[error("AttributeError", "'Tensor' object has no attribute 'contigious'", [
        "Cell In[9], line 13, in CharLSTM.forward(self, x, hidden)",
        "---> 13 out = out.contigious().view(-1, self.hidden_size)"])])
    return nb.text()


def not_json() -> str:
    """The upload stopped part way through the file."""
    text = correct()
    return text[: len(text) // 3]


SAMPLES = {
    "s01-correct.ipynb": correct,
    "s02-out-of-order.ipynb": out_of_order,
    "s03-blank-template.ipynb": blank_template,
    "s04-interrupted.ipynb": interrupted,
    "s05-toplevel-training.ipynb": toplevel_training,
    "s06-colab.ipynb": colab,
    "s07-common-bugs.ipynb": common_bugs,
    "s08-not-json.ipynb": not_json,
}

if __name__ == "__main__":
    for name, make in SAMPLES.items():
        (HERE / name).write_text(make(), encoding="utf-8")
        print(f"wrote {HERE / name}")
