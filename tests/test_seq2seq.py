"""Recurrent encoder-decoders: packing oracle, padding invariance, teacher forcing, learning."""

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from course_lib.data import make_collate, make_loader
from course_lib.decoding import greedy_decode, tokens_until_eos
from course_lib.models.seq2seq import (
    AttentionSeq2Seq,
    Encoder,
    Seq2Seq,
    inverse_sigmoid_teacher_forcing,
    linear_teacher_forcing,
    seq2seq_loss,
)
from course_lib.tasks import make_task, sequence_accuracy, task_vocab

SRC_V, TGT_V, PAD = 9, 7, 0
CONFIGS = [("gru", False), ("gru", True), ("lstm", False), ("lstm", True)]
ChoSeq2Seq = partial(Seq2Seq, feed_context=True)  # the context vector fed to every step
DeepOutputAttention = partial(AttentionSeq2Seq, readout_size=5)  # tanh readout before the output
KINDS = pytest.mark.parametrize("kind", [Seq2Seq, ChoSeq2Seq, AttentionSeq2Seq, DeepOutputAttention],
                                ids=["plain", "cho", "attention", "attention-readout"])


def padded_batch(lengths, vocab_size, seed=0, pad_value=PAD):
    """Random ids (B, max length) with ``pad_value`` after each length (no pad inside)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab_size, (len(lengths), max(lengths)), generator=g)
    lengths = torch.tensor(lengths)
    mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
    return ids.masked_fill(~mask, pad_value), lengths


def make_model(kind, cell="gru", bidirectional=False, num_layers=2):
    torch.manual_seed(0)
    model = kind(SRC_V, TGT_V, embed_dim=6, hidden_size=8, num_layers=num_layers, cell=cell,
                 bidirectional=bidirectional, pad_id=PAD)
    return model.eval()


@pytest.mark.parametrize("cell,bidirectional", CONFIGS)
def test_packed_encoder_equals_running_each_sequence_alone(cell, bidirectional):
    torch.manual_seed(0)
    encoder = Encoder(SRC_V, 6, 8, num_layers=2, cell=cell, bidirectional=bidirectional).eval()
    src, lengths = padded_batch([4, 1, 6, 3], SRC_V)
    outputs, final = encoder(src, lengths)
    assert outputs.shape == (4, 6, 8 * (2 if bidirectional else 1))
    finals = final if cell == "lstm" else (final,)
    for row, n in enumerate(lengths.tolist()):
        alone, alone_final = encoder(src[row : row + 1, :n], torch.tensor([n]))
        torch.testing.assert_close(outputs[row, :n], alone[0], rtol=1e-5, atol=1e-6)
        assert torch.all(outputs[row, n:] == 0)  # padded positions: zeros, not garbage
        alone_finals = alone_final if cell == "lstm" else (alone_final,)
        for part, alone_part in zip(finals, alone_finals, strict=True):
            torch.testing.assert_close(part[:, row], alone_part[:, 0], rtol=1e-5, atol=1e-6)


@KINDS
@pytest.mark.parametrize("cell,bidirectional", CONFIGS)
def test_padding_content_and_batch_neighbours_never_matter(kind, cell, bidirectional):
    model = make_model(kind, cell, bidirectional)
    src, lengths = padded_batch([5, 2, 3], SRC_V)
    garbage, _ = padded_batch([5, 2, 3], SRC_V, pad_value=5)  # same ids, junk in the padding
    tgt_in, _ = padded_batch([4, 4, 4], TGT_V, seed=1)
    logits = model(src, lengths, tgt_in)
    assert logits.shape == (3, 4, TGT_V)
    torch.testing.assert_close(model(garbage, lengths, tgt_in), logits)
    for row, n in enumerate(lengths.tolist()):
        alone = model(src[row : row + 1, :n], lengths[row : row + 1], tgt_in[row : row + 1])
        torch.testing.assert_close(alone[0], logits[row], rtol=1e-5, atol=1e-6)


@KINDS
@pytest.mark.parametrize("cell,bidirectional", CONFIGS)
def test_forward_equals_stepping_decode_step(kind, cell, bidirectional):
    model = make_model(kind, cell, bidirectional)
    src, lengths = padded_batch([5, 2, 3], SRC_V)
    tgt_in, _ = padded_batch([4, 4, 4], TGT_V, seed=1)
    state = model.encode(src, lengths)
    steps = []
    for t in range(tgt_in.shape[1]):
        logits, state = model.decode_step(tgt_in[:, t], state)
        steps.append(logits)
    torch.testing.assert_close(model(src, lengths, tgt_in), torch.stack(steps, dim=1))


def test_attention_weights_are_a_distribution_over_real_source_tokens():
    model = make_model(AttentionSeq2Seq, "lstm", True)
    src, lengths = padded_batch([5, 2, 3], SRC_V)
    tgt_in, _ = padded_batch([4, 4, 4], TGT_V, seed=1)
    logits, weights = model.forward_with_attention(src, lengths, tgt_in)
    assert weights.shape == (3, 4, 5)
    torch.testing.assert_close(logits, model(src, lengths, tgt_in))
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(3, 4))
    mask = torch.arange(5)[None, :] < lengths[:, None]  # (B, S)
    assert torch.all(weights.masked_select(~mask[:, None, :].expand_as(weights)) == 0)


@pytest.mark.parametrize("kind", [ChoSeq2Seq, AttentionSeq2Seq], ids=["cho", "attention"])
def test_state_select_picks_batch_rows(kind):
    model = make_model(kind, "lstm", True)
    src, lengths = padded_batch([5, 2, 3], SRC_V)
    index = torch.tensor([2, 0, 0])
    picked = model.encode(src, lengths).select(index)
    expected = model.encode(src[index], lengths[index])
    prev = torch.tensor([1, 2, 3])
    torch.testing.assert_close(model.decode_step(prev, picked)[0], model.decode_step(prev, expected)[0])


@KINDS
def test_teacher_forcing_ratio(kind):
    model = make_model(kind)
    src, lengths = padded_batch([5, 2, 3], SRC_V)
    tgt_in, _ = padded_batch([5, 5, 5], TGT_V, seed=1)
    other = tgt_in.clone()
    other[:, 1:] = (tgt_in[:, 1:] + 1) % TGT_V  # every input after <bos> changed
    # 0.0: the model feeds its own predictions, so the true inputs after the first don't matter
    torch.testing.assert_close(model(src, lengths, tgt_in, 0.0), model(src, lengths, other, 0.0))
    assert not torch.allclose(model(src, lengths, tgt_in, 1.0), model(src, lengths, other, 1.0))
    own = model(src, lengths, tgt_in, 0.0)  # the inputs were the argmax of the previous step
    state = model.encode(src, lengths)
    prev = tgt_in[:, 0]
    for t in range(tgt_in.shape[1]):
        logits, state = model.decode_step(prev, state)
        torch.testing.assert_close(own[:, t], logits)
        prev = logits.argmax(dim=-1)
    # in between: drawn per sentence and step, reproducible with a generator
    half = [model(src, lengths, tgt_in, 0.5, torch.Generator().manual_seed(3)) for _ in range(2)]
    torch.testing.assert_close(half[0], half[1])


def test_seq2seq_loss_ignores_padding():
    model = make_model(AttentionSeq2Seq)
    pairs = [([4, 5, 3], [2, 4, 4, 5, 3]), ([6, 3], [2, 6, 3]), ([7, 8, 4, 3], [2, 5, 3])]
    batch = make_collate(PAD)(pairs)
    total, count = 0.0, 0
    for pair in pairs:  # each sentence alone: no padding at all
        alone = make_collate(PAD)([pair])
        n = len(pair[1]) - 1
        total += seq2seq_loss(model, alone).item() * n
        count += n
    assert math.isclose(seq2seq_loss(model, batch).item(), total / count, rel_tol=1e-5)


def test_teacher_forcing_schedules():
    assert linear_teacher_forcing(0, 100) == 1.0
    assert linear_teacher_forcing(50, 100) == 0.5
    assert linear_teacher_forcing(500, 100, end=0.2) == 0.2
    assert inverse_sigmoid_teacher_forcing(0, 10) == pytest.approx(10 / 11)
    middle = 10 * math.log(10)  # k / (k + exp(step / k)) = 1/2 at step = k ln k
    assert inverse_sigmoid_teacher_forcing(middle, 10) == pytest.approx(0.5)
    ratios = [inverse_sigmoid_teacher_forcing(s, 10) for s in range(0, 10_000, 50)]
    assert all(a > b for a, b in zip(ratios, ratios[1:], strict=False) if a > 0)
    assert ratios[-1] == 0.0
    with pytest.raises(ValueError):
        inverse_sigmoid_teacher_forcing(3, 0.5)


def test_clear_errors():
    model = make_model(Seq2Seq)
    src, lengths = padded_batch([3, 2], SRC_V)
    tgt_in, _ = padded_batch([3, 3], TGT_V)
    with pytest.raises(ValueError, match="src_lengths"):
        model(src, torch.tensor([3, 0]), tgt_in)
    with pytest.raises(ValueError, match="src_lengths"):
        model(src, torch.tensor([4, 2]), tgt_in)
    with pytest.raises(TypeError, match="LongTensor"):
        model(src.float(), lengths, tgt_in)
    with pytest.raises(ValueError, match="teacher_forcing"):
        model(src, lengths, tgt_in, teacher_forcing=1.5)
    with pytest.raises(ValueError, match="tgt_in"):
        model(src, lengths, tgt_in[:1])
    with pytest.raises(ValueError, match="ids must be in"):
        model(src + SRC_V, lengths, tgt_in)
    with pytest.raises(ValueError, match="Unknown cell"):
        Seq2Seq(5, 5, 4, 4, cell="transformer")


@pytest.mark.slow  # ~2-5 s of training
def test_attention_model_learns_to_reverse():
    vocab = task_vocab(6)
    train = make_task("reverse", 4000, min_len=1, max_len=6, vocab_size=6, seed=0)
    test = make_task("reverse", 200, min_len=1, max_len=6, vocab_size=6, seed=1)
    torch.manual_seed(0)
    model = AttentionSeq2Seq(len(vocab), len(vocab), embed_dim=16, hidden_size=32,
                             pad_id=vocab.pad_id)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for step, batch in enumerate(make_loader(train, 64, pad_id=vocab.pad_id, seed=0)):
        loss = seq2seq_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 150:
            break
    batch = make_collate(vocab.pad_id)(test)
    output = greedy_decode(model, batch.src, batch.src_lengths, 8, vocab.bos_id, vocab.eos_id)
    predictions = tokens_until_eos(output, vocab.eos_id)
    assert sequence_accuracy(predictions, [tgt[1:-1] for _, tgt in test]) >= 0.9
    assert model.training  # greedy_decode gave the training mode back


def test_loss_matches_cross_entropy_by_hand():
    model = make_model(Seq2Seq)
    batch = make_collate(PAD)([([4, 3], [2, 5, 6, 3])])
    logits = model(batch.src, batch.src_lengths, batch.tgt[:, :-1])
    by_hand = -F.log_softmax(logits[0], dim=-1)[torch.arange(3), torch.tensor([5, 6, 3])].mean()
    torch.testing.assert_close(seq2seq_loss(model, batch), by_hand)


def test_fed_context_reaches_every_step():
    """With feed_context the source changes a late step's logits even when the recurrent
    state is fixed: the context vector arrives directly, not only through h_0."""
    model = make_model(ChoSeq2Seq)
    src, lengths = padded_batch([5, 2, 3], SRC_V)
    other, _ = padded_batch([5, 2, 3], SRC_V, seed=7)
    state, other_state = model.encode(src, lengths), model.encode(other, lengths)
    same_hidden = type(state)(state.hidden, context=other_state.context)
    prev = torch.tensor([1, 2, 3])
    assert not torch.allclose(model.decode_step(prev, state)[0], model.decode_step(prev, same_hidden)[0])
    assert model.output.in_features == 2 * 8 + 6  # [h_t; c; embed(y_{t-1})]


def test_readout_layer_shapes_and_bad_size():
    model = make_model(partial(Seq2Seq, feed_context=True, readout_size=4))
    assert [layer.out_features for layer in model.output if hasattr(layer, "out_features")] == [4, TGT_V]
    with pytest.raises(ValueError, match="readout_size"):
        Seq2Seq(SRC_V, TGT_V, 6, 8, readout_size=0)
