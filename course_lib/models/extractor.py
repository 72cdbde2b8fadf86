"""A tagger that marks the source words a summary copies: chapter 08's encoder with one logit per word.

Shape letters: B batch, S source length (words), Hs the encoder's output size (2 x hidden_size).

``CopyTagger`` reads the source with ``seq2seq.Encoder`` (bidirectional, packed, so padding never
changes an output) and scores every position with one linear layer:
``forward(src (B, S), src_lengths (B,)) -> logits (B, S)``, ``sigmoid(logits)`` being
P(the word is one of the summary's words). Logits at padded positions are meaningless; the
loss (``course_lib.extraction.copy_tagging_loss``) masks them out. Chapter 13 turns the
probabilities into a subject line by picking one span of the body (``extraction.best_span``).
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models.seq2seq import Encoder, check_source


class CopyTagger(nn.Module):
    """Embedding -> bidirectional GRU/LSTM (``seq2seq.Encoder``) -> dropout -> Linear(Hs, 1)."""

    def __init__(self, vocab_size: int, embed_dim: int = 128, hidden_size: int = 192, num_layers: int = 2,
                 cell: str = "lstm", dropout: float = 0.2, pad_id: int = 0):
        super().__init__()
        self.vocab_size = vocab_size
        self.encoder = Encoder(vocab_size, embed_dim, hidden_size, num_layers, cell, bidirectional=True,
                               dropout=dropout, pad_id=pad_id)
        self.drop = nn.Dropout(dropout)
        self.score = nn.Linear(self.encoder.output_size, 1)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
        check_source(src, src_lengths, self.vocab_size)
        outputs, _ = self.encoder(src, src_lengths)  # (B, S, Hs)
        return self.score(self.drop(outputs)).squeeze(-1)  # (B, S)
