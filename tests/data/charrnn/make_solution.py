"""Writes solution.ipynb: a Udacity-style CharRNN notebook (one-hot input, no embedding, flat
logits, the classic `get_batches(arr, batch_size, seq_length)`, a `sample(net, size, prime, top_k)`
generator), the scaffold tests/test_program.py grades
with charrnn.yaml to show that another course's notebook needs only a new rubric.

Run `python tests/data/charrnn/make_solution.py` after editing the cells below.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

CELLS = [
    ("markdown", "# Character-level LSTM in PyTorch\n\nA network that predicts the next character from the "
                 "characters before it, trained on a text one character at a time."),
    ("code", '''\
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

train_on_gpu = torch.cuda.is_available()
'''),
    ("code", '''\
with open('corpus.txt', 'r') as f:
    text = f.read()

chars = tuple(sorted(set(text)))
int2char = dict(enumerate(chars))
char2int = {ch: ii for ii, ch in int2char.items()}
encoded = np.array([char2int[ch] for ch in text])
'''),
    ("code", '''\
def one_hot_encode(arr, n_labels):
    one_hot = np.zeros((arr.size, n_labels), dtype=np.float32)
    one_hot[np.arange(one_hot.shape[0]), arr.flatten()] = 1.
    one_hot = one_hot.reshape((*arr.shape, n_labels))
    return one_hot
'''),
    ("code", '''\
def get_batches(arr, batch_size, seq_length):
    """Yields batches of (x, y), each batch_size x seq_length; y is x shifted by one, its last column
    the character after the window (the text's first character after the last window)."""
    batch_size_total = batch_size * seq_length
    n_batches = len(arr) // batch_size_total
    arr = arr[:n_batches * batch_size_total]
    arr = arr.reshape((batch_size, -1))
    for n in range(0, arr.shape[1], seq_length):
        x = arr[:, n:n + seq_length]
        y = np.zeros_like(x)
        try:
            y[:, :-1], y[:, -1] = x[:, 1:], arr[:, n + seq_length]
        except IndexError:
            y[:, :-1], y[:, -1] = x[:, 1:], arr[:, 0]
        yield x, y
'''),
    ("code", '''\
class CharRNN(nn.Module):

    def __init__(self, tokens, n_hidden=256, n_layers=2, drop_prob=0.5, lr=0.001):
        super().__init__()
        self.drop_prob = drop_prob
        self.n_layers = n_layers
        self.n_hidden = n_hidden
        self.lr = lr

        self.chars = tokens
        self.int2char = dict(enumerate(self.chars))
        self.char2int = {ch: ii for ii, ch in self.int2char.items()}

        self.lstm = nn.LSTM(len(self.chars), n_hidden, n_layers, dropout=drop_prob, batch_first=True)
        self.dropout = nn.Dropout(drop_prob)
        self.fc = nn.Linear(n_hidden, len(self.chars))

    def forward(self, x, hidden):
        r_output, hidden = self.lstm(x, hidden)
        out = self.dropout(r_output)
        out = out.contiguous().view(-1, self.n_hidden)
        out = self.fc(out)
        return out, hidden

    def init_hidden(self, batch_size):
        weight = next(self.parameters()).data
        if (train_on_gpu):
            hidden = (weight.new(self.n_layers, batch_size, self.n_hidden).zero_().cuda(),
                      weight.new(self.n_layers, batch_size, self.n_hidden).zero_().cuda())
        else:
            hidden = (weight.new(self.n_layers, batch_size, self.n_hidden).zero_(),
                      weight.new(self.n_layers, batch_size, self.n_hidden).zero_())
        return hidden
'''),
    ("code", '''\
n_hidden = 64
n_layers = 1
drop_prob = 0.0
lr = 0.02

net = CharRNN(chars, n_hidden, n_layers, drop_prob, lr)
print(net)
'''),
    ("code", '''\
def predict(net, char, h=None, top_k=None):
    x = np.array([[net.char2int[char]]])
    x = one_hot_encode(x, len(net.chars))
    inputs = torch.from_numpy(x)
    if (train_on_gpu):
        inputs = inputs.cuda()
    h = tuple([each.data for each in h])
    out, h = net(inputs, h)
    p = F.softmax(out, dim=1).data
    if (train_on_gpu):
        p = p.cpu()
    if top_k is None:
        top_ch = np.arange(len(net.chars))
    else:
        p, top_ch = p.topk(top_k)
        top_ch = top_ch.numpy().squeeze()
    p = p.numpy().squeeze()
    char = np.random.choice(top_ch, p=p / p.sum())
    return net.int2char[char], h


def sample(net, size, prime='The', top_k=None, seed=None):
    """prime followed by `size` sampled characters; `seed` seeds numpy's sampler."""
    if seed is not None:
        np.random.seed(seed)
    if (train_on_gpu):
        net.cuda()
    else:
        net.cpu()
    net.eval()
    chars = [ch for ch in prime]
    h = net.init_hidden(1)
    for ch in prime:
        char, h = predict(net, ch, h, top_k=top_k)
    chars.append(char)
    for ii in range(size - 1):
        char, h = predict(net, chars[-1], h, top_k=top_k)
        chars.append(char)
    return ''.join(chars)
'''),
    ("code", '''\
seed_text = 'The miller'
gen_length = 200
top_k = 5
print(sample(net, gen_length, prime=seed_text, top_k=top_k, seed=0))
'''),
]


def build() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    for index, (kind, source) in enumerate(CELLS):
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        cell = make(source.rstrip("\n") + "\n")
        cell["id"] = f"cell-{index}"
        notebook.cells.append(cell)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


if __name__ == "__main__":
    nbformat.write(build(), HERE / "solution.ipynb")
