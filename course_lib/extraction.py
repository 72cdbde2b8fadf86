"""Extractive subject lines: tag the body's words that the subject repeats, cut the best span.

Two thirds of the words of an AESLC subject line are words of its email's body (chapter 13,
section 2). So instead of writing the subject word by word, a model can point at it:

1. **Tag.** ``models.extractor.CopyTagger`` (chapter 08's bidirectional encoder with one logit
   per word) reads the body's first ``max_words`` words and gives each word a probability p of
   being one of the subject's words. Training labels come free with every email: a word is 1
   when its Porter stem is one of the subject's stems (``copy_labels``: ROUGE's own notion of
   the same word, ``rouge-score``'s tokenizer).
2. **Cut.** The subject is the contiguous span of at most ``max_span`` words whose sum of
   ``p - threshold`` is largest (``best_span``): a word joins the span only if it pays for its
   place, so the span grows over likely words and stops at unlikely ones. It is cut from the
   body as written, case and punctuation kept (``extract_subjects``).

This is deletion-based compression (Filippova et al. 2015: an LSTM keeps or drops each word)
held to one contiguous span, so that the output reads as a phrase. Zhang & Tetreault's (2019)
extractor picks whole sentences and an abstractor rewrites them. ``threshold`` and
``max_span`` are chosen on dev (``SPAN_CHOICES``).

Words are runs of letters and digits, the units ROUGE counts (``WORD``); the model reads them
lower-cased, with one vocabulary of the training bodies' words seen at least ``min_freq``
times (others are ``<unk>``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

import torch
import torch.nn.functional as F

from course_lib.text import PAD, UNK, Vocab

WORD = re.compile(r"[A-Za-z0-9]+")
MAX_WORDS = 160  # the body's first 160 words are read: the subject is mostly near the top
# (threshold, max_span) pairs chapter 13 and benchmarks/summarise_aeslc.py try on dev.
SPAN_CHOICES = tuple((threshold, max_span) for threshold in (0.05, 0.1, 0.15, 0.2, 0.3)
                     for max_span in (4, 6, 8, 12))


@lru_cache(maxsize=1)
def _rouge_tokenizer():
    from rouge_score.tokenizers import DefaultTokenizer

    return DefaultTokenizer(use_stemmer=True)


@lru_cache(maxsize=200_000)
def rouge_stem(word: str) -> str:
    """ROUGE's form of one word: lower-cased, Porter-stemmed when longer than 3 characters."""
    stems = _rouge_tokenizer().tokenize(word)
    return stems[0] if stems else ""


def body_words(body: str, max_words: int) -> list[re.Match]:
    """The first ``max_words`` words of ``body`` as ``re.Match`` objects (``.group()``, ``.start()``)."""
    return list(islice(WORD.finditer(body), max_words))


def copy_labels(words: Sequence[str], subject: str) -> list[int]:
    """1 for each word whose ROUGE stem is one of ``subject``'s stems, else 0."""
    stems = {rouge_stem(word) for word in WORD.findall(subject)}
    return [int(rouge_stem(word) in stems) for word in words]


@dataclass(frozen=True)
class ExtractionData:
    """Per split, one ``(word ids, labels)`` pair per email (bodies with no word get ``[<unk>]``
    and label 0, so that no email is dropped), and the word ``vocab``."""

    splits: dict[str, list[tuple[list[int], list[int]]]]
    vocab: Vocab

    def __getitem__(self, split: str) -> list[tuple[list[int], list[int]]]:
        return self.splits[split]


def _ids(words: Sequence[str], vocab: Vocab) -> list[int]:
    return vocab.encode([word.lower() for word in words]) or [vocab.unk_id]


def build_extraction_data(dataset, max_words: int = MAX_WORDS, min_freq: int = 2) -> ExtractionData:
    """``ExtractionData`` of every split of ``dataset`` (rows with "body" and "subject"), reading
    each body's first ``max_words`` words: the vocabulary comes from the training bodies only."""
    if max_words < 1 or min_freq < 1:
        raise ValueError(f"max_words and min_freq must be >= 1, got {max_words} and {min_freq}")
    words = {name: [[match.group() for match in body_words(body, max_words)] for body in dataset[name]["body"]]
             for name in dataset}
    vocab = Vocab.build([[word.lower() for word in body] for body in words["train"]], min_freq=min_freq,
                        specials=(PAD, UNK))
    splits = {name: [(_ids(body, vocab), copy_labels(body, subject) or [0])
                     for body, subject in zip(words[name], dataset[name]["subject"], strict=True)]
              for name in dataset}
    return ExtractionData(splits, vocab)


def copy_tagging_loss(model, batch) -> torch.Tensor:
    """Binary cross-entropy of the tagger's logits against the 0/1 labels (``batch.tgt``, padded
    like the words) over the real words only (``batch.src_mask``)."""
    logits = model(batch.src, batch.src_lengths)  # (B, S)
    return F.binary_cross_entropy_with_logits(logits[batch.src_mask], batch.tgt[batch.src_mask].float())


def train_copy_tagger(recipe, data: ExtractionData, minutes: float | None = None, steps: int | None = None,
                      plan: Sequence[tuple[int, int]] = (), device=None, log=print, validations: int = 10,
                      batch_size: int | None = None):
    """Train a ``CopyTagger`` of ``recipe`` (``recipes.CopyTaggerRecipe``) on ``data``:
    ``(model, history)``, budgeted like ``recipes.train_encoder_decoder`` (the recipe's
    ``minutes`` unless ``minutes`` or ``steps`` is given; ``plan`` replays a budgeted run);
    ``batch_size`` replaces the recipe's 32 emails (quick mode: fewer)."""
    from course_lib.data import make_loader
    from course_lib.device import get_device, seed_everything
    from course_lib.models.extractor import CopyTagger
    from course_lib.training import evaluate_loss, planned_config, train

    if plan and not steps:
        raise ValueError("a plan replays a budgeted run: give its steps too")
    minutes = recipe.minutes if minutes is None and steps is None else minutes
    pad_id = data.vocab.pad_id
    loader = make_loader(data["train"], batch_size or recipe.batch_size, pad_id=pad_id,
                         lengths=[len(ids) for ids, _ in data["train"]])
    val_loader = make_loader(data["validation"], 128, pad_id=pad_id, shuffle=False,
                             lengths=[len(ids) for ids, _ in data["validation"]])
    seed_everything(0)
    model = CopyTagger(len(data.vocab), pad_id=pad_id, **recipe.sizes).to(device or get_device())
    config = planned_config(model, copy_tagging_loss, loader, minutes=minutes if steps is None else None,
                            steps=steps, probe=16, evaluations=validations, plan=tuple(map(tuple, plan)),
                            progress=False, **recipe.optimisation.kwargs())
    log(f"{recipe.name}: {sum(p.numel() for p in model.parameters()):,} parameters; training "
        f"{config.max_steps} steps = {config.max_steps / len(loader):.1f} epochs"
        + (f" (first plan for {minutes:g} min)" if steps is None else ""))
    history = train(model, copy_tagging_loss, loader, config,
                    eval_fn=lambda m: {"val_loss": evaluate_loss(m, copy_tagging_loss, val_loader)})
    return model, history


@torch.no_grad()
def copy_probabilities(model, pairs, batch_size: int = 128) -> list[torch.Tensor]:
    """P(copied) of every word, one CPU tensor (S_i,) per ``(ids, labels)`` pair, in order."""
    from course_lib.data import make_loader

    model.eval()
    device = next(model.parameters()).device
    loader = make_loader(pairs, batch_size, pad_id=0, shuffle=False)  # padding: packed away, never read
    probabilities = []
    for batch in loader:
        batch = batch.to(device)
        p = torch.sigmoid(model(batch.src, batch.src_lengths).float()).cpu()  # (B, S)
        probabilities += [row[:length] for row, length in zip(p, batch.src_lengths.tolist(), strict=True)]
    return probabilities


def best_span(scores: torch.Tensor, max_span: int) -> tuple[int, int]:
    """``(start, end)`` of the contiguous span of 1 to ``max_span`` positions of ``scores`` (S,)
    with the largest sum; ties go to the shortest, then the earliest. With prefix sums
    ``c[i] = scores[:i].sum()``, the span ``[i, i + n)`` sums to ``c[i + n] - c[i]``: one
    subtraction per span, S x max_span in all."""
    if scores.dim() != 1 or scores.numel() == 0 or max_span < 1:
        raise ValueError(f"need a non-empty 1-D scores tensor and max_span >= 1, got shape "
                         f"{tuple(scores.shape)} and max_span={max_span}")
    prefix = torch.cat([scores.new_zeros(1, dtype=torch.float64), scores.double().cumsum(0)])  # (S + 1,)
    best, best_sum = (0, 1), float("-inf")
    for length in range(1, min(max_span, scores.numel()) + 1):
        sums = prefix[length:] - prefix[:-length]  # (S - length + 1,) the span sums by start
        start = int(sums.argmax())
        if float(sums[start]) > best_sum:
            best, best_sum = (start, start + length), float(sums[start])
    return best


def extract_subjects(model, bodies: Sequence[str], vocab: Vocab, threshold: float, max_span: int,
                     max_words: int = MAX_WORDS, probabilities: Sequence[torch.Tensor] | None = None) -> list[str]:
    """One subject per body: its best span (``best_span`` of ``p - threshold``) cut from the body
    as written, whitespace collapsed. ``probabilities`` (from ``copy_probabilities`` of the same
    bodies) skips the model, to try many thresholds on one pass."""
    if probabilities is None:
        pairs = [(_ids([match.group() for match in body_words(body, max_words)], vocab), [0]) for body in bodies]
        probabilities = copy_probabilities(model, pairs)
    if len(probabilities) != len(bodies):
        raise ValueError(f"{len(probabilities)} probability rows for {len(bodies)} bodies: "
                         "compute them from the same bodies")
    subjects = []
    for body, p in zip(bodies, probabilities, strict=True):
        words = body_words(body, max_words)
        if not words:
            subjects.append("")
            continue
        start, end = best_span(p[:len(words)] - threshold, max_span)
        subjects.append(" ".join(body[words[start].start():words[end - 1].end()].split()))
    return subjects
