"""Smoothing for count-based n-gram models, as arrays (used by ``course_lib.ngram``).

Every method is written in one recursive form, level by level (level k uses the last k-1
context tokens h and predicts w; level 0 is a fixed base distribution)::

    p_k(w | h) = alpha_k[hw] + gamma_k[h] * p_lower(w)     if h is a seen context
    p_k(w | h) = p_lower(w)                                otherwise

where ``alpha_k`` is one number per k-gram (0 for a k-gram never seen) and ``gamma_k`` one
number per (k-1)-gram context. Recursive methods (interpolation, Kneser-Ney) use
``p_lower = p_{k-1}``; flat ones (MLE, add-k) use ``p_lower = base``. Stupid backoff is the
odd one out (``c(hw)/c(h)`` if seen, else ``backoff * S_{k-1}(w)``) and is not a
probability.

Kneser-Ney follows Chen & Goodman (1998): the highest order discounts raw counts, every lower
order discounts *continuation counts* ``N1+(. h w)`` (how many distinct words precede the
n-gram), and the unigram level is interpolated with the uniform distribution. Modified
Kneser-Ney uses three discounts per order (for counts 1, 2, 3+) estimated from the
count-of-counts n1..n4 of that order; where those are too few (small or artificial data) the
order falls back to fixed discounts, as KenLM's ``lmplz --discount_fallback`` does.
``nltk_compatible=True`` reproduces NLTK's ``KneserNeyInterpolated`` instead (see
``kneser_ney_weights``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DISCOUNT_FALLBACK",
    "LevelWeights",
    "NgramTable",
    "add_k_weights",
    "count_of_counts",
    "fit_interpolation_lambdas",
    "kneser_ney_weights",
    "mle_weights",
    "modified_kn_discounts",
    "stupid_backoff_weights",
    "usable_discounts",
]

# D1, D2, D3+ of an order whose count-of-counts cannot estimate them: KenLM's defaults for
# ``lmplz --discount_fallback``. Each is below its count, so every seen n-gram keeps mass.
DISCOUNT_FALLBACK = np.array([0.5, 1.0, 1.5])


@dataclass
class NgramTable:
    """All distinct k-grams of one order, as a sorted array trie.

    A k-gram's key is ``prefix * V + w`` where ``prefix`` is the row of its first k-1 tokens in
    the order-(k-1) table (row 0 of the order-0 table is the empty context), so sorting keys
    sorts k-grams lexicographically and the k-grams sharing a context are contiguous.
    ``count`` is how often the k-gram ends at a predicted position (0 for trie nodes that
    only occur inside the left padding); ``suffix`` is the row of its last k-1 tokens.
    """

    keys: np.ndarray  # (G,) int64, sorted
    count: np.ndarray  # (G,) int64
    prefix: np.ndarray  # (G,) int64 row in the order k-1 table
    suffix: np.ndarray  # (G,) int64 row in the order k-1 table

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class LevelWeights:
    """The arrays of one level of the recursion (see the module docstring)."""

    alpha: np.ndarray  # (G_k,) float64
    gamma: np.ndarray  # (G_{k-1},) float64
    seen: np.ndarray  # (G_{k-1},) bool


def _per_context(table: NgramTable, values: np.ndarray, num_contexts: int) -> np.ndarray:
    return np.bincount(table.prefix, weights=values, minlength=num_contexts).astype(np.float64)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast(numerator, denominator).shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def mle_weights(tables: list[NgramTable]) -> list[LevelWeights]:
    """``p(w | h) = c(hw) / c(h)`` at every level, with ``c(h) = sum_w c(hw)``; no backoff."""
    levels = []
    for k in range(1, len(tables)):
        total = _per_context(tables[k], tables[k].count, len(tables[k - 1]))
        alpha = _safe_divide(tables[k].count, total[tables[k].prefix])
        levels.append(LevelWeights(alpha, np.zeros_like(total), total > 0))
    return levels


def add_k_weights(tables: list[NgramTable], k: float, vocab_size: int) -> list[LevelWeights]:
    """``p(w | h) = (c(hw) + k) / (c(h) + k V)``, written as alpha + gamma * uniform."""
    levels = []
    for order in range(1, len(tables)):
        total = _per_context(tables[order], tables[order].count, len(tables[order - 1]))
        denominator = total + k * vocab_size
        alpha = tables[order].count / denominator[tables[order].prefix]
        gamma = k * vocab_size / denominator
        levels.append(LevelWeights(alpha, gamma, np.ones(len(total), dtype=bool)))
    return levels


def interpolation_weights(tables: list[NgramTable], lambdas: np.ndarray) -> list[LevelWeights]:
    """Jelinek-Mercer: ``p_k = lambda_k * MLE_k + (1 - lambda_k) * p_{k-1}``."""
    levels = mle_weights(tables)
    for level, lam in zip(levels, lambdas, strict=True):
        level.alpha = lam * level.alpha
        level.gamma = np.full(len(level.gamma), 1.0 - lam)
    return levels


def stupid_backoff_weights(tables: list[NgramTable]) -> list[LevelWeights]:
    """The relative frequencies ``c(hw)/c(h)`` of Brants et al. (2007); backoff is applied later."""
    return mle_weights(tables)


def continuation_counts(tables: list[NgramTable], k: int) -> np.ndarray:
    """``N1+(. g)`` for every k-gram g: how many distinct tokens precede it (k < top order)."""
    higher = tables[k + 1]
    return np.bincount(higher.suffix, weights=higher.count > 0, minlength=len(tables[k]))


def count_of_counts(counts: np.ndarray) -> np.ndarray:
    """(4,) n1..n4: how many n-grams occur exactly 1, 2, 3 and 4 times."""
    return np.array([np.sum(counts == j) for j in (1, 2, 3, 4)], dtype=np.int64)


def modified_kn_discounts(counts: np.ndarray) -> np.ndarray:
    """Chen & Goodman's estimate of D1, D2, D3+ from the count-of-counts n1..n4 of one order.

    ``Y = n1 / (n1 + 2 n2)``, ``D1 = 1 - 2Y n2/n1``, ``D2 = 2 - 3Y n3/n2``,
    ``D3+ = 3 - 4Y n4/n3``. Returned as computed: NaN where a count-of-counts is zero, and
    possibly outside (0, j); ``usable_discounts`` says whether the estimate can be used.
    """
    n = count_of_counts(counts).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = n[0] / (n[0] + 2 * n[1])
        return np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1],
                         3 - 4 * y * n[3] / n[2]])


def usable_discounts(discounts: np.ndarray) -> bool:
    """True when every Dj is a number in (0, j): each seen n-gram gives some mass away and keeps
    some. A zero count-of-counts gives NaN or Dj = j (n2 = 0 makes D1 = 1, so every singleton
    would get probability 0 at this level); KenLM refuses both unless told to fall back."""
    limits = np.array([1.0, 2.0, 3.0])
    return bool(np.all(np.isfinite(discounts)) and np.all((discounts > 0) & (discounts < limits)))


def _discount_per_gram(numerator: np.ndarray, discounts: np.ndarray) -> np.ndarray:
    """The discount of each n-gram: D1, D2 or D3+ by its count; 0 for a count of 0."""
    slot = np.minimum(numerator, 3).astype(np.int64)
    return np.concatenate([[0.0], discounts])[slot]


def kneser_ney_weights(
    tables: list[NgramTable],
    discount: float,
    modified: bool,
    nltk_compatible: bool = False,
) -> tuple[list[LevelWeights], list[np.ndarray]]:
    """Interpolated (modified) Kneser-Ney; returns the levels and each level's discounts.

    Textbook (Chen & Goodman 1998), for level k of N with context h::

        p_k(w|h) = max(a(hw) - D(a), 0) / sum_w a(hw)  +  gamma(h) * p_{k-1}(w|h')
        gamma(h) = sum_{w: a(hw) > 0} D(a(hw)) / sum_w a(hw)

    with ``a`` = raw counts at k = N and continuation counts ``N1+(. hw)`` below; the unigram
    level backs off to the uniform distribution 1/V. Modified KN estimates D1, D2, D3+ per
    order (``modified_kn_discounts``); an order whose estimate is not ``usable_discounts``
    uses ``DISCOUNT_FALLBACK`` instead, with one warning per call naming those orders.

    ``nltk_compatible=True`` reproduces nltk.lm's ``KneserNeyInterpolated`` (3.8-3.10), which
    differs in exactly three places: (1) the unigram level is the undiscounted continuation
    ratio ``N1+(. w) / N1+(. .)``, with no uniform floor (a word never seen after another
    gets probability 0); (2) at the lower orders gamma's numerator is ``D`` times the number
    of distinct words seen after h in the *raw* counts, not the number with a continuation
    count (so those distributions can sum to slightly more than 1, e.g. after ``<s>``);
    (3) a lower-order context counts as seen when it has raw counts. Its fallback for a
    context never seen (use the lower order unchanged) is the same as the textbook's.
    """
    top = len(tables) - 1
    levels, discounts, fallbacks = [], [], []
    for k in range(1, top + 1):
        table, num_contexts = tables[k], len(tables[k - 1])
        numerator = table.count if k == top else continuation_counts(tables, k)
        total = _per_context(table, numerator, num_contexts)
        if modified:
            d = modified_kn_discounts(numerator)
            if not usable_discounts(d):
                n = ", ".join(map(str, count_of_counts(numerator)))
                fallbacks.append(f"order {k} (n1..n4 = {n})")
                d = DISCOUNT_FALLBACK.copy()
        else:
            d = np.full(3, float(discount))
        per_gram = _discount_per_gram(numerator, d)
        if nltk_compatible and k == 1:
            per_gram = np.zeros(len(table))
        alpha = _safe_divide(np.maximum(numerator - per_gram, 0.0), total[table.prefix])
        seen = total > 0
        if nltk_compatible and 1 < k < top:
            raw_types = _per_context(table, table.count > 0, num_contexts)
            gamma = _safe_divide(d[0] * raw_types, total)
            seen = seen & (raw_types > 0)
        else:
            gamma = _safe_divide(_per_context(table, per_gram, num_contexts), total)
        levels.append(LevelWeights(alpha, gamma, seen))
        discounts.append(d)
    if fallbacks:
        warnings.warn(
            f"modified Kneser-Ney: too few n-grams to estimate the discounts of "
            f"{'; '.join(fallbacks)}: each needs n1..n4 > 0 and 0 < Dj < j. Those orders use "
            f"KenLM's fallback discounts D1, D2, D3+ = {', '.join(map(str, DISCOUNT_FALLBACK))} "
            "(small or artificial data? smoothing='kneser_ney' uses one fixed discount)",
            UserWarning,
            stacklevel=3,
        )
    return levels, discounts


def fit_interpolation_lambdas(
    mle: np.ndarray, seen: np.ndarray, vocab_size: int, iterations: int = 50
) -> np.ndarray:
    """EM for the Jelinek-Mercer weights on held-out data.

    ``mle`` and ``seen`` are (M, N): the MLE probability of each held-out token at each level
    and whether that level's context was seen. The model is a chain of choices from the top
    level down: at a seen context, use level k with probability lambda_k, else go down; level
    0 is uniform. Returns lambda (N,), each in (0, 1).
    """
    num_levels = mle.shape[1]
    lambdas = np.full(num_levels, 0.5)
    for _ in range(iterations):
        weight = seen * lambdas  # (M, N) chance of stopping at each level, given it is reached
        prob = np.full(len(mle), 1.0 / vocab_size)  # p_0
        below = [prob]
        for k in range(num_levels):
            prob = weight[:, k] * mle[:, k] + (1 - weight[:, k]) * prob
            below.append(prob)
        reach = np.ones(len(mle))  # chance of reaching level k from the top
        chose, reached = np.zeros(num_levels), np.zeros(num_levels)
        for k in reversed(range(num_levels)):
            chose[k] = np.sum(reach * weight[:, k] * mle[:, k] / prob)
            reached[k] = np.sum(seen[:, k] * reach * below[k + 1] / prob)
            reach = reach * (1 - weight[:, k])
        lambdas = np.clip(_safe_divide(chose, reached), 1e-6, 1 - 1e-6)
    return lambdas
