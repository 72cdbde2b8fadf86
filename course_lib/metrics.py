"""Evaluation metrics: nats per token, BLEU and chrF (through sacrebleu), perplexity,
distinct-n, accuracy.

Nats per token of a language model over a validation stream, the course's one measure of
every character model: ``stream_nats`` for recurrent models (contiguous streams, the state
carried, chapter 05) and ``window_nats`` for models that see at most ``block_size`` tokens
(sliding windows, chapter 09; also right for convolutional models with a receptive field
smaller than ``block_size // 2``).

BLEU and chrF are computed by sacrebleu on detokenized text, one reference per hypothesis,
so the numbers are comparable with published ones; ``metric_signature`` gives sacrebleu's
signature string (its settings and version) to print next to them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

from course_lib.lm import contiguous_batches

METRICS = ("bleu", "chrf")


def _check_corpus(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        if isinstance(texts, str):
            raise TypeError(f"{name} must be a list of strings (one per sentence), not one string")
        if len(texts) == 0:
            raise ValueError(f"{name} is empty: BLEU/chrF need at least one sentence")
        bad = next((t for t in texts if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(
                f"{name} must hold detokenized strings, found {type(bad).__name__}: join tokens "
                "first (course_lib.translation.detokenize)"
            )
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references: "
            "give exactly one reference per hypothesis, in the same order"
        )


def _metric(name: str, lowercase: bool):
    from sacrebleu.metrics import BLEU, CHRF

    if name == "bleu":
        return BLEU(lowercase=lowercase)
    if name == "chrf":
        return CHRF(lowercase=lowercase)
    raise ValueError(f"Unknown metric {name!r}: use one of {', '.join(METRICS)}")


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], lowercase: bool = True) -> float:
    """Corpus BLEU (0-100) by sacrebleu with its default 13a tokenizer, one reference each."""
    _check_corpus(hypotheses, references)
    return float(_metric("bleu", lowercase).corpus_score(list(hypotheses), [list(references)]).score)


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str], lowercase: bool = True) -> float:
    """Corpus chrF (0-100, character n-grams up to 6, beta 2) by sacrebleu, one reference each."""
    _check_corpus(hypotheses, references)
    return float(_metric("chrf", lowercase).corpus_score(list(hypotheses), [list(references)]).score)


def metric_signature(metric: str = "bleu", lowercase: bool = True) -> str:
    """sacrebleu's signature for ``corpus_bleu``/``corpus_chrf`` with these settings, e.g.
    ``nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:2.6.0``."""
    scorer = _metric(metric, lowercase)
    scorer.corpus_score(["a"], [["a"]])  # sacrebleu fills in nrefs when it has scored
    return str(scorer.get_signature())


def perplexity(mean_nll: float | torch.Tensor) -> float:
    """exp(mean negative log-likelihood per token, in nats); ``inf`` when that overflows."""
    value = float(mean_nll)
    if math.isnan(value) or value < 0:
        raise ValueError(
            f"mean_nll must be a mean negative log-likelihood >= 0 (nats per token), got {value}"
        )
    return math.exp(value) if value < 709 else math.inf


def distinct_n(samples: Sequence[Sequence], n: int) -> float:
    """Distinct-n (Li et al. 2016): distinct n-grams / all n-grams, over all samples together.

    ``samples`` are token sequences (lists of words, characters or ids); n-grams never cross
    from one sample to the next.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if isinstance(samples, str) or len(samples) == 0:
        raise ValueError("samples must be a non-empty list of token sequences")
    if any(isinstance(s, str) for s in samples):
        raise TypeError(
            "each sample must be a sequence of tokens, not a string: pass list(text) for "
            "characters or word_tokenize(text) for words"
        )
    ngrams = [tuple(s[i : i + n]) for s in samples for i in range(len(s) - n + 1)]
    if not ngrams:
        raise ValueError(f"no sample has {n} tokens, so there are no {n}-grams to count")
    return len(set(ngrams)) / len(ngrams)


def accuracy(predictions, targets, ignore_index: int | None = None) -> float:
    """Fraction of positions where ``predictions`` equal ``targets`` (tensors or sequences of
    the same shape); positions where the target is ``ignore_index`` (padding) are left out."""
    predictions, targets = torch.as_tensor(predictions), torch.as_tensor(targets)
    if predictions.shape != targets.shape:
        raise ValueError(
            f"predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} must have "
            "the same shape (take logits.argmax(-1) first)"
        )
    keep = torch.ones_like(targets, dtype=torch.bool) if ignore_index is None else targets != ignore_index
    total = int(keep.sum())
    if total == 0:
        raise ValueError("no positions to score: the inputs are empty or all ignore_index")
    return int(((predictions == targets) & keep).sum()) / total


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


@torch.no_grad()
def scored_nats(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256,
                ignore_index: int = -100) -> float:
    """Mean negative log-likelihood (nats) per scored target of rows ``x`` (N, T) -> ``y`` (N, T).

    Targets equal to ``ignore_index`` are not scored (padding, or a prompt that is context only,
    as in ``course_lib.dialogue``); every scored target counts once, whichever row it is in.
    The model's training mode is restored afterwards.
    """
    if x.shape != y.shape or x.dim() != 2:
        raise ValueError(f"x and y must be (N, T) of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    count = int((y != ignore_index).sum())
    if count == 0:
        raise ValueError(f"every target is ignore_index={ignore_index}: nothing to score")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size].to(device))  # (B, T, V)
        targets = y[start : start + batch_size].to(device)  # (B, T)
        total += F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(),
                                 ignore_index=ignore_index, reduction="sum").item()
    model.train(was_training)
    return total / count
