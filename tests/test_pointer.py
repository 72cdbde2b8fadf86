"""The pointer-generators (GRU and Transformer): the mixture by hand, its two limits, and
the shared decoders."""

import pytest
import torch

from course_lib.decoding import beam_search, greedy_decode, tokens_until_eos
from course_lib.models.pointer import PointerGeneratorSeq2Seq, PointerTransformerSeq2Seq
from course_lib.models.seq2seq import AttentionSeq2Seq, seq2seq_loss
from course_lib.models.transformer import TransformerSeq2Seq

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


# --- The Transformer with a copy gate ------------------------------------------------------

TRANSFORMER_SIZES = dict(embed_dim=16, num_heads=2, num_layers=2, ff_dim=32, dropout=0.0, max_len=16)


def make_transformer_pair(seed=0):
    torch.manual_seed(seed)
    pointer = PointerTransformerSeq2Seq(V, V, **TRANSFORMER_SIZES).eval()
    plain = TransformerSeq2Seq(V, V, **TRANSFORMER_SIZES).eval()
    missing = plain.load_state_dict(pointer.state_dict(), strict=False)
    assert missing.missing_keys == []
    assert sorted(missing.unexpected_keys) == ["copy_key.bias", "copy_key.weight", "copy_query.bias",
                                               "copy_query.weight", "gate.bias", "gate.weight"]
    return pointer, plain


@torch.no_grad()
def test_transformer_copy_matches_the_formula_by_hand():
    pointer, _ = make_transformer_pair()
    src, lengths, tgt_in = batch()
    log_p = pointer(src, lengths, tgt_in)  # (B, T, V)
    torch.testing.assert_close(log_p.logsumexp(-1), torch.zeros(2, 4), atol=1e-5, rtol=0)
    memory, src_mask = pointer._encode_memory(src, lengths)
    states = pointer._decoder_states(tgt_in, memory, src_mask)  # (B, T, D)
    for b in range(2):
        for t in range(tgt_in.shape[1]):
            h = states[b, t]  # (D,)
            # The copy attention by hand: one query against every real source position.
            real = int(lengths[b])
            scores = torch.stack([pointer.copy_query(h) @ pointer.copy_key(memory[b, i]) for i in range(real)])
            weights = (scores / 16**0.5).softmax(0)  # (real,)
            context = sum(weights[i] * memory[b, i] for i in range(real))
            p_gen = torch.sigmoid(pointer.gate(torch.cat([h, context])))
            generate = pointer.output(h).softmax(0)
            for token in range(V):
                copied = sum(float(weights[i]) for i in range(real) if src[b, i] == token)
                expected = p_gen * generate[token] + (1 - p_gen) * copied
                assert float(log_p[b, t, token].exp()) == pytest.approx(float(expected), abs=1e-6)


@torch.no_grad()
def test_transformer_gate_open_is_the_transformer_and_closed_only_copies():
    pointer, plain = make_transformer_pair()
    src, lengths, tgt_in = batch()
    set_gate(pointer, 60.0)  # p_gen = 1
    torch.testing.assert_close(pointer(src, lengths, tgt_in), plain(src, lengths, tgt_in).log_softmax(-1),
                               atol=1e-5, rtol=0)
    set_gate(pointer, -60.0)  # p_gen = 0
    p = pointer(src, lengths, tgt_in).exp()  # (B, T, V)
    assert float(p[1][:, [0, 3, 4, 5, 6, 7, 10, 11]].max()) < 1e-9  # row 1 copies only 8 9 <eos>
    torch.testing.assert_close(p[1][:, [8, 9, EOS]].sum(-1), torch.ones(4), atol=1e-5, rtol=0)
    _, weights = pointer.forward_with_attention(src, lengths, tgt_in)  # (B, T, S) copy weights
    torch.testing.assert_close(p[0][:, 5], weights[0][:, 0] + weights[0][:, 2], atol=1e-6, rtol=0)
    assert float(weights[1][:, 3:].max()) == 0.0  # never at padding


def test_transformer_decode_step_and_decode_agree_with_forward():
    pointer, _ = make_transformer_pair(1)
    src, lengths, tgt_in = batch()
    with torch.no_grad():
        log_p = pointer(src, lengths, tgt_in)
        state = pointer.encode(src, lengths)
        torch.testing.assert_close(pointer.decode(tgt_in, state), log_p, atol=1e-5, rtol=0)
        for t in range(tgt_in.shape[1]):
            step, state = pointer.decode_step(tgt_in[:, t], state)
            torch.testing.assert_close(step, log_p[:, t], atol=1e-5, rtol=0)
    greedy = tokens_until_eos(greedy_decode(pointer, src, lengths, max_len=6, bos_id=BOS, eos_id=EOS), EOS)
    beam_one = beam_search(pointer, src, lengths, beam_size=1, max_len=6, bos_id=BOS, eos_id=EOS)
    assert tokens_until_eos([hypotheses[0].tokens for hypotheses in beam_one], EOS) == greedy


def test_transformer_needs_one_shared_vocabulary():
    with pytest.raises(ValueError, match="one shared vocabulary"):
        PointerTransformerSeq2Seq(12, 13, **TRANSFORMER_SIZES)
