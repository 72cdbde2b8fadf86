"""Synthetic sequence-to-sequence tasks that need no download: copy, reverse, sort.

Each example is a random string of symbols (digits, then letters: ``0 1 ... 9 a b ...``) and
its answer: the same string (copy), backwards (reverse) or in symbol order (sort). They make
an encoder-decoder's limits visible: a fixed-size context vector fails on long inputs,
attention does not.

Examples are pairs of id lists, in the convention ``course_lib.translation`` uses too and
``models.seq2seq.seq2seq_loss`` expects: ``src = x <eos>``, ``tgt = <bos> y <eos>``. Ids come
from ``task_vocab`` (specials first, as in every ``Vocab``), so ``make_loader(pairs,
batch_size, pad_id=vocab.pad_id)`` gives ``Batch`` objects directly.

And one memory test for sequence classifiers, delayed recall (chapters 06 and 11): a symbol,
``delay`` noise tokens, a query; the answer is the first symbol. ``recall_batch`` draws it,
``RecallRNN`` is chapter 06's recurrent model for it and ``recall_accuracy`` trains any model
on it and scores fresh sequences. Chapter 06 writes the three inline and checks them against
these; chapter 11 imports them to race a Transformer against them.
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.device import seed_everything
from course_lib.models.rnn import fused_rnn_class
from course_lib.text import Vocab

TASKS = ("copy", "reverse", "sort")
SYMBOLS = string.digits + string.ascii_lowercase  # at most 36 symbols


def task_vocab(vocab_size: int = 10) -> Vocab:
    """The specials (<pad>, <unk>, <bos>, <eos>) and the first ``vocab_size`` symbols."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or not 2 <= vocab_size <= len(SYMBOLS):
        raise ValueError(f"vocab_size must be an int in [2, {len(SYMBOLS)}], got {vocab_size!r}")
    return Vocab(list(SYMBOLS[:vocab_size]))


def task_answer(task: str, symbols: Sequence[int]) -> list[int]:
    """The answer to ``task`` for a list of symbol ids (no specials)."""
    if task == "copy":
        return list(symbols)
    if task == "reverse":
        return list(symbols)[::-1]
    if task == "sort":
        return sorted(symbols)  # symbol ids increase in symbol order
    raise ValueError(f"Unknown task {task!r}: use one of {', '.join(TASKS)}")


def make_task(
    task: str,
    num_examples: int,
    *,
    min_len: int = 1,
    max_len: int = 10,
    vocab_size: int = 10,
    seed: int = 0,
) -> list[tuple[list[int], list[int]]]:
    """``num_examples`` pairs ``(x <eos>, <bos> y <eos>)`` of ids in ``task_vocab(vocab_size)``.

    Lengths are uniform in [``min_len``, ``max_len``], symbols uniform (with repetition),
    drawn from ``random.Random(seed)``: the same arguments always give the same pairs. Use a
    different seed for test data (short inputs may then also occur in training: there are
    only ``vocab_size ** length`` of each length).
    """
    task_answer(task, [])  # reject an unknown task before drawing anything
    vocab = task_vocab(vocab_size)
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    if num_examples < 1:
        raise ValueError(f"num_examples must be >= 1, got {num_examples}")
    rng = random.Random(seed)
    symbol_ids = [vocab.stoi[s] for s in SYMBOLS[:vocab_size]]
    pairs = []
    for _ in range(num_examples):
        symbols = [rng.choice(symbol_ids) for _ in range(rng.randint(min_len, max_len))]
        answer = task_answer(task, symbols)
        pairs.append((symbols + [vocab.eos_id], [vocab.bos_id] + answer + [vocab.eos_id]))
    return pairs


def sequence_accuracy(predictions: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]) -> float:
    """Fraction of predictions equal to their target as a whole (exact match).

    Compare like with like: e.g. ``decoding.tokens_until_eos(output, eos_id)`` against the
    answers without <bos>/<eos>.
    """
    _check_pairs(predictions, targets)
    return sum(list(p) == list(t) for p, t in zip(predictions, targets, strict=True)) / len(targets)


def accuracy_by_length(
    predictions: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], lengths: Sequence[int]
) -> dict[int, float]:
    """Exact-match accuracy for each length in ``lengths`` (one per example, e.g. the input
    length), as ``{length: accuracy}`` in increasing length order: the bottleneck plot."""
    _check_pairs(predictions, targets)
    if len(lengths) != len(targets):
        raise ValueError(f"{len(lengths)} lengths for {len(targets)} examples: give one each")
    groups: dict[int, list[bool]] = defaultdict(list)
    for p, t, n in zip(predictions, targets, lengths, strict=True):
        groups[int(n)].append(list(p) == list(t))
    return {n: sum(hits) / len(hits) for n, hits in sorted(groups.items())}


def _check_pairs(predictions, targets) -> None:
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    if len(targets) == 0:
        raise ValueError("no examples to score: predictions and targets are empty")


# --- Delayed recall: remember the first token across `delay` noise tokens ----------------------
RECALL_SYMBOLS = 8  # ids 0-7: the symbol to remember (chance is 1/8)
RECALL_NOISE = 8  # ids 8-15: noise
RECALL_QUERY = RECALL_SYMBOLS + RECALL_NOISE  # id 16, the query marker: 17 ids in all


def recall_batch(delay: int, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, delay + 2): a symbol, ``delay`` noise tokens, the query; y (B,): the symbol."""
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise ValueError(f"delay must be an int >= 0 (noise tokens between symbol and query), got {delay!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    symbol = torch.randint(RECALL_SYMBOLS, (batch_size,), generator=generator)  # (B,)
    noise = torch.randint(RECALL_SYMBOLS, RECALL_QUERY, (batch_size, delay), generator=generator)  # (B, delay)
    query = torch.full((batch_size, 1), RECALL_QUERY)
    return torch.cat([symbol[:, None], noise, query], dim=1), symbol


class RecallRNN(nn.Module):
    """Embedding (16) -> one recurrent layer -> a linear head on the last output. Gated cells
    start with their memory gate open: ``gate_bias`` is added to the LSTM's forget-gate bias
    and to the GRU's update-gate bias."""

    def __init__(self, cell: str, hidden_size: int = 64, gate_bias: float = 5.0):
        super().__init__()
        self.embedding = nn.Embedding(RECALL_QUERY + 1, 16)
        self.rnn = fused_rnn_class(cell)(16, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, RECALL_SYMBOLS)
        if cell in ("lstm", "gru"):  # LSTM: f of (i, f, g, o); GRU: z of (r, z, n)
            with torch.no_grad():
                self.rnn.bias_hh_l0[hidden_size : 2 * hidden_size] += gate_bias

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, RECALL_SYMBOLS)
        outputs, _ = self.rnn(self.embedding(tokens))  # (B, T, H)
        return self.head(outputs[:, -1])


def recall_accuracy(make_model: Callable[[], nn.Module], delay: int, steps: int, batch_size: int = 64,
                    device: torch.device | str = "cpu") -> float:
    """Build ``make_model()`` after ``seed_everything(0)``, train it for ``steps`` Adam steps
    (lr 3e-3, gradients clipped to norm 1) on fresh batches from generator seed 1, and return
    its accuracy on 1,000 new sequences (seed 99)."""
    seed_everything(0)
    model = make_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = recall_batch(delay, batch_size, data)
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    x, y = recall_batch(delay, 1000, torch.Generator().manual_seed(99))  # fresh test sequences
    with torch.no_grad():
        return (model(x.to(device)).argmax(1).cpu() == y).float().mean().item()
