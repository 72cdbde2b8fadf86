"""Summarisation: email subject lines on AESLC (Zhang & Tetreault 2019), baselines and ROUGE.

A subject line is a very short abstractive summary of an email: about 4 words from about
75 (median). The corpus is read from the catalogue's verified copy (``corpora.fetch("aeslc")``,
one repository archive, see ``course_lib.corpora.archives``); each file is one email::

    <body lines>
    <blank line>
    @subject
    <original subject>
    [<blank line> @ann0 <subject> <blank line> @ann1 <subject> <blank line> @ann2 <subject>]

Dev and test emails carry the three human-written subjects (``@ann0``-``@ann2``).

Models read and write lower-cased text with whitespace collapsed (ROUGE lower-cases anyway),
in one byte-level BPE vocabulary shared by bodies and subjects (``text.train_bpe``), with the
body cut to its first ``max_source_len`` subwords (64 by default). ROUGE-1/2/L F1 come from Google's
``rouge-score`` (the implementation PEGASUS reports with), Porter stemming on, x 100.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from course_lib.recipes import AESLC_RECIPES, train_encoder_decoder
from course_lib.text import Vocab, bpe_tokens, train_bpe
from course_lib.translation import TranslationData, translate

if TYPE_CHECKING:
    from datasets import DatasetDict

AESLC_SPLITS = {"train": ("train", 14_436), "validation": ("dev", 1_960), "test": ("test", 1_906)}
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
# The decodings chapter 13 and benchmarks/summarise_aeslc.py try on dev, (beam size, GNMT length
# penalty alpha, minimum output length in subwords): greedy, beam 4 with alpha 0, 1, 2, and alpha 1
# with a floor of 4 or 6 subwords (the models' subjects come out shorter than the references).
DECODINGS = ((1, 0.0, 0), (4, 0.0, 0), (4, 1.0, 0), (4, 2.0, 0), (4, 1.0, 4), (4, 1.0, 6))
DEV_EVERY = 3  # every third dev email (654) chooses the decoding: beam search is slow on a CPU
_SUBJECT_MARK = "\n\n@subject\n"
_ANNOTATION_MARK = re.compile(r"\n\n@ann(\d)\n")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def parse_aeslc_email(text: str) -> dict:
    """One AESLC file -> {"body", "subject", "annotations"} (annotations: [] or three)."""
    if text.count(_SUBJECT_MARK) != 1:
        raise ValueError("an AESLC email has exactly one '\\n\\n@subject\\n' line after its body; "
                         f"found {text.count(_SUBJECT_MARK)} in {text[:60]!r}...")
    body, rest = text.split(_SUBJECT_MARK)
    parts = _ANNOTATION_MARK.split(rest)  # [subject, "0", ann0, "1", ann1, "2", ann2]
    numbers = parts[1::2]
    if numbers not in ([], ["0", "1", "2"]):
        raise ValueError(f"expected no annotations or @ann0, @ann1, @ann2 in order; found {numbers}")
    return {"body": body.strip(), "subject": parts[0].strip(),
            "annotations": [part.strip() for part in parts[2::2]]}


def read_aeslc_split(root: Path, folder: str) -> list[dict]:
    """Every email of ``root/enron_subject_line/<folder>``, by file name, with its "file"."""
    rows = []
    for local in sorted((root / "enron_subject_line" / folder).glob("*.subject")):
        row = parse_aeslc_email(local.read_text(encoding="utf-8"))
        rows.append({"file": local.name, **row})
    return rows


def load_aeslc() -> DatasetDict:
    """Splits ``train``/``validation``/``test`` (the corpus's train/dev/test) of {"file",
    "body", "subject", "annotations"}: 14,436 / 1,960 / 1,906 emails, three annotations each
    in validation and test, none in train. Raises ``CorpusError`` on a wrong count."""
    from datasets import Dataset, DatasetDict

    from course_lib.corpora import CorpusError, fetch

    [root] = fetch("aeslc", log=lambda message: None)
    splits = {}
    for split, (folder, expected) in AESLC_SPLITS.items():
        rows = read_aeslc_split(root, folder)
        annotated = {len(row["annotations"]) for row in rows}
        if len(rows) != expected or annotated != ({0} if split == "train" else {3}):
            raise CorpusError(f"AESLC {folder}: {len(rows):,} emails with {annotated} annotations; "
                              f"expected {expected:,} with {0 if split == 'train' else 3}.")
        splits[split] = Dataset.from_list(rows)
    return DatasetDict(splits)


# --- Baselines ------------------------------------------------------------------------------

def first_words(body: str, k: int) -> str:
    """The first ``k`` whitespace-separated words of the body (the "lead" baseline)."""
    return " ".join(body.split()[:k])


def first_sentence(body: str) -> str:
    """The body up to and including its first ``.``, ``!`` or ``?`` followed by a space or the
    end (the whole body if it has none), whitespace collapsed."""
    text = " ".join(body.split())
    end = _SENTENCE_END.search(text)
    return text[: end.end()] if end else text


def most_frequent(subjects: Sequence[str]) -> str:
    """The most common subject (lower-cased, whitespace collapsed); ties: first seen."""
    return Counter(normalise(subject) for subject in subjects).most_common(1)[0][0]


# --- ROUGE ------------------------------------------------------------------------------------

def rouge_f1(predictions: Sequence[str], references: Sequence[Sequence[str]],
             combine: Callable[[list[float]], float] = max) -> dict[str, float]:
    """Mean ROUGE-1/2/L F1 x 100 over emails; ``references[i]`` lists email i's references and
    ``combine`` (``max`` or ``statistics.mean``) makes one score of its per-reference F1s."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(references) or not predictions:
        raise ValueError(f"need one list of references per prediction: {len(predictions)} "
                         f"predictions, {len(references)} reference lists")
    if isinstance(references[0], str):
        raise TypeError("references[i] must be a list of strings: wrap single references, "
                        "[[subject] for subject in subjects]")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, refs in zip(predictions, references, strict=True):
        scores = [scorer.score(reference, prediction) for reference in refs]
        for kind in ROUGE_TYPES:
            totals[kind] += combine([score[kind].fmeasure for score in scores])
    return {kind: 100 * total / len(predictions) for kind, total in totals.items()}


def rouge_report(predictions: Sequence[str], split) -> dict[str, dict[str, float]]:
    """ROUGE against the original subject and, where ``split`` has them, against the three
    annotations (mean and max over them): {"original": {...}, "annotations mean": ...}."""
    report = {"original": rouge_f1(predictions, [[subject] for subject in split["subject"]])}
    if split["annotations"] and split["annotations"][0]:
        report["annotations mean"] = rouge_f1(predictions, split["annotations"], statistics.mean)
        report["annotations max"] = rouge_f1(predictions, split["annotations"], max)
    return report


# --- Data for the encoder-decoders ----------------------------------------------------------

def normalise(text: str) -> str:
    """Lower-cased, whitespace runs collapsed to one space."""
    return " ".join(text.lower().split())


def build_summarisation_data(dataset, vocab_size: int = 4000, max_source_len: int = 64,
                             max_target_len: int = 24):
    """``(TranslationData, tokenizer)``: id pairs ``(body <eos>, <bos> subject <eos>)`` per
    split with one BPE vocabulary (trained on the training bodies and subjects) as both
    ``src_vocab`` and ``tgt_vocab``; bodies cut to ``max_source_len`` subwords, subjects to
    ``max_target_len``. Every email is kept."""
    train = dataset["train"]
    tokenizer = train_bpe([normalise(text) for text in list(train["body"]) + list(train["subject"])],
                          vocab_size)
    vocab = Vocab(bpe_tokens(tokenizer))
    splits = {}
    for name in dataset:
        bodies = tokenizer.encode_batch([normalise(body) for body in dataset[name]["body"]])
        subjects = tokenizer.encode_batch([normalise(s) for s in dataset[name]["subject"]])
        splits[name] = [(body.ids[:max_source_len] + [vocab.eos_id],
                         [vocab.bos_id] + subject.ids[:max_target_len] + [vocab.eos_id])
                        for body, subject in zip(bodies, subjects, strict=True)]
    return TranslationData(splits, vocab, vocab, "body", "subject"), tokenizer


def train_aeslc(name: str, data: TranslationData, minutes: float = 30.0, steps: int | None = None,
                plan: Sequence[tuple[int, int]] = (), device=None, log=print, batch_size: int | None = None):
    """Train ``recipes.AESLC_RECIPES[name]`` on ``data`` (``build_summarisation_data``):
    ``(model, history)``, by ``recipes.train_encoder_decoder`` (its arguments); ``batch_size``
    replaces the recipe's 32 emails (quick mode: fewer)."""
    if name not in AESLC_RECIPES:
        raise ValueError(f"unknown recipe {name!r}: use one of {', '.join(AESLC_RECIPES)}")
    recipe = AESLC_RECIPES[name]
    if batch_size is not None:
        recipe = replace(recipe, batch_size=batch_size)
    return train_encoder_decoder(recipe, data, minutes, steps, plan, device, log)


def summarise(model, pairs, tokenizer, vocab: Vocab, beam_size: int = 1,
              length_penalty: float = 0.0, max_len: int = 24, min_len: int = 0) -> list[str]:
    """Subject lines for the bodies of ``pairs`` (greedy, or beam search with the GNMT length
    penalty), decoded back to text by the BPE tokenizer; ``min_len`` subword tokens at least."""
    return translate(model, pairs, vocab, vocab, beam_size, length_penalty, max_len,
                     to_text=lambda ids: tokenizer.decode(ids).strip(), min_len=min_len)
