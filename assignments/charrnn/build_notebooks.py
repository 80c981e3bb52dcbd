"""Build starter.ipynb (what students get) and solution.ipynb (the reference rubrics/charrnn.yaml
is calibrated on) for the CharRNN course: the widely used Udacity-style character-level LSTM
exercise, with its interface kept as students know it, so real submissions of it grade unchanged:

- `CharRNN(tokens, n_hidden=256, n_layers=2, drop_prob=0.5, lr=0.001)` reads one-hot characters,
  applies a dropout layer between the LSTM and the linear layer and returns logits flattened to
  (batch * seq, vocab) with the new (h, c);
- `get_batches(arr, batch_size, seq_length)`, `one_hot_encode`, `train(net, data, ..., lr=0.001)`
  (the learning rate is an argument, not a notebook variable) and `sample(net, size, prime='The',
  top_k=None)`, which returns the prime and size + 1 characters and draws from numpy's generator;
- the hyperparameter cell sets `n_hidden` and `n_layers` at top level, which the grader reads.

The starter has the course's `## TODO` stubs: blank assignments in get_batches and the
hyperparameter cell (`n_hidden=`, so those cells do not parse until filled in) and the layers and
forward pass of CharRNN. The notebooks share every other cell; cell ids are fixed, so rebuilding
gives the same bytes and submissions/charrnn/make_samples.py finds cells by id:

    python assignments/charrnn/build_notebooks.py            # rewrites both notebooks
    python assignments/charrnn/build_notebooks.py --check    # exits 1 if either differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
NOTEBOOKS = {"starter": HERE / "starter.ipynb", "solution": HERE / "solution.ipynb"}
ANSWER_PART = "coding.convergence"  # a part id of rubrics/charrnn.yaml

IMPORTS = """\
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
"""

LOAD = """\
# open text file and read in data as `text`
with open('corpus.txt', 'r') as f:
    text = f.read()
"""

TOKENIZE = """\
# encode the text and map each character to an integer and vice versa

# we create two dictionaries:
# 1. int2char, which maps integers to characters
# 2. char2int, which maps characters to unique integers
chars = tuple(set(text))
int2char = dict(enumerate(chars))
char2int = {ch: ii for ii, ch in int2char.items()}

# encode the text
encoded = np.array([char2int[ch] for ch in text])
"""

ONE_HOT = """\
def one_hot_encode(arr, n_labels):

    # Initialize the the encoded array
    one_hot = np.zeros((arr.size, n_labels), dtype=np.float32)

    # Fill the appropriate elements with ones
    one_hot[np.arange(one_hot.shape[0]), arr.flatten()] = 1.

    # Finally reshape it to get back to the original array
    one_hot = one_hot.reshape((*arr.shape, n_labels))

    return one_hot
"""

ONE_HOT_TEST = """\
# check that the function works as expected
test_seq = np.array([[3, 5, 1]])
one_hot = one_hot_encode(test_seq, 8)

print(one_hot)
"""

BATCHES_DOC = '''\
def get_batches(arr, batch_size, seq_length):
    \'\'\'Create a generator that returns batches of size
       batch_size x seq_length from arr.

       Arguments
       ---------
       arr: Array you want to make batches from
       batch_size: Batch size, the number of sequences per batch
       seq_length: Number of encoded chars in a sequence
    \'\'\'
'''

BATCHES = {
    "starter": BATCHES_DOC + """
    ## TODO: Get the number of batches we can make
    n_batches =

    ## TODO: Keep only enough characters to make full batches
    arr =

    ## TODO: Reshape into batch_size rows
    arr =

    ## TODO: Iterate over the batches using a window of size seq_length
    for n in range(0, arr.shape[1], seq_length):
        # The features
        x =
        # The targets, shifted by one
        y =
        yield x, y
""",
    "solution": BATCHES_DOC + """
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
""",
}

BATCHES_TEST = """\
batches = get_batches(encoded, 8, 50)
x, y = next(batches)

# printing out the first 10 items in a sequence
print('x\\n', x[:10, :10])
print('\\ny\\n', y[:10, :10])
"""

GPU = """\
# check if GPU is available
train_on_gpu = torch.cuda.is_available()
if(train_on_gpu):
    print('Training on GPU!')
else:
    print('No GPU available, training on CPU; consider making n_epochs very small.')
"""

MODEL_HEAD = """\
class CharRNN(nn.Module):

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
"""

MODEL_BODY = {
    "starter": """
        ## TODO: define the layers of the model


    def forward(self, x, hidden):
        ''' Forward pass through the network.
            These inputs are x, and the hidden/cell state `hidden`. '''

        ## TODO: Get the outputs and the new hidden state from the lstm

        # return the final output and the hidden state
        return out, hidden
""",
    "solution": """
        ## define the LSTM
        self.lstm = nn.LSTM(len(self.chars), n_hidden, n_layers,
                            dropout=drop_prob, batch_first=True)

        ## define a dropout layer
        self.dropout = nn.Dropout(drop_prob)

        ## define the final, fully-connected output layer
        self.fc = nn.Linear(n_hidden, len(self.chars))


    def forward(self, x, hidden):
        ''' Forward pass through the network.
            These inputs are x, and the hidden/cell state `hidden`. '''

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
""",
}

INIT_HIDDEN = """

    def init_hidden(self, batch_size):
        ''' Initializes hidden state '''
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
"""

TRAIN = """\
def train(net, data, epochs=10, batch_size=10, seq_length=50, lr=0.001, clip=5, val_frac=0.1, print_every=10):
    ''' Training a network

        Arguments
        ---------

        net: CharRNN network
        data: text data to train the network
        epochs: Number of epochs to train
        batch_size: Number of mini-sequences per mini-batch, aka batch size
        seq_length: Number of character steps per mini-batch
        lr: learning rate
        clip: gradient clipping
        val_frac: Fraction of data to hold out for validation
        print_every: Number of steps for printing training and validation loss

    '''
    net.train()

    opt = torch.optim.Adam(net.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()

    # create training and validation data
    val_idx = int(len(data)*(1-val_frac))
    data, val_data = data[:val_idx], data[val_idx:]

    if(train_on_gpu):
        net.cuda()

    counter = 0
    n_chars = len(net.chars)
    for e in range(epochs):
        # initialize hidden state
        h = net.init_hidden(batch_size)

        for x, y in get_batches(data, batch_size, seq_length):
            counter += 1

            # One-hot encode our data and make them Torch tensors
            x = one_hot_encode(x, n_chars)
            inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

            if(train_on_gpu):
                inputs, targets = inputs.cuda(), targets.cuda()

            # Creating new variables for the hidden state, otherwise
            # we'd backprop through the entire training history
            h = tuple([each.data for each in h])

            # zero accumulated gradients
            net.zero_grad()

            # get the output from the model
            output, h = net(inputs, h)

            # calculate the loss and perform backprop
            loss = criterion(output, targets.view(batch_size*seq_length).long())
            loss.backward()
            # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
            nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()

            # loss stats
            if counter % print_every == 0:
                # Get validation loss
                val_h = net.init_hidden(batch_size)
                val_losses = []
                net.eval()
                for x, y in get_batches(val_data, batch_size, seq_length):
                    # One-hot encode our data and make them Torch tensors
                    x = one_hot_encode(x, n_chars)
                    x, y = torch.from_numpy(x), torch.from_numpy(y)

                    # Creating new variables for the hidden state, otherwise
                    # we'd backprop through the entire training history
                    val_h = tuple([each.data for each in val_h])

                    inputs, targets = x, y
                    if(train_on_gpu):
                        inputs, targets = inputs.cuda(), targets.cuda()

                    output, val_h = net(inputs, val_h)
                    val_loss = criterion(output, targets.view(batch_size*seq_length).long())

                    val_losses.append(val_loss.item())

                net.train() # reset to train mode after iterationg through validation data

                print("Epoch: {}/{}...".format(e+1, epochs),
                      "Step: {}...".format(counter),
                      "Loss: {:.4f}...".format(loss.item()),
                      "Val Loss: {:.4f}".format(np.mean(val_losses)))
"""

HYPERPARAMETERS = {
    "starter": """\
## TODO: set your model hyperparameters
# define and print the net
n_hidden=
n_layers=

net = CharRNN(chars, n_hidden, n_layers)
print(net)
""",
    "solution": """\
# define and print the net
n_hidden=256
n_layers=2

net = CharRNN(chars, n_hidden, n_layers)
print(net)
""",
}

TRAINING = """\
batch_size = 128
seq_length = 100
n_epochs = 20 # start smaller if you are just testing initial behavior

# train the model
train(net, encoded, epochs=n_epochs, batch_size=batch_size, seq_length=seq_length, lr=0.001, print_every=10)
"""

CHECKPOINT = """\
# change the name, for saving multiple files
model_name = 'rnn_20_epoch.net'

checkpoint = {'n_hidden': net.n_hidden,
              'n_layers': net.n_layers,
              'state_dict': net.state_dict(),
              'tokens': net.chars}

with open(model_name, 'wb') as f:
    torch.save(checkpoint, f)
"""

PREDICT = """\
def predict(net, char, h=None, top_k=None):
        ''' Given a character, predict the next character.
            Returns the predicted character and the hidden state.
        '''

        # tensor inputs
        x = np.array([[net.char2int[char]]])
        x = one_hot_encode(x, len(net.chars))
        inputs = torch.from_numpy(x)

        if(train_on_gpu):
            inputs = inputs.cuda()

        # detach hidden state from history
        h = tuple([each.data for each in h])
        # get the output of the model
        out, h = net(inputs, h)

        # get the character probabilities
        p = F.softmax(out, dim=1).data
        if(train_on_gpu):
            p = p.cpu() # move to cpu

        # get top characters
        if top_k is None:
            top_ch = np.arange(len(net.chars))
        else:
            p, top_ch = p.topk(top_k)
            top_ch = top_ch.numpy().squeeze()

        # select the likely next character with some element of randomness
        p = p.numpy().squeeze()
        char = np.random.choice(top_ch, p=p/p.sum())

        # return the encoded value of the predicted char and the hidden state
        return net.int2char[char], h
"""

SAMPLE = """\
def sample(net, size, prime='The', top_k=None):

    if(train_on_gpu):
        net.cuda()
    else:
        net.cpu()

    net.eval() # eval mode

    # First off, run through the prime characters
    chars = [ch for ch in prime]
    h = net.init_hidden(1)
    for ch in prime:
        char, h = predict(net, ch, h, top_k=top_k)

    chars.append(char)

    # Now pass in the previous character and get a new one
    for ii in range(size):
        char, h = predict(net, chars[-1], h, top_k=top_k)
        chars.append(char)

    return ''.join(chars)
"""

SAMPLING = "print(sample(net, 1000, prime='The', top_k=5))\n"

QUESTION = ("**coding.convergence.** Which `n_hidden` and `n_layers` did you settle on, what else did you try, "
            "and what validation loss did your final run reach? Did the model overfit (validation loss rising "
            "while the training loss falls), and what did you change because of it?")


def cells(kind: str) -> list:
    """(cell id, cell) in notebook order; the ids are what make_samples.py edits by."""
    md, code = new_markdown_cell, new_code_cell
    return [
        ("title", md("# Character-Level LSTM in PyTorch\n\nIn this notebook, I'll construct a character-level LSTM "
                     "with PyTorch. The network will train character by character on some text, then generate new "
                     "text character by character. As an example, I will train on *The Valley Chronicle*, chapters "
                     "of prose about the people of a river valley. **This model will be able to generate new text "
                     "based on the text from the book!**")),
        ("imports", code(IMPORTS)),
        ("load-md", md("## Load in Data\n\nThen, we'll load the text file and convert it into integers for our "
                       "network to use.")),
        ("load", code(LOAD)),
        ("peek", code("text[:100]")),
        ("tokenize-md", md("### Tokenization\n\nIn the cells, below, I'm creating a couple **dictionaries** to "
                           "convert the characters to and from integers. Encoding the characters as integers "
                           "makes it easier to use as input in the network.")),
        ("tokenize", code(TOKENIZE)),
        ("encoded", code("encoded[:100]")),
        ("one-hot-md", md("## Pre-processing the data\n\nOur LSTM expects an input that is **one-hot encoded** "
                          "meaning that each character is converted into an integer (via our created dictionary) "
                          "and *then* converted into a column vector where only its corresponding integer index "
                          "will have the value of 1 and the rest of the vector will be filled with 0's.")),
        ("one-hot", code(ONE_HOT)),
        ("one-hot-test", code(ONE_HOT_TEST)),
        ("batches-md", md("## Making training mini-batches\n\nTo train on this data, we also want to create "
                          "mini-batches for training: `batch_size` sequences of `seq_length` characters, the "
                          "targets shifted by one character. Discard the characters that do not make a full "
                          "batch.\n\n**TODO:** Write the code for creating batches in the function below.")),
        ("batches", code(BATCHES[kind])),
        ("batches-test-md", md("### Test Your Implementation\n\nNow I'll make some data sets and we can check out "
                               "what's going on as we batch data. Here, as an example, I'm going to use a batch "
                               "size of 8 and 50 sequence steps.")),
        ("batches-test", code(BATCHES_TEST)),
        ("model-md", md("---\n## Defining the network with PyTorch\n\n**TODO:** define the model: an LSTM over "
                        "the one-hot characters with `n_hidden` units and `n_layers` layers (`dropout=drop_prob` "
                        "between them, `batch_first=True`), a dropout layer with `drop_prob` on its outputs, "
                        "then a fully-connected layer to the characters. `forward` returns the outputs stacked "
                        "to (batch * seq, characters) and the new hidden state.")),
        ("gpu", code(GPU)),
        ("model", code(MODEL_HEAD + MODEL_BODY[kind] + INIT_HIDDEN)),
        ("train-md", md("## Time to train\n\nThe train function gives us the ability to set the number of "
                        "epochs, the learning rate, and other parameters. Below we're using an Adam optimizer "
                        "and cross entropy loss since we are looking at character class scores as output.")),
        ("train", code(TRAIN)),
        ("hyper-md", md("## Instantiating the model\n\nNow we can actually train the network. First we'll create "
                        "the network itself, with some given hyperparameters. Then, define the mini-batches "
                        "sizes, and start training!\n\n**TODO:** set `n_hidden` and `n_layers`.")),
        ("hyper", code(HYPERPARAMETERS[kind])),
        ("training", code(TRAINING)),
        ("tips-md", md("## Getting the best model\n\nTo set your hyperparameters to get the best performance, "
                       "you'll want to watch the training and validation losses. If your training loss is much "
                       "lower than the validation loss, you're overfitting. Increase regularization (more "
                       "dropout) or use a smaller network. If the training and validation losses are close, "
                       "you're underfitting so you can increase the size of the network.")),
        ("question", md(QUESTION)),
        ("answer", md("*Your answer here.*", metadata={"grader": {"part": ANSWER_PART}})),
        ("checkpoint-md", md("## Checkpoint\n\nAfter training, we'll save the model so we can load it again "
                             "later if we need too.")),
        ("checkpoint", code(CHECKPOINT)),
        ("sample-md", md("---\n## Making Predictions\n\nNow that the model is trained, we'll want to sample from "
                         "it and make predictions about next characters! To sample, we pass in a character and "
                         "have the network predict the next character. Then we take that character, pass it back "
                         "in, and get another predicted character. Just keep doing this and you'll generate a "
                         "bunch of text!\n\n### Top K sampling\n\nOur predictions come from a categorical "
                         "probability distribution over all the possible characters. We can make the sample text "
                         "more reasonable to handle (with less variables) by only considering some $K$ most "
                         "probable characters.")),
        ("predict", code(PREDICT)),
        ("priming-md", md("### Priming and generating text\n\nTypically you'll want to prime the network so you "
                          "can build up a hidden state. Otherwise the network will start out generating "
                          "characters at random.")),
        ("sample", code(SAMPLE)),
        ("sampling", code(SAMPLING)),
    ]


def build(kind: str) -> str:
    pairs = cells(kind)
    for cell_id, cell in pairs:
        cell["id"] = cell_id
        if cell.cell_type == "code":
            cell.source = cell.source.rstrip("\n")
    notebook = new_notebook(cells=[cell for _, cell in pairs], metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
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
