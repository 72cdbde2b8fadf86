"""From-scratch RNN/LSTM/GRU against PyTorch's modules, and the recurrent language model."""

import pytest
import torch
from torch import nn

from course_lib.models.rnn import (
    CELL_TYPES,
    GRUCell,
    LSTMCell,
    RNNCell,
    RNNLanguageModel,
    ScratchRNN,
    detach_state,
    gru_step,
    unroll,
    zero_state,
)

TOL = dict(atol=1e-5, rtol=1e-5)
B, T, IN, H = 3, 7, 5, 6  # batch, time, input features, hidden size

CELLS = {
    "rnn": (RNNCell, nn.RNNCell),
    "lstm": (LSTMCell, nn.LSTMCell),
    "gru": (GRUCell, nn.GRUCell),
}
FUSED = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def random_state(cell, *shape):
    if cell == "lstm":
        return torch.randn(*shape), torch.randn(*shape)
    return torch.randn(*shape)


def assert_states_close(ours, theirs):
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TOL)


# --- Cells ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_cell_parameters_have_pytorchs_names_and_shapes(cell):
    ours, theirs = CELLS[cell][0](IN, H), CELLS[cell][1](IN, H)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    no_bias = CELLS[cell][0](IN, H, bias=False)
    assert set(no_bias.state_dict()) == set(CELLS[cell][1](IN, H, bias=False).state_dict())


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("direction", ["from_torch", "to_torch"])
def test_cells_match_pytorch_step_by_step(cell, direction):
    torch.manual_seed(0)
    ours, theirs = CELLS[cell][0](IN, H), CELLS[cell][1](IN, H)
    if direction == "from_torch":
        ours.load_state_dict(theirs.state_dict())
    else:
        theirs.load_state_dict(ours.state_dict())
    state_ours = state_theirs = random_state(cell, B, H)
    for _ in range(T):
        x = torch.randn(B, IN)
        state_ours, state_theirs = ours(x, state_ours), theirs(x, state_theirs)
        assert_states_close(state_ours, state_theirs)
    assert_states_close(ours(x), theirs(x))  # state None means zeros


def test_rnn_cell_relu_matches_pytorch():
    torch.manual_seed(0)
    ours, theirs = RNNCell(IN, H, nonlinearity="relu"), nn.RNNCell(IN, H, nonlinearity="relu")
    ours.load_state_dict(theirs.state_dict())
    x, h = torch.randn(B, IN), torch.randn(B, H)
    torch.testing.assert_close(ours(x, h), theirs(x, h), **TOL)


def test_gru_reset_gate_multiplies_the_hidden_bias_too():
    """PyTorch computes n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); the textbook variant
    tanh(W_in x + b_in + W_hn (r * h) + b_hn) differs, so the oracle test above can tell."""
    torch.manual_seed(0)
    theirs = nn.GRUCell(IN, H)
    x, h = torch.randn(B, IN), torch.randn(B, H)
    w_ih, w_hh, b_ih, b_hh = theirs.weight_ih, theirs.weight_hh, theirs.bias_ih, theirs.bias_hh
    with torch.no_grad():
        torch.testing.assert_close(gru_step(x, h, w_ih, w_hh, b_ih, b_hh), theirs(x, h), **TOL)
        x_r, x_z, x_n = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
        h_r, h_z, _ = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        w_hn, b_hn = w_hh[2 * H :], b_hh[2 * H :]
        textbook = (1 - z) * torch.tanh(x_n + (r * h) @ w_hn.T + b_hn) + z * h
        assert (textbook - theirs(x, h)).abs().max() > 1e-3


def test_cell_rejects_a_whole_sequence():
    with pytest.raises(ValueError, match=r"\(B, 5\)"):
        LSTMCell(IN, H)(torch.randn(B, T, IN))
    with pytest.raises(ValueError, match=r"\(B, 5\)"):
        GRUCell(IN, H)(torch.randn(B, IN + 1), torch.zeros(B, H))


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_unroll_matches_pytorch_cell_loop(cell):
    torch.manual_seed(0)
    ours, theirs = CELLS[cell][0](IN, H), CELLS[cell][1](IN, H)
    ours.load_state_dict(theirs.state_dict())
    inputs = torch.randn(B, T, IN)  # (B, T, IN)
    outputs, final = unroll(ours, inputs)  # (B, T, H)
    state = None
    for t in range(T):
        state = theirs(inputs[:, t], state)
        h = state[0] if cell == "lstm" else state
        torch.testing.assert_close(outputs[:, t], h, **TOL)
    assert outputs.shape == (B, T, H)
    assert_states_close(final, state)


# --- Multi-layer networks ---------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("given_state", [False, True])
def test_scratch_rnn_matches_fused_outputs_states_and_gradients(cell, num_layers, given_state):
    torch.manual_seed(0)
    fused = FUSED[cell](IN, H, num_layers, batch_first=True)
    ours = ScratchRNN(cell, IN, H, num_layers)
    assert set(ours.state_dict()) == set(fused.state_dict())
    ours.load_state_dict(fused.state_dict())

    inputs = torch.randn(B, T, IN)
    state0 = random_state(cell, num_layers, B, H) if given_state else None
    results = []
    for module in (ours, fused):
        x = inputs.clone().requires_grad_()
        outputs, state = module(x, state0)
        parts = state if isinstance(state, tuple) else (state,)
        loss = (outputs**2).sum() + sum((p.sin()).sum() for p in parts)
        loss.backward()
        grads = {name: p.grad for name, p in module.named_parameters()}
        results.append((outputs, state, x.grad, grads))

    (out_a, state_a, dx_a, grads_a), (out_b, state_b, dx_b, grads_b) = results
    assert out_a.shape == (B, T, H)
    torch.testing.assert_close(out_a, out_b, **TOL)
    assert_states_close(state_a, state_b)
    torch.testing.assert_close(dx_a, dx_b, **TOL)
    for name in grads_b:
        torch.testing.assert_close(grads_a[name], grads_b[name], **TOL)


def test_scratch_weights_copy_into_the_fused_module():
    torch.manual_seed(0)
    ours, fused = ScratchRNN("gru", IN, H, 2), nn.GRU(IN, H, 2, batch_first=True)
    fused.load_state_dict(ours.state_dict())
    inputs = torch.randn(B, T, IN)
    torch.testing.assert_close(ours(inputs)[0], fused(inputs)[0], **TOL)


def test_scratch_dropout_acts_only_in_training_mode():
    torch.manual_seed(0)
    ours = ScratchRNN("lstm", IN, H, 2, dropout=0.5)
    fused = nn.LSTM(IN, H, 2, batch_first=True, dropout=0.5)
    ours.load_state_dict(fused.state_dict())
    inputs = torch.randn(B, T, IN)
    ours.eval(), fused.eval()
    torch.testing.assert_close(ours(inputs)[0], fused(inputs)[0], **TOL)
    ours.train()
    assert not torch.allclose(ours(inputs)[0], fused(inputs)[0], atol=1e-3)


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_zero_state_shapes_and_equivalence_with_none(cell):
    rnn = ScratchRNN(cell, IN, H, 2).double()
    state = rnn.zero_state(B)
    parts = state if isinstance(state, tuple) else (state,)
    assert len(parts) == (2 if cell == "lstm" else 1)
    assert all(p.shape == (2, B, H) and p.dtype == torch.float64 and not p.any() for p in parts)
    inputs = torch.randn(B, T, IN, dtype=torch.float64)
    torch.testing.assert_close(rnn(inputs, state)[0], rnn(inputs)[0])
    with pytest.raises(TypeError, match="float"):
        zero_state(cell, 2, B, H, like=torch.zeros(3, dtype=torch.long))


def test_detach_state_keeps_values_and_structure_but_cuts_the_graph():
    weight = torch.ones(1, requires_grad=True)
    h, c = weight * torch.randn(2, B, H), weight * torch.randn(2, B, H)
    detached = detach_state((h, c))
    assert isinstance(detached, tuple) and len(detached) == 2
    assert all(d.grad_fn is None and not d.requires_grad for d in detached)
    assert torch.equal(detached[0], h) and torch.equal(detached[1], c)
    assert detach_state(h).grad_fn is None and h.grad_fn is not None
    assert detach_state(None) is None


# --- Language model ---------------------------------------------------------------------------

V, E = 11, 8  # vocabulary, embedding size


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("scratch", [False, True])
def test_language_model_shapes(cell, scratch):
    model = RNNLanguageModel(V, E, H, num_layers=2, cell=cell, scratch=scratch)
    logits, state = model(torch.randint(V, (B, T)))
    assert logits.shape == (B, T, V)
    parts = state if isinstance(state, tuple) else (state,)
    assert all(p.shape == (2, B, H) for p in parts)


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_scratch_and_fused_language_models_share_weights_and_outputs(cell):
    torch.manual_seed(0)
    fused = RNNLanguageModel(V, E, H, num_layers=2, cell=cell, dropout=0.3).eval()
    scratch = RNNLanguageModel(V, E, H, num_layers=2, cell=cell, dropout=0.3, scratch=True)
    scratch.load_state_dict(fused.state_dict())  # strict: identical keys and shapes
    scratch.eval()
    tokens = torch.randint(V, (B, T))
    (logits_a, state_a), (logits_b, state_b) = scratch(tokens), fused(tokens)
    torch.testing.assert_close(logits_a, logits_b, **TOL)
    assert_states_close(state_a, state_b)


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_feeding_in_chunks_with_state_equals_one_pass(cell):
    torch.manual_seed(0)
    model = RNNLanguageModel(V, E, H, num_layers=2, cell=cell).eval()
    tokens = torch.randint(V, (B, 10))
    whole, _ = model(tokens)
    first, state = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], detach_state(state))
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, **TOL)
    torch.testing.assert_close(model(tokens, model.zero_state(B))[0], whole)
    torch.testing.assert_close(model(tokens, model.zero_state(B, like=tokens))[0], whole)


def test_tied_weights_are_one_parameter():
    model = RNNLanguageModel(V, E, E, tie_weights=True)
    assert model.head.weight is model.embedding.weight
    assert sum(p.numel() for p in model.parameters()) < sum(
        p.numel() for p in RNNLanguageModel(V, E, E).parameters()
    )
    with pytest.raises(ValueError, match="hidden_size == embed_dim"):
        RNNLanguageModel(V, E, E + 1, tie_weights=True)


def test_language_model_errors_are_clear():
    with pytest.raises(ValueError, match="rnn, lstm, gru"):
        RNNLanguageModel(V, E, H, cell="transformer")
    with pytest.raises(ValueError, match="rnn, lstm, gru"):
        ScratchRNN("elman", IN, H)
    model = RNNLanguageModel(V, E, H, num_layers=2, cell="lstm")
    with pytest.raises(TypeError, match="2-D LongTensor"):
        model(torch.randint(V, (T,)))
    with pytest.raises(TypeError, match="2-D LongTensor"):
        model(torch.rand(B, T))
    with pytest.raises(ValueError, match=r"\[0, 11\)"):
        model(torch.full((B, T), V))
    with pytest.raises(ValueError, match=r"expected \(L, B, H\) = \(2, 3, 6\)"):
        model(torch.randint(V, (B, T)), (torch.zeros(2, B + 1, H), torch.zeros(2, B + 1, H)))
    with pytest.raises(TypeError, match=r"pair \(h, c\)"):
        model(torch.randint(V, (B, T)), torch.zeros(2, B, H))
    gru = RNNLanguageModel(V, E, H, num_layers=2, cell="GRU", scratch=True)
    with pytest.raises(ValueError, match=r"expected \(L, B, H\) = \(2, 3, 6\)"):
        gru(torch.randint(V, (B, T)), torch.zeros(1, B, H))


def test_language_model_learns_a_repeating_sequence():
    torch.manual_seed(0)
    model = RNNLanguageModel(V, E, 16, cell="gru")
    tokens = torch.arange(40).remainder(5)[None].repeat(2, 1)  # 0 1 2 3 4 0 1 ...
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for _ in range(25):
        logits, _ = model(tokens[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 2.0 and losses[-1] < 0.1
