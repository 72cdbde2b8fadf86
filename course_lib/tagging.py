"""Part-of-speech tagging with hidden Markov models, in the spirit of TnT (Brants, 2000).

K tags, T tokens in a sentence, N tokens in a batch of sentences. Tags are the hidden
states and words the emissions. ``HMMTagger(order=1)`` is a bigram HMM (states = tags),
``HMMTagger(order=2)`` a trigram HMM whose Viterbi states are pairs of tags (K^2 of them).
Transition probabilities interpolate unigram, bigram (and trigram) relative frequencies with
weights found by deleted interpolation. Words never seen in training are scored by
``UnknownWordModel``: tag distributions of rare training words that share the word's shape
(capitalised, digits, hyphen) and its longest known suffix, smoothed by successive
abstraction over shorter suffixes (``course_lib.unknown_words``, re-exported here). Optionally (trigram only), frequent words' emissions also
depend on the previous tag, ``P(word | previous tag, tag)``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from course_lib.hmm import LengthBatch, viterbi_batch
from course_lib.unknown_words import UnknownWordModel, check_tagged, word_shape

__all__ = ["HMMTagger", "MostFrequentTagTagger", "UnknownWordModel", "tagging_accuracy",
           "word_shape"]


def tagging_accuracy(gold, predicted, sentences, known_words) -> dict[str, float]:
    """Token accuracy overall, on known words (in ``known_words``) and on unknown ones.

    Returns ``{"accuracy", "known", "unknown", "unknown_share"}`` (fractions in [0, 1]).
    """
    flat = [(g, p, w in known_words) for gs, ps, ws in zip(gold, predicted, sentences, strict=True)
            for g, p, w in zip(gs, ps, ws, strict=True)]
    if not flat:
        raise ValueError("no tokens to score")
    correct = np.array([g == p for g, p, _ in flat])
    known = np.array([k for _, _, k in flat])
    return {"accuracy": float(correct.mean()),
            "known": float(correct[known].mean()) if known.any() else float("nan"),
            "unknown": float(correct[~known].mean()) if (~known).any() else float("nan"),
            "unknown_share": float(1 - known.mean())}


class MostFrequentTagTagger:
    """Each known word gets its most frequent training tag; unseen words the most frequent tag."""

    def fit(self, sentences, tags) -> MostFrequentTagTagger:
        check_tagged(sentences, tags)
        by_word: dict[str, Counter] = {}
        for ws, ts in zip(sentences, tags, strict=True):
            for w, t in zip(ws, ts, strict=True):
                by_word.setdefault(w, Counter())[t] += 1
        self.lexicon_ = {w: c.most_common(1)[0][0] for w, c in by_word.items()}
        self.default_tag_ = Counter(t for ts in tags for t in ts).most_common(1)[0][0]
        return self

    def predict(self, sentences) -> list[list[str]]:
        return [[self.lexicon_.get(w, self.default_tag_) for w in ws] for ws in sentences]


def _capitalised(words) -> np.ndarray:
    """TnT's capitalisation flag of every word, (N,) int: 1 if its first character is upper case."""
    return np.array([w[:1].isupper() for w in words], dtype=np.int64)


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(n) for n in lengths])`` without a Python loop."""
    ends = np.cumsum(lengths)
    return np.arange(ends[-1]) - np.repeat(ends - lengths, lengths)


def _deleted_interpolation(counts: np.ndarray) -> np.ndarray:
    """Brants' deleted interpolation: weights of the orders 1..n for n-gram counts ``(K,)*n``.

    Every n-gram seen f times gives its f votes to the order whose estimate is largest once
    this occurrence is left out: ``(f(gram) - 1) / (f(context) - 1)``.
    """
    n = counts.ndim
    ratios = []
    for order in range(1, n + 1):
        gram = counts.sum(axis=tuple(range(n - order)))  # (K,)*order
        denom = gram.sum(axis=-1, keepdims=True) - 1.0  # context counts - 1 (order 1: N - 1)
        ratio = np.where(denom > 0, (gram - 1.0) / np.maximum(denom, 1.0), 0.0)
        ratios.append(np.broadcast_to(ratio, counts.shape))
    winner = np.argmax(np.stack(ratios), axis=0)  # ties go to the lower order
    lambdas = np.array([counts[winner == k].sum() for k in range(n)], dtype=float)
    return lambdas / lambdas.sum()


def _interpolated_log_transitions(counts: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """``log sum_k lambda_k P^(t | last k-1 tags)`` for every n-gram, shape ``(K,)*n``."""
    n = counts.ndim
    probs = np.zeros(counts.shape)
    for order, weight in zip(range(1, n + 1), lambdas, strict=True):
        gram = counts.sum(axis=tuple(range(n - order)))
        context = gram.sum(axis=-1, keepdims=True)
        probs = probs + weight * np.where(context > 0, gram / np.maximum(context, 1), 0.0)
    with np.errstate(divide="ignore"):
        return np.log(probs)


def viterbi_pairs(log_transitions, log_emissions, lengths, max_candidates=8, log_prior=None,
                  log_pair_emissions=None):
    """Viterbi for a trigram HMM over a batch: ``(logprob (B,), states (N,))`` in input order.

    ``log_transitions[a, b, c] = log P(c | a, b)``, shape (K+1, K+1, K+1) with index K the
    sentence boundary (before the first tag and after the last). The Viterbi state at step t is
    the pair (tag_{t-1}, tag_t) and each step maximises over tag_{t-2}. Only each token's
    ``max_candidates`` best tags with non-zero emission are considered (C of them), so a step
    costs C^3 instead of K^3: exact whenever no token has more possible tags than that, a beam
    in the spirit of TnT otherwise. Tags are ranked by ``log_emissions + log_prior`` (K,):
    with ``log_prior = log P(tag)`` that is ``P(tag | word)``, which ranks an unknown word's
    tags better than ``P(word | tag)`` alone (rare tags have large emission scores).
    ``log_pair_emissions(rows, previous, current)``, if given, returns extra emission scores
    (n, C_{t-1}, C_t) of the tokens ``rows`` (n,) for their previous and own candidate states
    (n, C_{t-1}) and (n, C_t) (previous = K before the first token): emissions that depend on
    the previous state too, which the pair states allow exactly.
    """
    batch = LengthBatch(lengths)
    n_tokens, k = log_emissions.shape
    rank = log_emissions if log_prior is None else log_emissions + log_prior
    order = np.argsort(-rank, axis=1, kind="stable")[:, :max_candidates]
    scores = np.take_along_axis(log_emissions, order, axis=1)  # (N, C), best first
    width = max(1, int(np.isfinite(scores).sum(axis=1).max()))
    cand, em = order[:, :width], scores[:, :width]  # (N, C) candidate tags and their scores
    flat_trans = log_transitions.ravel()  # index (a * (K+1) + b) * (K+1) + c
    bos, stride = k, k + 1
    as_first = cand * stride * stride  # (N, C) the three index parts of each candidate
    as_second = cand * stride

    def trans(a, b, c):  # (n, C) index parts of positions t-2, t-1, t -> (n, C, C, C)
        return flat_trans[(a[:, :, None, None] + b[:, None, :, None]) + c[:, None, None, :]]

    def emit(rows, previous):  # (n, C_{t-1}, C_t) emission scores of the tokens rows
        if log_pair_emissions is None:
            return em[rows][:, None, :]
        return em[rows][:, None, :] + log_pair_emissions(rows, previous, cand[rows])

    rows = batch.rows(0)
    edge = np.full((len(rows), 1), bos)
    delta = trans(edge * stride * stride, edge * stride, cand[rows])[:, 0, 0]
    delta += emit(rows, edge)[:, 0]
    best_end = np.full((len(rows), width, width), -np.inf)  # (B, C, C): last two tags
    ended = batch.ending_at(0)  # one-word sentences: the pair (boundary, tag_0), put in slot 0
    best_end[ended, 0, :] = delta[ended] + trans(edge[ended] * stride * stride,
                                                  as_second[rows[ended]], edge[ended])[:, 0, :, 0]
    deltas = [delta]  # delta_t (n, C_{t-1}, C_t), kept to find back-pointers afterwards
    for t in range(1, batch.max_len):
        rows = batch.rows(t)
        n = len(rows)
        if t == 1:  # (n, C_{t-1}, C_t)
            delta = delta[:n, :, None] + trans(edge[:n] * stride * stride, as_second[rows - 1],
                                               cand[rows])[:, 0]
        else:  # (n, C_{t-2}, C_{t-1}, 1) + (n, C, C, C) -> max over tag_{t-2}
            delta = np.max(delta[:n, :, :, None] + trans(as_first[rows - 2], as_second[rows - 1],
                                                          cand[rows]), axis=1)
        delta += emit(rows, cand[rows - 1])
        deltas.append(delta)
        ended = batch.ending_at(t)
        best_end[ended] = delta[ended] + trans(as_first[rows[ended] - 1],
                                               as_second[rows[ended]], edge[ended])[..., 0]
    flat = best_end.reshape(len(best_end), -1).argmax(axis=1)
    logprob = np.empty(len(flat))
    logprob[batch.order] = best_end.reshape(len(best_end), -1)[np.arange(len(flat)), flat]
    prev, cur = np.divmod(flat, width)  # (B,) candidate slots of every sentence's last pair
    states = np.empty(n_tokens, dtype=np.int64)
    for t in range(batch.max_len - 1, -1, -1):
        n, rows = batch.active[t], batch.rows(t)
        states[rows] = cand[rows, cur[:n]]
        if t >= 2:  # the back-pointer: the tag_{t-2} slot that gave delta_t its maximum
            i = np.arange(n)
            scores = deltas[t - 1][i, :, prev[:n]] + flat_trans[
                as_first[rows - 2] + as_second[rows - 1, prev[:n]][:, None]
                + cand[rows, cur[:n]][:, None]]  # (n, C_{t-2})
            cur[:n] = prev[:n]
            prev[:n] = np.argmax(scores, axis=1)
        elif t == 1:
            cur[:n] = prev[:n]
    return logprob, states


class HMMTagger:
    """A supervised HMM part-of-speech tagger: bigram (``order=1``) or trigram (``order=2``).

    Emissions of a training word are relative frequencies ``c(word, tag) / c(tag)``, or with
    ``lexicon_smoothing`` = beta > 0 (and an unknown-word model) ``P(t | w) / P(t)``, ``P(t | w)
    = (c(w, t) + beta P_unk(t | w)) / (c(w) + beta)``: a rare word gets some probability for
    the tags its suffix suggests. A word seen only with another capitalisation uses the counts
    of its lower-cased form (``lowercase_backoff``), mixed likewise with ``backoff_smoothing``
    pseudo-counts; any other unseen word is scored by
    ``unknown_words`` (an ``UnknownWordModel``, fitted with the tagger). With
    ``unknown_words=None``, emissions are instead Lidstone-smoothed, ``(c(word, tag) +
    emission_smoothing) / (c(tag) + emission_smoothing (V + 1))``, and with
    ``emission_smoothing=0`` as well an unseen word raises a ``KeyError``.

    With ``capitalisation=True`` (TnT's capitalisation feature), the hidden states are pairs
    (tag, is the word capitalised), 2K of them, so transitions see capitalisation: ``P(t_i, c_i
    | t_{i-2}, c_{i-2}, t_{i-1}, c_{i-1})``. The flag is observed, so a word only gets the
    states of its own flag, with emission ``P(w | t, c) = P(w | t) / P(c | t)`` (unknown words
    likewise, from their ``P(w | t)`` score). Tags are then read off the states.

    With ``previous_tag_smoothing`` = m > 0 (trigram only), the emissions of words seen at least
    ``previous_tag_min_count`` times also depend on the previous tag a, as in Thede and Harper
    (1999): ``P(w | a, t) = P(w | t) P(a | w, t) / P(a | t)`` (Bayes), with ``P(a | w, t) =
    (c(a, t, w) + m P(a | t)) / (c(t, w) + m)``. The Viterbi states are tag pairs, so this is
    exact.

    Learned: ``tags_``, ``vocab_``, ``lambdas_``, ``log_transitions_`` (``(S+1,)*(order+1)``
    over S = K or 2K states; index S is the sentence boundary), ``log_emissions_`` (V, K), and
    with ``previous_tag_smoothing`` ``log_previous_tag_`` (W+1, K+1, K): ``log P(a | w, t) - log
    P(a | t)`` of the W words in ``previous_tag_words_`` (row 0: every other word, zeros).
    """

    def __init__(self, order: int = 2, unknown_words: UnknownWordModel | None = None,
                 emission_smoothing: float = 0.0, lowercase_backoff: bool = True,
                 backoff_smoothing: float = 0.0, lexicon_smoothing: float = 0.0,
                 capitalisation: bool = False, previous_tag_smoothing: float = 0.0,
                 previous_tag_min_count: int = 5):
        if order not in (1, 2):
            raise ValueError(f"order must be 1 (bigram HMM) or 2 (trigram HMM), got {order}")
        if min(emission_smoothing, backoff_smoothing, lexicon_smoothing,
               previous_tag_smoothing) < 0:
            raise ValueError("emission_smoothing, backoff_smoothing, lexicon_smoothing and "
                             "previous_tag_smoothing must be >= 0")
        if order == 1 and previous_tag_smoothing > 0:
            raise ValueError("previous_tag_smoothing needs order=2 (the Viterbi states must be "
                             "tag pairs)")
        self.order, self.unknown_words = order, unknown_words
        self.emission_smoothing, self.lowercase_backoff = emission_smoothing, lowercase_backoff
        self.backoff_smoothing, self.lexicon_smoothing = backoff_smoothing, lexicon_smoothing
        self.capitalisation = capitalisation
        self.previous_tag_smoothing = previous_tag_smoothing
        self.previous_tag_min_count = previous_tag_min_count

    def fit(self, sentences, tags) -> HMMTagger:
        check_tagged(sentences, tags)
        self.tags_ = sorted({t for ts in tags for t in ts})
        k = len(self.tags_)
        index = {t: i for i, t in enumerate(self.tags_)}
        self.vocab_ = {w: i for i, w in enumerate(sorted({w for ws in sentences for w in ws}))}
        lower = sorted({w.lower() for w in self.vocab_})
        self.lower_vocab_ = {w: i for i, w in enumerate(lower)}
        words = [w for ws in sentences for w in ws]
        tag_ids = np.array([index[t] for ts in tags for t in ts])
        caps = _capitalised(words)
        lengths = np.array([len(ts) for ts in tags])
        states = tag_ids + k * caps if self.capitalisation else tag_ids  # (N,) hidden states
        counts = self._transition_counts(states, lengths,
                                         n_states=2 * k if self.capitalisation else k)
        self.lambdas_ = _deleted_interpolation(counts)
        self.log_transitions_ = _interpolated_log_transitions(counts, self.lambdas_)
        emit = np.zeros((len(self.vocab_), k))  # (V, K) counts c(word, tag)
        np.add.at(emit, ([self.vocab_[w] for w in words], tag_ids), 1)
        self.lower_counts_ = np.zeros((len(lower), k))
        np.add.at(self.lower_counts_, ([self.lower_vocab_[w.lower()] for w in words], tag_ids), 1)
        tag_counts = emit.sum(axis=0)
        self.tag_prior_ = tag_counts / tag_counts.sum()
        cap_counts = np.stack([np.bincount(tag_ids[caps == c], minlength=k) for c in (0, 1)])
        with np.errstate(divide="ignore", invalid="ignore"):  # (2, K): log P(c | t), 0 if unseen
            self.log_cap_given_tag_ = np.nan_to_num(np.log(cap_counts / tag_counts), neginf=0.0)
        a = 0.0 if self.unknown_words is not None else self.emission_smoothing
        with np.errstate(divide="ignore"):
            self.log_emissions_ = np.log((emit + a) / (tag_counts + a * (len(emit) + 1)))
            self.log_lower_emissions_ = np.log(self.lower_counts_ / tag_counts)
            self._log_unseen = np.log(a / (tag_counts + a * (len(emit) + 1)))
        if self.previous_tag_smoothing > 0:
            self._fit_previous_tag(words, tag_ids, lengths, emit.sum(axis=1))
        if self.unknown_words is not None:
            self.unknown_words.fit(sentences, tags, tagset=self.tags_)
            if self.lexicon_smoothing > 0:  # vocab_ lists the words in row order
                self.log_emissions_ = self._smoothed_log_emissions(
                    emit, list(self.vocab_), False, self.lexicon_smoothing)
        return self

    def _transition_counts(self, states, lengths, n_states):
        """Counts of every (order + 1)-gram of hidden states, boundary index ``n_states``."""
        pad = self.order + 1
        starts = np.cumsum(lengths + pad) - (lengths + pad)  # (B,) in the padded sequence
        padded = np.full(len(states) + pad * len(lengths), n_states)
        padded[np.repeat(starts + self.order, lengths) + _ranges(lengths)] = states
        gram_starts = np.repeat(starts, lengths + 1) + _ranges(lengths + 1)
        grams = padded[gram_starts[:, None] + np.arange(pad)]  # (N + B, order + 1)
        counts = np.zeros((n_states + 1,) * pad)
        np.add.at(counts, tuple(grams.T), 1)
        return counts

    def _fit_previous_tag(self, words, tag_ids, lengths, word_counts) -> None:
        """``log_previous_tag_`` from the training tokens (see the class docstring)."""
        k, m = len(self.tags_), self.previous_tag_smoothing
        frequent = [w for w, row in self.vocab_.items()
                    if word_counts[row] >= self.previous_tag_min_count]
        self.previous_tag_words_ = {w: i + 1 for i, w in enumerate(frequent)}
        previous = np.concatenate([[k], tag_ids[:-1]])  # (N,) previous tag, k: sentence start
        previous[np.cumsum(lengths)[:-1]] = k
        rows = [self.previous_tag_words_.get(w, 0) for w in words]
        counts = np.zeros((len(frequent) + 1, k + 1, k))  # c(w, a, t)
        np.add.at(counts, (rows, previous, tag_ids), 1)
        pairs = counts.sum(axis=0)  # (K+1, K) c(a, t) over all words
        counts[0] = 0
        prior = pairs / np.maximum(pairs.sum(axis=0), 1)  # P(a | t)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.log_previous_tag_ = np.where(prior > 0, np.log(
                (counts + m * prior) / (counts.sum(axis=1, keepdims=True) + m) / prior), 0.0)

    def _smoothed_log_emissions(self, counts, words, first, beta):
        """``log P(t | w) - log P(t)`` (n, K) for tag counts ``counts`` (n, K) of ``words``, with
        ``P(t | w) = (c(w, t) + beta P_unk(t | w)) / (c(w) + beta)``; ``P_unk(t | w)`` is the
        unknown-word model's guess (its score times ``P(t)``, normalised)."""
        log_prior = np.log(self.tag_prior_)
        guess = np.exp([self.unknown_words.log_scores(w, first) + log_prior for w in words])
        guess /= guess.sum(axis=1, keepdims=True)  # (n, K)
        smoothed = (counts + beta * guess) / (counts.sum(axis=1, keepdims=True) + beta)
        with np.errstate(divide="ignore"):
            return np.log(smoothed) - log_prior

    def is_known(self, word: str) -> bool:
        return word in self.vocab_

    def _unseen_log_emissions(self, word: str, first: bool) -> np.ndarray:
        """Log emission scores (K,) of a word not in ``vocab_``."""
        if self.unknown_words is not None:
            row = self.lower_vocab_.get(word.lower()) if self.lowercase_backoff else None
            if row is None:
                return self.unknown_words.log_scores(word, first)
            if self.backoff_smoothing > 0:
                return self._smoothed_log_emissions(self.lower_counts_[row:row + 1], [word],
                                                    first, self.backoff_smoothing)[0]
            return self.log_lower_emissions_[row]
        if self.emission_smoothing > 0:
            return self._log_unseen
        raise KeyError(f"word {word!r} was not seen in training: give the tagger an "
                       "UnknownWordModel() or emission_smoothing > 0")

    def log_emissions(self, sentences) -> np.ndarray:
        """Log emission scores of every token of ``sentences``, concatenated: (N, K).

        Per token, they equal ``log P(word | tag)`` up to a constant that is the same for
        every tag, which is all Viterbi needs.
        """
        if not hasattr(self, "tags_"):
            raise RuntimeError("this HMMTagger is not fitted yet: call fit first")
        words = [w for ws in sentences for w in ws]
        rows = np.array([self.vocab_.get(w, -1) for w in words], dtype=np.int64)
        out = self.log_emissions_[rows]  # (N, K); unseen words are overwritten below
        unseen = np.flatnonzero(rows < 0)
        if len(unseen):
            firsts = set(np.cumsum([0] + [len(ws) for ws in sentences[:-1]]).tolist())
            cache: dict[tuple[str, bool], np.ndarray] = {}
            for n in unseen.tolist():
                key = (words[n], n in firsts)
                if key not in cache:
                    cache[key] = self._unseen_log_emissions(*key)
                out[n] = cache[key]
        return out

    def _capitalised_log_emissions(self, log_em, words) -> np.ndarray:
        """(N, K) tag scores -> (N, 2K) state scores: state c K + t is (tag t, flag c); a word
        only gets the states of its own flag, scored ``log P(w | t) - log P(c | t)``."""
        caps = _capitalised(words)
        out = np.full((len(log_em), 2, log_em.shape[1]), -np.inf)  # (N, 2, K)
        out[np.arange(len(log_em)), caps] = log_em - self.log_cap_given_tag_[caps]
        return out.reshape(len(log_em), -1)

    def decode(self, sentences) -> tuple[np.ndarray, list[list[str]]]:
        """Viterbi for every sentence: ``(log P(words, best tags) (B,), best tags)``."""
        if isinstance(sentences, str) or (len(sentences) and isinstance(sentences[0], str)):
            raise TypeError("decode takes a list of sentences, each a list of words")
        lengths = [len(ws) for ws in sentences]
        log_em = self.log_emissions(sentences)  # (N, K)
        if self.capitalisation:
            log_em = self._capitalised_log_emissions(log_em, [w for ws in sentences for w in ws])
        lt, n_states = self.log_transitions_, log_em.shape[1]
        if self.order == 1:
            logprob, states = viterbi_batch(lt[n_states, :n_states], lt[:n_states, :n_states],
                                            log_em, lengths, log_endprob=lt[:n_states, n_states])
        else:
            log_prior = np.log(self.tag_prior_)  # (K,) or, with the flag, log P(t, c) (2K,)
            if self.capitalisation:
                log_prior = (log_prior + self.log_cap_given_tag_).ravel()
            logprob, states = viterbi_pairs(
                lt, log_em, lengths, log_prior=log_prior,
                log_pair_emissions=self._previous_tag_scores(sentences, n_states))
        tags = np.array(self.tags_)[states % len(self.tags_)]
        return logprob, [list(t) for t in np.split(tags, np.cumsum(lengths)[:-1])]

    def _previous_tag_scores(self, sentences, n_states):
        """``log_pair_emissions`` for ``viterbi_pairs`` (None without previous_tag_smoothing)."""
        if self.previous_tag_smoothing == 0:
            return None
        rows = np.array([self.previous_tag_words_.get(w, 0) for ws in sentences for w in ws])
        tag_of = np.append(np.arange(n_states) % len(self.tags_), len(self.tags_))  # state -> tag

        def scores(tokens, previous, current):  # (n,), (n, C), (n, C) -> (n, C, C)
            return self.log_previous_tag_[rows[tokens][:, None, None],
                                          tag_of[previous][:, :, None], tag_of[current][:, None, :]]
        return scores

    def predict(self, sentences) -> list[list[str]]:
        """The Viterbi tag sequence of every sentence (a list of lists of words)."""
        return self.decode(sentences)[1]
