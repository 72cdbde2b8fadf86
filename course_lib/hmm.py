"""Discrete-emission hidden Markov models in log space (NumPy).

K hidden states, V output symbols, T time steps, N tokens over a batch of sequences.
Parameters are probabilities: ``startprob (K,)``, ``transmat (K, K)`` with
``transmat[i, j] = P(z_t = j | z_{t-1} = i)`` and ``emissionprob (K, V)`` with
``emissionprob[k, v] = P(x_t = v | z_t = k)``. Every algorithm works on their logarithms, so
long sequences never underflow; ``log(0) = -inf`` is allowed and handled.

The free functions (``forward``, ``backward``, ``viterbi``) are the textbook algorithms on one
sequence, given a ``(T, K)`` matrix of log emission likelihoods; the ``*_batch`` versions run
many sequences of different lengths at once, one vectorised step per time index (longest
sequence first, so the sequences still running at step t are a prefix of the batch).
``CategoricalHMM`` wraps them in the sklearn/hmmlearn style.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "CategoricalHMM",
    "backward",
    "backward_batch",
    "forward",
    "forward_batch",
    "logsumexp",
    "viterbi",
    "viterbi_batch",
]


def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    """``log(sum(exp(a), axis))`` without overflow; all ``-inf`` along the axis gives ``-inf``."""
    peak = np.max(a, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - peak), axis=axis, keepdims=True)) + peak
    return np.squeeze(out, axis=axis)


class LengthBatch:
    """Sequences of lengths ``lengths`` concatenated into N rows, read one time step at a time.

    Sequences are visited longest first: at step t the ``active[t]`` longest ones are running,
    and ``rows(t)`` gives their row indices into the concatenated ``(N, ...)`` arrays.
    """

    def __init__(self, lengths: Sequence[int]):
        lengths = np.asarray(lengths, dtype=np.int64)
        if lengths.ndim != 1 or lengths.size == 0 or lengths.min() < 1:
            raise ValueError("need at least one sequence, and every sequence needs >= 1 step")
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.order = np.argsort(-lengths, kind="stable")  # batch position -> sequence index
        self.lengths = lengths[self.order]  # (B,) descending
        self.starts = starts[self.order]
        self.max_len = int(self.lengths[0])
        self.active = np.array([(self.lengths > t).sum() for t in range(self.max_len)])

    def rows(self, t: int) -> np.ndarray:
        return self.starts[: self.active[t]] + t

    def ending_at(self, t: int) -> slice:
        """Batch positions of the sequences whose last step is t."""
        after = self.active[t + 1] if t + 1 < self.max_len else 0
        return slice(after, self.active[t])


def forward_batch(log_startprob, log_transmat, log_emissions, lengths):
    """Forward algorithm on a batch: ``(log_alpha (N, K), loglik (B,))``, B in input order.

    ``log_alpha[n, k] = log P(x_1..x_t, z_t = k)`` for the token in row n (step t of its
    sequence); ``loglik[b] = log P(x^(b))``.
    """
    batch = LengthBatch(lengths)
    log_alpha = np.empty_like(log_emissions, dtype=float)
    rows = batch.rows(0)
    log_alpha[rows] = log_startprob + log_emissions[rows]
    for t in range(1, batch.max_len):
        prev, rows = rows[: batch.active[t]], batch.rows(t)
        # (n, K, 1) + (K, K) -> sum over the previous state
        log_alpha[rows] = logsumexp(log_alpha[prev][:, :, None] + log_transmat, axis=1)
        log_alpha[rows] += log_emissions[rows]
    last = batch.starts + batch.lengths - 1
    loglik = np.empty(len(batch.order))
    loglik[batch.order] = logsumexp(log_alpha[last], axis=1)
    return log_alpha, loglik


def backward_batch(log_transmat, log_emissions, lengths):
    """Backward algorithm on a batch: ``log_beta (N, K)``, ``log P(x_{t+1}..x_T | z_t = k)``."""
    batch = LengthBatch(lengths)
    log_beta = np.zeros_like(log_emissions, dtype=float)  # log 1 at each sequence's last step
    for t in range(batch.max_len - 2, -1, -1):
        nxt = batch.rows(t + 1)
        rows = batch.rows(t)[: len(nxt)]
        # (K, K) + (n, 1, K) -> sum over the next state
        log_beta[rows] = logsumexp(log_transmat + (log_emissions[nxt] + log_beta[nxt])[:, None, :],
                                   axis=2)
    return log_beta


def viterbi_batch(log_startprob, log_transmat, log_emissions, lengths, log_endprob=None):
    """Viterbi decoding of a batch: ``(logprob (B,), states (N,))`` in input order.

    ``log_endprob (K,)``, if given, scores the transition from the last state to an end
    symbol (as in POS tagging, where sentences end after a typical last tag).
    """
    batch = LengthBatch(lengths)
    log_endprob = np.zeros(log_emissions.shape[1]) if log_endprob is None else log_endprob
    n_tokens, n_states = log_emissions.shape
    backptr = np.zeros((n_tokens, n_states), dtype=np.int64)
    rows = batch.rows(0)
    delta = log_startprob + log_emissions[rows]  # (B, K)
    best_last = np.zeros((len(batch.order), n_states))
    for t in range(batch.max_len):
        if t > 0:
            rows = batch.rows(t)
            scores = delta[: len(rows), :, None] + log_transmat  # (n, K_prev, K)
            backptr[rows] = np.argmax(scores, axis=1)
            delta = np.take_along_axis(scores, backptr[rows][:, None, :], axis=1)[:, 0]
            delta += log_emissions[rows]
        ended = batch.ending_at(t)
        best_last[ended] = delta[ended] + log_endprob
    states = np.empty(n_tokens, dtype=np.int64)
    state = np.argmax(best_last, axis=1)  # (B,)
    logprob = np.empty(len(batch.order))
    logprob[batch.order] = best_last[np.arange(len(state)), state]
    for t in range(batch.max_len - 1, -1, -1):
        n = batch.active[t]
        rows = batch.rows(t)
        states[rows] = state[:n]
        state[:n] = backptr[rows, state[:n]]  # back-pointer; unused at t = 0
    return logprob, states


def forward(log_startprob, log_transmat, log_emissions) -> np.ndarray:
    """Forward algorithm on one sequence, ``log_emissions (T, K)`` -> ``log_alpha (T, K)``."""
    return forward_batch(log_startprob, log_transmat, log_emissions, [len(log_emissions)])[0]


def backward(log_transmat, log_emissions) -> np.ndarray:
    """Backward algorithm on one sequence, ``log_emissions (T, K)`` -> ``log_beta (T, K)``."""
    return backward_batch(log_transmat, log_emissions, [len(log_emissions)])


def viterbi(log_startprob, log_transmat, log_emissions) -> tuple[float, np.ndarray]:
    """Most probable state path of one sequence: ``(log P(x, path), path (T,))``."""
    logprob, path = viterbi_batch(log_startprob, log_transmat, log_emissions,
                                  [len(log_emissions)])
    return float(logprob[0]), path


def _check_stochastic(name: str, array, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} has negative or non-finite probabilities: {array}")
    sums = array.sum(axis=-1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        raise ValueError(f"every row of {name} must sum to 1, got row sums {np.round(sums, 6)}")
    return array


def _as_sequences(X, n_features: int) -> list[np.ndarray]:
    """One sequence (1-D ints) or a list of them -> a list of int arrays, checked."""
    if len(X) > 0 and np.ndim(X[0]) == 0:
        X = [X]
    seqs = [np.asarray(x) for x in X]
    for x in seqs:
        if x.ndim != 1 or len(x) == 0 or not np.issubdtype(x.dtype, np.integer):
            raise ValueError("sequences must be non-empty 1-D arrays of integer symbol ids")
        if x.min() < 0 or x.max() >= n_features:
            bad = x[(x < 0) | (x >= n_features)][0]
            raise ValueError(f"symbol {bad} is outside the vocabulary 0..{n_features - 1}; map "
                             "unseen words to an <unk> id, or use a tagger with an "
                             "unknown-word model")
    return seqs


class CategoricalHMM:
    """An HMM with K hidden states and categorical emissions over V symbols.

    Give ``startprob``, ``transmat`` and ``emissionprob`` to use known parameters (they are
    checked: shapes, non-negative, rows summing to 1), or ``n_components`` and
    ``n_features`` and learn them: ``fit_supervised(X, states)`` counts (with ``smoothing``
    pseudo-counts), ``fit(X)`` runs Baum-Welch (EM) for at most ``n_iter`` iterations and
    stops when the log-likelihood gains less than ``tol``; ``history_`` holds the
    log-likelihood of the training data before each M-step.
    """

    def __init__(self, n_components=None, n_features=None, *, startprob=None, transmat=None,
                 emissionprob=None, n_iter=100, tol=1e-4, smoothing=0.0, random_state=None):
        given = [p is not None for p in (startprob, transmat, emissionprob)]
        if any(given) and not all(given):
            raise ValueError("give all three of startprob, transmat, emissionprob, or none")
        if all(given):
            emissionprob = np.asarray(emissionprob, dtype=float)
            if emissionprob.ndim != 2:
                raise ValueError(f"emissionprob must be (K, V), got shape {emissionprob.shape}")
            n_components, n_features = emissionprob.shape
            self.startprob_ = _check_stochastic("startprob", startprob, (n_components,))
            self.transmat_ = _check_stochastic("transmat", transmat, (n_components,) * 2)
            self.emissionprob_ = _check_stochastic("emissionprob", emissionprob,
                                                   (n_components, n_features))
        elif n_components is None or n_features is None:
            raise ValueError("give n_components and n_features, or all three parameter arrays")
        if smoothing < 0:
            raise ValueError(f"smoothing must be >= 0, got {smoothing}")
        self.n_components, self.n_features = int(n_components), int(n_features)
        self.n_iter, self.tol, self.smoothing = n_iter, tol, smoothing
        self.random_state = random_state

    # ----- the three problems -------------------------------------------------------------
    def _log_params(self):
        if not hasattr(self, "emissionprob_"):
            raise RuntimeError("this CategoricalHMM has no parameters yet: call fit first")
        with np.errstate(divide="ignore"):
            return np.log(self.startprob_), np.log(self.transmat_), np.log(self.emissionprob_)

    def _prepare(self, X):
        seqs = _as_sequences(X, self.n_features)
        log_start, log_trans, log_emit = self._log_params()
        symbols = np.concatenate(seqs)
        return seqs, log_start, log_trans, log_emit[:, symbols].T  # (N, K)

    def score(self, X) -> float:
        """Total log-likelihood ``sum log P(x)`` of one sequence or a list of sequences."""
        seqs, log_start, log_trans, log_em = self._prepare(X)
        return float(forward_batch(log_start, log_trans, log_em, [len(s) for s in seqs])[1].sum())

    def predict_proba(self, x) -> np.ndarray:
        """Posterior state marginals ``P(z_t = k | x)`` of one sequence, shape (T, K)."""
        seqs, log_start, log_trans, log_em = self._prepare(x)
        if len(seqs) != 1:
            raise ValueError("predict_proba takes one sequence")
        log_alpha, loglik = forward_batch(log_start, log_trans, log_em, [len(seqs[0])])
        return np.exp(log_alpha + backward(log_trans, log_em) - loglik[0])

    def decode(self, x) -> tuple[float, np.ndarray]:
        """Viterbi: ``(log P(x, best path), best path (T,))`` for one sequence."""
        seqs, log_start, log_trans, log_em = self._prepare(x)
        if len(seqs) != 1:
            raise ValueError("decode takes one sequence")
        return viterbi(log_start, log_trans, log_em)

    def predict(self, X) -> np.ndarray:
        """Viterbi states of one sequence or of a list of them, concatenated: (N,)."""
        seqs, log_start, log_trans, log_em = self._prepare(X)
        return viterbi_batch(log_start, log_trans, log_em, [len(s) for s in seqs])[1]

    def sample(self, n_samples: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw one sequence: ``(symbols (T,), states (T,))``."""
        self._log_params()
        rng = np.random.default_rng(random_state)
        states = np.empty(n_samples, dtype=np.int64)
        symbols = np.empty(n_samples, dtype=np.int64)
        for t in range(n_samples):
            probs = self.startprob_ if t == 0 else self.transmat_[states[t - 1]]
            states[t] = rng.choice(self.n_components, p=probs)
            symbols[t] = rng.choice(self.n_features, p=self.emissionprob_[states[t]])
        return symbols, states

    # ----- learning ------------------------------------------------------------------------
    def fit_supervised(self, X, states) -> CategoricalHMM:
        """Relative-frequency estimates from tagged sequences, plus ``smoothing`` to every count."""
        seqs = _as_sequences(X, self.n_features)
        paths = _as_sequences(states, self.n_components)
        if [len(s) for s in seqs] != [len(p) for p in paths]:
            raise ValueError("X and states must hold sequences of the same lengths")
        k, a = self.n_components, self.smoothing
        start, trans, emit = np.full(k, a), np.full((k, k), a), np.full((k, self.n_features), a)
        for x, z in zip(seqs, paths, strict=True):
            start[z[0]] += 1
            np.add.at(trans, (z[:-1], z[1:]), 1)
            np.add.at(emit, (z, x), 1)
        self.startprob_, self.transmat_, self.emissionprob_ = (
            _normalise_rows(start), _normalise_rows(trans), _normalise_rows(emit))
        return self

    def _init_random(self):
        rng = np.random.default_rng(self.random_state)
        k, v = self.n_components, self.n_features
        self.startprob_ = rng.dirichlet(np.ones(k))
        self.transmat_ = rng.dirichlet(np.ones(k), size=k)
        self.emissionprob_ = rng.dirichlet(np.ones(v), size=k)

    def fit(self, X) -> CategoricalHMM:
        """Baum-Welch (EM) from unlabelled sequences; starts from the current parameters if
        there are any, else from random ones drawn with ``random_state``."""
        seqs = _as_sequences(X, self.n_features)
        if not hasattr(self, "emissionprob_"):
            self._init_random()
        self.history_, self.converged_ = [], False
        for _ in range(self.n_iter):
            loglik, counts = self._expected_counts(seqs)
            self.history_.append(loglik)
            if len(self.history_) > 1 and self.history_[-1] - self.history_[-2] < self.tol:
                self.converged_ = True
                break
            self.startprob_, self.transmat_, self.emissionprob_ = (
                _normalise_rows(c, fallback=p) for c, p in zip(
                    counts, (self.startprob_, self.transmat_, self.emissionprob_), strict=True))
        return self

    def _expected_counts(self, seqs):
        """E-step: total log-likelihood and expected start, transition and emission counts."""
        _, log_start, log_trans, log_em = self._prepare(seqs)
        symbols, lengths = np.concatenate(seqs), [len(s) for s in seqs]
        log_alpha, loglik = forward_batch(log_start, log_trans, log_em, lengths)
        log_beta = backward_batch(log_trans, log_em, lengths)
        batch = LengthBatch(lengths)
        seq_loglik = loglik[batch.order]  # (B,) in batch order
        token_loglik = np.repeat(loglik, lengths)[:, None]  # (N, 1), log P(x) of its sequence
        gamma = np.exp(log_alpha + log_beta - token_loglik)  # (N, K), P(z_t = k | x)
        trans = np.zeros((self.n_components,) * 2)
        for t in range(1, batch.max_len):
            rows = batch.rows(t)
            prev = rows - 1
            # xi[n, i, j] = P(z_{t-1} = i, z_t = j | x), (n, K, K)
            log_xi = (log_alpha[prev][:, :, None] + log_trans
                      + (log_em[rows] + log_beta[rows])[:, None, :]
                      - seq_loglik[: len(rows), None, None])
            trans += np.exp(log_xi).sum(axis=0)
        emit = np.stack([np.bincount(symbols, weights=g, minlength=self.n_features)
                         for g in gamma.T])  # (K, V) expected emission counts
        start = gamma[batch.starts].sum(axis=0)
        return float(loglik.sum()), (start, trans, emit)


def _normalise_rows(counts: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    """Rows divided by their sums; an all-zero row keeps ``fallback``'s row (or is uniform)."""
    sums = counts.sum(axis=-1, keepdims=True)
    out = counts / np.where(sums > 0, sums, 1.0)
    empty = np.broadcast_to(sums == 0, counts.shape)
    if fallback is None:
        fallback = np.full(counts.shape, 1.0 / counts.shape[-1])
    return np.where(empty, fallback, out)
