"""Attention for encoder-decoders: masks, padding invariance, hand-worked answers, PyTorch oracle."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.models.masks import masked_softmax
from course_lib.models.rnn_attention import (
    ATTENTION_KINDS,
    AdditiveAttention,
    DotAttention,
    GeneralAttention,
    make_attention,
)
from course_lib.models.transformer_layers import scaled_dot_product_attention

B, S, D, DV = 3, 5, 4, 6


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(B, D, generator=g)
    keys = torch.randn(B, S, D, generator=g)
    values = torch.randn(B, S, DV, generator=g)
    mask = torch.arange(S)[None, :] < torch.tensor([5, 3, 1])[:, None]  # (B, S)
    return query, keys, values, mask


@pytest.fixture(params=ATTENTION_KINDS)
def attention(request):
    torch.manual_seed(0)
    return make_attention(request.param, D, D, attn_dim=7)


def test_shapes_and_weights_sum_to_one_over_real_positions(attention):
    query, keys, values, mask = inputs()
    context, weights = attention(query, keys, values, mask)
    assert context.shape == (B, DV) and weights.shape == (B, S)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(B))
    assert torch.all(weights[~mask] == 0)  # exactly zero, not just small
    assert torch.all(weights[mask] > 0)
    torch.testing.assert_close(weights[2], torch.tensor([1.0, 0, 0, 0, 0]))  # one real key


def test_appending_padded_keys_changes_nothing(attention):
    query, keys, values, mask = inputs()
    g = torch.Generator().manual_seed(1)
    extra = 3
    longer_keys = torch.cat([keys, 100 * torch.randn(B, extra, D, generator=g)], dim=1)
    longer_values = torch.cat([values, 100 * torch.randn(B, extra, DV, generator=g)], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(B, extra, dtype=torch.bool)], dim=1)
    context, weights = attention(query, keys, values, mask)
    longer_context, longer_weights = attention(query, longer_keys, longer_values, longer_mask)
    torch.testing.assert_close(longer_context, context, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(longer_weights[:, :S], weights, rtol=1e-6, atol=1e-7)
    assert torch.all(longer_weights[:, S:] == 0)


def test_padded_values_get_no_gradient(attention):
    query, keys, values, mask = inputs()
    values.requires_grad_(True)
    context, _ = attention(query, keys, values, mask)
    context.sum().backward()
    assert torch.all(values.grad[~mask] == 0)
    assert values.grad[mask].abs().sum() > 0


def test_projected_keys_cache_gives_the_same_result(attention):
    query, keys, values, mask = inputs()
    expected = attention(query, keys, values, mask)
    cached = attention(query, keys, values, mask, projected_keys=attention.project_keys(keys))
    torch.testing.assert_close(cached, expected)


def test_dot_attention_known_answer():
    query = torch.tensor([[1.0, 0.0]])  # (1, 2)
    keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # scores 1, 0, 1
    values = torch.tensor([[[1.0], [2.0], [4.0]]])
    e = math.e
    context, weights = DotAttention()(query, keys, values)
    torch.testing.assert_close(weights, torch.tensor([[e, 1, e]]) / (2 * e + 1))
    torch.testing.assert_close(context, torch.tensor([[(e + 2 + 4 * e) / (2 * e + 1)]]))
    mask = torch.tensor([[True, True, False]])
    context, weights = DotAttention()(query, keys, values, mask)
    torch.testing.assert_close(weights, torch.tensor([[e / (e + 1), 1 / (e + 1), 0.0]]))
    torch.testing.assert_close(context, torch.tensor([[(e + 2) / (e + 1)]]))


def test_additive_attention_known_answer():
    attention = AdditiveAttention(query_dim=1, key_dim=1, attn_dim=1, bias=False)
    with torch.no_grad():  # score = v tanh(w q + u k) with w = 1, u = 2, v = 3
        attention.query_proj.weight.fill_(1.0)
        attention.key_proj.weight.fill_(2.0)
        attention.v.weight.fill_(3.0)
    query = torch.tensor([[0.5]])
    keys = torch.tensor([[[0.25], [-0.25]]])  # w q + u k = 1.0 and 0.0
    values = torch.tensor([[[10.0], [20.0]]])
    context, weights = attention(query, keys, values)
    first = math.exp(3 * math.tanh(1.0)) / (math.exp(3 * math.tanh(1.0)) + 1)
    torch.testing.assert_close(weights, torch.tensor([[first, 1 - first]]))
    torch.testing.assert_close(context, torch.tensor([[10 * first + 20 * (1 - first)]]))


def test_general_attention_is_dot_attention_after_w():
    torch.manual_seed(0)
    general = GeneralAttention(query_dim=D, key_dim=3)
    query, keys, values = torch.randn(B, D), torch.randn(B, S, 3), torch.randn(B, S, DV)
    expected = DotAttention()(query, keys @ general.key_proj.weight.T, values)
    torch.testing.assert_close(general(query, keys, values), expected)


def test_scaled_dot_attention_matches_pytorch():
    query, keys, values, mask = inputs()
    context, weights = DotAttention(scaled=True)(query, keys, values, mask)
    expected = F.scaled_dot_product_attention(
        query[:, None], keys, values, attn_mask=mask[:, None, :]
    )  # one query: (B, 1, DV)
    torch.testing.assert_close(context, expected[:, 0])
    manual = (keys @ query[:, :, None]).squeeze(-1) / math.sqrt(D)
    torch.testing.assert_close(weights, masked_softmax(manual, mask))


def test_clear_errors():
    query, keys, values, mask = inputs()
    with pytest.raises(TypeError, match="bool"):
        DotAttention()(query, keys, values, mask.long())
    with pytest.raises(ValueError, match="shape"):
        DotAttention()(query, keys, values, mask[:, :2])
    with pytest.raises(ValueError, match="sizes to match"):
        DotAttention()(torch.randn(B, D + 1), keys, values)
    with pytest.raises(ValueError, match="query_dim == key_dim"):
        make_attention("dot", 4, 8)
    with pytest.raises(ValueError, match="Unknown attention kind"):
        make_attention("cosine", 4, 4)
    with pytest.raises(ValueError, match="agree on B"):
        DotAttention()(query[:2], keys, values)


def test_a_fully_masked_row_gets_zero_weights_in_both_attentions_like_pytorch():
    """One policy for a query allowed to attend to nothing: zero weights, zero output, finite
    gradients, the same in the recurrent models' attention, the Transformer's from-scratch
    attention and ``F.scaled_dot_product_attention``."""
    query, keys, values, mask = inputs()
    mask[1] = False  # row 1 may attend to nothing
    query.requires_grad_(True)
    context, weights = DotAttention(scaled=True)(query, keys, values, mask)
    assert torch.equal(weights[1], torch.zeros(S)) and torch.equal(context[1], torch.zeros(DV))
    torch.testing.assert_close(weights[[0, 2]].sum(dim=-1), torch.ones(2))
    context.sum().backward()
    assert torch.isfinite(query.grad).all() and torch.equal(query.grad[1], torch.zeros(D))
    q, k, v, m = query.detach()[:, None], keys, values, mask[:, None, :]  # one query per row
    out, transformer_weights = scaled_dot_product_attention(q, k, v, m)
    torch.testing.assert_close(transformer_weights[:, 0], weights.detach())
    torch.testing.assert_close(out[:, 0], context.detach())
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=m))


def test_masked_softmax_known_answer_and_broadcasting():
    scores = torch.tensor([[0.0, 0.0, math.log(2.0)], [1.0, 2.0, 3.0]])
    mask = torch.tensor([True, False, True])  # broadcast over the rows
    expected = torch.tensor([[1 / 3, 0.0, 2 / 3], [1 / (1 + math.e**2), 0.0, math.e**2 / (1 + math.e**2)]])
    torch.testing.assert_close(masked_softmax(scores, mask), expected)
    torch.testing.assert_close(masked_softmax(scores, None), scores.softmax(dim=-1))
    with pytest.raises(ValueError, match="does not broadcast"):
        masked_softmax(scores, torch.ones(3, 3, dtype=torch.bool))
