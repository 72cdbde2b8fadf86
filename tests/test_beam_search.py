"""Greedy decoding and beam search: a hand-worked example, exhaustive search, greedy = beam 1."""

import itertools
import math

import pytest
import torch

from course_lib.data import make_collate, make_loader
from course_lib.decoding import (
    Hypothesis,
    beam_search,
    gnmt_length_penalty,
    greedy_decode,
    tokens_until_eos,
)
from course_lib.models.seq2seq import AttentionSeq2Seq, Seq2Seq, seq2seq_loss
from course_lib.tasks import make_task, task_vocab

BOS, EOS, A, B_ = 0, 1, 2, 3  # the toy model's tokens


class RowState:
    """The smallest state that follows the protocol: which sentence each row belongs to."""

    def __init__(self, rows):
        self.rows = rows

    def select(self, index):
        return RowState(self.rows[index])


class BigramModel:
    """A fixed table P(next | previous) that ignores the source: a hand-checkable decoder.

    Greedy takes A (0.5) then <eos> (0.4): probability 0.2. B (0.4) then <eos> (0.9) is 0.36.
    """

    table = torch.tensor([
        [0.00, 0.10, 0.50, 0.40],  # after <bos>
        [0.25, 0.25, 0.25, 0.25],  # after <eos> (never used)
        [0.00, 0.40, 0.30, 0.30],  # after A
        [0.00, 0.90, 0.05, 0.05],  # after B
    ])

    def __init__(self, table=None):
        self.steps = 0
        if table is not None:
            self.table = table

    def encode(self, src, src_lengths):
        return RowState(torch.arange(src.shape[0]))

    def decode_step(self, prev_tokens, state):
        self.steps += 1
        return self.table[prev_tokens].log(), state


def test_beam_search_known_answer():
    model = BigramModel()
    src, lengths = torch.zeros(1, 1, dtype=torch.long), torch.tensor([1])
    greedy = greedy_decode(model, src, lengths, max_len=5, bos_id=BOS, eos_id=EOS)
    assert greedy.tolist() == [[A, EOS]]
    model.steps = 0
    [hyps] = beam_search(model, src, lengths, beam_size=2, max_len=5, bos_id=BOS, eos_id=EOS)
    assert [h.tokens for h in hyps] == [[B_, EOS], [A, EOS]]
    assert hyps[0].log_prob == pytest.approx(math.log(0.36))
    assert hyps[1].log_prob == pytest.approx(math.log(0.20))
    # after step 2 the best finished (0.36) beats the best live beam (A A: 0.15): it stops there
    assert model.steps == 2
    [[only]] = beam_search(model, src, lengths, beam_size=1, max_len=5, bos_id=BOS, eos_id=EOS)
    assert only.tokens == [A, EOS]  # beam 1 is greedy


def test_length_penalty_is_gnmt():
    assert gnmt_length_penalty(7, 0.0) == 1.0
    assert gnmt_length_penalty(1, 1.0) == 1.0
    assert gnmt_length_penalty(7, 0.6) == pytest.approx(2.0**0.6)
    model = BigramModel()
    src, lengths = torch.zeros(1, 1, dtype=torch.long), torch.tensor([1])
    [hyps] = beam_search(model, src, lengths, 2, 5, BOS, EOS, length_penalty=0.6)
    for h in hyps:
        assert h.score == pytest.approx(h.log_prob / gnmt_length_penalty(len(h.tokens), 0.6))


def test_early_stop_bound_allows_for_the_length_penalty():
    # <eos> at once: log 0.55 = -0.60, penalty 1. A A A A (cut at max_len 4): log(0.45 * 0.9^3)
    # = -1.12, penalty ((5 + 4) / 6)^2 = 2.25: score -0.50, better. After step 1 the live A
    # (log 0.45 = -0.80) looks worse than -0.60 at its current length, but may still reach
    # -0.80 / 2.25: the search must go on.
    table = torch.tensor([
        [0.00, 0.55, 0.45, 0.00],
        [0.25, 0.25, 0.25, 0.25],
        [0.00, 0.10, 0.90, 0.00],
        [0.25, 0.25, 0.25, 0.25],
    ])
    src, lengths = torch.zeros(1, 1, dtype=torch.long), torch.tensor([1])
    [hyps] = beam_search(BigramModel(table), src, lengths, 2, 4, BOS, EOS, length_penalty=2.0)
    assert hyps[0].tokens == [A, A, A, A]
    assert hyps[0].score == pytest.approx(math.log(0.45 * 0.9**3) / 2.25)
    [hyps] = beam_search(BigramModel(table), src, lengths, 2, 4, BOS, EOS, length_penalty=0.0)
    assert hyps[0].tokens == [EOS]


def tiny_model(kind, seed=0):
    torch.manual_seed(seed)
    model = kind(6, 5, embed_dim=4, hidden_size=6, cell="gru", bidirectional=True).eval()
    with torch.no_grad():
        model.output.weight.mul_(4)  # sharper distributions: distinct scores
    return model


TGT_BOS, TGT_EOS = 2, 3


def sequence_log_prob(model, src, length, tokens, bos=TGT_BOS):
    tgt_in = torch.tensor([[bos] + tokens[:-1]])
    with torch.no_grad():
        logp = model(src, length, tgt_in).log_softmax(dim=-1)[0]  # (T, V)
    return float(logp[torch.arange(len(tokens)), torch.tensor(tokens)].sum())


def exhaustive_best(model, src, length, max_len, alpha, vocab_size=5):
    """Every output: <eos> at the end only, or cut at max_len without it."""
    others = [v for v in range(vocab_size) if v != TGT_EOS]
    outputs = [list(p) + [TGT_EOS] for n in range(max_len) for p in itertools.product(others, repeat=n)]
    outputs += [list(p) for p in itertools.product(others, repeat=max_len)]
    scored = []
    for tokens in outputs:
        log_prob = sequence_log_prob(model, src, length, tokens)
        scored.append(Hypothesis(tokens, log_prob / gnmt_length_penalty(len(tokens), alpha), log_prob))
    return max(scored, key=lambda h: h.score)


@pytest.mark.parametrize("kind", [Seq2Seq, AttentionSeq2Seq])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_finds_the_exhaustive_best(kind, alpha):
    model = tiny_model(kind)
    src = torch.tensor([[4, 5, 1, 3], [5, 3, 0, 0]])
    lengths = torch.tensor([4, 2])
    max_len = 3
    results = beam_search(model, src, lengths, beam_size=5**max_len, max_len=max_len,
                          bos_id=TGT_BOS, eos_id=TGT_EOS, length_penalty=alpha)
    for row in range(2):
        n = int(lengths[row])
        best = exhaustive_best(model, src[row : row + 1, :n], lengths[row : row + 1], max_len, alpha)
        found = results[row][0]
        assert found.tokens == best.tokens
        assert found.score == pytest.approx(best.score, abs=1e-5)
        assert found.log_prob == pytest.approx(best.log_prob, abs=1e-5)


def briefly_trained(kind):
    """20 steps on the copy task: outputs of varied lengths, not yet right."""
    vocab = task_vocab(3)
    torch.manual_seed(0)
    model = kind(len(vocab), len(vocab), 8, 16, bidirectional=True, pad_id=vocab.pad_id)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    pairs = make_task("copy", 640, min_len=1, max_len=5, vocab_size=3, seed=0)
    for batch in make_loader(pairs, 32, pad_id=vocab.pad_id, seed=0):
        loss = seq2seq_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), vocab


@pytest.mark.parametrize("kind", [Seq2Seq, AttentionSeq2Seq])
def test_beam_of_one_is_greedy_and_batching_changes_nothing(kind):
    model, vocab = briefly_trained(kind)
    batch = make_collate(vocab.pad_id)(make_task("copy", 8, min_len=1, max_len=5, vocab_size=3, seed=5))
    src, lengths, bos, eos = batch.src, batch.src_lengths, vocab.bos_id, vocab.eos_id
    greedy = tokens_until_eos(greedy_decode(model, src, lengths, 6, bos, eos), eos)
    assert len({len(g) for g in greedy}) > 1  # the test covers rows ending at different steps
    beams = beam_search(model, src, lengths, 1, 6, bos, eos)
    for row, hyps in enumerate(beams):
        assert len(hyps) == 1
        assert tokens_until_eos([hyps[0].tokens], eos)[0] == greedy[row]
    wide = beam_search(model, src, lengths, 4, 6, bos, eos, length_penalty=0.5)
    for row, hyps in enumerate(wide):
        assert 1 <= len(hyps) <= 4
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        n = int(lengths[row])
        alone = beam_search(model, src[row : row + 1, :n], lengths[row : row + 1], 4, 6, bos,
                            eos, length_penalty=0.5)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in hyps]
        for h in hyps:  # the scores are the model's own sequence log-probabilities
            assert h.log_prob == pytest.approx(
                sequence_log_prob(model, src[row : row + 1, :n], lengths[row : row + 1], h.tokens, bos),
                abs=1e-4)


def test_greedy_decode_output_and_modes():
    model = tiny_model(AttentionSeq2Seq).train()
    src, lengths = torch.tensor([[4, 5, 1], [5, 0, 0]]), torch.tensor([3, 1])
    output = greedy_decode(model, src, lengths, 4, TGT_BOS, TGT_EOS)
    assert output.dtype == torch.long and output.shape[0] == 2 and output.shape[1] <= 4
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    assert torch.equal(greedy_decode(model, src, lengths, 4, TGT_BOS, TGT_EOS), output)


def test_tokens_until_eos():
    assert tokens_until_eos(torch.tensor([[5, 6, 3, 3], [3, 3, 3, 3], [5, 5, 5, 5]]), 3) == [
        [5, 6], [], [5, 5, 5, 5]]
    assert tokens_until_eos([[1, 2], [2, 1, 2]], 2) == [[1], []]


def test_clear_errors():
    model = BigramModel()
    src, lengths = torch.zeros(1, 1, dtype=torch.long), torch.tensor([1])
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model, src, lengths, 0, 5, BOS, EOS)
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(model, src, lengths, 0, BOS, EOS)
    with pytest.raises(ValueError, match="src must be"):
        beam_search(model, src[0], lengths, 2, 5, BOS, EOS)
    with pytest.raises(ValueError, match="differ"):
        greedy_decode(model, src, lengths, 3, EOS, EOS)


def test_min_len_forbids_an_early_eos_by_hand():
    src, lengths = torch.zeros(1, 1, dtype=torch.long), torch.tensor([1])
    # Greedy, at least 2 tokens: A (0.5); after A <eos> (0.4) is forbidden, so A (0.3, first of
    # the tie); then <eos> (0.4).
    assert greedy_decode(BigramModel(), src, lengths, 5, BOS, EOS, min_len=2).tolist() == [[A, A, EOS]]
    # Beam: the best of length >= 2 is A B <eos>: 0.5 * 0.3 * 0.9 = 0.135 (A A <eos> is 0.06).
    best = beam_search(BigramModel(), src, lengths, 4, 5, BOS, EOS, min_len=2)[0][0]
    assert best.tokens == [A, B_, EOS] and math.isclose(best.log_prob, math.log(0.135), rel_tol=1e-5)
    # min_len=0 changes nothing: B <eos> (0.36) is the unconstrained best.
    assert beam_search(BigramModel(), src, lengths, 4, 5, BOS, EOS, min_len=0)[0][0].tokens == [B_, EOS]


@pytest.mark.parametrize("min_len", [1, 2, 3])
def test_min_len_beam_equals_exhaustive_search(min_len):
    torch.manual_seed(min_len)
    table = torch.softmax(torch.randn(4, 4), dim=-1)
    table[:, BOS] = 0
    table = table / table.sum(dim=-1, keepdim=True)
    model = BigramModel(table)
    max_len = 4
    best_logp, best_tokens = -math.inf, None
    for length in range(min_len, max_len):  # tokens before <eos>
        for body in itertools.product([EOS, A, B_], repeat=length):
            if EOS in body:
                continue
            tokens, logp, prev = list(body) + [EOS], 0.0, BOS
            for token in tokens:
                logp += math.log(float(table[prev, token]))
                prev = token
            if logp > best_logp:
                best_logp, best_tokens = logp, tokens
    found = beam_search(model, torch.zeros(1, 1, dtype=torch.long), torch.tensor([1]), 16, max_len,
                        BOS, EOS, min_len=min_len)[0]
    ended = [h for h in found if h.tokens[-1] == EOS]
    assert ended[0].tokens == best_tokens and math.isclose(ended[0].log_prob, best_logp, rel_tol=1e-5)


def test_min_len_must_leave_room_for_the_output():
    src, lengths = torch.zeros(1, 1, dtype=torch.long), torch.tensor([1])
    for bad in (-1, 5, 1.5, True):
        with pytest.raises(ValueError, match=r"min_len must be an int in \[0, max_len\)"):
            greedy_decode(BigramModel(), src, lengths, 5, BOS, EOS, min_len=bad)
        with pytest.raises(ValueError, match="min_len"):
            beam_search(BigramModel(), src, lengths, 2, 5, BOS, EOS, min_len=bad)
