"""Scoring words never seen in training by their shape and suffix (TnT, Brants 2000).

``UnknownWordModel`` gives ``log P(t | word) - log P(t)`` for any word from the tag
distributions of rare training words with the same ``word_shape`` and the longest known
suffix; ``course_lib.tagging.HMMTagger`` uses it as the emission score of unseen words.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

__all__ = ["UnknownWordModel", "check_tagged", "word_shape"]


def check_tagged(sentences, tags) -> None:
    """ValueError unless ``sentences`` and ``tags`` pair up, sentence by sentence and token by
    token, with no empty sentence."""
    if len(sentences) != len(tags) or any(
            len(s) != len(t) for s, t in zip(sentences, tags, strict=True)):
        raise ValueError("sentences and tags must have the same number of sentences and tokens")
    if any(len(s) == 0 for s in sentences):
        raise ValueError("every sentence needs at least one token")


def word_shape(word: str, first: bool = False) -> str:
    """A coarse shape class: case (upper/cap/lower/none), '^' for a capitalised sentence-initial
    word (``first``), then '-' if hyphenated and '#' if it has digits."""
    if word.isupper() and len(word) > 1:
        case = "upper"
    elif word[:1].isupper():
        case = "cap"
    elif any(c.isalpha() for c in word):
        case = "lower"
    else:
        case = "none"
    if first and case in ("upper", "cap"):
        case += "^"
    return case + ("-" if "-" in word else "") + ("#" if any(c.isdigit() for c in word) else "")


class UnknownWordModel:
    """``P(tag | shape, suffix)`` from rare training words (count <= ``max_count``).

    For a word with shape s and last letters l_1..l_n, TnT's successive abstraction:
    ``P(t | s, l_{n-i+1..n}) = (P^(t | s, l_{n-i+1..n}) + theta P(t | s, l_{n-i+2..n})) / (1 +
    theta)``, starting from P(t | s) (itself smoothed towards P(t) over rare words), up to
    suffixes of ``max_suffix_len`` letters; theta is the standard deviation of the
    unconditioned tag probabilities. ``log_scores`` returns ``log P(t | word) - log P(t)``,
    which is ``log P(word | t)`` up to a constant per word (Bayes).
    """

    def __init__(self, max_suffix_len: int = 10, max_count: int = 10, theta=None):
        self.max_suffix_len, self.max_count, self.theta = max_suffix_len, max_count, theta

    def fit(self, sentences, tags, tagset=None) -> UnknownWordModel:
        check_tagged(sentences, tags)
        self.tags_ = sorted({t for ts in tags for t in ts}) if tagset is None else list(tagset)
        index = {t: i for i, t in enumerate(self.tags_)}
        pairs = Counter((w, t, i == 0) for ws, ts in zip(sentences, tags, strict=True)
                        for i, (w, t) in enumerate(zip(ws, ts, strict=True)))
        word_counts = Counter(w for ws in sentences for w in ws)
        keys: dict[tuple[str, str], int] = {}  # (shape, suffix) -> row; parents come first
        key_rows, tag_rows, weights = [], [], []
        all_tags = np.zeros(len(self.tags_))
        for (w, t, first), c in pairs.items():
            all_tags[index[t]] += c
            if word_counts[w] > self.max_count:
                continue
            shape, letters = word_shape(w, first), w.lower()
            for i in range(min(len(letters), self.max_suffix_len) + 1):
                key_rows.append(keys.setdefault((shape, letters[len(letters) - i:]), len(keys)))
                tag_rows.append(index[t])
                weights.append(c)
        counts = np.zeros((len(keys), len(self.tags_)))  # (keys, K) rare-word tag counts
        np.add.at(counts, (key_rows, tag_rows), weights)
        self.log_prior_ = np.log(all_tags / all_tags.sum())
        rare = counts[[row for (_, suffix), row in keys.items() if suffix == ""]].sum(axis=0)
        rare_prob = rare / rare.sum()
        self.theta_ = float(np.std(rare_prob, ddof=1)) if self.theta is None else self.theta
        probs = counts / counts.sum(axis=1, keepdims=True)  # ML estimates, smoothed below
        by_length: dict[int, list[int]] = {}
        parents = np.empty(len(keys), dtype=np.int64)
        for (shape, suffix), row in keys.items():
            by_length.setdefault(len(suffix), []).append(row)
            parents[row] = keys[(shape, suffix[1:])] if suffix else -1
        for length in sorted(by_length):  # shorter suffixes (the parents) first
            rows = np.array(by_length[length])
            parent = rare_prob if length == 0 else probs[parents[rows]]
            probs[rows] = (probs[rows] + self.theta_ * parent) / (1 + self.theta_)
        scores = np.log(probs) - self.log_prior_
        self.log_scores_ = {key: scores[row] for key, row in keys.items()}
        self.log_rare_score_ = np.log(rare_prob) - self.log_prior_
        return self

    def log_scores(self, word: str, first: bool = False) -> np.ndarray:
        """``log P(t | shape, longest known suffix) - log P(t)``, shape (K,); ``first``: the word
        begins its sentence."""
        shape, letters = word_shape(word, first), word.lower()
        for i in range(min(len(letters), self.max_suffix_len), -1, -1):
            found = self.log_scores_.get((shape, letters[len(letters) - i:]))
            if found is not None:
                return found
        return self.log_rare_score_
