"""Build starter.ipynb (what students get) and solution.ipynb (the stub filled in) for Assignment
1's coding question, from reference/charlstm.py, so the notebooks run the reference pipeline's code
and cannot drift from it:

    python assignments/charlstm/build_notebooks.py            # rewrites both notebooks
    python assignments/charlstm/build_notebooks.py --check    # exits 1 if either differs

The notebooks differ only in the CharLSTM cell and the hyperparameter values. Answer cells carry
{"grader": {"part": ...}} metadata (see grader/notebook); cell ids are fixed so rebuilding gives
the same bytes.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from reference import charlstm

HERE = Path(__file__).resolve().parent
NOTEBOOKS = {"starter": HERE / "starter.ipynb", "solution": HERE / "solution.ipynb"}
ANSWER_PARTS = {  # part ids of the coding question in rubrics/assignment1.yaml
    "coding.convergence": "**coding.convergence.** Which values of the four hyperparameters did you settle "
                          "on, what else did you try, and what validation loss (nats per character) did "
                          "your final run reach? Why do you think those values worked better?",
    "coding.inference": "**coding.inference.** Paste one generated sample. What changes when you vary "
                        "`seed_text`, `gen_length` and `temperature`? Which mistakes does the model still make?",
}

STUB = '''class CharLSTM(nn.Module):
    """Embedding -> LSTM -> dropout -> linear: logits for the next character at every position."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        # TODO: create the four layers
        #   self.embedding: nn.Embedding from vocab_size character ids to embedding_dim vectors
        #   self.lstm:      nn.LSTM with num_layers layers and batch_first=True; pass dropout by name
        #                   (dropout=...): the fourth positional parameter of nn.LSTM is bias
        #   self.dropout:   nn.Dropout, applied to the LSTM's output
        #   self.fc:        nn.Linear from hidden_size to vocab_size
        raise NotImplementedError("CharLSTM.__init__")

    def forward(self, x: torch.Tensor, hidden: tuple[torch.Tensor, torch.Tensor]):
        """x: (batch, seq) character ids -> logits (batch, seq, vocab_size) and the new (h, c)."""
        # TODO: embed x, run the LSTM from `hidden`, apply dropout, then the linear layer
        raise NotImplementedError("CharLSTM.forward")

    def init_hidden(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c), each (num_layers, batch_size, hidden_size), on the model's device."""
        # TODO: two tensors of zeros on the same device as the model's parameters
        raise NotImplementedError("CharLSTM.init_hidden")
'''

HYPERPARAMETERS = {
    "starter": {"embedding_dim": 8, "hidden_size": 32, "num_layers": 1, "learning_rate": 0.05},
    "solution": {"embedding_dim": 64, "hidden_size": 256, "num_layers": 2, "learning_rate": 0.002},
}
TRAINING_LOOP = '''def train(model, train_ids, val_ids, epochs, batch_size, seq_length, learning_rate, clip=5.0, print_every=100):
    """Adam on the cross-entropy of every next-character prediction; prints the training loss of
    the current batch and the validation loss every `print_every` steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    history = []
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        hidden = model.init_hidden(batch_size)
        for x, y in batches(train_ids, batch_size, seq_length):
            step += 1
            x, y = x.to(device), y.to(device)
            logits, hidden = model(x, detach_hidden(hidden))
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            if step % print_every == 0:
                val_loss = evaluate(model, val_ids, batch_size, seq_length)
                history.append((step, loss.item(), val_loss))
                print(f"Epoch: {epoch}/{epochs}... Step: {step}... Loss: {loss.item():.4f}... Val Loss: {val_loss:.4f}")
    return history
'''


def source_of(*objects) -> str:
    return "\n\n".join(inspect.getsource(o).rstrip() for o in objects) + "\n"


def cells(kind: str) -> list:
    h = HYPERPARAMETERS[kind]
    model_code = STUB if kind == "starter" else source_of(charlstm.CharLSTM)
    md, code = new_markdown_cell, new_code_cell
    out = [
        md("# Assignment 1, coding question: character-level text generation with an LSTM (15 marks)\n\n"
           "You will build a recurrent network that reads text one character at a time and learns to "
           "predict the next one, then use it to write new text. The data pipeline, training loop and "
           "sampling code are complete. You complete three things, each marked **TODO**:\n\n"
           "1. **Model definition**: the `CharLSTM` class (`__init__`, `forward`, `init_hidden`).\n"
           "2. **Hyperparameters**: embedding size, hidden size, number of layers and learning rate, "
           "tuned until the validation loss stops improving.\n"
           "3. **Probing experiment**: `seed_text` and `gen_length` in the last code cell.\n\n"
           "Use a GPU runtime (Colab: *Runtime > Change runtime type > T4 GPU*). Submit the notebook "
           "as an `.ipynb` file with every cell run and its outputs saved.\n\n"
           "**How it is graded.** The grader reads your notebook without running it: it keeps the "
           "imports, the classes and functions you define and the hyperparameter values, then retrains "
           "your `CharLSTM` with the same pipeline and compares it with a reference model. So keep the "
           "names `CharLSTM`, `embedding_dim`, `hidden_size`, `num_layers` and `learning_rate` and the "
           "constructor's parameters as given, and write your written answers in the two answer cells "
           "at the end (do not delete them: they are labelled for the grader)."),
        md("## Setup\n\nThe model and every batch go to `device`: the GPU when there is one, otherwise the CPU. "
           "Use `.to(device)`, never `.cuda()`, so the notebook also runs where there is no GPU."),
        code("from collections.abc import Iterator\nfrom dataclasses import dataclass, field\n\nimport torch\nfrom torch import nn\n\n"
             'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")\nprint("device:", device)'),
        md("## The data\n\n`corpus.txt` (upload it next to the notebook on Colab) is about 400,000 characters of "
           "English prose. A model that knew only how often each character occurs would score its unigram "
           "entropy, about 3.1 nats per character; yours should end far below that."),
        code('DATA_PATH = "corpus.txt"\n\nwith open(DATA_PATH, encoding="utf-8") as f:\n    text = f.read()\n'
             "print(len(text), \"characters\")\nprint(text[:300])"),
        md("## Vocabulary and encoding\n\nEach distinct character gets an id (its position in sorted order); "
           "the text becomes a tensor of ids."),
        code(source_of(charlstm.Vocabulary) + "\n\nvocab = Vocabulary.from_text(text)\nencoded = vocab.encode(text)\n"
             'print(len(vocab), "characters in the vocabulary:", repr("".join(vocab.chars)))'),
        md("## Training and validation split, and batches\n\nThe last 10% of the text is held out for "
           "validation. For training, the text is cut into `batch_size` rows read side by side; each batch "
           "is the next `seq_length` characters of every row, and the targets are the same characters "
           "shifted by one. Row *i* of one batch continues in row *i* of the next, which is why the hidden "
           "state can be carried from batch to batch."),
        code(source_of(charlstm.split_corpus, charlstm.batches)
             + "\n\ntrain_ids, val_ids = split_corpus(encoded, 0.1)\nx, y = next(batches(train_ids, 2, 12))\n"
             "print(repr(vocab.decode(x[0])), \"->\", repr(vocab.decode(y[0])))"),
        md("## The model (TODO)\n\n`CharLSTM(vocab_size, embedding_dim, hidden_size, num_layers, dropout)`:\n\n"
           "- an `nn.Embedding` turns each character id into a vector of `embedding_dim` numbers;\n"
           "- an `nn.LSTM` with `num_layers` layers of `hidden_size` units (with `batch_first=True`, its "
           "input is (batch, seq, embedding_dim)) carries the hidden state `(h, c)`;\n"
           "- dropout on the LSTM's outputs, then an `nn.Linear` to one score (logit) per character.\n\n"
           "`forward(x, hidden)` returns the logits, shape (batch, seq, vocab_size), and the new hidden state. "
           "`init_hidden(batch_size)` returns `(h, c)`, two zero tensors of shape "
           "(num_layers, batch_size, hidden_size) on the model's device."),
        code(model_code),
        md("## Hyperparameters (TODO)\n\nThe values below train, but poorly. Tune the first four for the lowest "
           "validation loss you can reach; a two-layer model of a few hundred units with a learning rate "
           "around 0.001 to 0.005 is a sensible start. Record what you tried in the answer cell *coding.convergence*."),
        code(f"embedding_dim = {h['embedding_dim']}\nhidden_size = {h['hidden_size']}\n"
             f"num_layers = {h['num_layers']}\nlearning_rate = {h['learning_rate']}\n\n"
             "dropout = 0.2\nbatch_size = 64\nseq_length = 100\nepochs = 10"),
        md("## Training\n\nThe loss is the cross-entropy of each next-character prediction in nats per character. "
           "The hidden state is detached between batches (truncated backpropagation through time) and "
           "gradients are clipped, which keeps LSTM training stable."),
        code(source_of(charlstm.detach_hidden, charlstm.evaluate) + "\n\n" + TRAINING_LOOP),
        code("model = CharLSTM(len(vocab), embedding_dim, hidden_size, num_layers, dropout).to(device)\n"
             "history = train(model, train_ids, val_ids, epochs, batch_size, seq_length, learning_rate)"),
        md("## Probing experiment (TODO)\n\nThe model writes text one character at a time: it reads `seed_text`, "
           "then repeatedly samples the next character from its predicted distribution. `temperature` below "
           "1 makes it more conservative, above 1 more adventurous; `top_k` keeps only the k likeliest "
           "characters. Try different seeds, lengths and temperatures."),
        code(source_of(charlstm.generate)),
        code('seed_text = "The miller"\ngen_length = 300\ntemperature = 0.8\ntop_k = None\n\n'
             "print(generate(model, vocab, seed_text, gen_length, temperature=temperature, top_k=top_k, seed=0))"),
        md("## Written answers\n\nWrite in the cells below each question; keep them as they are (text cells, "
           "not deleted or split), the grader finds them by their label."),
    ]
    for part, question in ANSWER_PARTS.items():
        out.append(md(question))
        out.append(md("*Your answer here.*", metadata={"grader": {"part": part}}))
    return out


def build(kind: str) -> str:
    notebook = new_notebook(cells=cells(kind), metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for number, cell in enumerate(notebook.cells, start=1):
        cell["id"] = f"{kind}-{number:02d}"
    nbformat.validate(notebook)
    return nbformat.writes(notebook)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    check = parser.parse_args().check
    stale = []
    for kind, path in NOTEBOOKS.items():
        text = build(kind)
        if check:
            same = path.exists() and path.read_text(encoding="utf-8") == text
            print(f"{path}: {'up to date' if same else 'differs from the build script; rebuild it'}")
            stale += [] if same else [path]
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
