"""The reference CharLSTM, its data pipeline, deterministic training and generation, and the
corpus, on tiny CPU configurations that run in seconds."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from pydantic import ValidationError

from reference import charlstm
from reference.charlstm import CharLSTM, TrainingConfig, Vocabulary, batches, generate, split_corpus, train
from tests.conftest import ROOT

TINY = dict(embedding_dim=16, hidden_size=64, num_layers=1, dropout=0.0, batch_size=16, seq_length=32,
            steps=60, eval_every=20, learning_rate=1e-2)


@pytest.fixture(scope="module")
def text() -> str:
    return charlstm.load_corpus()[:60_000]


@pytest.fixture(scope="module")
def tiny_run(text):
    return train(text, TrainingConfig(**TINY))


def test_corpus_is_rebuilt_by_its_generator_and_is_english_like():
    spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "assignments" / "charlstm" / "make_corpus.py")
    make_corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_corpus)
    corpus = charlstm.load_corpus()
    assert make_corpus.build() == corpus
    assert 300_000 < len(corpus.encode("utf-8")) < 600_000
    # an English novel has about 3.1 nats of unigram entropy: the generated prose is as varied
    assert 2.8 < charlstm.unigram_entropy(corpus) < 3.4
    assert len(Vocabulary.from_text(corpus)) < 100


def test_unigram_entropy_is_the_frequency_only_loss():
    assert charlstm.unigram_entropy("aab") == pytest.approx(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)))
    assert charlstm.unigram_entropy("aaaa") == 0


def test_vocabulary_round_trip_and_unknown_characters():
    vocabulary = Vocabulary.from_text("hello world")
    assert vocabulary.chars == tuple(" dehlorw")
    ids = vocabulary.encode("hold")
    assert ids.dtype == torch.long and vocabulary.decode(ids) == "hold"
    with pytest.raises(ValueError, match="not in the vocabulary: 'abxz'"):
        vocabulary.encode("zebra x")


def test_split_keeps_the_text_in_order_in_two_pieces():
    ids = torch.arange(1000)
    train_ids, val_ids = split_corpus(ids, 0.1)
    assert len(val_ids) == 100 and torch.equal(torch.cat([train_ids, val_ids]), ids)


def test_batches_are_full_shifted_by_one_and_continue_row_by_row():
    ids = torch.arange(1000)
    pairs = list(batches(ids, batch_size=4, seq_length=10))
    assert len(pairs) == (1000 - 1) // 40 and all(x.shape == y.shape == (4, 10) for x, y in pairs)
    for x, y in pairs:
        assert torch.equal(y, x + 1)  # ids are positions: every target is the next character
    rows = torch.cat([x for x, _ in pairs], dim=1)
    assert torch.equal(rows.reshape(-1), torch.arange(rows.numel()))  # row i continues in the next batch
    with pytest.raises(ValueError, match="too few for one batch of 4 x 10"):
        next(batches(torch.arange(40), 4, 10))


def test_model_shapes_and_init_hidden():
    torch.manual_seed(0)
    model = CharLSTM(vocab_size=30, embedding_dim=8, hidden_size=12, num_layers=3, dropout=0.1)
    h, c = model.init_hidden(5)
    assert h.shape == c.shape == (3, 5, 12) and not h.any() and not c.any()
    assert h.dtype == next(model.parameters()).dtype and h.device == next(model.parameters()).device
    logits, (h2, c2) = model(torch.randint(0, 30, (5, 7)), (h, c))
    assert logits.shape == (5, 7, 30) and h2.shape == c2.shape == (3, 5, 12)
    assert model.lstm.batch_first and model.lstm.dropout == 0.1
    assert CharLSTM(30, 8, 12, 1, 0.3).lstm.dropout == 0  # nn.LSTM drops only between layers


def test_loss_falls_below_the_unigram_entropy(text, tiny_run):
    losses = [e.val_loss for e in tiny_run.evaluations]
    assert [e.step for e in tiny_run.evaluations] == [20, 40, 60]
    assert losses == sorted(losses, reverse=True)
    assert losses[-1] < charlstm.unigram_entropy(text) - 0.5
    assert all(e.train_loss > 0 and e.epoch >= 1 for e in tiny_run.evaluations)


def test_training_is_deterministic_under_a_seed_and_leaves_global_state_alone(text, tiny_run):
    before = torch.get_rng_state()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    again = train(text, TrainingConfig(**TINY))
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.are_deterministic_algorithms_enabled() == deterministic_before
    assert again.evaluations == tiny_run.evaluations
    for p, q in zip(again.model.parameters(), tiny_run.model.parameters()):
        assert torch.equal(p, q)
    other_seed = train(text, TrainingConfig(**{**TINY, "seed": 1, "steps": 20}))
    assert other_seed.evaluations[0] != tiny_run.evaluations[0]


def test_generation_starts_with_the_seed_and_is_reproducible(tiny_run):
    model, vocabulary = tiny_run.model, tiny_run.vocabulary
    out = generate(model, vocabulary, "The miller", 80, temperature=0.8, seed=3)
    assert len(out) == len("The miller") + 80 and out.startswith("The miller")
    assert generate(model, vocabulary, "The miller", 80, temperature=0.8, seed=3) == out
    assert generate(model, vocabulary, "The miller", 80, temperature=0.8, seed=4) != out
    greedy = generate(model, vocabulary, "Mara", 40, top_k=1, seed=0)
    assert generate(model, vocabulary, "Mara", 40, top_k=1, seed=99) == greedy  # top_k=1 leaves no choice
    assert generate(model, vocabulary, "Mara", 0) == "Mara"
    assert model.training  # generation switched dropout off only while it ran


class FlatLogits(CharLSTM):
    """Returns logits as (batch * seq, vocab), as many student models do."""

    def forward(self, x, hidden):
        logits, hidden = super().forward(x, hidden)
        return logits.reshape(-1, logits.shape[-1]), hidden


def test_flattened_logits_train_and_sample_exactly_alike(text, tiny_run):
    run = train(text, TrainingConfig(**TINY), lambda vocab_size, c: FlatLogits(
        vocab_size, c.embedding_dim, c.hidden_size, c.num_layers, c.dropout))
    assert run.evaluations == tiny_run.evaluations  # same seed, same weights: only the shape differs
    assert generate(run.model, run.vocabulary, "Mara", 30, seed=1) == generate(tiny_run.model, tiny_run.vocabulary,
                                                                              "Mara", 30, seed=1)


@pytest.mark.parametrize("kwargs, message", [
    ({"seed_text": ""}, "at least one character"),
    ({"seed_text": "Mara{"}, "not in the vocabulary"),
    ({"temperature": 0}, "temperature > 0"),
    ({"top_k": 0}, "top_k must be between 1"),
])
def test_generation_rejects_bad_arguments(tiny_run, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tiny_run.model, tiny_run.vocabulary, **{"seed_text": "Mara", "gen_length": 5, **kwargs})


def test_configuration_errors_say_what_is_wrong(text):
    with pytest.raises(ValidationError, match="Extra inputs"):
        TrainingConfig(hidden=64)
    with pytest.raises(ValidationError, match="dropout"):
        TrainingConfig(dropout=1.0)
    with pytest.raises(ValueError, match="validation split has .* too few for one batch"):
        train(text[:20_000], TrainingConfig(**{**TINY, "batch_size": 64, "seq_length": 64}))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            train(text, TrainingConfig(**{**TINY, "device": "cuda"}))
