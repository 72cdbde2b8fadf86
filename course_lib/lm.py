"""Language-model plumbing shared by the neural chapters: stream batches, losses, evaluation.

Chapter 05 writes these inline first (truncated backpropagation through time needs batches
whose rows continue each other, and a loss that carries the recurrent state between them);
later chapters import them from here.
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


@torch.no_grad()
def stream_nats(model: torch.nn.Module, ids: torch.Tensor, num_streams: int = 16,
                chunk: int = 256) -> float:
    """Nats per token over all of ``ids``, read as contiguous streams with the state carried.

    For a recurrent model ``forward(tokens, state) -> (logits, state)``. Every token but the
    first of each stream (and up to ``num_streams - 1`` at the end) is scored exactly once.
    The model's training mode is restored afterwards.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for x, y in contiguous_batches(ids, num_streams, chunk):
        logits, state = model(x.to(device), state)  # (B, T, V)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.to(device).reshape(-1),
                                 reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count


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


@torch.no_grad()
def window_nats(model: torch.nn.Module, ids: torch.Tensor, block_size: int, batch_size: int = 64) -> float:
    """Nats per token of ``ids[1:]`` under a model that sees at most ``block_size`` tokens (a GPT).

    Windows of ``block_size`` slide by half a window; each token is scored exactly once, with
    at least ``block_size // 2`` tokens of context (except in the first window, which scores
    everything). Chapter 09 writes it out. The model's training mode is restored afterwards.
    """
    n = len(ids)
    if ids.dim() != 1 or n <= block_size:
        raise ValueError(f"window_nats needs a 1-D stream longer than block_size={block_size}, "
                         f"got shape {tuple(ids.shape)}")
    device = next(model.parameters()).device
    starts = list(range(0, n - block_size, block_size // 2))
    if starts[-1] != n - 1 - block_size:
        starts.append(n - 1 - block_size)
    was_training = model.training
    model.eval()
    total, count, scored_until = 0.0, 0, 1  # targets ids[1 : scored_until] are scored
    for first in range(0, len(starts), batch_size):
        chunk = starts[first : first + batch_size]
        x = torch.stack([ids[s : s + block_size] for s in chunk]).to(device)  # (B, T)
        y = torch.stack([ids[s + 1 : s + block_size + 1] for s in chunk]).to(device)  # (B, T)
        nll = F.cross_entropy(model(x).transpose(1, 2), y, reduction="none")  # (B, T)
        for row, s in enumerate(chunk):
            skip = max(scored_until, s + 1) - (s + 1)  # targets already scored by earlier windows
            total += nll[row, skip:].sum().item()
            count += block_size - skip
            scored_until = s + block_size + 1
    model.train(was_training)
    assert count == n - 1, "every token after the first is scored exactly once"
    return total / count
