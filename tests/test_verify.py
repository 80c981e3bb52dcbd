"""The grader's recomputation of a run's model (grader/program/verify.py), on real torch models
reported the way the worker reports them (grader/program/worker.py: `build`, then `probe`)."""

import random

import pytest
import torch
from torch import nn

from grader.program.observations import ReportedParameter, TensorData, Verification, Verify
from grader.program.spec import ModelContract
from grader.program.verify import BATCH, DRAWN_SIZES, VerificationProbe, verify

CHARS = list("abcdefghij klmnop.")
VOCAB = len(CHARS)
LSTM = ModelContract()
EMBEDDING, HIDDEN, LAYERS = 5, 6, 2  # the probe's small sizes


class CharLSTM(nn.Module):
    """The assignment's model, with the options students write: dropout, flat output."""

    def __init__(self, vocab, embedding, hidden, layers, ignore_hidden=False, relu=False, bias=True):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding)
        self.lstm = nn.LSTM(embedding, hidden, layers, batch_first=True, dropout=0.2, bias=bias)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(hidden, vocab)
        self.ignore_hidden, self.relu = ignore_hidden, relu

    def forward(self, x, hidden):
        out, hidden = self.lstm(self.embedding(x), None if self.ignore_hidden else hidden)
        out = self.dropout(out)
        if self.relu:
            out = torch.relu(out)
        return self.fc(out).reshape(-1, self.fc.out_features), hidden


class StackedLSTM(nn.Module):
    """The same architecture as a list of 1-layer LSTMs, built in another order, returning log-probabilities."""

    def __init__(self, vocab, embedding, hidden, layers):
        super().__init__()
        self.head = nn.Linear(hidden, vocab)
        self.embed = nn.Embedding(vocab, embedding)
        self.cells = nn.ModuleList(nn.LSTM(embedding if i == 0 else hidden, hidden, batch_first=True)
                                   for i in range(layers))

    def forward(self, x, hidden):
        h, c = hidden
        x, new_h, new_c = self.embed(x), [], []
        for i, cell in enumerate(self.cells):
            x, (hi, ci) = cell(x, (h[i:i + 1], c[i:i + 1]))
            new_h.append(hi)
            new_c.append(ci)
        return torch.log_softmax(self.head(x), dim=-1), (torch.cat(new_h), torch.cat(new_c))


class TwoHeads(CharLSTM):
    def __init__(self, *args, use_it=True):
        super().__init__(*args)
        self.fc2 = nn.Linear(VOCAB, VOCAB)
        self.use_it = use_it

    def forward(self, x, hidden):
        logits, hidden = super().forward(x, hidden)
        return (self.fc2(logits) if self.use_it else logits), hidden


class OneHotGRU(nn.Module):
    def __init__(self, vocab, hidden, layers):
        super().__init__()
        self.gru = nn.GRU(vocab, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, vocab)

    def forward(self, x, hidden):
        out, hidden = self.gru(x, hidden)
        return self.fc(out), hidden


def probe_for(contract: ModelContract = LSTM) -> VerificationProbe:
    names = [getattr(contract, f) for f in ("embedding_dim", "hidden_size", "num_layers")]
    sizes = {name: size for name, size in zip(names, (EMBEDDING, HIDDEN, LAYERS)) if isinstance(name, str)}
    embedding = EMBEDDING if contract.embedding_dim is not None else None
    return VerificationProbe.at(contract, VOCAB, embedding, HIDDEN, LAYERS, random.Random(7), sizes)


def tensor_data(tensor: torch.Tensor) -> dict:
    return {"shape": list(tensor.shape), "values": tensor.detach().float().reshape(-1).tolist()}


def report(model: nn.Module, probe: VerificationProbe, one_hot: bool = False) -> Verify:
    """What the supervisor sends for `model`: its weights with their owning modules' classes, its
    outputs in eval mode on the probe's inputs, and the parameters those outputs do not depend on."""
    owners = {id(p): type(m).__name__ for m in model.modules() for p in m.parameters(recurse=False)}
    named = list(model.named_parameters())
    inputs = torch.tensor(probe.ids)
    if one_hot:
        inputs = nn.functional.one_hot(inputs, VOCAB).float()
    hidden = [torch.tensor(t.values).reshape(t.shape) for t in probe.hidden_in]
    model.eval()
    model.zero_grad(set_to_none=True)
    logits, new_hidden = model(inputs, tuple(hidden) if len(hidden) == 2 else hidden[0])
    new_hidden = [new_hidden] if isinstance(new_hidden, torch.Tensor) else list(new_hidden)
    sum(t.sum() for t in (logits, *new_hidden)).backward()
    return Verify(ok=True, count=sum(p.numel() for _, p in named),
                  parameters=[{"name": n, "module": owners[id(p)], **tensor_data(p)} for n, p in named],
                  unused=[n for n, p in named if p.grad is None], logits=tensor_data(logits),
                  hidden=[tensor_data(h) for h in new_hidden])


def recomputed(model: nn.Module) -> Verification:
    """`model` reported for the assignment's LSTM contract and recomputed by the grader."""
    return verify(LSTM, CHARS, probe_for(), report(model, probe_for()))


def test_the_drawn_probe_sets_the_contracts_size_variables_and_a_nonzero_hidden_state():
    probe = VerificationProbe.draw(LSTM, VOCAB, random.Random(1))
    assert set(probe.sizes) == {"embedding_dim", "hidden_size", "num_layers"}
    assert probe.sizes["embedding_dim"] != probe.sizes["hidden_size"]  # so shapes tell the layers apart
    assert all(probe.sizes[name] in DRAWN_SIZES[name] for name in probe.sizes)
    assert [t.shape for t in probe.hidden_in] == [[probe.layers, BATCH, probe.hidden]] * 2
    assert all(any(v != 0 for v in t.values) for t in probe.hidden_in)


def test_the_probe_is_drawn_afresh_for_each_run():
    """A class cannot build the right model only at sizes it expects: they differ from run to run."""
    drawn = {tuple(VerificationProbe.draw(LSTM, VOCAB, random.Random(seed)).sizes.values()) for seed in range(40)}
    assert len(drawn) > 10


@pytest.mark.parametrize("model", [CharLSTM(VOCAB, EMBEDDING, HIDDEN, LAYERS),
                                   StackedLSTM(VOCAB, EMBEDDING, HIDDEN, LAYERS)], ids=["nn.LSTM", "list of LSTMs"])
def test_a_model_of_the_contracts_architecture_is_verified(model):
    verification = recomputed(model)
    assert verification.status == "verified", verification.detail
    assert "embedding 18x5 -> 2-layer LSTM of 6 -> linear 6->18" in verification.detail


def test_absent_biases_count_as_zeros():
    model = CharLSTM(VOCAB, EMBEDDING, HIDDEN, LAYERS, bias=False)
    verification = recomputed(model)
    assert verification.status == "verified"
    assert "no bias_ih_l0: taken as zeros" in verification.detail


def test_a_forward_that_drops_the_hidden_state_it_is_given_is_named():
    model = CharLSTM(VOCAB, EMBEDDING, HIDDEN, LAYERS, ignore_hidden=True)
    verification = recomputed(model)
    assert verification.status == "differs"
    assert "ignores the hidden state it is given" in verification.detail


def test_a_forward_that_computes_something_else_differs():
    model = CharLSTM(VOCAB, EMBEDDING, HIDDEN, LAYERS, relu=True)
    verification = recomputed(model)
    assert verification.status == "differs"
    assert "log-probabilities by up to" in verification.detail


def test_extra_layers_are_unverifiable_and_named():
    verification = recomputed(TwoHeads(VOCAB, EMBEDDING, HIDDEN, LAYERS))
    assert verification.status == "unverifiable"
    assert "2 Linear layers (fc, fc2)" in verification.detail


def test_a_layer_built_but_never_used_is_set_aside():
    model = TwoHeads(VOCAB, EMBEDDING, HIDDEN, LAYERS, use_it=False)
    verification = recomputed(model)
    assert verification.status == "verified", verification.detail
    assert "set aside, as forward never uses them: fc2.weight, fc2.bias" in verification.detail


def test_a_model_that_ignores_its_size_arguments_is_unverifiable():
    wrong = CharLSTM(VOCAB, 7, HIDDEN, LAYERS)  # embedding size hard-coded, not the probe's 5
    verification = recomputed(wrong)
    assert verification.status == "unverifiable"
    assert "embedding.weight has shape [18, 7] where the contract's architecture has [18, 5]" in verification.detail


def test_a_one_hot_gru_contract_is_verified_without_an_embedding():
    contract = ModelContract(class_name="CharRNN", constructor="CharRNN(vocab_size, n_hidden, n_layers)", cell="gru",
                             embedding_dim=None, hidden_size="n_hidden", num_layers="n_layers", input="one_hot")
    probe = probe_for(contract)
    assert probe.sizes == {"n_hidden": HIDDEN, "n_layers": LAYERS} and len(probe.hidden_in) == 1
    verification = verify(contract, CHARS, probe, report(OneHotGRU(VOCAB, HIDDEN, LAYERS), probe, one_hot=True))
    assert verification.status == "verified", verification.detail
    assert verification.detail.startswith("recomputed from its own weights as 2-layer GRU of 6 -> linear 6->18")


def test_made_up_numbers_in_the_right_shapes_are_not_verified():
    """A forger who sends weights of the right shapes and outputs of the right shapes, not computed
    from each other, gets `differs`, not `verified`."""
    honest = report(CharLSTM(VOCAB, EMBEDDING, HIDDEN, LAYERS), probe_for())
    generator = torch.Generator().manual_seed(5)

    def noise(data: TensorData) -> dict:
        return {"shape": data.shape, "values": torch.randn(len(data.values), generator=generator).tolist()}

    forged = Verify(ok=True, count=honest.count, parameters=honest.parameters,
                    logits=noise(honest.logits), hidden=[noise(h) for h in honest.hidden])
    assert verify(LSTM, CHARS, probe_for(), forged).status == "differs"


def test_reports_without_weights_or_with_a_failure_are_unverifiable():
    too_big = verify(LSTM, CHARS, probe_for(), Verify(ok=True, count=3_000_000))
    assert too_big.status == "unverifiable" and "3000000 parameters" in too_big.detail
    failed = verify(LSTM, CHARS, probe_for(), Verify(ok=False, error="RuntimeError: boom (cell 4, line 2)"))
    assert failed.status == "unverifiable"
    assert "embedding_dim=5, hidden_size=6, num_layers=2" in failed.detail and "boom" in failed.detail


def test_a_reported_tensor_must_hold_as_many_values_as_its_shape_says():
    with pytest.raises(ValueError, match="holds 6 values, not 5"):
        ReportedParameter(name="fc.bias", module="Linear", shape=[2, 3], values=[0.0] * 5)
