"""course_lib.ngram against nltk.lm: same perplexities, and how much faster.

Data (the same for both): word-level Tiny Shakespeare, lower-cased ``\\w+|[^\\w\\s]`` tokens
(``course_lib.text.word_tokenize``), one sentence per non-empty line; the first 90% of the
40,000 lines train, the rest test (3,732 non-empty lines, 27,029 predictions: every word plus
one ``</s>`` per line). Words seen once in training become ``<UNK>`` (NLTK:
``Vocabulary(unk_cutoff=2)``; ours: ``min_count=2, unk="<UNK>"``). Training sentences are
padded as NLTK's ``padded_everygram_pipeline`` does (order-1 ``<s>`` and order-1 ``</s>``,
every n-gram of orders 1..n counted); a test sentence is ``<s>`` * (n-1) + words + ``</s>``
and every token after the padding is predicted from the previous n-1 tokens.

Models: ``KneserNeyInterpolated(order, discount=0.75)`` against
``NgramLM(order, "kneser_ney", discount=0.75, nltk_compatible=True)``, and ``Laplace(order)``
against ``NgramLM(order, "add_k", k=1)``, for orders 2 and 3.

NLTK's KN recomputes continuation counts by scanning every bigram context on each query
(about 10 ms per prediction for a bigram model, 27 ms for a trigram model here), so NLTK
scores only a fixed subset: the first ``--subset-lines`` test lines (default 60, 539
predictions); ours scores both that subset and the full test set. The two must agree to 1e-6
relative, per prediction and in perplexity; otherwise the script exits with an error.
Timings are medians of ``--repeats`` runs in this process; on a shared machine they vary.

    COURSE_DATA_DIR=/work/shared/data OMP_NUM_THREADS=1 python benchmarks/ngram_vs_nltk.py

Reference (NOTES, same split): NLTK KN test perplexity 99.34 (bigram), 94.75 (trigram).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from nltk.lm import KneserNeyInterpolated, Laplace, Vocabulary
from nltk.lm.preprocessing import padded_everygram_pipeline

from course_lib.corpora import read_tinyshakespeare
from course_lib.ngram import NgramLM
from course_lib.text import word_tokenize

REFERENCE_KN_PERPLEXITY = {2: 99.34, 3: 94.75}  # NOTES, NLTK on the full test set
DISCOUNT = 0.75
TOLERANCE = 1e-6


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--subset-lines", type=int, default=60,
                        help="test lines NLTK scores (default 60: 539 predictions)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs, median (default 3)")
    return parser.parse_args()


def load_sentences() -> tuple[list[list[str]], list[list[str]]]:
    lines = read_tinyshakespeare().splitlines()
    cut = int(0.9 * len(lines))
    train = [tokens for tokens in map(word_tokenize, lines[:cut]) if tokens]
    test = [tokens for tokens in map(word_tokenize, lines[cut:]) if tokens]
    return train, test


def test_ngrams(sentences: list[list[str]], order: int) -> list[tuple[tuple[str, ...], str]]:
    """(context, word) for every prediction: n-1 ``<s>`` on the left, one ``</s>``."""
    pairs = []
    for sentence in sentences:
        padded = ["<s>"] * (order - 1) + sentence + ["</s>"]
        pairs += [(tuple(padded[i - order + 1:i]), padded[i]) for i in range(order - 1, len(padded))]
    return pairs


def fit_nltk(model_class, order: int, train: list[list[str]], **kwargs):
    model = model_class(order, vocabulary=Vocabulary(unk_cutoff=2), **kwargs)
    ngrams, vocabulary_text = padded_everygram_pipeline(order, train)
    model.fit(ngrams, vocabulary_text)
    return model


def nltk_probabilities(model, pairs) -> np.ndarray:
    return np.array([model.score(word, context) for context, word in pairs])


def timed(function, repeats: int):
    """(result of the last run, median seconds)."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return result, statistics.median(seconds)


def perplexity(probabilities: np.ndarray) -> float:
    return float(np.exp(-np.mean(np.log(probabilities))))


def compare(name: str, nltk_model_fn, ours_fn, order, train, test, subset, repeats) -> dict:
    pairs = test_ngrams(subset, order)
    nltk_model, nltk_fit = timed(nltk_model_fn, repeats)
    nltk_probs, nltk_score = timed(lambda: nltk_probabilities(nltk_model, pairs), repeats)
    ours, our_fit = timed(ours_fn, repeats)
    our_probs, our_score = timed(lambda: np.exp(ours.token_logprobs(subset)), repeats)
    full_logprobs, our_full = timed(lambda: ours.token_logprobs(test), repeats)
    if len(nltk_model.vocab) != len(ours.vocab_):
        raise SystemExit(f"vocabulary sizes differ: {len(nltk_model.vocab)} vs {len(ours.vocab_)}")
    worst = float(np.max(np.abs(our_probs - nltk_probs) / nltk_probs))
    ppl_nltk, ppl_ours = perplexity(nltk_probs), perplexity(our_probs)
    row = dict(name=name, order=order, predictions=len(pairs), worst=worst, ppl_nltk=ppl_nltk,
               ppl_ours=ppl_ours, ppl_full=float(np.exp(-full_logprobs.mean())),
               full_predictions=len(full_logprobs), nltk_fit=nltk_fit, nltk_score=nltk_score,
               our_fit=our_fit, our_score=our_score, our_full=our_full)
    print(f"\n{name}, order {order} (vocabulary {len(ours.vocab_):,} incl. <UNK> <s> </s>)")
    print(f"  subset ({len(pairs)} predictions): perplexity NLTK {ppl_nltk:.6f}  ours "
          f"{ppl_ours:.6f}  | worst per-prediction relative difference {worst:.1e}")
    print(f"  full test set ({len(full_logprobs):,} predictions), ours: perplexity "
          f"{row['ppl_full']:.4f}")
    nltk_total, our_total = nltk_fit + nltk_score, our_fit + our_score
    print(f"  fit      NLTK {nltk_fit:8.3f} s  ours {our_fit:7.3f} s  -> {nltk_fit / our_fit:6.1f}x")
    print(f"  score    NLTK {nltk_score:8.3f} s  ours {our_score:7.3f} s  -> "
          f"{nltk_score / our_score:6.0f}x  (subset)")
    print(f"  fit+score NLTK {nltk_total:7.3f} s  ours {our_total:7.3f} s  -> "
          f"{nltk_total / our_total:6.0f}x  (subset)")
    per_prediction = nltk_score / len(pairs)
    print(f"  full test set: ours scores it in {our_full:.3f} s; NLTK at {per_prediction * 1e3:.1f}"
          f" ms/prediction would need ~{per_prediction * len(full_logprobs):.0f} s (estimate)")
    if worst > TOLERANCE or abs(ppl_ours / ppl_nltk - 1) > TOLERANCE:
        raise SystemExit(f"{name} order {order}: ours and NLTK differ by more than {TOLERANCE}")
    return row


def main() -> None:
    args = parse_args()
    train, test = load_sentences()
    subset = test[:args.subset_lines]
    print(f"train {len(train):,} lines / {sum(map(len, train)):,} words; test {len(test):,} "
          f"lines / {sum(map(len, test)):,} words; NLTK scores the first {len(subset)} test "
          f"lines; timings: median of {args.repeats} runs")
    rows = []
    for order in args.orders:
        rows.append(compare(
            "Kneser-Ney (interpolated, D=0.75)",
            lambda order=order: fit_nltk(KneserNeyInterpolated, order, train, discount=DISCOUNT),
            lambda order=order: NgramLM(order, "kneser_ney", discount=DISCOUNT, min_count=2,
                                        unk="<UNK>", nltk_compatible=True).fit(train),
            order, train, test, subset, args.repeats))
        reference = REFERENCE_KN_PERPLEXITY.get(order)
        if reference is not None:
            print(f"  reference (NOTES, NLTK, full test set): {reference}; ours "
                  f"{rows[-1]['ppl_full']:.2f}")
        rows.append(compare(
            "Laplace (add-one)",
            lambda order=order: fit_nltk(Laplace, order, train),
            lambda order=order: NgramLM(order, "add_k", k=1.0, min_count=2, unk="<UNK>",
                                        nltk_compatible=True).fit(train),
            order, train, test, subset, args.repeats))
    print("\nsummary: model, order, subset perplexity NLTK / ours, full-set perplexity (ours), "
          "fit+score speed-up on the subset")
    for row in rows:
        speedup = (row["nltk_fit"] + row["nltk_score"]) / (row["our_fit"] + row["our_score"])
        print(f"  {row['name']:<34} n={row['order']}  {row['ppl_nltk']:10.4f} / "
              f"{row['ppl_ours']:10.4f}  full {row['ppl_full']:9.4f}  {speedup:6.0f}x")


if __name__ == "__main__":
    main()
