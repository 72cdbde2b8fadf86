"""The leaderboard's one context rule, checked by brute force, and its cost arithmetic."""

import itertools
import math

import pytest
import torch
from torch.nn import functional as F

from course_lib import leaderboard as lb
from course_lib.models.cnn import CausalConvLM
from course_lib.models.rnn import RNNLanguageModel
from course_lib.models.transformer import GPT

V = 11


def brute_force_nats(model, ids, context):
    """Each target ids[t] (t >= 1) predicted from ids[max(0, t - context) : t], one forward each."""
    total = 0.0
    with torch.no_grad():
        for t in range(1, len(ids)):
            x = ids[max(0, t - context) : t][None]
            output = model(x)
            logits = output[0] if isinstance(output, tuple) else output
            total += F.cross_entropy(logits[0, -1:], ids[t : t + 1]).item()
    return total / (len(ids) - 1)


@pytest.fixture
def ids():
    return torch.randint(0, V, (300,), generator=torch.Generator().manual_seed(0))


def test_recurrent_models_read_one_stream_with_all_the_history(ids):
    torch.manual_seed(0)
    model = RNNLanguageModel(V, embed_dim=8, hidden_size=16, cell="gru").eval()
    got = lb._recurrent_nats(model, ids, chunk=64)
    assert got[1] == len(ids) - 1
    assert got[0] / got[1] == pytest.approx(brute_force_nats(model, ids, len(ids)), rel=1e-5)
    assert lb.uniform_nats(model, ids) == pytest.approx(got[0] / got[1], rel=1e-6)


def test_a_gpt_sees_at_least_half_a_window(ids):
    torch.manual_seed(0)
    model = GPT(V, block_size=16, embed_dim=16, num_heads=2, num_layers=1, dropout=0.0).eval()
    total, count = lb._windowed_nats(model, ids, context=8, step=8, batch=5)
    assert count == len(ids) - 1
    expected = 0.0  # target t, in chunk (t - 1) // 8, sees the tokens from 8 before its chunk
    with torch.no_grad():
        for t in range(1, len(ids)):
            start = max(0, 8 * ((t - 1) // 8) - 8)
            assert 8 <= t - start <= 16 or start == 0
            logits = model(ids[start:t][None])
            expected += F.cross_entropy(logits[0, -1:], ids[t : t + 1]).item()
    assert total / count == pytest.approx(expected / count, rel=1e-5)
    assert lb.uniform_nats(model, ids) == pytest.approx(total / count, rel=1e-6)


def test_a_cnn_sees_its_whole_receptive_field(ids):
    torch.manual_seed(0)
    model = CausalConvLM(V, embed_dim=8, hidden_size=8, num_layers=3, kernel_size=2).eval()
    assert lb.uniform_nats(model, ids) == pytest.approx(
        brute_force_nats(model, ids, model.receptive_field), rel=1e-5)


def test_pareto_frontier_matches_brute_force():
    generator = torch.Generator().manual_seed(1)
    for _ in range(20):
        points = [tuple(p) for p in torch.randint(0, 6, (8, 2), generator=generator).tolist()]
        frontier = lb.pareto_frontier(points)
        dominated = {i for i, j in itertools.permutations(range(len(points)), 2)
                     if points[j][0] <= points[i][0] and points[j][1] <= points[i][1]
                     and (points[j] != points[i] or j < i)}
        assert sorted(frontier) == sorted(set(range(len(points))) - dominated)
        assert [points[i][0] for i in frontier] == sorted(points[i][0] for i in frontier)


def test_training_flops_is_six_n_d_without_embedding_lookups():
    model = RNNLanguageModel(V, embed_dim=4, hidden_size=8, cell="rnn")
    multiplied = sum(p.numel() for p in model.parameters()) - V * 4  # the lookup table is free
    assert lb.parameter_count(model, embeddings=False) == multiplied
    assert lb.training_flops(model, 1000) == 6 * multiplied * 1000
    tied = GPT(V, block_size=8, embed_dim=8, num_heads=2, num_layers=1)  # token table = output layer
    positions = 8 * 8
    assert lb.parameter_count(tied, embeddings=False) == lb.parameter_count(tied) - positions
    assert math.isclose(lb.training_flops(tied, 10), 60 * (lb.parameter_count(tied) - positions))
