"""Recurrent encoder-decoders: the plain ``Seq2Seq`` and the attention ``AttentionSeq2Seq``.

Shape letters: B batch, S source length, T target length, E embedding size, H hidden size,
L layers, V target vocabulary, Hs = H x directions the encoder's output size.

* The ``Encoder`` embeds the padded source and runs a GRU/LSTM/RNN (optionally
  bidirectional) over ``pack_padded_sequence(..., enforce_sorted=False)``: each sequence is
  read only up to its length, so padding never changes an output or the final state, and
  outputs at padded positions are 0.
* The decoder starts from the encoder's final state. Unidirectional: used as it is.
  Bidirectional: per layer the two directions' final states are concatenated and projected,
  ``h0 = tanh(W_h [h_fwd; h_bwd])`` (for an LSTM also ``c0 = W_c [c_fwd; c_bwd]``).
* ``Seq2Seq`` (Sutskever et al. 2014): that initial state is the only thing the decoder knows
  about the source, the fixed-size "context vector" c. Output: ``Linear(h_t)``. With
  ``feed_context=True`` (Cho et al. 2014) c (the top layer of the initial state) is also fed
  to every step: the RNN reads ``[embed(y_{t-1}); c]`` and the output layer sees
  ``[h_t; c; embed(y_{t-1})]`` -- still one fixed-size vector, but one the decoder cannot
  overwrite as it goes.
* ``AttentionSeq2Seq`` (Bahdanau et al. 2015 style): at step t the previous top-layer state
  h_{t-1} queries the encoder outputs (``course_lib.models.rnn_attention``), giving a context
  c_t; the RNN reads ``[embed(y_{t-1}); c_t]`` and the output layer sees
  ``[h_t; c_t; embed(y_{t-1})]``.

Interface, shared by both and by ``transformer.TransformerSeq2Seq``, trained by
``seq2seq_loss`` and decoded by ``course_lib.decoding.greedy_decode``/``beam_search``:

* ``forward(src (B, S), src_lengths (B,), tgt_in (B, T), teacher_forcing=1.0,
  generator=None) -> logits (B, T, V)``; ``AttentionSeq2Seq.forward_with_attention`` returns
  ``(logits, weights (B, T, S))``.
* ``encode(src, src_lengths) -> Seq2SeqState``;
  ``decode_step(prev_tokens (B,), state) -> (logits (B, V), new_state)``; the state has
  ``select(index)`` to pick, repeat or reorder batch rows (beams).

``teacher_forcing`` is the probability of feeding the true previous token (drawn per sentence
and step with ``generator``): 1.0 always the truth, 0.0 always the model's own argmax
prediction. ``linear_teacher_forcing`` and ``inverse_sigmoid_teacher_forcing`` are schedules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_lib.models.rnn import check_cell_type, fused_rnn_class
from course_lib.models.rnn_attention import make_attention

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # h (L, B, H) or (h, c)


@dataclass(frozen=True)
class Seq2SeqState:
    """What ``encode`` returns and ``decode_step`` reads and returns.

    ``hidden`` is the decoder's recurrent state (PyTorch's layout, batch in dimension 1);
    ``memory``, ``src_mask`` and ``projected_keys`` (batch first) are set only for attention.
    """

    hidden: State  # (L, B, H), or (h, c) each (L, B, H)
    memory: torch.Tensor | None = None  # (B, S, Hs) encoder outputs
    src_mask: torch.Tensor | None = None  # (B, S) bool, True at real source tokens
    projected_keys: torch.Tensor | None = None  # (B, S, A) attention.project_keys(memory)
    context: torch.Tensor | None = None  # (B, H) the context vector, set for Seq2Seq(feed_context=True)
    src: torch.Tensor | None = None  # (B, S) the source ids, kept by models that copy from them

    def select(self, index: torch.Tensor) -> Seq2SeqState:
        """The batch rows ``index`` (B',), e.g. each sentence repeated once per beam."""
        if isinstance(self.hidden, tuple):
            hidden = tuple(part[:, index] for part in self.hidden)
        else:
            hidden = self.hidden[:, index]
        rows = [None if x is None else x[index]
                for x in (self.memory, self.src_mask, self.projected_keys, self.context, self.src)]
        return Seq2SeqState(hidden, *rows)


class Encoder(nn.Module):
    """Embedding -> (bi)directional GRU/LSTM/RNN over the packed source.

    ``forward(src (B, S), src_lengths (B,)) -> (outputs (B, S, Hs), final)``, ``final`` being
    PyTorch's final state, (L x directions, B, H) (a pair for an LSTM).
    """

    def __init__(self, vocab_size, embed_dim, hidden_size, num_layers=1, cell="gru",
                 bidirectional=False, dropout=0.0, pad_id=0):
        super().__init__()
        self.cell = check_cell_type(cell)
        self.num_directions = 2 if bidirectional else 1
        self.output_size = hidden_size * self.num_directions
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        between = dropout if num_layers > 1 else 0.0  # PyTorch warns about dropout on 1 layer
        self.rnn = fused_rnn_class(self.cell)(embed_dim, hidden_size, num_layers, batch_first=True,
                                           dropout=between, bidirectional=bidirectional)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor):
        embedded = self.drop(self.embedding(src))  # (B, S, E)
        packed = pack_padded_sequence(embedded, src_lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        outputs, final = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.shape[1])
        return outputs, final  # (B, S, Hs)


def check_source(src, src_lengths, vocab_size: int) -> None:
    if not torch.is_tensor(src) or src.dim() != 2 or src.dtype != torch.long:
        got = f"{tuple(src.shape)} {src.dtype}" if torch.is_tensor(src) else type(src).__name__
        raise TypeError(f"src must be a LongTensor of ids (B, S), got {got}")
    if not torch.is_tensor(src_lengths) or src_lengths.shape != (src.shape[0],):
        got = tuple(src_lengths.shape) if torch.is_tensor(src_lengths) else type(src_lengths).__name__
        raise ValueError(f"src_lengths must be a tensor (B,) = ({src.shape[0]},), got {got}")
    lengths = src_lengths.cpu()
    if int(lengths.min()) < 1 or int(lengths.max()) > src.shape[1]:
        raise ValueError(
            f"src_lengths must be in [1, S={src.shape[1]}], got range "
            f"[{int(lengths.min())}, {int(lengths.max())}]; drop empty sources before batching"
        )
    if int(src.min()) < 0 or int(src.max()) >= vocab_size:
        raise ValueError(f"src ids must be in [0, {vocab_size}); encode with the source vocab")


class _RecurrentSeq2Seq(nn.Module):
    """Encoder, bridge, step-by-step decoder; subclasses define the decoder input and output."""

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_dim, hidden_size, num_layers=1,
                 cell="gru", bidirectional=False, dropout=0.0, pad_id=0):
        super().__init__()
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.hidden_size, self.num_layers, self.pad_id = hidden_size, num_layers, pad_id
        self.encoder = Encoder(src_vocab_size, embed_dim, hidden_size, num_layers, cell,
                               bidirectional, dropout, pad_id)
        self.cell = self.encoder.cell
        if bidirectional:
            self.bridge_h = nn.Linear(2 * hidden_size, hidden_size)
            self.bridge_c = nn.Linear(2 * hidden_size, hidden_size) if self.cell == "lstm" else None
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embed_dim, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        between = dropout if num_layers > 1 else 0.0
        rnn_class = fused_rnn_class(self.cell)
        self.decoder_rnn = rnn_class(self._decoder_input_size(embed_dim), hidden_size, num_layers,
                                     batch_first=True, dropout=between)

    def _decoder_input_size(self, embed_dim: int) -> int:
        return embed_dim

    def _make_output(self, in_size: int, readout_size: int | None) -> nn.Module:
        """The output layer: ``Linear(in_size, V)``, or with ``readout_size`` a "deep output"
        (Bahdanau et al. 2015) ``Linear(in_size, readout_size) -> tanh -> Linear(.., V)``,
        much cheaper when ``in_size`` is large (the V-wide matmul dominates training)."""
        if readout_size is None:
            return nn.Linear(in_size, self.tgt_vocab_size)
        if readout_size < 1:
            raise ValueError(f"readout_size must be a positive int or None, got {readout_size}")
        return nn.Sequential(nn.Linear(in_size, readout_size), nn.Tanh(),
                             nn.Linear(readout_size, self.tgt_vocab_size))

    def _initial_hidden(self, final: State) -> State:
        """The encoder's final state as the decoder's initial one (see the module docstring)."""
        if self.encoder.num_directions == 1:
            return final

        def merge(part, projection):  # (2L, B, H) -> (L, B, H)
            layers = part.view(self.num_layers, 2, part.shape[1], self.hidden_size)
            return projection(torch.cat([layers[:, 0], layers[:, 1]], dim=-1))  # (L, B, H)

        if self.cell == "lstm":
            h, c = final
            return torch.tanh(merge(h, self.bridge_h)), merge(c, self.bridge_c)
        return torch.tanh(merge(final, self.bridge_h))

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Seq2SeqState:
        """Run the encoder once: the decoder's initial state (plus memory for attention)."""
        check_source(src, src_lengths, self.src_vocab_size)
        outputs, final = self.encoder(src, src_lengths)  # (B, S, Hs)
        return self._make_state(self._initial_hidden(final), outputs, src_lengths)

    def _make_state(self, hidden, outputs, src_lengths) -> Seq2SeqState:
        return Seq2SeqState(hidden)

    def _step(self, prev_tokens, state):
        """One decoder step: ``(features (B, F), new state, attention weights (B, S) or None)``;
        ``self._scores(features, weights, state)`` turns them into the logits (B, V)."""
        raise NotImplementedError

    def _scores(self, features, weights, state) -> torch.Tensor:
        """Logits (B, [T,] V) from decoder features (B, [T,] F): the output layer. (A model
        that copies, ``pointer.PointerGeneratorSeq2Seq``, also reads the attention weights
        (B, [T,] S) and ``state.src``.)"""
        return self.output(self.drop(features))

    def decode_step(self, prev_tokens: torch.Tensor, state: Seq2SeqState):
        """Logits (B, V) for the next token after ``prev_tokens`` (B,), and the new state."""
        if not torch.is_tensor(prev_tokens) or prev_tokens.dim() != 1:
            raise ValueError("prev_tokens must be a 1-D LongTensor (B,) with one id per row")
        features, new_state, weights = self._step(prev_tokens, state)
        return self._scores(features, weights, state), new_state

    @staticmethod
    def _check_target(src, tgt_in, teacher_forcing) -> None:
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {teacher_forcing}")
        if not torch.is_tensor(tgt_in) or tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            got = tuple(tgt_in.shape) if torch.is_tensor(tgt_in) else type(tgt_in).__name__
            raise ValueError(f"tgt_in must be a LongTensor (B, T) with B={src.shape[0]}, got {got}")
        if tgt_in.shape[1] == 0:
            raise ValueError("tgt_in is empty: it starts with <bos> (targets need >= 2 tokens)")

    def _unroll(self, src, src_lengths, tgt_in, teacher_forcing, generator):
        """Step by step over ``tgt_in``: ``(logits (B, T, V), [weights (B, S) or None] * T)``."""
        self._check_target(src, tgt_in, teacher_forcing)
        state = self.encode(src, src_lengths)
        outputs, all_weights = [], []  # per step: features (teacher forcing 1) or logits
        prev = tgt_in[:, 0]  # (B,)
        for t in range(tgt_in.shape[1]):
            features, state, weights = self._step(prev, state)
            all_weights.append(weights)
            if teacher_forcing == 1.0:  # the next input is the truth: no logits needed yet
                outputs.append(features)
                prev = tgt_in[:, min(t + 1, tgt_in.shape[1] - 1)]
                continue
            logits = self._scores(features, weights, state)  # (B, V)
            outputs.append(logits)
            if t + 1 < tgt_in.shape[1]:
                prev = self._next_input(tgt_in[:, t + 1], logits, teacher_forcing, generator)
        stacked = torch.stack(outputs, dim=1)  # (B, T, F) or (B, T, V)
        if teacher_forcing == 1.0:  # one big output matmul is much faster than T small ones
            weights = None if all_weights[0] is None else torch.stack(all_weights, dim=1)  # (B, T, S)
            return self._scores(stacked, weights, state), all_weights  # (B, T, V)
        return stacked, all_weights

    @staticmethod
    def _next_input(truth, logits, teacher_forcing, generator) -> torch.Tensor:
        predicted = logits.detach().argmax(dim=-1)  # (B,)
        if teacher_forcing == 0.0:
            return predicted
        device = generator.device if generator is not None else truth.device
        coin = torch.rand(truth.shape[0], generator=generator, device=device).to(truth.device)
        return torch.where(coin < teacher_forcing, truth, predicted)

    def forward(self, src, src_lengths, tgt_in, teacher_forcing: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (B, T, V) for every target position; ``tgt_in`` starts with <bos>."""
        logits, _ = self._unroll(src, src_lengths, tgt_in, teacher_forcing, generator)
        return logits


class Seq2Seq(_RecurrentSeq2Seq):
    """Encoder-decoder whose only link is the encoder's final state (the context vector).

    ``cell`` is "gru", "lstm" or "rnn"; ``dropout`` acts on the embeddings, between layers
    and before the output layer; ``pad_id`` is the padding id of both vocabularies;
    ``feed_context=True`` also feeds the context vector to every decoder step (Cho et al.);
    ``readout_size`` puts a tanh layer of that size before the output (see ``_make_output``).
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_dim, hidden_size, num_layers=1,
                 cell="gru", bidirectional=False, dropout=0.0, pad_id=0, feed_context=False,
                 readout_size=None):
        self.feed_context = feed_context
        super().__init__(src_vocab_size, tgt_vocab_size, embed_dim, hidden_size, num_layers,
                         cell, bidirectional, dropout, pad_id)
        out_size = 2 * hidden_size + embed_dim if feed_context else hidden_size
        self.output = self._make_output(out_size, readout_size)

    def _decoder_input_size(self, embed_dim: int) -> int:
        return embed_dim + self.hidden_size if self.feed_context else embed_dim

    def _make_state(self, hidden, outputs, src_lengths) -> Seq2SeqState:
        if not self.feed_context:
            return Seq2SeqState(hidden)
        h = hidden[0] if isinstance(hidden, tuple) else hidden
        return Seq2SeqState(hidden, context=h[-1])  # c: (B, H)

    def _features(self, embedded, state):
        """Decoder over ``embedded`` (B, T, E) from ``state``: features (B, T, F), new hidden."""
        if not self.feed_context:
            return self.decoder_rnn(embedded, state.hidden)  # (B, T, H)
        context = state.context[:, None, :].expand(-1, embedded.shape[1], -1)  # (B, T, H)
        out, hidden = self.decoder_rnn(torch.cat([embedded, context], dim=-1), state.hidden)
        return torch.cat([out, context, embedded], dim=-1), hidden  # (B, T, 2H + E)

    def _step(self, prev_tokens, state):
        embedded = self.drop(self.tgt_embedding(prev_tokens)).unsqueeze(1)  # (B, 1, E)
        features, hidden = self._features(embedded, state)  # (B, 1, F)
        return features.squeeze(1), Seq2SeqState(hidden, context=state.context), None  # (B, F)

    def _unroll(self, src, src_lengths, tgt_in, teacher_forcing, generator):
        if teacher_forcing != 1.0:
            return super()._unroll(src, src_lengths, tgt_in, teacher_forcing, generator)
        # With full teacher forcing every input is known: run the RNN over all of them at once
        # (the same numbers as stepping, computed faster).
        self._check_target(src, tgt_in, teacher_forcing)
        state = self.encode(src, src_lengths)
        embedded = self.drop(self.tgt_embedding(tgt_in))  # (B, T, E)
        features, _ = self._features(embedded, state)  # (B, T, F)
        return self.output(self.drop(features)), []  # (B, T, V)


class AttentionSeq2Seq(_RecurrentSeq2Seq):
    """Encoder-decoder with Bahdanau-style attention over the encoder outputs at every step.

    Same arguments as ``Seq2Seq`` (but ``feed_context``) plus ``attention``: ``"additive"`` (default, Bahdanau),
    ``"general"``, ``"dot"`` or ``"scaled_dot"`` (the last two need H == Hs, i.e. a
    unidirectional encoder). The query is the top layer of h_{t-1}.
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_dim, hidden_size, num_layers=1,
                 cell="gru", bidirectional=False, dropout=0.0, pad_id=0, attention="additive",
                 readout_size=None):
        self._encoder_size = hidden_size * (2 if bidirectional else 1)
        super().__init__(src_vocab_size, tgt_vocab_size, embed_dim, hidden_size, num_layers,
                         cell, bidirectional, dropout, pad_id)
        self.attention = make_attention(attention, hidden_size, self._encoder_size)
        out_size = hidden_size + self._encoder_size + embed_dim
        self.output = self._make_output(out_size, readout_size)

    def _decoder_input_size(self, embed_dim: int) -> int:
        return embed_dim + self._encoder_size

    def _make_state(self, hidden, outputs, src_lengths) -> Seq2SeqState:
        positions = torch.arange(outputs.shape[1], device=outputs.device)
        mask = positions[None, :] < src_lengths.to(outputs.device)[:, None]  # (B, S)
        return Seq2SeqState(hidden, outputs, mask, self.attention.project_keys(outputs))

    def _step(self, prev_tokens, state):
        h = state.hidden[0] if isinstance(state.hidden, tuple) else state.hidden
        context, weights = self.attention(h[-1], state.memory, state.memory, state.src_mask,
                                          projected_keys=state.projected_keys)  # (B, Hs), (B, S)
        embedded = self.drop(self.tgt_embedding(prev_tokens))  # (B, E)
        rnn_input = torch.cat([embedded, context], dim=-1).unsqueeze(1)  # (B, 1, E + Hs)
        out, hidden = self.decoder_rnn(rnn_input, state.hidden)  # (B, 1, H)
        features = torch.cat([out.squeeze(1), context, embedded], dim=-1)  # (B, H + Hs + E)
        return features, replace(state, hidden=hidden), weights  # (B, H + Hs + E)

    def forward_with_attention(self, src, src_lengths, tgt_in, teacher_forcing: float = 1.0,
                               generator: torch.Generator | None = None):
        """``(logits (B, T, V), weights (B, T, S))``: what ``forward`` computes, plus the
        attention weights of every target step over the source (0 at padding)."""
        logits, weights = self._unroll(src, src_lengths, tgt_in, teacher_forcing, generator)
        return logits, torch.stack(weights, dim=1)  # (B, T, V), (B, T, S)


def seq2seq_loss(model, batch, *, label_smoothing: float = 0.0, teacher_forcing: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean cross-entropy of ``batch.tgt[:, 1:]`` given ``batch.tgt[:, :-1]``, ignoring padding.

    The one loss of every encoder-decoder of the course (``Seq2Seq``, ``AttentionSeq2Seq``,
    ``transformer.TransformerSeq2Seq``), through their shared
    ``model(src, src_lengths, tgt_in) -> logits (B, T, V)``. ``batch.tgt`` is ``<bos> y <eos>``
    padded with ``model.pad_id``. ``label_smoothing`` moves that share of the target's
    probability onto the whole vocabulary (Vaswani et al. use 0.1). ``teacher_forcing`` < 1
    (recurrent models only) feeds the model's own predictions with that probability, drawn
    with ``generator``. Usable as ``training.train``'s ``loss_fn`` (wrap it with
    ``functools.partial`` to set the options).
    """
    if batch.tgt is None:
        raise ValueError("seq2seq_loss needs a batch of (src, tgt) pairs; batch.tgt is None")
    if batch.tgt.shape[1] < 2:
        raise ValueError("targets need at least 2 tokens (<bos> ... <eos>) to predict anything")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    tgt_in, tgt_out = batch.tgt[:, :-1], batch.tgt[:, 1:]  # (B, T) each
    if teacher_forcing == 1.0:
        logits = model(batch.src, batch.src_lengths, tgt_in)  # (B, T, V)
    elif isinstance(model, _RecurrentSeq2Seq):
        logits = model(batch.src, batch.src_lengths, tgt_in, teacher_forcing=teacher_forcing,
                       generator=generator)
    else:
        raise ValueError(f"teacher_forcing={teacher_forcing} needs a recurrent decoder; "
                         f"{type(model).__name__} reads the whole target prefix at once")
    return F.cross_entropy(logits.flatten(0, 1).float(), tgt_out.flatten(),
                           ignore_index=model.pad_id, label_smoothing=label_smoothing)


def linear_teacher_forcing(step: int, total_steps: int, start: float = 1.0, end: float = 0.0) -> float:
    """Teacher-forcing ratio falling linearly from ``start`` at step 0 to ``end`` at
    ``total_steps`` and staying there (Bengio et al. 2015's linear decay)."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not (0 <= start <= 1 and 0 <= end <= 1):
        raise ValueError(f"start and end must be in [0, 1], got {start} and {end}")
    done = min(max(step, 0) / total_steps, 1.0)
    return start * (1 - done) + end * done


def inverse_sigmoid_teacher_forcing(step: int, k: float) -> float:
    """Teacher-forcing ratio k / (k + exp(step / k)) (Bengio et al. 2015), k >= 1: near
    k/(k+1) at first, 0.5 around step k ln k, falling towards 0 later."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    exponent = max(step, 0) / k
    return 0.0 if exponent > 700 else k / (k + math.exp(exponent))
