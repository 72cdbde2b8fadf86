"""Chapter 14's leaderboard: every model of the course scored the same way, with its cost.

Characters (Tiny Shakespeare). The validation split is chapter 05's (the last 10% of the
text, 111,540 characters), so the leaderboard's validation figures sit beside the chapters'.
The **test split** is the last ``TEST_FRACTION`` of it (the last 11,154 characters): held out
from every model's training; but the chapters chose their recipes looking at whole-validation
figures, so it is a second look at the same text, not an untouched test set.

**One context rule** (``uniform_nats``): every character from the second on is scored once,
predicted from the characters before it in the same split, as many of them as the model can
use: all of them for a recurrent model (one stream, state carried), at least half a window
(64 for the chapter-09 GPT) for a Transformer, its receptive field for a CNN, order - 1 for
an n-gram. The chapters' own measures differ a little (chapter 05 reads 16 streams, each
starting with no context), so ``chapter_nats`` recomputes those too, to check that a loaded
checkpoint reproduces its chapter's figure exactly.

Cost: parameters, training time, and training FLOPs estimated by ``training_flops`` (the
6 N D rule; the capstone explains where it fails).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

TEST_FRACTION = 0.1


@dataclass(frozen=True)
class CharSplits:
    """Tiny Shakespeare as ids and text: train, the whole validation split, and its tail
    (the test split); ``vocab`` the 65 characters."""

    train_ids: torch.Tensor
    val_ids: torch.Tensor
    test_ids: torch.Tensor
    vocab: object
    train_text: str
    val_text: str
    test_text: str


def char_splits(val_chars: int | None = None) -> CharSplits:
    """Chapter 05's split of Tiny Shakespeare, with the test split cut from the validation
    tail. ``val_chars`` keeps only the last that many validation characters (quick mode)."""
    from course_lib.lm import char_stream

    train_ids, val_ids, vocab = char_stream()
    if val_chars is not None:
        val_ids = val_ids[-val_chars:]
    test_ids = val_ids[len(val_ids) - round(TEST_FRACTION * len(val_ids)):]
    def text(ids):
        return "".join(vocab.decode(ids.tolist()))
    return CharSplits(train_ids, val_ids, test_ids, vocab, text(train_ids), text(val_ids), text(test_ids))


@torch.no_grad()
def _recurrent_nats(model, ids: torch.Tensor, chunk: int = 2048) -> tuple[float, int]:
    """One stream, state carried: every target ids[1:] with all the text before it."""
    device = next(model.parameters()).device
    total, state = 0.0, None
    for start in range(0, len(ids) - 1, chunk):
        x = ids[start : start + chunk].to(device)[None]  # (1, T)
        y = ids[start + 1 : start + chunk + 1].to(device)
        logits, state = model(x[:, : len(y)], state)  # (1, T, V)
        total += F.cross_entropy(logits[0].float(), y, reduction="sum").item()
    return total, len(ids) - 1


@torch.no_grad()
def _windowed_nats(model, ids: torch.Tensor, context: int, step: int, batch: int = 32) -> tuple[float, int]:
    """Targets ids[1:] in chunks of ``step``; chunk k scores targets k*step+1 .. (k+1)*step
    from an input that starts ``context`` tokens before them (or at the start of ``ids``), so
    every target is scored once with at least ``context`` tokens before it, or all there are.
    With ``batch=1`` this is chapter 04's ``validation_nats`` operation for operation."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    chunks = list(range(0, len(ids) - 1, step))
    for first in range(0, len(chunks), batch):
        pieces = []
        for start in chunks[first : first + batch]:
            low = max(0, start - context)
            pieces.append((start - low, ids[low : start + step + 1]))  # (context kept, tokens)
        longest = max(len(piece) for _, piece in pieces) - 1
        x = torch.zeros(len(pieces), longest, dtype=torch.long)
        for row, (_, piece) in enumerate(pieces):
            x[row, : len(piece) - 1] = piece[:-1]
        logits = model(x.to(device)).float()  # (B, T, V)
        for row, (keep, piece) in enumerate(pieces):
            targets = piece[1 + keep :].to(device)
            total += F.cross_entropy(logits[row, keep : len(piece) - 1], targets, reduction="sum").item()
            count += len(targets)
    return total, count


def uniform_nats(model, ids: torch.Tensor) -> float:
    """Nats per character of ``ids[1:]`` under the leaderboard's one context rule (see the
    module docstring); ``model`` is a neural character LM of ``course_lib.recipes``."""
    was_training = model.training
    model.eval()
    try:
        if hasattr(model, "rnn"):  # RNNLanguageModel
            total, count = _recurrent_nats(model, ids)
        elif hasattr(model, "receptive_field"):  # CausalConvLM: no position limit
            total, count = _windowed_nats(model, ids, model.receptive_field - 1, 2048, batch=1)
        else:  # a Transformer: windows of block_size, each scoring its second half
            total, count = _windowed_nats(model, ids, model.block_size // 2, model.block_size // 2)
    finally:
        model.train(was_training)
    if count != len(ids) - 1:
        raise AssertionError(f"scored {count} targets, expected {len(ids) - 1}")
    return total / count


def ngram_nats(ngram, text: str) -> float:
    """Nats per character of ``text[1:]`` under a fitted one-stream ``NgramLM`` (the first
    character, which no other model is asked to predict, is left out)."""
    return float(-ngram.token_logprobs([text])[1:].mean())


def chapter_nats(model, ids: torch.Tensor) -> float:
    """The chapters' own measure: 16 carried-state streams (chapters 05-06), windows sliding
    by half (chapter 09), or the full receptive field (chapter 04: the same as ours)."""
    from course_lib.metrics import stream_nats, window_nats

    if hasattr(model, "rnn"):
        return stream_nats(model, ids)
    if hasattr(model, "receptive_field"):
        return uniform_nats(model, ids)
    return window_nats(model, ids, model.block_size)


def parameter_count(model: torch.nn.Module, embeddings: bool = True) -> int:
    """Parameters (each shared tensor once); ``embeddings=False`` leaves out ``nn.Embedding``
    tables that are not also an output layer (a lookup costs no multiplications)."""
    skip = set()
    if not embeddings:
        outputs = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)}
        skip = {id(m.weight) for m in model.modules()
                if isinstance(m, torch.nn.Embedding) and id(m.weight) not in outputs}
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)


def training_flops(model: torch.nn.Module, tokens: float) -> float:
    """About 6 N D: each of the N multiplied weights costs 2 FLOPs per token forward and 4
    backward, over D training tokens. N leaves out embedding lookups. An estimate: it ignores
    attention's own T^2 work, and for an encoder-decoder it counts every token through
    every weight (the encoder sees only source tokens, the decoder only target ones)."""
    return 6.0 * parameter_count(model, embeddings=False) * tokens


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both costs (lower is better in both
    coordinates, e.g. (training FLOPs, nats/char)), sorted by the first coordinate. A point
    equal to another in both is kept once (the first)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1], i))
    frontier, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            frontier.append(i)
            best = points[i][1]
    return frontier


def generation_speed(model, prompt: torch.Tensor, new_tokens: int = 200) -> float:
    """Tokens per second sampling ``new_tokens`` after ``prompt`` (T,), batch 1, as
    ``decoding.generate`` does for every model from the n-gram to the GPT."""
    from course_lib.decoding import generate

    start = time.perf_counter()
    generate(model, prompt[None], new_tokens, seed=0)
    return new_tokens / (time.perf_counter() - start)


@dataclass(frozen=True)
class Row:
    """One model on the leaderboard: quality on both splits (nats/char, or BLEU/chrF for
    translation), its cost, and where the model came from (``source``)."""

    name: str
    family: str
    quality: dict
    parameters: int
    train_seconds: float
    flops: float
    speed: float
    source: str


def char_lm_row(name: str, splits: CharSplits, device, quick: bool = False, minutes: float | None = None,
                checkpoints: bool = True) -> tuple[Row, torch.nn.Module, dict]:
    """The row of character recipe ``name``: its chapter's checkpoint when there is one (full
    mode, ``checkpoints=True``, no ``minutes``), else trained here from the registry for
    ``minutes`` (default: the recipe's own budget or steps). Also returns the model and a
    check: the chapter's figure stored with the checkpoint against the same measure recomputed
    here (``{"chapter": ..., "recomputed": ...}``; empty when trained here)."""
    from course_lib.recipes import char_lm_recipe, load_trained, make_char_lm, train_char_lm

    recipe = char_lm_recipe(name, quick)
    model = make_char_lm(recipe, len(splits.vocab)).to(device)
    saved = load_trained(recipe, model) if checkpoints and not quick and minutes is None else None
    check = {}
    if saved is not None:
        seconds, steps = saved.get("train_seconds", float("nan")), saved.get("steps", 0)
        source = f"chapter {recipe.chapter}'s checkpoint"
        check = {"chapter": saved["val_nats_per_char"], "recomputed": chapter_nats(model, splits.val_ids)}
    else:
        model, history = train_char_lm(recipe, splits.train_ids, len(splits.vocab), device, minutes=minutes)
        seconds, steps = history.seconds, history.steps[-1]
        budget = f"{minutes:g} min" if minutes is not None else (
            f"{recipe.minutes:g} min" if recipe.minutes else f"{recipe.steps} steps")
        source = f"trained here ({budget})"
    tokens = steps * recipe.batch_size * recipe.seq_len
    prompt = splits.val_ids[:8].to(device)
    row = Row(f"{describe(recipe)} (ch {recipe.chapter})", recipe.model,
              {"validation": uniform_nats(model, splits.val_ids), "test": uniform_nats(model, splits.test_ids)},
              parameter_count(model), seconds, training_flops(model, tokens),
              generation_speed(model, prompt), source)
    return row, model, check


def ngram_row(smoothing: str, order: int, splits: CharSplits, train_chars: int | None = None):
    """``(row, model)`` for an n-gram of ``order`` with ``smoothing`` (``NgramLM``: "mle",
    "add_k" with k = 0.01, "kneser_ney", "modified_kneser_ney") counted on the training text
    (its first ``train_chars`` characters if given). It has no training FLOPs: counting is not
    multiplying; its "parameters" are its stored n-gram counts."""
    from course_lib.ngram import NgramLM

    start = time.perf_counter()
    options = {"k": 0.01} if smoothing == "add_k" else {}
    ngram = NgramLM(order, smoothing, pad=False, unk=None, **options).fit([splits.train_text[:train_chars]])
    seconds = time.perf_counter() - start
    scores = {"validation": ngram_nats(ngram, splits.val_text), "test": ngram_nats(ngram, splits.test_text)}
    stored = sum(len(table.keys) for table in ngram.counts_[1:])
    generation_start = time.perf_counter()
    ngram.generate(100, context=list(splits.val_text[:8]), seed=0)  # decoding.generate inside
    speed = 100 / (time.perf_counter() - generation_start)
    label = {"mle": "MLE", "add_k": "add-0.01", "kneser_ney": "Kneser-Ney",
             "modified_kneser_ney": "modified Kneser-Ney"}[smoothing]
    row = Row(f"{label}, order {order} (ch 01)", "n-gram", scores, stored, seconds, 0.0, speed,
              f"counted here ({len(splits.train_text[:train_chars]):,} characters)")
    return row, ngram


def translation_row(name: str, data, test_pairs, references: Sequence[str], device, quick: bool = False,
                    minutes: float | None = None, checkpoints: bool = True,
                    beam_size: int = 5, length_penalty: float = 1.0) -> tuple[Row, torch.nn.Module, dict]:
    """The row of Multi30k recipe ``name`` (``course_lib.recipes``): its chapter's checkpoint
    when there is one (as ``char_lm_row``), else trained here for ``minutes``. Test BLEU and
    chrF (sacrebleu, lower-cased) of greedy decoding and of a beam, as chapters 07-09 decode
    (at most 60 words); speed in sentences per second, greedy, batches of 100. The check
    compares the chapter's greedy BLEU with the same BLEU recomputed here."""
    from course_lib.metrics import corpus_bleu, corpus_chrf
    from course_lib.recipes import (
        load_trained,
        make_translation_model,
        train_multi30k,
        translation_recipe,
    )
    from course_lib.translation import translate

    recipe = translation_recipe(name, quick)
    pad_id = data.tgt_vocab.pad_id
    model = make_translation_model(recipe, len(data.src_vocab), len(data.tgt_vocab), pad_id).to(device)
    saved = load_trained(recipe, model) if checkpoints and not quick and minutes is None else None
    if saved is not None:
        seconds, steps = saved.get("train_seconds", float("nan")), saved.get("steps", 0)
        source = f"chapter {recipe.chapter}'s checkpoint"
    else:
        model, history, _ = train_multi30k(name, minutes, device=device, log=lambda line: None,
                                           quick=quick, data=data, validations=1 if quick else 10)
        seconds, steps = history.seconds, history.steps[-1]
        source = f"trained here ({minutes if minutes is not None else recipe.minutes:g} min)"
    model.eval()
    start = time.perf_counter()
    greedy = translate(model, test_pairs, data.src_vocab, data.tgt_vocab, max_len=60)
    speed = len(test_pairs) / (time.perf_counter() - start)
    beam = translate(model, test_pairs, data.src_vocab, data.tgt_vocab, beam_size, length_penalty, max_len=60)
    quality = {"BLEU greedy": corpus_bleu(greedy, references), f"BLEU beam {beam_size}": corpus_bleu(beam, references),
               "chrF greedy": corpus_chrf(greedy, references), f"chrF beam {beam_size}": corpus_chrf(beam, references)}
    check = {"chapter": saved["bleu_greedy"], "recomputed": quality["BLEU greedy"]} if saved else {}
    pair_tokens = sum(len(s) + len(t) for s, t in data["train"]) / len(data["train"])
    row = Row(f"{describe(recipe)} (ch {recipe.chapter})", recipe.model, quality, parameter_count(model),
              seconds, training_flops(model, steps * recipe.batch_size * pair_tokens), speed, source)
    return row, model, check


def describe(recipe) -> str:
    """A short name for a recipe's model from its sizes ("LSTM, 2 x 256")."""
    sizes = recipe.sizes
    if recipe.model == "cnn":
        return f"causal CNN, {sizes['num_layers']} layers x {sizes['hidden_size']}"
    if recipe.model in ("rnn", "lstm", "gru"):
        cell = "tanh RNN" if recipe.model == "rnn" else recipe.model.upper()
        return f"{cell}, {sizes.get('num_layers', 1)} x {sizes['hidden_size']}"
    if recipe.model == "gpt":
        return f"GPT, {sizes['num_layers']} x {sizes['embed_dim']}"
    if recipe.model == "transformer":
        return f"Transformer, {sizes['num_layers']} + {sizes['num_layers']} x {sizes['embed_dim']}"
    return {"seq2seq": "GRU encoder-decoder", "attention": "GRU + attention"}[recipe.model] + f", {sizes['hidden_size']}"


def format_table(rows: Sequence[Row]) -> str:
    """The rows as a fixed-width text table: every quality figure, then the costs."""
    lines = []
    for row in rows:
        quality = "  ".join(f"{key} {value:.3f}" for key, value in row.quality.items())
        flops = f"{row.flops:.2e}" if row.flops else "0 (counts)"
        lines.append(f"{row.name:<42} {quality:<44} {row.parameters:>10,} {row.train_seconds:>8.0f} s "
                     f"{flops:>11} {row.speed:>9,.0f}/s  {row.source}")
    header = (f"{'model':<42} {'quality':<44} {'parameters':>10} {'training':>10} "
              f"{'FLOPs':>11} {'generation':>11}  source")
    return "\n".join([header, *lines])


def record_rows(rows: Sequence[Row], data: str, chapter: str, path=None) -> None:
    """Append every quality figure of ``rows`` to the results record (``course_lib.results``);
    nats/char rows go in as split "validation" / "test", translation rows as split
    "test_2016_flickr" with the decoding in the metric's name."""
    from course_lib import results

    for row in rows:
        for key, value in row.quality.items():
            split, metric = (key, "nats/char") if key in ("validation", "test") else ("test_2016_flickr", key)
            results.record(row.name.rsplit(" (ch ", 1)[0], data, split, metric, value, chapter=chapter,
                           parameters=row.parameters, train_seconds=row.train_seconds,
                           note=row.source, settings={"flops": row.flops, "speed": row.speed}, path=path)
