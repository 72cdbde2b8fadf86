"""Language-model plumbing shared by the neural chapters: stream batches and losses.

Chapter 05 writes these inline first (truncated backpropagation through time needs batches
whose rows continue each other, and a loss that carries the recurrent state between them);
later chapters import them from here. ``char_stream`` is the Tiny Shakespeare character
stream of chapters 05-10. Evaluation (nats per token) is in ``course_lib.metrics``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from course_lib.corpora import read_tinyshakespeare
from course_lib.models.rnn import detach_state
from course_lib.text import Vocab


def contiguous_batches(
    ids: torch.Tensor, batch_size: int, seq_len: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Cut a 1-D stream into ``batch_size`` rows; batch k holds columns [k*seq_len, (k+1)*seq_len).

    Returns a list of ``(x, y)`` pairs, each (B, <= seq_len); ``y`` is ``x`` shifted by one
    token, so row b of batch k+1 continues row b of batch k. The last batch may be shorter;
    up to B - 1 tokens at the end of the stream are dropped.
    """
    if ids.dim() != 1:
        raise ValueError(f"contiguous_batches takes a 1-D stream of ids, got {tuple(ids.shape)}")
    if batch_size < 1 or seq_len < 1:
        raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size}, {seq_len}")
    columns = (len(ids) - 1) // batch_size
    if columns < 1:
        raise ValueError(f"a stream of {len(ids)} tokens is too short for {batch_size} rows")
    x = ids[: batch_size * columns].view(batch_size, columns)  # (B, columns)
    y = ids[1 : batch_size * columns + 1].view(batch_size, columns)  # (B, columns)
    return [(x[:, s : s + seq_len], y[:, s : s + seq_len]) for s in range(0, columns, seq_len)]


def next_token_loss(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy of ``model(x)`` against ``y`` for a batch ``(x, y)`` of shape (B, T).

    Works for models returning logits (B, T, V) and for recurrent ones returning
    ``(logits, state)`` (the state is dropped: every batch starts from zeros).
    """
    x, y = batch  # (B, T), (B, T)
    output = model(x)
    logits = output[0] if isinstance(output, tuple) else output  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


class CarriedStateLoss:
    """A ``loss_fn`` for ``train()``: next-token cross-entropy, carrying the detached state.

    Batches are ``(x, y, first)``: ``first`` is True for the first batch of a pass over the
    data, where the state starts again from zeros. Between batches the state keeps its values
    but not its graph (truncated backpropagation through time).
    """

    def __init__(self):
        self.state = None

    def __call__(self, model: torch.nn.Module, batch) -> torch.Tensor:
        x, y, first = batch  # (B, T), (B, T), bool
        logits, state = model(x, None if first else self.state)  # (B, T, V)
        self.state = detach_state(state)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))




def char_stream(train_fraction: float = 0.9) -> tuple[torch.Tensor, torch.Tensor, Vocab]:
    """Tiny Shakespeare as character ids: (train ids, validation ids, vocabulary).

    The first ``train_fraction`` of the characters train, the rest validate (nanoGPT's split:
    1,003,854 / 111,540 characters); the vocabulary is the 65 characters, sorted, no specials.
    """
    text = read_tinyshakespeare()
    vocab = Vocab(sorted(set(text)), specials=())
    ids = torch.tensor(vocab.encode(list(text)), dtype=torch.long)
    cut = int(train_fraction * len(ids))
    return ids[:cut], ids[cut:], vocab


