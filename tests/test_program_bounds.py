"""What a notebook can make the grader compute in its own process is bounded: the parameter count
of the contract's model at the student's sizes is built on the meta device, layers capped."""

import time

import pytest
from torch import nn

from grader.kinds.program import MAX_LAYERS, _Failed, expected_parameters
from grader.program.observations import ProgramRun

CONTRACT = {"chars": list("abcdefgh"), "cell": "lstm", "embedding_dim": "embedding_dim", "hidden_size": "n_hidden",
            "num_layers": "n_layers"}


def run_with(**values) -> ProgramRun:
    return ProgramRun.model_construct(values={name: {"value": value} for name, value in values.items()})


def test_the_count_is_torch_own_at_the_students_sizes():
    count, architecture = expected_parameters(CONTRACT, run_with(embedding_dim=5, n_hidden=12, n_layers=3))
    torch_count = sum(p.numel() for m in (nn.Embedding(8, 5), nn.LSTM(5, 12, 3), nn.Linear(12, 8)) for p in m.parameters())
    assert count == torch_count and "3-layer LSTM of 12" in architecture


@pytest.mark.parametrize("layers", [MAX_LAYERS + 1, 1_000_000, 10**18, -1, 0, True, 2.5, "2"])
def test_a_million_layers_is_refused_at_once(layers):
    started = time.perf_counter()
    with pytest.raises(_Failed, match=f"between 1 and {MAX_LAYERS}"):
        expected_parameters(CONTRACT, run_with(embedding_dim=5, n_hidden=12, n_layers=layers))
    assert time.perf_counter() - started < 1


def test_the_largest_allowed_model_is_counted_quickly():
    started = time.perf_counter()
    count, _ = expected_parameters(CONTRACT, run_with(embedding_dim=1_000_000, n_hidden=1_000_000, n_layers=MAX_LAYERS))
    assert count > 10**14 and time.perf_counter() - started < 2
