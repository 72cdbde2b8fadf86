"""The pointer-generator: its mixture by hand, its two limits, and the shared decoders."""

import pytest
import torch

from course_lib.decoding import beam_search, greedy_decode, tokens_until_eos
from course_lib.models.pointer import PointerGeneratorSeq2Seq
from course_lib.models.seq2seq import AttentionSeq2Seq, seq2seq_loss

V, BOS, EOS = 12, 1, 2
SIZES = dict(embed_dim=8, hidden_size=16, bidirectional=True, readout_size=10)


def make_pair(seed=0):
    torch.manual_seed(seed)
    pointer = PointerGeneratorSeq2Seq(V, V, **SIZES).eval()
    attention = AttentionSeq2Seq(V, V, **SIZES).eval()
    missing = attention.load_state_dict(pointer.state_dict(), strict=False)
    assert missing.missing_keys == [] and missing.unexpected_keys == ["gate.weight", "gate.bias"]
    return pointer, attention


def batch():
    src = torch.tensor([[5, 6, 5, 7, EOS], [8, 9, EOS, 0, 0]])  # (B, S), the second padded
    lengths = torch.tensor([5, 3])
    tgt_in = torch.tensor([[BOS, 5, 7, 3], [BOS, 9, 9, 4]])  # (B, T)
    return src, lengths, tgt_in


def set_gate(model, bias):
    with torch.no_grad():
        model.gate.weight.zero_()
        model.gate.bias.fill_(bias)


@torch.no_grad()
def test_output_is_a_log_distribution_and_matches_the_formula_by_hand():
    pointer, _ = make_pair()
    src, lengths, tgt_in = batch()
    log_p = pointer(src, lengths, tgt_in)  # (B, T, V)
    assert log_p.shape == (2, 4, V)
    torch.testing.assert_close(log_p.logsumexp(-1), torch.zeros(2, 4), atol=1e-5, rtol=0)
    # By hand, step by step, one row and one step at a time.
    state = pointer.encode(src, lengths)
    for t in range(tgt_in.shape[1]):
        features, new_state, weights = pointer._step(tgt_in[:, t], state)
        generate = pointer.output(features).softmax(-1)  # (B, V)
        p_gen = torch.sigmoid(pointer.gate(features))  # (B, 1)
        for b in range(2):
            for token in range(V):
                copied = sum(float(weights[b, i]) for i in range(src.shape[1]) if src[b, i] == token)
                expected = p_gen[b, 0] * generate[b, token] + (1 - p_gen[b, 0]) * copied
                assert float(log_p[b, t, token].exp()) == pytest.approx(float(expected), abs=1e-6)
        state = new_state


@torch.no_grad()
def test_gate_fully_open_is_the_attention_model():
    pointer, attention = make_pair()
    set_gate(pointer, 60.0)  # p_gen = 1: never copy
    src, lengths, tgt_in = batch()
    torch.testing.assert_close(pointer(src, lengths, tgt_in),
                               attention(src, lengths, tgt_in).log_softmax(-1), atol=1e-5, rtol=0)


@torch.no_grad()
def test_gate_closed_only_copies_source_tokens():
    pointer, attention = make_pair()
    set_gate(pointer, -60.0)  # p_gen = 0: only copy
    src, lengths, tgt_in = batch()
    p = pointer(src, lengths, tgt_in).exp()  # (B, T, V)
    _, weights = attention.forward_with_attention(src, lengths, tgt_in)  # (B, T, S)
    # Row 1's source is 8 9 <eos> (then padding): all the mass is on those three tokens.
    torch.testing.assert_close(p[1][:, [8, 9, EOS]], weights[1][:, :3], atol=1e-6, rtol=0)
    assert float(p[1][:, [0, 3, 4, 5, 6, 7, 10, 11]].max()) < 1e-9
    # Row 0 has 5 twice: its probability is the sum of both positions' weights.
    torch.testing.assert_close(p[0][:, 5], weights[0][:, 0] + weights[0][:, 2], atol=1e-6, rtol=0)


def test_decode_step_agrees_with_forward_and_loss_is_minus_log_p():
    pointer, _ = make_pair(1)
    src, lengths, tgt_in = batch()
    log_p = pointer(src, lengths, tgt_in)
    state = pointer.encode(src, lengths)
    for t in range(tgt_in.shape[1]):
        step, state = pointer.decode_step(tgt_in[:, t], state)
        torch.testing.assert_close(step, log_p[:, t], atol=1e-5, rtol=0)

    class Batch:
        src, src_lengths = batch()[:2]
        tgt = torch.tensor([[BOS, 5, 7, 3, EOS], [BOS, 9, 9, 4, EOS]])

    gold = Batch.tgt[:, 1:]
    expected = -log_p.gather(-1, gold[..., None]).mean()
    torch.testing.assert_close(seq2seq_loss(pointer, Batch), expected, atol=1e-5, rtol=0)


def test_greedy_and_beam_search_read_the_copy_state():
    pointer, _ = make_pair(2)
    src, lengths, _ = batch()
    greedy = tokens_until_eos(greedy_decode(pointer, src, lengths, max_len=6, bos_id=BOS, eos_id=EOS), EOS)
    beam_one = beam_search(pointer, src, lengths, beam_size=1, max_len=6, bos_id=BOS, eos_id=EOS)
    assert tokens_until_eos([hypotheses[0].tokens for hypotheses in beam_one], EOS) == greedy
    beams = beam_search(pointer, src, lengths, beam_size=3, max_len=6, bos_id=BOS, eos_id=EOS)
    assert len(beams) == 2 and all(1 <= len(hypotheses) <= 3 for hypotheses in beams)


def test_copying_learns_a_copy_task_faster_than_generating():
    """The target is the source's first token, a rare-ish id each time: copying it is one
    attention pattern, generating it needs every id's row of the output layer."""
    torch.manual_seed(0)
    src = torch.randint(3, V, (64, 6))
    src[:, -1] = EOS
    lengths = torch.full((64,), 6)

    class Batch:
        pass

    Batch.src, Batch.src_lengths = src, lengths
    Batch.tgt = torch.stack([torch.full((64,), BOS), src[:, 0], torch.full((64,), EOS)], dim=1)
    losses = {}
    for name, cls in (("pointer", PointerGeneratorSeq2Seq), ("attention", AttentionSeq2Seq)):
        torch.manual_seed(0)
        model = cls(V, V, embed_dim=8, hidden_size=16)
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(40):
            optimiser.zero_grad()
            loss = seq2seq_loss(model, Batch)
            loss.backward()
            optimiser.step()
        losses[name] = seq2seq_loss(model, Batch).item()
    print(losses)
    assert losses["pointer"] < 0.5 * losses["attention"], losses


def test_needs_one_shared_vocabulary():
    with pytest.raises(ValueError, match="one shared vocabulary"):
        PointerGeneratorSeq2Seq(12, 13, embed_dim=8, hidden_size=16)
