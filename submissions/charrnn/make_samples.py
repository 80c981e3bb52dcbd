"""Write the sample student notebooks of the CharRNN course: copies of
assignments/charrnn/starter.ipynb filled in the way students fill in this exercise, with saved
training logs, printed nets, errors and some Colab files. tests/test_charrnn_course.py grades them
all and benchmarks/bench_charrnn.py grades them at the rubric's real budget. Rebuild after
changing the starter:

    python submissions/charrnn/make_samples.py

Correct models of varied sizes (hidden x layers) and styles:
- s01-correct-256x2: the course's own code, run top to bottom;
- s02-correct-128x1: a small single-layer net, LSTM dropout turned off for one layer, its own
  get_batches (inputs and targets sliced from two shifted arrays);
- s03-correct-512x2: `reshape`, `torch.zeros` hidden state;
- s04-correct-768x3: three layers, saved by Colab;
- s05-correct-1024x2: a wide net trained on a Colab GPU;
- s06-correct-custom-init-512x2: an init_weights method (xavier input weights, orthogonal recurrent
  weights, forget-gate bias 1);
- s07-correct-lr-2e-3-256x2: `lr = 0.002` set at top level and passed to train().

One bug each:
- s08-bug-contigious-typo: `.contigious()` in forward (saved AttributeError);
- s09-bug-dropout-in-bias-slot: `nn.LSTM(..., n_layers, drop_prob, ...)`: drop_prob is the bias;
- s10-bug-targets-shifted-wrong: get_batches' targets are the previous characters;
- s11-bug-short-last-batch: get_batches keeps a multiple of batch_size only and yields a short
  last batch (the training loop edited to `reshape(-1)` so it runs);
- s12-bug-reshape-by-n-batches: get_batches reshapes into n_batches rows (saved RuntimeError);
- s13-bug-no-dropout-layer: no dropout layer between the LSTM and the linear layer.

Blanks:
- s14-blank-starter: the starter as handed out;
- s15-blank-partial: get_batches and the layers done, forward and the hyperparameters left as TODO
  (saved SyntaxError).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
STARTER = HERE.parents[1] / "assignments" / "charrnn" / "starter.ipynb"
ANSI_RED, ANSI_GREEN, ANSI_RESET = "\x1b[0;31m", "\x1b[0;32m", "\x1b[0m"
VOCAB = 67  # characters in assignments/charrnn/corpus.txt
TRAIN_CHARS = 272_421  # the 90% train() keeps of the corpus's 302,690 characters

COLAB = {"accelerator": "GPU", "colab": {"collapsed_sections": [], "name": "", "provenance": []},
         "kernelspec": {"display_name": "Python 3", "name": "python3"}, "language_info": {"name": "python"}}


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def stream(text: str, name: str = "stdout") -> dict:
    return {"name": name, "output_type": "stream", "text": lines(text)}


def result(text: str) -> dict:
    return {"data": {"text/plain": lines(text)}, "execution_count": None, "metadata": {},
            "output_type": "execute_result"}


def error(ename: str, evalue: str, frames: list[str]) -> dict:
    traceback = [f"{ANSI_RED}---------------------------------------------------------------------------{ANSI_RESET}",
                 f"{ANSI_RED}{ename}{ANSI_RESET}                         Traceback (most recent call last)",
                 *frames, f"{ANSI_RED}{ename}{ANSI_RESET}: {evalue}"]
    return {"ename": ename, "evalue": evalue, "output_type": "error", "traceback": traceback}


class Copy:
    """A student's copy of the starter: cells found by their id, filled in and run in order."""

    def __init__(self, colab: bool = False):
        self.notebook = json.loads(STARTER.read_text(encoding="utf-8"))
        self.counter = 0
        if colab:  # Colab saves nbformat 4.0 with its own metadata and keeps cell ids in the cell's metadata
            self.notebook["nbformat_minor"] = 0
            self.notebook["metadata"] = COLAB
            for cell in self.notebook["cells"]:
                cell["metadata"] = {**cell["metadata"], "id": cell.pop("id")}

    def cell(self, cell_id: str) -> dict:
        return next(c for c in self.notebook["cells"] if c.get("id", c["metadata"].get("id")) == cell_id)

    def run(self, cell_id: str, source: str | None = None, outputs: list | None = None):
        """Set a code cell's text (when given), the next execution count and its outputs."""
        cell = self.cell(cell_id)
        if source is not None:
            cell["source"] = lines(source.rstrip("\n"))
        self.counter += 1
        cell["execution_count"] = self.counter
        cell["outputs"] = [dict(o, execution_count=self.counter) if o["output_type"] == "execute_result" else o
                           for o in outputs or []]

    def edit(self, cell_id: str, old: str, new: str):
        cell = self.cell(cell_id)
        source = "".join(cell["source"])
        assert old in source, (cell_id, old)
        cell["source"] = lines(source.replace(old, new))

    def answer(self, text: str):
        next(c for c in self.notebook["cells"] if c["metadata"].get("grader"))["source"] = lines(text)

    def pipeline(self):
        """The data cells, run as given, up to the model."""
        self.run("imports")
        self.run("load")
        self.run("peek", outputs=[result("'THE VALLEY CHRONICLE\\n\\n\\nCHAPTER I\\n\\nTHE FORD\\n\\nThe weaver walked "
                                         "towards the old granary at Oxley, and she counted'")])
        self.run("tokenize")
        self.run("encoded", outputs=[result("array([22, 52, 30, 58, 45, 11, 62, 24, 62, 45,  3, 58, 36, 52, 17,\n"
                                            "       56, 41, 45, 62,  8,  8,  8, 36, 52, 11, 18, 58, 30, 17, 45,\n"
                                            "       ...])")])
        self.run("one-hot")
        self.run("one-hot-test", outputs=[stream("[[[0. 0. 0. 1. 0. 0. 0. 0.]\n  [0. 0. 0. 0. 0. 1. 0. 0.]\n"
                                                 "  [0. 1. 0. 0. 0. 0. 0. 0.]]]\n")])

    def batches(self, source: str, outputs: list | None = None):
        self.run("batches", source)
        self.run("batches-test", outputs=outputs or [stream(BATCH_PRINT)])

    def model(self, source: str, gpu: bool = False):
        self.run("gpu", outputs=[stream("Training on GPU!\n" if gpu else
                                        "No GPU available, training on CPU; consider making n_epochs very small.\n")])
        self.run("model", source)
        self.run("train")

    def train(self, hyper: str, net: str, log: str, training: str | None = None):
        self.run("hyper", hyper, outputs=[stream(net)])
        self.run("training", training, outputs=[stream(log)])

    def sample(self, text: str):
        self.run("checkpoint")
        self.run("predict")
        self.run("sample")
        self.run("sampling", outputs=[stream(text + "\n")])

    def text(self) -> str:
        return json.dumps(self.notebook, indent=1, ensure_ascii=False) + "\n"


BATCH_PRINT = """x
 [[22 52 30 58 45 11 62 24 62 45]
 [17 45 56 39 11 24 45 62 41 36]
 [45 58 52 17 45 30 45 39 11 52]
 [62 45 24 52 30 45 56 41 11 58]
 [39 11 45 62 36 52 45 17 58 45]
 [11 52 45 30 62 24 45 58 39 56]
 [45 17 36 52 45 62 11 41 45 30]
 [58 45 62 39 17 45 52 11 24 45]]

y
 [[52 30 58 45 11 62 24 62 45  3]
 [45 56 39 11 24 45 62 41 36 52]
 [58 52 17 45 30 45 39 11 52 45]
 [45 24 52 30 45 56 41 11 58 62]
 [11 45 62 36 52 45 17 58 45 39]
 [52 45 30 62 24 45 58 39 56 17]
 [17 36 52 45 62 11 41 45 30 11]
 [45 62 39 17 45 52 11 24 45 58]]
"""

HEAD = '''class CharRNN(nn.Module):

    def __init__(self, tokens, n_hidden=256, n_layers=2,
                               drop_prob=0.5, lr=0.001):
        super().__init__()
        self.drop_prob = drop_prob
        self.n_layers = n_layers
        self.n_hidden = n_hidden
        self.lr = lr

        # creating character dictionaries
        self.chars = tokens
        self.int2char = dict(enumerate(self.chars))
        self.char2int = {ch: ii for ii, ch in self.int2char.items()}
'''

LAYERS = '''
        ## define the LSTM
        self.lstm = nn.LSTM(len(self.chars), n_hidden, n_layers,
                            dropout=drop_prob, batch_first=True)

        ## define a dropout layer
        self.dropout = nn.Dropout(drop_prob)

        ## define the final, fully-connected output layer
        self.fc = nn.Linear(n_hidden, len(self.chars))
'''

FORWARD = '''

    def forward(self, x, hidden):
        \'\'\' Forward pass through the network.
            These inputs are x, and the hidden/cell state `hidden`. \'\'\'

        ## Get the outputs and the new hidden state from the lstm
        r_output, hidden = self.lstm(x, hidden)

        ## pass through a dropout layer
        out = self.dropout(r_output)

        # Stack up LSTM outputs using view
        # you may need to use contiguous to reshape the output
        out = out.contiguous().view(-1, self.n_hidden)

        ## put x through the fully-connected layer
        out = self.fc(out)

        # return the final output and the hidden state
        return out, hidden
'''

INIT_HIDDEN = '''

    def init_hidden(self, batch_size):
        \'\'\' Initializes hidden state \'\'\'
        # Create two new tensors with sizes n_layers x batch_size x n_hidden,
        # initialized to zero, for hidden state and cell state of LSTM
        weight = next(self.parameters()).data

        if (train_on_gpu):
            hidden = (weight.new(self.n_layers, batch_size, self.n_hidden).zero_().cuda(),
                  weight.new(self.n_layers, batch_size, self.n_hidden).zero_().cuda())
        else:
            hidden = (weight.new(self.n_layers, batch_size, self.n_hidden).zero_(),
                      weight.new(self.n_layers, batch_size, self.n_hidden).zero_())

        return hidden
'''

COURSE_MODEL = HEAD + LAYERS + FORWARD + INIT_HIDDEN

COMPACT_MODEL = '''class CharRNN(nn.Module):

    def __init__(self, tokens, n_hidden=256, n_layers=2, drop_prob=0.5, lr=0.001):
        super().__init__()
        self.drop_prob = drop_prob
        self.n_layers = n_layers
        self.n_hidden = n_hidden
        self.lr = lr

        self.chars = tokens
        self.int2char = dict(enumerate(self.chars))
        self.char2int = {ch: ii for ii, ch in self.int2char.items()}

        # no dropout inside a single-layer LSTM (torch warns about it), the dropout layer does the job
        self.lstm = nn.LSTM(len(self.chars), n_hidden, n_layers,
                            dropout=drop_prob if n_layers > 1 else 0, batch_first=True)
        self.dropout = nn.Dropout(drop_prob)
        self.fc = nn.Linear(n_hidden, len(self.chars))

    def forward(self, x, hidden):
        lstm_out, hidden = self.lstm(x, hidden)
        out = self.dropout(lstm_out)
        out = out.reshape(-1, self.n_hidden)   # (batch*seq, n_hidden)
        out = self.fc(out)
        return out, hidden

    def init_hidden(self, batch_size):
        device = next(self.parameters()).device
        h = torch.zeros(self.n_layers, batch_size, self.n_hidden, device=device)
        c = torch.zeros(self.n_layers, batch_size, self.n_hidden, device=device)
        return (h, c)
'''

INIT_WEIGHTS = '''
        self.init_weights()

    def init_weights(self):
        \'\'\' Xavier for the input weights, orthogonal for the recurrent ones, forget gate bias 1 \'\'\'
        for name, param in self.lstm.named_parameters():
            if 'weight_ih' in name:
                nn.init.xavier_uniform_(param.data)
            elif 'weight_hh' in name:
                nn.init.orthogonal_(param.data)
            elif 'bias' in name:
                param.data.fill_(0)
                n = param.size(0)
                param.data[n//4:n//2].fill_(1.)   # gates are i, f, g, o
        nn.init.xavier_uniform_(self.fc.weight)
        self.fc.bias.data.fill_(0)
'''

CUSTOM_INIT_MODEL = HEAD + LAYERS + INIT_WEIGHTS + FORWARD + INIT_HIDDEN

COURSE_BATCHES = '''def get_batches(arr, batch_size, seq_length):
    \'\'\'Create a generator that returns batches of size
       batch_size x seq_length from arr.

       Arguments
       ---------
       arr: Array you want to make batches from
       batch_size: Batch size, the number of sequences per batch
       seq_length: Number of encoded chars in a sequence
    \'\'\'
    batch_size_total = batch_size * seq_length
    # total number of batches we can make
    n_batches = len(arr)//batch_size_total

    # Keep only enough characters to make full batches
    arr = arr[:n_batches * batch_size_total]
    # Reshape into batch_size rows
    arr = arr.reshape((batch_size, -1))

    # iterate through the array, one sequence at a time
    for n in range(0, arr.shape[1], seq_length):
        # The features
        x = arr[:, n:n+seq_length]
        # The targets, shifted by one
        y = np.zeros_like(x)
        try:
            y[:, :-1], y[:, -1] = x[:, 1:], arr[:, n+seq_length]
        except IndexError:
            y[:, :-1], y[:, -1] = x[:, 1:], arr[:, 0]
        yield x, y
'''

SLICED_BATCHES = '''def get_batches(arr, batch_size, seq_length):
    \'\'\'Batches of batch_size x seq_length from arr, the targets one character ahead.\'\'\'
    n_batches = len(arr) // (batch_size * seq_length)
    arr = arr[:n_batches * batch_size * seq_length + 1]
    inputs = arr[:-1].reshape((batch_size, -1))
    targets = arr[1:].reshape((batch_size, -1))
    for n in range(0, inputs.shape[1], seq_length):
        yield inputs[:, n:n+seq_length], targets[:, n:n+seq_length]
'''


def net_print(hidden: int, layers: int, dropout: str = "0.5", lstm_extra: str = "", drop_layer: bool = True) -> str:
    lstm = f"LSTM({VOCAB}, {hidden}, num_layers={layers}{lstm_extra}, batch_first=True"
    lstm += f", dropout={dropout})" if layers > 1 and not lstm_extra else ")"
    out = f"CharRNN(\n  (lstm): {lstm}\n"
    out += f"  (dropout): Dropout(p={dropout}, inplace=False)\n" if drop_layer else ""
    return out + f"  (fc): Linear(in_features={hidden}, out_features={VOCAB}, bias=True)\n)\n"


def training_log(seed: int, final: float, epochs: int = 20, batch_size: int = 128, seq_length: int = 100,
                 gap: float = 0.06, every: int = 10) -> str:
    """The course's log lines: a plateau near 3.1 (character frequencies), then a fall towards `final`."""
    rng = random.Random(seed)
    per_epoch = TRAIN_CHARS // (batch_size * seq_length)
    total = per_epoch * epochs
    out = []
    for step in range(every, total + 1, every):
        progress = step / total
        val = final + (3.15 - final) * math.exp(-6 * max(progress - 0.04, 0)) + rng.uniform(-0.01, 0.01)
        loss = val - gap * progress + rng.uniform(-0.04, 0.04)
        out.append(f"Epoch: {(step - 1) // per_epoch + 1}/{epochs}... Step: {step}... Loss: {loss:.4f}... "
                   f"Val Loss: {val:.4f}")
    return "\n".join(out) + "\n"


GOOD_SAMPLE = ("The miller walked to the old mill at Kelmoor, and he counted the sacks. \"I felt glad,\" said the "
               "miller. The rain was cold before the ferryman came back to the landing.\n\nThe weaver hurried "
               "towards the market, but she said nothing. There were twelve geese by the ford at Dunmere.")
SMALL_SAMPLE = ("Thes the wered to the mald at Ashford, and he walked the lantern. \"I wast the saiter,\" said "
                "the whe morning the ware to the grey brad.")


def hyper(hidden: int, layers: int, extra: str = "") -> str:
    return (f"# define and print the net\nn_hidden={hidden}\nn_layers={layers}\n{extra}\n"
            "net = CharRNN(chars, n_hidden, n_layers)\nprint(net)\n")


def correct(hidden: int, layers: int, model: str = COURSE_MODEL, *, colab: bool = False, gpu: bool = False,
            batches: str = COURSE_BATCHES, final: float = 1.1, answer: str, sample: str = GOOD_SAMPLE,
            hyper_extra: str = "", training: str | None = None, net: str | None = None) -> str:
    nb = Copy(colab=colab)
    nb.pipeline()
    nb.batches(batches)
    nb.model(model, gpu=gpu)
    nb.train(hyper(hidden, layers, hyper_extra), net or net_print(hidden, layers), training_log(hidden * layers, final),
             training)
    nb.answer(answer)
    nb.sample(sample)
    return nb.text()


def s01() -> str:
    return correct(256, 2, answer="I kept the default 256 hidden units and 2 layers. The validation loss went down to "
                   "1.10 after 20 epochs and was still close to the training loss, so the net is not overfitting; "
                   "a bigger one would probably do a bit better.")


def s02() -> str:
    return correct(128, 1, COMPACT_MODEL, batches=SLICED_BATCHES, final=1.45, sample=SMALL_SAMPLE,
                   net=net_print(128, 1), answer="My laptop has no GPU so I used a small net, 128 units and one layer. "
                   "Val loss 1.45 at the end. With 2 layers it was 3x slower. It underfits (train and val loss are "
                   "the same) so more units would help.")


def s03() -> str:
    return correct(512, 2, COMPACT_MODEL, final=0.95, answer="n_hidden=512, n_layers=2 (I tried 256x2: val loss 1.10, "
                   "and 512x3, which was slower and not better). Final val loss 0.95. The val loss was still going "
                   "down, so no overfitting yet.")


def s04() -> str:
    return correct(768, 3, colab=True, gpu=True, final=0.92, answer="768 hidden, 3 layers, trained on a Colab "
                   "GPU. Val loss 0.92 after 20 epochs; it was at 3.1 for the first 50 steps, which I read is normal "
                   "(the model first learns letter frequencies).")


def s05() -> str:
    return correct(1024, 2, colab=True, gpu=True, final=0.88, answer="1024x2 on a GPU: val loss 0.88. With dropout "
                   "0.5 the train loss stays above the val loss, so no overfitting; 512x2 got 0.95.")


def s06() -> str:
    return correct(512, 2, CUSTOM_INIT_MODEL, final=0.93, answer="512 units, 2 layers. I initialised the input "
                   "weights with xavier, the recurrent ones orthogonally and the forget-gate bias at 1; the loss left "
                   "the 3.1 plateau after about 30 steps instead of 60. Final val loss 0.93.")


def s07() -> str:
    training = ("batch_size = 128\nseq_length = 100\nn_epochs = 20 # start smaller if you are just testing initial "
                "behavior\n\n# train the model\ntrain(net, encoded, epochs=n_epochs, batch_size=batch_size, "
                "seq_length=seq_length, lr=lr, print_every=10)\n")
    return correct(256, 2, colab=True, gpu=True, final=1.02, hyper_extra="lr=0.002\n", training=training,
                   answer="256x2 with a learning rate of 0.002 instead of 0.001: it trains faster and reaches val loss "
                   "1.02 in 20 epochs (0.001 gave 1.10). 0.01 was unstable.")


def buggy(model: str = COURSE_MODEL, batches: str = COURSE_BATCHES, *, hidden: int = 256, layers: int = 2,
          net: str | None = None, log: str | None = None, training: str | None = None, colab: bool = False,
          sample: str | None = GOOD_SAMPLE, answer: str = "") -> Copy:
    nb = Copy(colab=colab)
    nb.pipeline()
    nb.batches(batches)
    nb.model(model, gpu=colab)
    nb.train(hyper(hidden, layers), net or net_print(hidden, layers), log or training_log(7 * hidden, 1.12), training)
    if answer:
        nb.answer(answer)
    if sample:
        nb.sample(sample)
    return nb


def s08() -> str:
    nb = buggy(COURSE_MODEL.replace(".contiguous()", ".contigious()"), sample=None)
    nb.cell("training")["outputs"] = [error("AttributeError", "'Tensor' object has no attribute 'contigious'", [
        "Cell In[21], line 6", "----> 6 train(net, encoded, epochs=n_epochs, batch_size=batch_size, "
        "seq_length=seq_length, lr=0.001, print_every=10)",
        "Cell In[19], line 56, in train(net, data, epochs, batch_size, seq_length, lr, clip, val_frac, print_every)",
        "---> 56     output, h = net(inputs, h)",
        "Cell In[18], line 35, in CharRNN.forward(self, x, hidden)",
        "---> 35 out = out.contigious().view(-1, self.n_hidden)"])]
    return nb.text()


def s09() -> str:
    bias_slot = COURSE_MODEL.replace("n_layers,\n                            dropout=drop_prob, batch_first=True)",
                                     "n_layers, drop_prob, batch_first=True)")
    assert bias_slot != COURSE_MODEL
    return buggy(bias_slot, colab=True, net=net_print(256, 2, lstm_extra=", bias=0.5"),
                 answer="Default sizes, 256 and 2 layers, dropout 0.5. Val loss 1.12.").text()


def s10() -> str:
    shifted = COURSE_BATCHES.replace(
        "y[:, :-1], y[:, -1] = x[:, 1:], arr[:, n+seq_length]\n        except IndexError:\n"
        "            y[:, :-1], y[:, -1] = x[:, 1:], arr[:, 0]",
        "y[:, 1:], y[:, 0] = x[:, :-1], arr[:, n-1]\n        except IndexError:\n"
        "            y[:, 1:], y[:, 0] = x[:, :-1], arr[:, -1]")
    assert shifted != COURSE_BATCHES
    return buggy(batches=shifted, log=training_log(10, 0.04, gap=0.01), sample="TheTTTTTTTTTTTTTTTTTTTTTTTTTTT",
                 answer="256x2. The loss went down really fast to 0.04, so the model learned the text very well, "
                 "but the samples are strange.").text()


def s11() -> str:
    short = '''def get_batches(arr, batch_size, seq_length):
    \'\'\'Create a generator that returns batches of size
       batch_size x seq_length from arr.
    \'\'\'
    # Keep only enough characters to fill batch_size rows
    arr = arr[:len(arr) - len(arr) % batch_size]
    # Reshape into batch_size rows
    arr = arr.reshape((batch_size, -1))

    for n in range(0, arr.shape[1] - 1, seq_length):
        # The features
        x = arr[:, n:n+seq_length]
        # The targets, shifted by one
        y = arr[:, n+1:n+seq_length+1]
        x = x[:, :y.shape[1]]   # the last window is one shorter
        yield x, y
'''
    nb = buggy(batches=short, answer="n_hidden 256 and 2 layers. I had to change the view in the loss to reshape(-1) "
               "because the last batch crashed. Val loss 1.13.")
    nb.edit("train", "targets.view(batch_size*seq_length).long()", "targets.reshape(-1).long()")
    return nb.text()


def s12() -> str:
    by_batches = COURSE_BATCHES.replace("# Reshape into batch_size rows\n    arr = arr.reshape((batch_size, -1))",
                                        "# Reshape into rows\n    arr = arr.reshape((n_batches, -1))")
    assert by_batches != COURSE_BATCHES
    nb = buggy(batches=by_batches, sample=None)
    nb.cell("training")["outputs"] = [error("RuntimeError", "Expected hidden[0] size (2, 21, 256), got [2, 128, 256]", [
        "Cell In[21], line 6", "----> 6 train(net, encoded, epochs=n_epochs, batch_size=batch_size, "
        "seq_length=seq_length, lr=0.001, print_every=10)",
        "Cell In[19], line 56, in train(net, data, epochs, batch_size, seq_length, lr, clip, val_frac, print_every)",
        "---> 56     output, h = net(inputs, h)"])]
    return nb.text()


def s13() -> str:
    no_dropout = COURSE_MODEL.replace(
        "\n        ## define a dropout layer\n        self.dropout = nn.Dropout(drop_prob)\n", "").replace(
        "\n        ## pass through a dropout layer\n        out = self.dropout(r_output)\n", "\n        out = r_output\n")
    assert no_dropout.count("Dropout") == 0 and "out = r_output" in no_dropout
    return buggy(no_dropout, net=net_print(256, 2, drop_layer=False),
                 answer="256 hidden, 2 layers. The LSTM already has dropout=drop_prob so I left out the extra "
                 "dropout layer. Val loss 1.08.").text()


def s14() -> str:
    return Copy().text()


def s15() -> str:
    nb = Copy(colab=True)
    nb.pipeline()
    nb.batches(COURSE_BATCHES)
    layers_only = "".join(nb.cell("model")["source"]).replace(
        "        ## TODO: define the layers of the model\n", "        ## TODO: define the layers of the model" + LAYERS)
    nb.model(layers_only, gpu=True)
    nb.run("hyper", outputs=[error("SyntaxError", "invalid syntax", [
        '  File "<ipython-input-14-0b1f2a4c8e6d>", line 3', "    n_hidden=", "             ^"])])
    return nb.text()


SAMPLES = {
    "s01-correct-256x2": s01, "s02-correct-128x1": s02, "s03-correct-512x2": s03, "s04-correct-768x3": s04,
    "s05-correct-1024x2": s05, "s06-correct-custom-init-512x2": s06, "s07-correct-lr-2e-3-256x2": s07,
    "s08-bug-contigious-typo": s08, "s09-bug-dropout-in-bias-slot": s09, "s10-bug-targets-shifted-wrong": s10,
    "s11-bug-short-last-batch": s11, "s12-bug-reshape-by-n-batches": s12, "s13-bug-no-dropout-layer": s13,
    "s14-blank-starter": s14, "s15-blank-partial": s15,
}


def main() -> None:
    for name, make in SAMPLES.items():
        (HERE / f"{name}.ipynb").write_text(make(), encoding="utf-8")
        print(f"wrote {HERE / name}.ipynb")


if __name__ == "__main__":
    main()
