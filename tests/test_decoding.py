"""Generation: greedy, temperature, top-k, top-p, seeds, and the three kinds of model."""

import math

import pytest
import torch
from torch import nn

from course_lib.decoding import (
    apply_temperature,
    generate,
    sample_next,
    top_k_filter,
    top_p_filter,
)
from course_lib.models.rnn import RNNLanguageModel

V = 7  # vocabulary size


class WindowLM(nn.Module):
    """A tiny non-recurrent LM: logits (B, T, V) from the running mean of the context's
    embeddings, so every token it is given changes the answer. Records what it saw."""

    def __init__(self, block_size=None):
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(V, 16)
        self.head = nn.Linear(16, V)
        self.dropout = nn.Dropout(0.5)
        if block_size is not None:
            self.block_size = block_size
        self.seen = []  # (context length, training, grad enabled) per call

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        self.seen.append((tokens.shape[1], self.training, torch.is_grad_enabled()))
        embedded = self.embedding(tokens).cumsum(dim=1)  # (B, T, 16)
        steps = torch.arange(1, tokens.shape[1] + 1)[None, :, None]  # (1, T, 1)
        return self.head(self.dropout(embedded / steps)) * 3  # (B, T, V)


class Recording(nn.Module):
    """Wraps a recurrent LM and records the length fed and the last logits of each call."""

    def __init__(self, model):
        super().__init__()
        self.model, self.lengths, self.logits = model, [], []

    def forward(self, tokens, state=None):
        logits, state = self.model(tokens, state)
        self.lengths.append(tokens.shape[1])
        self.logits.append(logits[:, -1])
        return logits, state


def bigram_log_probs(follow=0.9):
    """A stub n-gram model as a plain function: after token i, i+1 (mod V) with probability
    ``follow``, i+2 with the rest, every other token impossible (log-probability -inf)."""
    probs = torch.zeros(V, V)
    for i in range(V):
        probs[i, (i + 1) % V] = follow
        probs[i, (i + 2) % V] = 1 - follow
    table = probs.log()  # (V, V)
    return lambda tokens: table[tokens]  # (B, T) -> (B, T, V)


def rnn_lm(cell="lstm"):
    torch.manual_seed(0)
    return RNNLanguageModel(V, 8, 12, num_layers=2, cell=cell, dropout=0.3)


# --- The pure functions ----------------------------------------------------------------------


def test_top_k_filter_known_answer():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    expected = torch.tensor([[-math.inf, 3.0, 2.0, -math.inf]])
    assert torch.equal(top_k_filter(logits, 2), expected)
    assert torch.equal(top_k_filter(logits, 4), logits)
    assert torch.equal(top_k_filter(logits, 10), logits)
    for bad in (0, -1, 1.5, None):
        with pytest.raises(ValueError, match="top_k"):
            top_k_filter(logits, bad)


def test_top_k_never_samples_outside_the_top_k_but_reaches_all_of_them():
    torch.manual_seed(0)
    logits = torch.randn(1, 20).repeat(5000, 1)  # (N, V): one distribution, many draws
    draws = sample_next(logits, top_k=4, generator=torch.Generator().manual_seed(1))
    allowed = set(logits[0].topk(4).indices.tolist())
    assert set(draws.tolist()) == allowed


# Probabilities 0.5, 0.3, 0.15, 0.05, shuffled so that sorting matters.
NUCLEUS_PROBS = torch.tensor([0.15, 0.5, 0.05, 0.3])


@pytest.mark.parametrize(
    "p, kept",
    [(0.3, {1}), (0.45, {1}), (0.75, {1, 3}), (0.85, {1, 3, 0}), (0.97, {0, 1, 2, 3}), (1, None)],
)
def test_top_p_keeps_the_smallest_set_with_mass_at_least_p(p, kept):
    kept = {0, 1, 2, 3} if kept is None else kept
    filtered = top_p_filter(NUCLEUS_PROBS.log()[None], p)[0]
    assert set(torch.isfinite(filtered).nonzero().flatten().tolist()) == kept
    torch.testing.assert_close(filtered.softmax(-1)[list(kept)].sum(), torch.tensor(1.0))


@pytest.mark.parametrize("seed", range(5))
def test_top_p_set_is_minimal_and_large_enough(seed):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(8, 50, generator=generator) * 2  # (B, V)
    p = float(torch.rand(1, generator=generator)) * 0.9 + 0.05
    probs = logits.softmax(-1)
    kept = torch.isfinite(top_p_filter(logits, p))  # (B, V)
    for row in range(8):
        kept_probs = probs[row][kept[row]]
        assert kept_probs.sum() >= p - 1e-6
        assert kept_probs.sum() - kept_probs.min() < p  # without its least likely: too little
        dropped = torch.cat([probs[row][~kept[row]], torch.zeros(1)])
        assert kept_probs.min() >= dropped.max()  # the kept tokens are the most likely


def test_top_p_rejects_values_outside_zero_one():
    for bad in (0, -0.1, 1.01):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            top_p_filter(torch.zeros(1, 3), bad)


def test_temperature_sharpens_and_flattens_and_rejects_zero():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]])

    def entropy(t):
        probs = apply_temperature(logits, t).softmax(-1)
        return -(probs * probs.log()).sum().item()

    assert entropy(0.5) < entropy(1.0) < entropy(2.0)
    near_zero = apply_temperature(logits, 1e-3).softmax(-1)  # the limit: one-hot on the argmax
    torch.testing.assert_close(near_zero, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    for bad in (0, 0.0, -1.0):
        with pytest.raises(ValueError, match="greedy=True"):
            apply_temperature(logits, bad)


# --- generate ---------------------------------------------------------------------------------


def test_greedy_equals_argmax_unrolled_by_hand_with_block_size_crop():
    model = WindowLM(block_size=4)
    prompt = torch.tensor([[1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 2, 2]])  # longer than block_size
    tokens = prompt.clone()
    model.eval()
    with torch.no_grad():
        for _ in range(8):
            logits = model(tokens[:, -4:])[:, -1]  # (B, V)
            tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], dim=1)
    model.seen.clear()
    out = generate(model, prompt, 8, greedy=True)
    assert torch.equal(out, tokens)
    assert max(length for length, _, _ in model.seen) == 4
    assert len(model.seen) == 8  # one call per new token, none after the last


def test_greedy_on_a_recurrent_model_equals_argmax_unrolled_by_hand():
    model = rnn_lm("gru").eval()
    prompt = torch.tensor([[3, 1, 4]])
    tokens = prompt.clone()
    with torch.no_grad():
        for _ in range(6):
            logits, _ = model(tokens)  # recompute everything: the slow, obvious way
            tokens = torch.cat([tokens, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(generate(model, prompt, 6, greedy=True), tokens)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recurrent_generation_with_state_equals_full_recompute(cell):
    recurrent = Recording(rnn_lm(cell).eval())  # eval: the plain callable below has no mode
    seen_full = []

    def full_recompute(tokens):  # a plain callable: generate must re-feed the whole context
        logits, _ = recurrent.model(tokens)
        seen_full.append(logits[:, -1])
        return logits

    prompt = torch.randint(V, (3, 5), generator=torch.Generator().manual_seed(0))
    fast = generate(recurrent, prompt, 10, seed=7, top_k=5)
    slow = generate(full_recompute, prompt, 10, seed=7, top_k=5)
    assert torch.equal(fast, slow)
    assert recurrent.lengths == [5] + [1] * 9  # the prompt once, then one token at a time
    torch.testing.assert_close(
        torch.stack(recurrent.logits), torch.stack(seen_full), atol=1e-5, rtol=1e-5
    )


def test_seeded_sampling_is_reproducible_and_leaves_global_rng_alone():
    model = rnn_lm()
    prompt = torch.tensor([1, 2])
    global_state = torch.get_rng_state()
    first = generate(model, prompt, 40, seed=123)
    assert torch.equal(torch.get_rng_state(), global_state)
    assert torch.equal(generate(model, prompt, 40, seed=123), first)
    assert not torch.equal(generate(model, prompt, 40, seed=124), first)
    torch.manual_seed(5)
    unseeded = generate(model, prompt, 40)  # without seed: the global generator
    torch.manual_seed(5)
    assert torch.equal(generate(model, prompt, 40), unseeded)


def test_low_temperature_sampling_approaches_greedy():
    model = WindowLM()
    prompt = torch.tensor([[1, 2], [4, 0]])
    greedy = generate(model, prompt, 15, greedy=True)
    cold = generate(model, prompt, 15, temperature=1e-4, seed=0)
    assert torch.equal(cold, greedy)
    assert not torch.equal(generate(model, prompt, 15, temperature=5.0, seed=0), greedy)


def test_top_k_one_and_tiny_top_p_are_greedy():
    model = rnn_lm()
    prompt = torch.tensor([[0, 1, 2]])
    greedy = generate(model, prompt, 12, greedy=True)
    assert torch.equal(generate(model, prompt, 12, top_k=1, seed=3), greedy)
    assert torch.equal(generate(model, prompt, 12, top_p=1e-6, seed=3), greedy)


def test_works_with_a_callable_returning_log_probs():
    model = bigram_log_probs()
    out = generate(model, torch.tensor([2]), 5, greedy=True)
    assert torch.equal(out, torch.tensor([2, 3, 4, 5, 6, 0]))  # rank 1 in, rank 1 out
    sampled = generate(model, torch.zeros(200, 1, dtype=torch.long), 10, seed=0, top_p=0.99)
    steps = (sampled[:, 1:] - sampled[:, :-1]).remainder(V)  # only +1 or +2 are possible
    assert set(steps.unique().tolist()) == {1, 2}


def test_eos_stops_rows_and_fills_them():
    model = bigram_log_probs(follow=1.0)  # deterministic: i -> i+1
    prompt = torch.tensor([[1], [3]])
    out = generate(model, prompt, 20, greedy=True, eos_id=5)
    # row 1 reaches 5 after 2 tokens, row 0 after 4; then generation stops
    assert torch.equal(out, torch.tensor([[1, 2, 3, 4, 5], [3, 4, 5, 5, 5]]))


def test_runs_in_eval_mode_without_grad_and_restores_training_mode():
    model = WindowLM()
    model.train()
    sampled = generate(model, torch.tensor([[1, 2]]), 5, seed=0)
    assert model.training
    assert all(not training and not grad for _, training, grad in model.seen)
    model.eval()
    assert torch.equal(generate(model, torch.tensor([[1, 2]]), 5, seed=0), sampled)
    assert not model.training
    model.train()
    model.dropout.eval()  # mixed modes come back as they were, module by module
    generate(model, torch.tensor([[1, 2]]), 5, seed=0)
    assert model.training and model.head.training and not model.dropout.training


def test_zero_new_tokens_returns_the_prompt_without_calling_the_model():
    model = WindowLM()
    prompt = torch.tensor([[1, 2, 3]])
    assert torch.equal(generate(model, prompt, 0), prompt)
    assert model.seen == []


def test_bad_arguments_fail_before_the_model_runs():
    model = WindowLM()
    prompt = torch.tensor([[1, 2]])
    with pytest.raises(TypeError, match="LongTensor"):
        generate(model, prompt.float(), 3)
    with pytest.raises(TypeError, match="LongTensor"):
        generate(model, prompt[None], 3)
    with pytest.raises(ValueError, match="empty"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match=">= 0"):
        generate(model, prompt, -1)
    with pytest.raises(ValueError, match="greedy=True"):
        generate(model, prompt, 3, temperature=0)
    with pytest.raises(ValueError, match="top_k"):
        generate(model, prompt, 3, top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        generate(model, prompt, 3, top_p=1.5)
    assert model.seen == []


def test_a_model_returning_the_wrong_shape_gets_a_clear_error():
    with pytest.raises(ValueError, match=r"logits \(B, T, V\)"):
        generate(lambda tokens: tokens.float(), torch.tensor([[1, 2]]), 3)


@pytest.mark.gpu
def test_generation_stays_on_the_prompts_device():
    model = rnn_lm().to("cuda")
    out = generate(model, torch.tensor([[1, 2]], device="cuda"), 5, seed=0, top_p=0.9)
    assert out.device.type == "cuda"
