"""Recurrent networks from scratch (RNN, LSTM, GRU cells) and recurrent language models.

Shape letters: B batch, T time, I input features, H hidden size, L layers, V vocabulary.

The cells keep PyTorch's parameter names and layouts (``weight_ih`` stacks the gates in
PyTorch's order: LSTM i, f, g, o; GRU r, z, n), and ``ScratchRNN`` keeps ``nn.LSTM``'s names
(``weight_ih_l0``, ...), so ``load_state_dict`` copies weights both ways. A recurrent state
is what PyTorch uses: ``h`` of shape (L, B, H) for RNN and GRU, a pair ``(h, c)`` for LSTM.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

CELL_TYPES = ("rnn", "lstm", "gru")
_NUM_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_FUSED = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}  # the one table of the course

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


# --- One time step: x (B, I), state (B, H) or ((B, H), (B, H)) -> new state ------------------


def rnn_step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)  (or relu)."""
    pre = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)  # (B, H)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_step(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """LSTM: gates i, f, g, o from x and h; c' = f*c + i*g; h' = o*tanh(c'). Returns (h', c')."""
    h, c = state  # (B, H) each
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def gru_step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """GRU as PyTorch computes it: the reset gate multiplies (W_hn h + b_hn), bias included."""
    x_r, x_z, x_n = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)  # (B, H) each
    h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)  # (B, H) each
    r = torch.sigmoid(x_r + h_r)  # reset gate
    z = torch.sigmoid(x_z + h_z)  # update gate
    n = torch.tanh(x_n + r * h_n)  # candidate
    return (1 - z) * n + z * h


_STEPS = {"rnn": rnn_step, "lstm": lstm_step, "gru": gru_step}


def check_cell_type(cell: str) -> str:
    """``cell`` lower-cased if it is one of ``CELL_TYPES``, else a ValueError listing them."""
    if not isinstance(cell, str) or cell.lower() not in CELL_TYPES:
        raise ValueError(f"Unknown cell type {cell!r}: use one of {', '.join(CELL_TYPES)}.")
    return cell.lower()


def fused_rnn_class(cell: str) -> type[nn.RNNBase]:
    """PyTorch's fused multi-layer network for a cell type: ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``."""
    return _FUSED[check_cell_type(cell)]


# --- Cells as modules, with nn.RNNCell / nn.LSTMCell / nn.GRUCell's parameters ----------------


class _Cell(nn.Module):
    cell_type = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        gates = _NUM_GATES[self.cell_type] * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates, input_size))  # (G*H, I)
        self.weight_hh = nn.Parameter(torch.empty(gates, hidden_size))  # (G*H, H)
        for name in ("bias_ih", "bias_hh"):  # (G*H,) each, or None as in PyTorch
            self.register_parameter(name, nn.Parameter(torch.empty(gates)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _zeros_for(self, x: torch.Tensor) -> torch.Tensor:
        """Check that ``x`` is one time step (B, I); zeros (B, H) to start from."""
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (B, {self.input_size}), "
                f"got {tuple(x.shape)}; run one time step at a time (see unroll)."
            )
        return x.new_zeros(x.shape[0], self.hidden_size)  # (B, H)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_Cell):
    """One Elman RNN step with ``nn.RNNCell``'s parameters: ``forward(x (B, I), h (B, H)) -> h``.

    Like every cell here: batched input only, and ``h=None`` means zeros.
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        zeros = self._zeros_for(x)
        h = zeros if h is None else h
        return rnn_step(x, h, *self._weights(), nonlinearity=self.nonlinearity)  # (B, H)


class LSTMCell(_Cell):
    """One LSTM step with ``nn.LSTMCell``'s parameters: ``forward(x (B, I), (h, c)) -> (h, c)``."""

    cell_type = "lstm"

    def forward(self, x, state=None):
        zeros = self._zeros_for(x)
        state = (zeros, zeros) if state is None else state
        return lstm_step(x, state, *self._weights())  # ((B, H), (B, H))


class GRUCell(_Cell):
    """One GRU step with ``nn.GRUCell``'s parameters: ``forward(x (B, I), h (B, H)) -> h``."""

    cell_type = "gru"

    def forward(self, x, h=None):
        zeros = self._zeros_for(x)
        h = zeros if h is None else h
        return gru_step(x, h, *self._weights())  # (B, H)


def unroll(step: Callable, inputs: torch.Tensor, state=None):
    """Run one cell over a sequence: ``inputs (B, T, I)`` -> ``(outputs (B, T, H), state)``.

    ``step(x_t, state) -> state`` is a cell (or any function like one); the output at each
    time is the new ``h`` (for an LSTM, the first of ``(h, c)``).
    """
    outputs = []
    for t in range(inputs.shape[1]):
        state = step(inputs[:, t], state)
        outputs.append(state[0] if isinstance(state, tuple) else state)  # (B, H)
    return torch.stack(outputs, dim=1), state  # (B, T, H)


# --- States -------------------------------------------------------------------------------


def zero_state(cell: str, num_layers: int, batch_size: int, hidden_size: int, *, like):
    """The all-zero state, on ``like``'s device with its dtype (pass a weight or a float input).

    RNN/GRU: ``h (L, B, H)``; LSTM: ``(h, c)``, each (L, B, H).
    """
    if not like.is_floating_point():
        raise TypeError(f"like must be a float tensor (a weight), got dtype {like.dtype}")
    h = like.new_zeros(num_layers, batch_size, hidden_size)  # (L, B, H)
    return (h, h.clone()) if check_cell_type(cell) == "lstm" else h


def detach_state(state):
    """The same state cut from the autograd graph (truncated BPTT between batches)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(part.detach() for part in state)
    return state.detach()


def check_state(state, cell: str, expected: tuple[int, int, int]) -> None:
    """Raise a clear error unless ``state`` fits ``cell`` and has shape ``expected`` (L, B, H)."""
    if cell == "lstm":
        if not (isinstance(state, tuple) and len(state) == 2):
            raise TypeError(f"An LSTM state is a pair (h, c), each of shape (L, B, H) = {expected}")
        parts = state
    elif isinstance(state, torch.Tensor):
        parts = (state,)
    else:
        raise TypeError(f"A {cell.upper()} state is one tensor h of shape (L, B, H) = {expected}")
    for part in parts:
        if tuple(part.shape) != expected:
            raise ValueError(
                f"State has shape {tuple(part.shape)}, expected (L, B, H) = {expected}; "
                "start from state=None (or zero_state) when the batch size changes."
            )


# --- Multi-layer recurrent network from the step functions --------------------------------


class ScratchRNN(nn.Module):
    """A multi-layer RNN/LSTM/GRU from scratch, batch-first, with the parameter names and
    shapes of ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (``load_state_dict`` works both ways).

    ``forward(inputs (B, T, I), state=None) -> (outputs (B, T, H), state)``, where outputs
    are the last layer's ``h`` at every step. ``dropout`` acts on every layer's outputs
    except the last, in training mode, as in PyTorch.
    """

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bias=True, dropout=0.0):
        super().__init__()
        self.cell = check_cell_type(cell)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.dropout = num_layers, dropout
        gates = _NUM_GATES[self.cell] * hidden_size
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size
            shapes = {"weight_ih": (gates, in_size), "weight_hh": (gates, hidden_size)}
            if bias:
                shapes.update(bias_ih=(gates,), bias_hh=(gates,))
            for name, shape in shapes.items():
                self.register_parameter(f"{name}_l{layer}", nn.Parameter(torch.empty(shape)))
        self.bias = bias
        bound = 1.0 / math.sqrt(hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def layer_step(self, layer: int) -> Callable:
        """Layer ``layer``'s cell as a function ``step(x_t (B, I), state) -> state``."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        weights = [getattr(self, f"{name}_l{layer}", None) for name in names]
        step = _STEPS[self.cell]
        return lambda x, state: step(x, state, *weights)

    def zero_state(self, batch_size: int):
        """Zeros on this module's device and dtype: ``h (L, B, H)``, or ``(h, c)`` for LSTM."""
        args = (self.cell, self.num_layers, batch_size, self.hidden_size)
        return zero_state(*args, like=self.weight_ih_l0)

    def forward(self, inputs: torch.Tensor, state=None):
        if inputs.dim() != 3 or inputs.shape[2] != self.input_size:
            raise ValueError(
                f"ScratchRNN expects inputs (B, T, {self.input_size}) (batch first), "
                f"got {tuple(inputs.shape)}"
            )
        batch_size = inputs.shape[0]
        if state is None:
            state = self.zero_state(batch_size)
        check_state(state, self.cell, (self.num_layers, batch_size, self.hidden_size))
        finals = []
        for layer in range(self.num_layers):
            layer_state = tuple(s[layer] for s in state) if self.cell == "lstm" else state[layer]
            inputs, layer_state = unroll(self.layer_step(layer), inputs, layer_state)  # (B, T, H)
            finals.append(layer_state)
            if layer < self.num_layers - 1:
                inputs = F.dropout(inputs, self.dropout, self.training)
        if self.cell == "lstm":
            h = torch.stack([h for h, _ in finals])  # (L, B, H)
            return inputs, (h, torch.stack([c for _, c in finals]))
        return inputs, torch.stack(finals)  # (B, T, H), (L, B, H)


# --- Language model ---------------------------------------------------------------------


class RNNLanguageModel(nn.Module):
    """Embedding -> multi-layer RNN/LSTM/GRU -> linear head over the vocabulary.

    ``forward(tokens (B, T), state=None) -> (logits (B, T, V), state)``. Trains on PyTorch's
    fused ``nn.RNN``/``nn.LSTM``/``nn.GRU``; ``scratch=True`` builds the same model on
    ``ScratchRNN`` (slow, for teaching) with the same ``state_dict`` keys, so weights load
    both ways. ``dropout`` acts on the embeddings, between layers and on the top outputs.
    ``tie_weights=True`` shares the embedding matrix with the head (needs
    ``hidden_size == embed_dim``).
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "lstm",
        dropout: float = 0.0,
        tie_weights: bool = False,
        scratch: bool = False,
    ):
        super().__init__()
        self.cell = check_cell_type(cell)
        if tie_weights and hidden_size != embed_dim:
            raise ValueError(
                f"tie_weights=True needs hidden_size == embed_dim, got {hidden_size} and "
                f"{embed_dim}; make them equal or set tie_weights=False."
            )
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.drop = nn.Dropout(dropout)
        between = dropout if num_layers > 1 else 0.0  # PyTorch warns about dropout on 1 layer
        if scratch:
            self.rnn = ScratchRNN(self.cell, embed_dim, hidden_size, num_layers, dropout=between)
        else:
            rnn_class = fused_rnn_class(self.cell)
            self.rnn = rnn_class(
                embed_dim, hidden_size, num_layers, batch_first=True, dropout=between
            )
        self.head = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.head.weight = self.embedding.weight

    def zero_state(self, batch_size: int, like: torch.Tensor | None = None):
        """Zeros of the model's dtype, on ``like``'s device (default: the model's)."""
        weight = self.embedding.weight
        like = weight if like is None else weight.new_empty(0, device=like.device)
        return zero_state(self.cell, self.num_layers, batch_size, self.hidden_size, like=like)

    def forward(self, tokens: torch.Tensor, state=None):
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
            got = f"{tuple(tokens.shape)} {tokens.dtype}" if torch.is_tensor(tokens) else tokens
            raise TypeError(f"tokens must be a 2-D LongTensor (B, T) of ids, got {got}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(
                f"token ids must be in [0, {self.vocab_size}), got range "
                f"[{int(tokens.min())}, {int(tokens.max())}]; encode with the same vocabulary"
            )
        if state is not None:
            expected = (self.num_layers, tokens.shape[0], self.hidden_size)
            check_state(state, self.cell, expected)
        embedded = self.drop(self.embedding(tokens))  # (B, T, E)
        outputs, state = self.rnn(embedded, state)  # (B, T, H)
        return self.head(self.drop(outputs)), state  # (B, T, V)
