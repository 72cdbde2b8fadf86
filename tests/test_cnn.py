"""Convolutions for text: F.conv1d oracles, padding invariance, causality, receptive field."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from course_lib.models.cnn import (
    CausalConvLM,
    KimCNN,
    conv1d_loops,
    conv1d_output_length,
    conv1d_unfold,
)

# ---------------------------------------------------------------- convolution from scratch


def test_conv1d_output_length_known_answers():
    assert conv1d_output_length(10, kernel_size=3) == 8
    assert conv1d_output_length(10, kernel_size=3, stride=2, padding=1) == 5  # floor(9 / 2) + 1
    assert conv1d_output_length(10, kernel_size=3, dilation=2) == 6  # span 5
    assert conv1d_output_length(5, kernel_size=5) == 1
    with pytest.raises(ValueError, match="shorter than the dilated kernel span 5"):
        conv1d_output_length(4, kernel_size=3, dilation=2)
    with pytest.raises(ValueError, match="kernel_size, stride, dilation >= 1"):
        conv1d_output_length(4, kernel_size=0)


def test_conv1d_output_length_matches_torch_over_a_grid():
    for length, k, stride, padding, dilation in itertools.product(
        (1, 4, 7, 12), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2, 3)
    ):
        x, weight = torch.zeros(1, 1, length), torch.zeros(1, 1, k)
        if length + 2 * padding < dilation * (k - 1) + 1:
            with pytest.raises(RuntimeError):
                F.conv1d(x, weight, stride=stride, padding=padding, dilation=dilation)
            with pytest.raises(ValueError):
                conv1d_output_length(length, k, stride, padding, dilation)
            continue
        out = F.conv1d(x, weight, stride=stride, padding=padding, dilation=dilation)
        assert conv1d_output_length(length, k, stride, padding, dilation) == out.shape[2]


@pytest.mark.parametrize("conv", [conv1d_loops, conv1d_unfold])
def test_reference_convolutions_match_torch(conv):
    gen = torch.Generator().manual_seed(0)
    for trial in range(12):
        b, c_in, c_out, k = (int(v) for v in torch.randint(1, 5, (4,), generator=gen))
        stride, dilation = (int(v) for v in torch.randint(1, 4, (2,), generator=gen))
        padding = int(torch.randint(0, 3, (1,), generator=gen))
        length = dilation * (k - 1) + 1 + int(torch.randint(0, 9, (1,), generator=gen))
        x = torch.randn(b, c_in, length, generator=gen)
        weight = torch.randn(c_out, c_in, k, generator=gen)
        bias = torch.randn(c_out, generator=gen) if trial % 2 else None
        expected = F.conv1d(x, weight, bias, stride=stride, padding=padding, dilation=dilation)
        got = conv(x, weight, bias, stride=stride, padding=padding, dilation=dilation)
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=1e-5), (stride, padding, dilation, k)


def test_reference_convolution_errors():
    with pytest.raises(ValueError, match="input channels"):
        conv1d_unfold(torch.randn(1, 3, 8), torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match=r"\(B, C_in, L\)"):
        conv1d_loops(torch.randn(3, 8), torch.randn(2, 3, 3))
    with pytest.raises(ValueError, match="bias must be"):
        conv1d_loops(torch.randn(1, 3, 8), torch.randn(2, 3, 3), torch.randn(3))


# ---------------------------------------------------------------- KimCNN


def make_kim(**kwargs):
    torch.manual_seed(0)
    settings = dict(
        vocab_size=30, embed_dim=8, num_classes=3, kernel_sizes=(2, 3, 5), num_filters=4
    )
    return KimCNN(**(settings | kwargs)).eval()


def test_kim_shapes_and_short_sentences():
    model = make_kim()
    assert model(torch.randint(1, 30, (6, 11))).shape == (6, 3)
    assert model(torch.tensor([[7]])).shape == (1, 3)  # shorter than the widest kernel (5)


def test_kim_appending_padding_never_changes_logits():
    model = make_kim()
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, 30, (5, 7), generator=gen)
    tokens[1, 3:] = 0  # sentences of different lengths, right-padded
    tokens[2, 1:] = 0
    logits = model(tokens)
    for extra in (1, 4, 9):
        longer = torch.cat([tokens, torch.zeros(5, extra, dtype=torch.long)], dim=1)
        assert torch.allclose(model(longer), logits, atol=1e-6)
    alone = model(tokens[2:3, :1])  # the one-word sentence without any padding
    assert torch.allclose(alone, logits[2:3], atol=1e-6)
    with torch.no_grad():  # even a (wrongly) trained pad embedding is ignored
        model.embedding.weight[0] = 5.0
    assert torch.allclose(model(tokens), logits, atol=1e-6)


def test_kim_all_padding_sentence_gives_bias_logits():
    model = make_kim()
    logits = model(torch.zeros(2, 4, dtype=torch.long))
    assert torch.isfinite(logits).all()
    assert torch.allclose(logits, model.classifier.bias.expand(2, 3))


def test_kim_filter_activations_point_at_the_best_ngram():
    model = make_kim()
    tokens = torch.randint(1, 30, (3, 9), generator=torch.Generator().manual_seed(2))
    tokens[0, 6:] = 0
    acts = model.filter_activations(tokens)
    assert acts.values.shape == acts.positions.shape == (3, 12)
    assert acts.widths.tolist() == [2] * 4 + [3] * 4 + [5] * 4
    assert [m.shape for m in acts.maps] == [(3, 4, 9)] * 3
    pooled = torch.cat([m.amax(dim=2) for m in acts.maps], dim=1).clamp_min(0)
    assert torch.allclose(acts.values, pooled)
    assert (acts.positions[0] < 6).all()  # never a window starting on padding
    convs = [conv for conv in model.convs for _ in range(4)]
    for b, f in itertools.product(range(3), range(12)):  # recompute each winning n-gram alone
        start, width = int(acts.positions[b, f]), int(acts.widths[f])
        ngram = F.pad(tokens[b, start : start + width], (0, width), value=0)[:width]
        x = model.embedding(ngram) * (ngram != 0).unsqueeze(-1)  # (width, E)
        value = F.relu(convs[f](x.T.unsqueeze(0)))[0, f % 4, 0]
        assert value.item() == pytest.approx(acts.values[b, f].item(), abs=1e-5)


def test_kim_max_norm_rescales_only_long_rows():
    model = make_kim()
    with torch.no_grad():
        model.classifier.weight.copy_(torch.randn(3, 12))
        model.classifier.weight[0] *= 10 / model.classifier.weight[0].norm()
        model.classifier.weight[1] *= 1 / model.classifier.weight[1].norm()
    row_1 = model.classifier.weight[1].clone()
    model.apply_max_norm(3.0)
    norms = model.classifier.weight.norm(dim=1)
    assert norms[0].item() == pytest.approx(3.0, rel=1e-5)
    assert torch.allclose(model.classifier.weight[1], row_1)
    assert (norms <= 3.0 + 1e-5).all()


def test_kim_learns_a_keyword_rule():
    model = make_kim(num_classes=2, dropout=0.0).train()
    gen = torch.Generator().manual_seed(3)
    tokens = torch.randint(2, 30, (64, 6), generator=gen)
    tokens[tokens == 5] = 6
    labels = torch.arange(64) % 2
    tokens[labels == 1, torch.randint(0, 6, (32,), generator=gen)] = 5  # class 1: contains 5
    for _ in range(60):  # plain SGD, written out (torch.optim's first import costs seconds)
        model.zero_grad()
        F.cross_entropy(model(tokens), labels).backward()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter -= 0.5 * parameter.grad
        model.apply_max_norm(3.0)
    accuracy = (model.eval()(tokens).argmax(dim=1) == labels).float().mean()
    assert accuracy == 1.0


def test_kim_clear_errors():
    model = make_kim()
    with pytest.raises(TypeError, match=r"\(B, T\) LongTensor"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match=r"\(B, T\) LongTensor"):
        model(torch.ones(2, 3))
    with pytest.raises(ValueError, match="T = 0"):
        model(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="kernel_sizes"):
        KimCNN(10, kernel_sizes=(3, 0))
    with pytest.raises(ValueError, match="vocab_size must be >= 1"):
        KimCNN(0)


# ---------------------------------------------------------------- causal dilated convolution LM


def test_causal_lm_shapes_and_receptive_field_formula():
    torch.manual_seed(0)
    model = CausalConvLM(vocab_size=11, embed_dim=8, hidden_size=16, num_layers=4, kernel_size=2)
    assert model(torch.randint(0, 11, (3, 20))).shape == (3, 20, 11)
    assert model(torch.randint(0, 11, (1, 1))).shape == (1, 1, 11)
    assert model.receptive_field == 16 == model.block_size  # 1 + 1 * (1 + 2 + 4 + 8)
    assert CausalConvLM(11, 8, 16, num_layers=3, kernel_size=3).receptive_field == 15  # 1 + 2 * 7
    assert CausalConvLM(11, 8, 16, num_layers=5, kernel_size=1).receptive_field == 1


def test_causal_lm_future_tokens_never_change_the_past():
    torch.manual_seed(0)
    model = CausalConvLM(
        vocab_size=11, embed_dim=8, hidden_size=16, num_layers=3, kernel_size=3
    ).eval()
    tokens = torch.randint(0, 11, (2, 12))
    logits = model(tokens)
    for t in range(12):
        changed = tokens.clone()
        changed[:, t:] = (changed[:, t:] + 1) % 11
        new_logits = model(changed)
        assert torch.allclose(new_logits[:, :t], logits[:, :t], atol=1e-6)
        assert not torch.allclose(
            new_logits[:, t], logits[:, t], atol=1e-4
        )  # position t sees itself


@pytest.mark.parametrize("kernel_size, num_layers", [(2, 1), (2, 3), (3, 2), (3, 3)])
def test_causal_lm_receptive_field_is_exact(kernel_size, num_layers):
    torch.manual_seed(0)
    model = CausalConvLM(11, 8, 16, num_layers=num_layers, kernel_size=kernel_size).eval()
    field = model.receptive_field
    length = field + 4
    tokens = torch.randint(0, 11, (1, length))
    last = model(tokens)[0, -1]
    oldest_seen = length - field  # output at t = length - 1 sees t - field + 1 .. t
    changed = tokens.clone()
    changed[0, oldest_seen] = (changed[0, oldest_seen] + 1) % 11
    assert not torch.allclose(model(changed)[0, -1], last, atol=1e-5)
    changed = tokens.clone()
    changed[0, :oldest_seen] = (changed[0, :oldest_seen] + 1) % 11  # everything further back
    assert torch.allclose(model(changed)[0, -1], last, atol=1e-6)


def test_causal_lm_clear_errors():
    with pytest.raises(ValueError, match="kernel_size >= 1"):
        CausalConvLM(11, kernel_size=0)
    with pytest.raises(ValueError, match="vocab_size must be >= 1"):
        CausalConvLM(0)
    with pytest.raises(TypeError, match=r"\(B, T\) LongTensor"):
        CausalConvLM(11)(torch.zeros(4, dtype=torch.long))
