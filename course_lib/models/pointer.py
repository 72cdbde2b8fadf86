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
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from course_lib.models.seq2seq import AttentionSeq2Seq, Seq2SeqState

_TINY = 1e-12  # P of a token neither generated nor copied: log stays finite


class PointerGeneratorSeq2Seq(AttentionSeq2Seq):
    """``AttentionSeq2Seq`` plus a copy gate: the next token is generated or copied from the
    source (module docstring). Same arguments; the source and target vocabularies must be one
    (``src_vocab_size == tgt_vocab_size``, the same ids)."""

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_dim, hidden_size, num_layers=1,
                 cell="gru", bidirectional=False, dropout=0.0, pad_id=0, attention="additive",
                 readout_size=None):
        if src_vocab_size != tgt_vocab_size:
            raise ValueError(
                f"a pointer-generator copies source ids into the output, so source and target need "
                f"one shared vocabulary; got src_vocab_size={src_vocab_size}, "
                f"tgt_vocab_size={tgt_vocab_size} (build one vocabulary for both, as "
                "summarisation.build_summarisation_data does)")
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
        generate = self.output(features).float().softmax(dim=-1)  # (B, [T,] V) P_vocab
        p_gen = torch.sigmoid(self.gate(features).float())  # (B, [T,] 1)
        src = state.src if weights.dim() == 2 else state.src[:, None, :].expand_as(weights)
        copy = torch.zeros_like(generate).scatter_add_(-1, src, weights.float())  # (B, [T,] V)
        return torch.log((p_gen * generate + (1 - p_gen) * copy).clamp_min(_TINY))
