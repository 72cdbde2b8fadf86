"""Transformers: oracle tests against PyTorch's kernels, invariants of masks and positions,
the KV cache against the uncached model, and a GPT that can learn."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.decoding import beam_search, generate, greedy_decode
from course_lib.models.transformer import (
    GPT,
    DecoderState,
    KVCache,
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
    TransformerBlock,
    TransformerSeq2Seq,
    causal_mask,
    fused_attention,
    padding_mask,
    scaled_dot_product_attention,
    sinusoidal_positions,
)


def small_gpt(seed=0, block_size=8, dropout=0.0, bias=False):
    torch.manual_seed(seed)
    return GPT(vocab_size=11, block_size=block_size, embed_dim=16, num_heads=4, num_layers=2,
               dropout=dropout, bias=bias).eval()


def small_seq2seq(seed=0):
    torch.manual_seed(seed)
    return TransformerSeq2Seq(13, 17, embed_dim=16, num_heads=2, num_layers=2, ff_dim=32,
                              dropout=0.1, pad_id=0, max_len=20).eval()


def random_mask(generator, *shape):
    """A random bool mask in which every query row may attend at least one key."""
    mask = torch.rand(*shape, generator=generator) < 0.6
    mask[..., 0] = True
    return mask


# --- masks -------------------------------------------------------------------------------


def test_causal_mask_is_lower_triangular_and_shifts_with_past():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    # Two new queries after three cached keys: query 0 is position 3, sees keys 0..3.
    assert causal_mask(2, past=3).tolist() == [
        [True, True, True, True, False],
        [True, True, True, True, True],
    ]


def test_padding_mask_from_tokens_and_from_lengths_agree():
    tokens = torch.tensor([[5, 6, 7], [8, 0, 0]])
    expected = [[True, True, True], [True, False, False]]
    assert padding_mask(tokens=tokens, pad_id=0).tolist() == expected
    assert padding_mask(lengths=torch.tensor([3, 1])).tolist() == expected
    assert padding_mask(lengths=torch.tensor([3, 1]), max_len=4).shape == (2, 4)
    with pytest.raises(ValueError, match="exactly one"):
        padding_mask(tokens=tokens, lengths=torch.tensor([3, 1]))
    with pytest.raises(ValueError, match="pad_id"):
        padding_mask(tokens=tokens)


# --- scaled dot-product attention -------------------------------------------------------


@pytest.mark.parametrize("masking", ["none", "causal", "padding", "random"])
def test_scratch_attention_equals_pytorch(masking):
    g = torch.Generator().manual_seed(0)
    B, heads, T, Dh = 2, 3, 5, 4
    q, k, v = (torch.randn(B, heads, T, Dh, generator=g) for _ in range(3))
    mask = {
        "none": None,
        "causal": causal_mask(T),
        "padding": padding_mask(lengths=torch.tensor([5, 2]))[:, None, None, :],
        "random": random_mask(g, B, heads, T, T),
    }[masking]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, heads, T))
    if mask is not None:
        assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()


def test_scratch_attention_with_dropout_keeps_the_weights_and_changes_the_output():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 6, 4, generator=g) for _ in range(3))
    plain, plain_weights = scaled_dot_product_attention(q, k, v)
    dropped, dropped_weights = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    torch.testing.assert_close(dropped_weights, plain_weights)
    assert not torch.allclose(dropped, plain)


def test_float_masks_are_refused_with_the_convention():
    q = torch.randn(1, 1, 3, 2)
    with pytest.raises(TypeError, match="True where attention is allowed"):
        scaled_dot_product_attention(q, q, q, torch.zeros(3, 3))


# --- multi-head attention ----------------------------------------------------------------


def copied_pair(embed_dim=8, num_heads=2, bias=True, seed=0):
    torch.manual_seed(seed)
    ours = MultiHeadAttention(embed_dim, num_heads, bias=bias)
    theirs = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True)
    with torch.no_grad():
        ours.in_proj.weight.copy_(theirs.in_proj_weight)
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        if bias:
            ours.in_proj.bias.copy_(torch.randn(3 * embed_dim))
            theirs.in_proj_bias.copy_(ours.in_proj.bias)
            ours.out_proj.bias.copy_(torch.randn(embed_dim))
            theirs.out_proj.bias.copy_(ours.out_proj.bias)
    return ours, theirs


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("need_weights", [True, False])
def test_self_attention_equals_nn_multihead_attention(bias, need_weights):
    ours, theirs = copied_pair(bias=bias)
    x = torch.randn(3, 5, 8)
    keep = padding_mask(lengths=torch.tensor([5, 3, 1]))  # (B, S), True = real token
    for kwargs in ({}, {"key_padding_mask": keep}):
        out, weights = ours(x, **kwargs, need_weights=need_weights)
        theirs_kwargs = {"key_padding_mask": ~keep} if kwargs else {}  # True = ignore, there
        expected, expected_weights = theirs(x, x, x, **theirs_kwargs, average_attn_weights=False)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
        if need_weights:
            torch.testing.assert_close(weights, expected_weights, atol=1e-5, rtol=0)
        else:
            assert weights is None


def test_cross_attention_with_causal_and_padding_masks_equals_nn_multihead_attention():
    ours, theirs = copied_pair(embed_dim=12, num_heads=3)
    query, memory = torch.randn(2, 4, 12), torch.randn(2, 6, 12)
    keep = padding_mask(lengths=torch.tensor([6, 4]))
    out, weights = ours(query, memory, key_padding_mask=keep, need_weights=True)
    expected, expected_weights = theirs(query, memory, memory, key_padding_mask=~keep,
                                        average_attn_weights=False)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(weights, expected_weights, atol=1e-5, rtol=0)

    x = torch.randn(2, 6, 12)
    out, _ = ours(x, is_causal=True, key_padding_mask=keep)
    expected, _ = theirs(x, x, x, attn_mask=~causal_mask(6), key_padding_mask=~keep)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_fast_and_scratch_paths_agree():
    torch.manual_seed(0)
    block = TransformerBlock(16, 4, 32).eval()
    x = torch.randn(3, 7, 16)
    keep = padding_mask(lengths=torch.tensor([7, 5, 2]))
    for kwargs in ({"is_causal": True}, {"key_padding_mask": keep},
                   {"is_causal": True, "key_padding_mask": keep}):
        fast, none = block(x, **kwargs)
        scratch, weights = block(x, **kwargs, need_weights=True)
        assert none is None and weights.shape == (3, 4, 7, 7)
        torch.testing.assert_close(fast, scratch, atol=1e-5, rtol=0)


@pytest.mark.parametrize("masking", ["causal", "padding"])
def test_fused_attention_in_bfloat16_on_the_cpu_matches_float32(masking):
    # bfloat16 CPU inputs take PyTorch's math kernel (its flash kernel is slower there): the
    # output and the gradients must still be attention, to bfloat16 accuracy.
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 9, 8, generator=generator) for _ in range(3))
    mask = None if masking == "causal" else random_mask(generator, 2, 1, 1, 9)
    is_causal = masking == "causal"

    def output_and_grads(dtype):
        leaves = [t.to(dtype, copy=True).requires_grad_() for t in (q, k, v)]
        out = fused_attention(*leaves, mask, is_causal=is_causal)
        out.float().square().sum().backward()
        return [out.float()] + [leaf.grad.float() for leaf in leaves]

    low, full = output_and_grads(torch.bfloat16), output_and_grads(torch.float32)
    assert low[0].shape == (2, 3, 9, 8)
    expected = F.scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal)
    torch.testing.assert_close(full[0], expected)
    for ours, reference in zip(low, full, strict=True):
        torch.testing.assert_close(ours, reference, atol=0.06, rtol=0.02)


def test_embed_dim_must_divide_into_heads():
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        GPT(11, 8, embed_dim=10, num_heads=4, num_layers=1)


# --- positions ----------------------------------------------------------------------------


def test_sinusoidal_positions_known_values():
    table = sinusoidal_positions(max_len=50, embed_dim=8)
    assert table[0, 0::2].tolist() == [0.0] * 4  # sin 0
    assert table[0, 1::2].tolist() == [1.0] * 4  # cos 0
    for pos, i in [(1, 0), (7, 1), (49, 3)]:
        angle = pos / 10000 ** (2 * i / 8)
        assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
        assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(10, 7)


def test_self_attention_is_permutation_equivariant_until_positions_are_added():
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, 2)
    x = torch.randn(1, 6, 8)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out, _ = attention(x)
    permuted, _ = attention(x[:, perm])
    torch.testing.assert_close(permuted, out[:, perm], atol=1e-6, rtol=0)

    for positions in (SinusoidalPositionalEncoding(16, 8), LearnedPositionalEmbedding(16, 8)):
        out, _ = attention(positions(x))
        permuted, _ = attention(positions(x[:, perm]))
        assert not torch.allclose(permuted, out[:, perm], atol=1e-3)


def test_positions_refuse_sequences_longer_than_max_len():
    with pytest.raises(ValueError, match="max_len=4"):
        SinusoidalPositionalEncoding(4, 8)(torch.zeros(1, 5, 8))
    with pytest.raises(ValueError, match="max_len=4"):
        LearnedPositionalEmbedding(4, 8)(torch.zeros(1, 3, 8), offset=2)


# --- GPT ------------------------------------------------------------------------------------


def test_gpt_shapes_tying_and_init():
    gpt = small_gpt()
    assert gpt(torch.randint(11, (2, 8))).shape == (2, 8, 11)
    assert gpt.block_size == 8
    assert gpt.lm_head.weight is gpt.token_embedding.weight
    torch.manual_seed(0)
    deep = GPT(11, 8, embed_dim=256, num_heads=4, num_layers=8)
    assert deep.blocks[0].attn.in_proj.weight.std().item() == pytest.approx(0.02, rel=0.05)
    residual_std = 0.02 / math.sqrt(2 * 8)
    assert deep.blocks[0].ff.proj.weight.std().item() == pytest.approx(residual_std, rel=0.05)
    assert deep.blocks[0].attn.out_proj.weight.std().item() == pytest.approx(residual_std, rel=0.05)


def test_gpt_rejects_bad_tokens_clearly():
    gpt = small_gpt()
    with pytest.raises(TypeError, match="integer token ids"):
        gpt(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="2-D"):
        gpt(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="block_size is 8"):
        gpt(torch.zeros(1, 9, dtype=torch.long))


def test_causal_mask_hides_the_future_from_gpt():
    gpt = small_gpt(bias=True)
    tokens = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11
    before, after = gpt(tokens), gpt(changed)
    torch.testing.assert_close(after[:, :5], before[:, :5], atol=1e-6, rtol=0)
    assert not torch.allclose(after[:, 5:], before[:, 5:])


def test_gpt_attention_maps_are_causal_distributions():
    maps = small_gpt().attention_maps(torch.randint(11, (2, 6)))
    assert len(maps) == 2 and maps[0].shape == (2, 4, 6, 6)
    for weights in maps:
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 6))
        assert (weights.triu(diagonal=1) == 0).all()


def test_kv_cache_equals_the_uncached_model_over_a_long_generation():
    """Greedy generation past block_size: the cache's logits equal a full forward each step."""
    gpt = small_gpt(block_size=8)
    tokens = torch.randint(11, (3, 5), generator=torch.Generator().manual_seed(0))
    cache = gpt.new_cache()
    with torch.no_grad():
        logits = gpt(tokens, cache)
        torch.testing.assert_close(logits, gpt(tokens), atol=1e-5, rtol=0)
        for _ in range(14):  # 5 + 14 tokens: the window slides past block_size = 8
            next_token = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
            tokens = torch.cat([tokens, next_token], dim=1)
            logits = gpt(next_token, cache)
            expected = gpt(tokens[:, -gpt.block_size :])[:, -1:]
            torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)
            assert cache.length == min(tokens.shape[1], gpt.block_size)
            assert torch.equal(cache.tokens, tokens[:, -cache.length :])


def test_kv_cache_steps_of_several_tokens_and_copies_are_snapshots():
    gpt = small_gpt()
    tokens = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        cache = gpt.new_cache()
        first = gpt(tokens[:, :3], cache)
        snapshot = cache.copy()
        keys_before = snapshot.layers[0].keys.clone()
        second = gpt(tokens[:, 3:7], cache)
        third = gpt(tokens[:, 3:8], snapshot)  # the cache as it was after 3 tokens
        full = gpt(tokens)
    torch.testing.assert_close(torch.cat([first, second], 1), full[:, :7], atol=1e-5, rtol=0)
    torch.testing.assert_close(third, full[:, 3:], atol=1e-5, rtol=0)
    assert cache.length == 7 and snapshot.length == 8
    assert torch.equal(snapshot.layers[0].keys[:, :, :3], keys_before)
    assert isinstance(cache, KVCache) and cache.select(torch.tensor([1, 1, 0])).tokens.shape == (3, 7)
    with pytest.raises(ValueError, match="batch"):
        gpt(tokens[:1, :1], cache)


def test_decoding_generate_gives_the_same_text_with_and_without_the_cache():
    gpt = small_gpt(block_size=8)
    prompt = torch.randint(11, (2, 3), generator=torch.Generator().manual_seed(2))
    for options in ({"greedy": True}, {"temperature": 1.0, "seed": 0}):
        uncached = generate(gpt, prompt, max_new_tokens=12, use_cache=False, **options)
        cached = generate(gpt, prompt, max_new_tokens=12, **options)
        assert uncached.shape == (2, 15) and torch.equal(cached, uncached)


def test_tiny_gpt_overfits_a_tiny_sequence():
    torch.manual_seed(0)
    gpt = GPT(vocab_size=8, block_size=16, embed_dim=32, num_heads=4, num_layers=2)
    sequence = torch.tensor([[1, 5, 2, 7, 3, 3, 6, 0, 4, 1, 2, 5, 7, 6, 0, 4, 3]])
    x, y = sequence[:, :-1], sequence[:, 1:]
    optimizer = torch.optim.AdamW(gpt.parameters(), lr=1e-2)
    for _ in range(40):
        loss = F.cross_entropy(gpt(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05, f"a tiny GPT should memorise 16 tokens, loss {loss.item():.3f}"


# --- encoder-decoder -----------------------------------------------------------------------


def test_seq2seq_forward_is_encode_then_decode():
    model = small_seq2seq()
    src, tgt_in = torch.randint(1, 13, (2, 6)), torch.randint(1, 17, (2, 4))
    logits = model(src, None, tgt_in)
    assert logits.shape == (2, 4, 17)
    encoded = model.encode(src)
    assert encoded.memory.shape == (2, 6, 16) and encoded.src_mask.all()
    torch.testing.assert_close(model.decode(tgt_in, encoded), logits)
    beams = encoded.select(torch.tensor([0, 0, 1, 1]))
    torch.testing.assert_close(model.decode(tgt_in.repeat_interleave(2, 0), beams)[::2], logits)


def test_seq2seq_loss_is_smoothed_cross_entropy_over_real_targets():
    from course_lib.data import make_collate
    from course_lib.models.seq2seq import seq2seq_loss

    model = small_seq2seq()
    pairs = [([3, 4, 5, 2], [1, 6, 7, 2]), ([8, 2], [1, 9, 10, 11, 2])]  # (src, <bos> tgt <eos>)
    batch = make_collate(0)(pairs)  # targets padded with 0
    logits = model(batch.src, batch.src_lengths, batch.tgt[:, :-1])  # (B, T, V)
    by_hand = []
    for b, (_, tgt) in enumerate(pairs):  # mean over the 3 + 4 real predictions
        for t in range(len(tgt) - 1):
            log_p = logits[b, t].log_softmax(-1)
            by_hand.append(-(0.9 * log_p[tgt[t + 1]] + 0.1 * log_p.mean()))
    torch.testing.assert_close(seq2seq_loss(model, batch, label_smoothing=0.1), torch.stack(by_hand).mean())
    plain = F.cross_entropy(logits.flatten(0, 1), batch.tgt[:, 1:].flatten(), ignore_index=0)
    torch.testing.assert_close(seq2seq_loss(model, batch), plain)
    with pytest.raises(ValueError, match="tgt"):
        seq2seq_loss(model, make_collate(0)([[3, 4], [5]]))
    with pytest.raises(ValueError, match="recurrent decoder"):
        seq2seq_loss(model, batch, teacher_forcing=0.5)


def test_decode_step_equals_forward_on_the_prefix_and_never_modifies_the_state():
    model = small_seq2seq()
    src = torch.tensor([[4, 7, 9, 2, 0, 0], [5, 3, 8, 6, 11, 12]])
    tgt_in = torch.tensor([[2, 5, 9, 1, 16], [2, 3, 3, 7, 4]])  # 2 plays <bos>
    full = model(src, None, tgt_in)  # (B, T, V)
    state = model.encode(src, torch.tensor([4, 6]))
    assert isinstance(state, DecoderState) and state.tokens.shape == (2, 0)
    with torch.no_grad():
        first, after_first = model.decode_step(tgt_in[:, 0], state)
        step_state, logits = after_first, first
        for t in range(1, tgt_in.shape[1] + 1):
            torch.testing.assert_close(logits, full[:, t - 1], atol=1e-5, rtol=0)
            if t < tgt_in.shape[1]:
                logits, step_state = model.decode_step(tgt_in[:, t], step_state)
    assert state.tokens.shape == (2, 0) and after_first.tokens.tolist() == [[2], [2]]
    assert step_state.tokens.tolist() == tgt_in.tolist()
    with pytest.raises(ValueError, match="1-D"):
        model.decode_step(tgt_in, state)


def test_encode_with_lengths_equals_encode_with_pad_id():
    model = small_seq2seq()
    src = torch.tensor([[4, 7, 9, 0, 0], [5, 3, 8, 6, 11]])
    by_lengths, by_pad = model.encode(src, torch.tensor([3, 5])), model.encode(src)
    assert torch.equal(by_lengths.src_mask, by_pad.src_mask)
    torch.testing.assert_close(by_lengths.memory_keys[1], by_pad.memory_keys[1])
    with pytest.raises(ValueError, match="src_lengths"):
        model.encode(src, torch.tensor([3, 6]))


def brute_force_greedy(model, src, max_len, bos_id, eos_id):
    """Greedy decoding the slow way: the whole prefix through ``forward`` at every step."""
    outputs = []
    for row in src:
        prefix = [bos_id]
        while len(prefix) <= max_len:
            logits = model(row[None], None, torch.tensor([prefix]))  # (1, t, V)
            prefix.append(int(logits[0, -1].argmax()))
            if prefix[-1] == eos_id:
                break
        outputs.append(prefix[1:])
    return outputs


def test_greedy_decode_on_the_transformer_equals_argmax_of_forward():
    model = small_seq2seq(seed=3)
    src = torch.tensor([[4, 7, 9, 2, 0, 0], [5, 3, 8, 6, 11, 12], [9, 9, 1, 0, 0, 0]])
    lengths = torch.tensor([4, 6, 3])
    bos_id, eos_id = 2, 3
    with torch.no_grad():
        expected = brute_force_greedy(model, src, 9, bos_id, eos_id)
    decoded = greedy_decode(model, src, lengths, max_len=9, bos_id=bos_id, eos_id=eos_id)
    for row, want in zip(decoded.tolist(), expected, strict=True):
        assert row[: len(want)] == want  # after <eos> greedy_decode pads with eos_id
        assert all(token == eos_id for token in row[len(want):])


def test_beam_size_one_equals_greedy():
    model = small_seq2seq(seed=5)
    src = torch.tensor([[4, 7, 9, 2, 0, 0], [5, 3, 8, 6, 11, 12]])
    lengths = torch.tensor([4, 6])
    options = dict(max_len=8, bos_id=2, eos_id=3)
    greedy = greedy_decode(model, src, lengths, **options).tolist()
    beams = beam_search(model, src, lengths, beam_size=1, **options)
    for row, hypotheses in zip(greedy, beams, strict=True):
        best = hypotheses[0].tokens
        assert row[: len(best)] == best
    wide = beam_search(model, src, lengths, beam_size=4, **options)  # runs on selected states
    assert all(1 <= len(hypotheses) <= 4 for hypotheses in wide)


def test_decode_step_refuses_to_run_past_max_len():
    model = small_seq2seq()  # max_len=20
    state = model.encode(torch.tensor([[4, 5]]))
    with torch.no_grad():
        for _ in range(20):
            _, state = model.decode_step(torch.tensor([1]), state)
        with pytest.raises(ValueError, match="max_len=20"):
            model.decode_step(torch.tensor([1]), state)


def test_padding_the_source_does_not_change_the_translation():
    model = small_seq2seq()
    src = torch.tensor([[4, 7, 9, 2, 0, 0], [5, 3, 8, 6, 11, 12]])
    tgt_in = torch.randint(1, 17, (2, 5))
    padded = torch.cat([src, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded, None, tgt_in), model(src, None, tgt_in), atol=1e-5, rtol=0)
    # and the first sentence alone, unpadded, gives the same as in the padded batch
    torch.testing.assert_close(model(src[:1, :4], None, tgt_in[:1]), model(src, None, tgt_in)[:1],
                               atol=1e-5, rtol=0)
    cross = model.attention_maps(padded, tgt_in)["cross"]
    assert (cross[-1][0, :, :, 4:] == 0).all()  # no attention to padding


def test_seq2seq_masks_future_targets_and_checks_lengths():
    model = small_seq2seq()
    src, tgt_in = torch.randint(1, 13, (1, 5)), torch.randint(1, 17, (1, 6))
    changed = tgt_in.clone()
    changed[:, 4:] = 1
    torch.testing.assert_close(model(src, None, changed)[:, :4], model(src, None, tgt_in)[:, :4])
    with pytest.raises(ValueError, match="max_len is 20"):
        model(torch.ones(1, 21, dtype=torch.long), None, tgt_in)


@pytest.mark.gpu
def test_gpt_on_cuda_matches_cpu():
    gpt = small_gpt()
    tokens = torch.randint(11, (2, 8))
    expected = gpt(tokens)
    torch.testing.assert_close(gpt.to("cuda")(tokens.cuda()).cpu(), expected, atol=1e-4, rtol=0)
    logits = gpt(tokens.cuda(), gpt.new_cache())
    torch.testing.assert_close(logits.cpu(), expected, atol=1e-4, rtol=0)
