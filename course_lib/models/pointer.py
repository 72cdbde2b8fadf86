"""The pointer-generator (See, Liu & Manning 2017): an attention encoder-decoder that can copy.

Shape letters as in ``seq2seq``: B batch, S source length, T target length, V vocabulary,
F the decoder's features ``[h_t; c_t; embed(y_{t-1})]``.

A summary reuses the source's words: names, dates, deal numbers. A decoder that must produce
each of them from its output layer learns them slowly and gets rare ones wrong. The
pointer-generator gives it a second way to produce a token: point at a source position and copy
its token, with the probability its attention already gives that position. At step t, with
attention weights a_t (B, S) over the source ids x (B, S), the output layer's distribution
P_vocab = softmax(output(features)) and a learned gate p_gen = sigmoid(w . features + b)::

    P(y) = p_gen * P_vocab(y) + (1 - p_gen) * sum of a_t,i over the positions i where x_i = y

Source and target share one vocabulary here (chapter 13's BPE subwords), so a copied token is
always in the vocabulary: the copy distribution is ``scatter_add`` of the weights onto the
source ids, and no extended vocabulary is needed (See et al. need one for whole-word OOVs).

``forward`` and ``decode_step`` return log P where the other encoder-decoders return logits.
That keeps their contract: log P already sums to 1 in probability, so ``log_softmax(log P)`` is
log P again, ``seq2seq_loss``'s cross-entropy is -log P(y), and greedy and beam search read it
unchanged. (See et al. also add a coverage loss against repeated attention; not here.)

``PointerTransformerSeq2Seq`` gives chapter 09's Transformer the same gate. Its decoder attends
to the source with several heads in every layer; the copy distribution comes from one more
attention, a single head from the decoder's last state over the encoder's memory, as in
Transformer summarisers with copying (e.g. Gehrmann, Deng & Rush 2018), and the gate reads
``[decoder state; copy context]``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

import torch
from torch import nn

from course_lib.models.seq2seq import AttentionSeq2Seq, Seq2SeqState
from course_lib.models.transformer import DecoderState, TransformerSeq2Seq

_TINY = 1e-12  # P of a token neither generated nor copied: log stays finite


def log_copy_mixture(logits: torch.Tensor, gate_logits: torch.Tensor, weights: torch.Tensor,
                     src: torch.Tensor) -> torch.Tensor:
    """log P (B, [T,] V) = log(p_gen P_vocab + (1 - p_gen) copy), in float32, from the output
    layer's ``logits`` (B, [T,] V), the gate's ``gate_logits`` (B, [T,] 1), attention
    ``weights`` (B, [T,] S) and the source ids ``src`` (B, S) they are added onto."""
    generate = logits.float().softmax(dim=-1)  # (B, [T,] V) P_vocab
    p_gen = torch.sigmoid(gate_logits.float())  # (B, [T,] 1)
    src = src if weights.dim() == 2 else src[:, None, :].expand_as(weights)
    copy = torch.zeros_like(generate).scatter_add_(-1, src, weights.float())  # (B, [T,] V)
    return torch.log((p_gen * generate + (1 - p_gen) * copy).clamp_min(_TINY))


def _check_one_vocabulary(src_vocab_size: int, tgt_vocab_size: int) -> None:
    if src_vocab_size != tgt_vocab_size:
        raise ValueError(
            f"a pointer-generator copies source ids into the output, so source and target need "
            f"one shared vocabulary; got src_vocab_size={src_vocab_size}, "
            f"tgt_vocab_size={tgt_vocab_size} (build one vocabulary for both, as "
            "summarisation.build_summarisation_data does)")


class PointerGeneratorSeq2Seq(AttentionSeq2Seq):
    """``AttentionSeq2Seq`` plus a copy gate: the next token is generated or copied from the
    source (module docstring). Same arguments; the source and target vocabularies must be one
    (``src_vocab_size == tgt_vocab_size``, the same ids)."""

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_dim, hidden_size, num_layers=1,
                 cell="gru", bidirectional=False, dropout=0.0, pad_id=0, attention="additive",
                 readout_size=None):
        _check_one_vocabulary(src_vocab_size, tgt_vocab_size)
        super().__init__(src_vocab_size, tgt_vocab_size, embed_dim, hidden_size, num_layers, cell,
                         bidirectional, dropout, pad_id, attention, readout_size)
        features = hidden_size + self._encoder_size + embed_dim
        self.gate = nn.Linear(features, 1)  # p_gen = sigmoid(w . features + b)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Seq2SeqState:
        """As ``AttentionSeq2Seq.encode``, and the state keeps the source ids to copy from."""
        return replace(super().encode(src, src_lengths), src=src)

    def _scores(self, features, weights, state) -> torch.Tensor:
        """log P (B, [T,] V) from features (B, [T,] F) and attention weights (B, [T,] S)."""
        features = self.drop(features)
        return log_copy_mixture(self.output(features), self.gate(features), weights, state.src)


class PointerDecoderState(NamedTuple):
    """``PointerTransformerSeq2Seq``'s decoding state: the Transformer's, the source ids and
    the copy attention's keys (projected once per source, not at every step)."""

    decoder: DecoderState
    src: torch.Tensor  # (B, S) the ids a step may copy
    copy_keys: torch.Tensor  # (B, S, D)

    def select(self, index: torch.Tensor) -> PointerDecoderState:
        """The rows ``index`` (B',) of the batch (beams), as ``DecoderState.select``."""
        return PointerDecoderState(self.decoder.select(index), self.src[index], self.copy_keys[index])


class PointerTransformerSeq2Seq(TransformerSeq2Seq):
    """``TransformerSeq2Seq`` plus a copy gate (module docstring): a single-head copy attention
    from the decoder's last state over the encoder memory, and p_gen from ``[state; context]``.
    Same arguments; one shared vocabulary. ``forward`` and ``decode_step`` return log P."""

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_dim=256, num_heads=4, num_layers=3,
                 ff_dim=1024, dropout=0.1, pad_id=0, max_len=256):
        _check_one_vocabulary(src_vocab_size, tgt_vocab_size)
        super().__init__(src_vocab_size, tgt_vocab_size, embed_dim, num_heads, num_layers, ff_dim,
                         dropout, pad_id, max_len)
        self.copy_query = nn.Linear(embed_dim, embed_dim)
        self.copy_key = nn.Linear(embed_dim, embed_dim)
        self.gate = nn.Linear(2 * embed_dim, 1)  # p_gen = sigmoid(w . [state; context] + b)

    def copy_attention(self, states, copy_keys, src_mask) -> torch.Tensor:
        """Copy weights (B, T, S) of decoder ``states`` (B, T, D) over the memory's
        ``copy_keys = self.copy_key(memory)`` (B, S, D); zero at padding (``src_mask`` False)."""
        scores = self.copy_query(states) @ copy_keys.transpose(1, 2)  # (B, T, S)
        scores = scores.float() / math.sqrt(self.embed_dim)
        return scores.masked_fill(~src_mask[:, None, :], float("-inf")).softmax(dim=-1)

    def _scores(self, states, memory, copy_keys, src_mask, src) -> tuple[torch.Tensor, torch.Tensor]:
        """log P (B, T, V) and the copy weights (B, T, S) from the decoder's ``states`` (B, T, D)."""
        weights = self.copy_attention(states, copy_keys, src_mask)  # (B, T, S)
        context = weights.to(memory.dtype) @ memory  # (B, T, D)
        gate_logits = self.gate(torch.cat([states, context.to(states.dtype)], dim=-1))  # (B, T, 1)
        return log_copy_mixture(self.output(states), gate_logits, weights, src), weights

    def forward_with_attention(self, src, src_lengths, tgt_in) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: log P (B, T, V) of the token after each of ``tgt_in`` (B, T), and
        the copy weights (B, T, S) it mixed in (as ``PointerGeneratorSeq2Seq``'s attention)."""
        memory, src_mask = self._encode_memory(src, src_lengths)  # (B, S, D), (B, S)
        states = self._decoder_states(tgt_in, memory, src_mask)  # (B, T, D)
        return self._scores(states, memory, self.copy_key(memory), src_mask, src)

    def forward(self, src, src_lengths, tgt_in) -> torch.Tensor:
        """Teacher forcing: log P (B, T, V) of the token after each of ``tgt_in`` (B, T)."""
        return self.forward_with_attention(src, src_lengths, tgt_in)[0]

    def encode(self, src, src_lengths=None) -> PointerDecoderState:
        """As ``TransformerSeq2Seq.encode``, and the state keeps the source ids to copy from."""
        inner = super().encode(src, src_lengths)
        return PointerDecoderState(inner, src, self.copy_key(inner.memory))

    def decode(self, tgt_in, state: PointerDecoderState) -> torch.Tensor:
        """log P (B, T, V) for the whole prefix ``tgt_in`` after ``encode``."""
        inner = state.decoder
        states = self._decoder_states(tgt_in, inner.memory, inner.src_mask)  # (B, T, D)
        return self._scores(states, inner.memory, state.copy_keys, inner.src_mask, state.src)[0]

    def decode_step(self, prev_tokens, state: PointerDecoderState):
        """log P (B, V) of the token after ``prev_tokens`` (B,), and the new state."""
        states, inner = self._step(prev_tokens, state.decoder)  # (B, D)
        log_p, _ = self._scores(states[:, None], inner.memory, state.copy_keys, inner.src_mask,
                                state.src)  # (B, 1, V)
        return log_p[:, 0], state._replace(decoder=inner)
