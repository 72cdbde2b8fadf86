"""N-gram language models over any token sequence (characters or words), counted with arrays.

``NgramLM(order, smoothing=...)`` follows sklearn: settings in the constructor, ``fit`` returns
the model, learned attributes end in ``_``. Tokens become integer ids; each order's n-grams
become sorted int64 keys (``np.unique`` with counts), and every lookup is a vectorised
``np.searchsorted`` over all queries at once, so a 6-gram character model of a million
characters fits and scores in seconds. The counting (vocabulary, padding, count tables,
input checks) lives in ``course_lib.ngram_counts``, the smoothing arithmetic in
``course_lib.smoothing``.

Smoothing methods (``smoothing=``): ``"mle"``, ``"add_k"`` (``k=1`` is Laplace),
``"interpolation"`` (Jelinek-Mercer, weights tuned by EM on held-out data),
``"stupid_backoff"`` (a *score*, not a probability), ``"kneser_ney"`` (interpolated, one
fixed discount) and ``"modified_kneser_ney"`` (three discounts per order, Chen & Goodman).

Sentences are padded with ``order - 1`` BOS tokens and one EOS token (``pad=True``); pass
``pad=False`` to model one running stream such as a whole text of characters. The
vocabulary includes the special tokens, and every probability distribution is over all of
``vocab_`` (BOS included; it just gets little or no mass).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from course_lib import decoding
from course_lib import smoothing as sm
from course_lib.ngram_counts import NgramCounts, as_sequences, is_integer, refuse_padding_symbols

__all__ = ["SMOOTHING_METHODS", "NgramLM"]

SMOOTHING_METHODS = (
    "mle",
    "add_k",
    "interpolation",
    "stupid_backoff",
    "kneser_ney",
    "modified_kneser_ney",
)
_RECURSIVE = {"interpolation", "stupid_backoff", "kneser_ney", "modified_kneser_ney"}


class NgramLM(NgramCounts):
    """An n-gram language model; see the module docstring for the methods.

    Args:
        order: n, the number of tokens per n-gram (1 = unigram); context is n - 1 tokens.
        smoothing: one of ``SMOOTHING_METHODS``.
        k: the pseudo-count of add-k smoothing.
        discount: Kneser-Ney's fixed discount D (modified KN estimates its own, see
            ``course_lib.smoothing.modified_kn_discounts``).
        backoff: stupid backoff's factor (0.4 in Brants et al. 2007).
        min_count: tokens seen fewer times in training become ``unk``.
        pad: add BOS/EOS padding to each sequence (sentences) or not (one stream).
        bos, eos, unk: the special tokens (``bos == eos`` is allowed, as makemore's ".";
            ``unk=None``: no unknown token, unseen tokens are an error).
        heldout_fraction: share of the training sequences held out to tune the interpolation
            weights when ``fit`` gets no ``heldout``.
        nltk_compatible: reproduce nltk.lm exactly: pad training sentences with ``order - 1``
            EOS as ``padded_everygram_pipeline`` does, count n-grams inside the padding, and
            use NLTK's Kneser-Ney definitions (``course_lib.smoothing.kneser_ney_weights``).
    """

    def __init__(
        self,
        order: int = 3,
        smoothing: str = "kneser_ney",
        *,
        k: float = 1.0,
        discount: float = 0.75,
        backoff: float = 0.4,
        min_count: int = 1,
        pad: bool = True,
        bos: str = "<s>",
        eos: str = "</s>",
        unk: str | None = "<unk>",
        heldout_fraction: float = 0.1,
        nltk_compatible: bool = False,
    ):
        if not is_integer(order) or order < 1:
            raise ValueError(f"order must be an int >= 1 (1 = unigram, 2 = bigram), got {order!r}")
        if smoothing not in SMOOTHING_METHODS:
            raise ValueError(f"smoothing must be one of {SMOOTHING_METHODS}, got {smoothing!r}")
        if not (isinstance(k, numbers.Real) and math.isfinite(k) and k > 0):
            raise ValueError(f"k must be a finite number > 0 for add-k smoothing (k=1 is Laplace), "
                             f"got {k!r}")
        if not 0 < discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        if not 0 < backoff <= 1:
            raise ValueError(f"backoff must be in (0, 1], got {backoff}")
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if min_count > 1 and unk is None:
            raise ValueError("min_count > 1 maps rare tokens to unk: give an unk token")
        if not 0 < heldout_fraction < 1:
            raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
        self.order, self.smoothing, self.k, self.discount = int(order), smoothing, k, discount
        self.backoff, self.min_count, self.pad = backoff, min_count, pad
        self.bos, self.eos, self.unk = bos, eos, unk
        self.heldout_fraction, self.nltk_compatible = heldout_fraction, nltk_compatible

    def __repr__(self) -> str:
        return f"NgramLM(order={self.order}, smoothing={self.smoothing!r})"

    # ----------------------------------------------------------------------------- fitting
    def fit(self, sequences: Iterable[Sequence[str]], heldout=None) -> NgramLM:
        """Count every n-gram of ``sequences`` (an iterable of token lists or strings).

        For ``smoothing="interpolation"`` the weights ``lambdas_`` are tuned by EM on
        ``heldout`` (sequences), or else on the last ``heldout_fraction`` of ``sequences``
        (of the tokens, when there is one sequence); the counts then use all of ``sequences``.
        """
        sequences = as_sequences(sequences, "fit")
        if sum(len(s) for s in sequences) == 0:
            raise ValueError("fit got an empty corpus: pass at least one non-empty sequence")
        longest = max(len(s) for s in sequences)
        if not self.pad and longest < self.order:
            raise ValueError(
                f"pad=False counts only the n-grams inside each sequence, and no sequence has "
                f"{self.order} tokens (the longest has {longest}), so there is no {self.order}-gram "
                f"to count: pass longer sequences (a whole text as one string), order <= {longest}, "
                "or pad=True to pad each sequence with BOS/EOS"
            )
        self._build_vocab(sequences)
        if self.smoothing == "interpolation":
            train, tune = (sequences, heldout) if heldout is not None else self._split(sequences)
            self._count(train)
            contexts, targets = self._windows(as_sequences(tune, "fit(heldout=...)"))
            mle, seen = self._level_probabilities(contexts, targets)
            self.lambdas_ = sm.fit_interpolation_lambdas(mle, seen, len(self.vocab_))
        self._count(sequences)
        self._set_weights()
        return self

    def _split(self, sequences: list[Sequence[str]]):
        if len(sequences) == 1:
            cut = int(len(sequences[0]) * (1 - self.heldout_fraction))
            return [sequences[0][:cut]], [sequences[0][cut:]]
        cut = min(len(sequences) - 1, max(1, round(len(sequences) * (1 - self.heldout_fraction))))
        return sequences[:cut], sequences[cut:]

    def _set_weights(self) -> None:
        method, tables, vocab_size = self.smoothing, self.counts_, len(self.vocab_)
        self.discounts_ = None
        if method == "mle":
            self.levels_ = sm.mle_weights(tables)
        elif method == "add_k":
            self.levels_ = sm.add_k_weights(tables, self.k, vocab_size)
        elif method == "interpolation":
            self.levels_ = sm.interpolation_weights(tables, self.lambdas_)
        elif method == "stupid_backoff":
            self.levels_ = sm.stupid_backoff_weights(tables)
        else:
            modified = method == "modified_kneser_ney"
            self.levels_, discounts = sm.kneser_ney_weights(
                tables, self.discount, modified, self.nltk_compatible
            )
            self.discounts_ = np.stack(discounts)  # (order, 3): D1, D2, D3+ per level
        uniform = method in {"add_k", "interpolation"} or (
            method.endswith("kneser_ney") and not self.nltk_compatible
        )
        self._base = np.full(vocab_size, 1.0 / vocab_size if uniform else 0.0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "levels_"):
            raise RuntimeError("This NgramLM is not fitted yet: call fit(sequences) first")

    # ------------------------------------------------------------------------- lookups
    def _level_probabilities(self, contexts, targets) -> tuple[np.ndarray, np.ndarray]:
        """(M, order) MLE probability of each target at each level, and context seen."""
        mle = sm.mle_weights(self.counts_)
        probs, seen = [], []
        for k, (usable, row) in enumerate(self._context_rows(contexts), start=1):
            gram = self._find(k, row, targets)
            ok = usable & (row >= 0)
            ok[ok] = mle[k - 1].seen[row[ok]]
            probs.append(_take(mle[k - 1].alpha, gram, 0.0) * ok)
            seen.append(ok)
        return np.stack(probs, axis=1), np.stack(seen, axis=1)

    def _point(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """(M,) probability (or stupid-backoff score) of each target after its context."""
        self._check_fitted()
        prob = self._base[targets]
        for k, (usable, row) in enumerate(self._context_rows(contexts), start=1):
            level, gram = self.levels_[k - 1], self._find(k, row, targets)
            lower = prob if self.smoothing in _RECURSIVE else self._base[targets]
            own = _take(level.alpha, gram, 0.0)
            if self.smoothing == "stupid_backoff":
                new = np.where(own > 0, own, self.backoff * lower)
            else:
                seen = _take(level.seen, row, False)
                new = np.where(seen, own + _take(level.gamma, row, 0.0) * lower, lower)
            prob = np.where(usable, new, prob)
        return prob

    def _dense(self, contexts: np.ndarray) -> np.ndarray:
        """(M, V) next-token probabilities (or stupid-backoff scores) for each context."""
        self._check_fitted()
        vocab_size = len(self.vocab_)
        prob = np.tile(self._base, (len(contexts), 1))  # (M, V)
        for k, (usable, row) in enumerate(self._context_rows(contexts), start=1):
            level, starts = self.levels_[k - 1], self.context_starts_[k]
            lower = prob if self.smoothing in _RECURSIVE else np.tile(self._base, (len(row), 1))
            active = np.flatnonzero(usable & (row >= 0))
            if self.smoothing == "stupid_backoff":
                new = self.backoff * lower
            else:
                active = active[level.seen[row[active]]]
                new = lower.copy()
                new[active] *= level.gamma[row[active]][:, None]
            begin, end = starts[row[active]], starts[row[active] + 1]
            lengths = end - begin
            grams = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths - begin,
                                                         lengths)
            rows_of = np.repeat(active, lengths)
            tokens = self.counts_[k].keys[grams] % vocab_size
            if self.smoothing == "stupid_backoff":
                keep = level.alpha[grams] > 0
                new[rows_of[keep], tokens[keep]] = level.alpha[grams[keep]]
            else:
                new[rows_of, tokens] += level.alpha[grams]
            prob = np.where(usable[:, None], new, prob)
        return prob

    # ----------------------------------------------------------------- encoding queries
    def _require_probability(self, what: str) -> None:
        if self.smoothing == "stupid_backoff":
            raise ValueError(
                f"{what} needs probabilities, but stupid backoff gives scores that do not sum "
                "to 1: use token_score / next_token_scores, or a proper method such as "
                "smoothing='kneser_ney'"
            )

    def _check_query(self, token: str) -> None:
        if self.smoothing != "mle" or token in self.vocab_.stoi:
            return
        if self.unk is None or self.count([self.unk]) == 0:
            raise ValueError(
                f"token {token!r} never occurs in training, so MLE gives it probability 0 in "
                "every context: use a smoothed model (smoothing='add_k' or 'kneser_ney'), or "
                "min_count=2 so that rare words train an unk token"
            )

    # ------------------------------------------------------------------------ public API
    def token_score(self, token: str, context: Sequence[str] = ()) -> float:
        """The model's value for ``token`` after ``context``: a probability, except for stupid
        backoff, where it is Brants et al.'s score (not normalised)."""
        self._check_query(token)
        return float(self._point(self._context_ids(context), self._encode([token]))[0])

    def next_token_scores(self, context: Sequence[str] = ()) -> np.ndarray:
        """(V,) ``token_score`` of every vocabulary token after ``context``."""
        return self._dense(self._context_ids(context))[0]

    def logprob(self, token: str, context: Sequence[str] = ()) -> float:
        """Natural log of P(token | context); -inf when MLE gives 0."""
        self._require_probability("logprob")
        with np.errstate(divide="ignore"):
            return float(np.log(self.token_score(token, context)))

    def next_token_distribution(self, context: Sequence[str] = ()) -> np.ndarray:
        """(V,) P(w | context) for every w in ``vocab_.itos``; sums to 1 (MLE: 0 if unseen)."""
        self._require_probability("next_token_distribution")
        return self.next_token_scores(context)

    def token_logprobs(self, sequences: Iterable[Sequence[str]]) -> np.ndarray:
        """(M,) log P of every predicted token of ``sequences`` (EOS included when padded)."""
        self._require_probability("token_logprobs")
        sequences = as_sequences(sequences, "token_logprobs")
        if self.pad:
            refuse_padding_symbols(sequences, self.bos, self.eos, "token_logprobs")
        if self.smoothing == "mle":
            for token in {t for s in sequences for t in s}:
                self._check_query(token)
        with np.errstate(divide="ignore"):
            return np.log(self._point(*self._windows(sequences)))

    def sequence_logprob(self, sequence: Sequence[str]) -> float:
        """log P(sequence) by the chain rule (with BOS/EOS padding when ``pad``)."""
        return float(self.token_logprobs([sequence]).sum())

    def cross_entropy(self, sequences: Iterable[Sequence[str]], unit: str = "nats") -> float:
        """Average negative log-probability per predicted token, in ``"nats"`` or ``"bits"``."""
        if unit not in ("nats", "bits"):
            raise ValueError(f"unit must be 'nats' or 'bits', got {unit!r}")
        logprobs = self.token_logprobs(sequences)
        if logprobs.size == 0:
            raise ValueError(
                "nothing to score: the sequences hold no token to predict (an empty list, or "
                "only empty sequences with pad=False); pass at least one non-empty sequence"
            )
        value = float(-logprobs.mean())
        return value / np.log(2) if unit == "bits" else value

    def perplexity(self, sequences: Iterable[Sequence[str]]) -> float:
        """exp(cross-entropy): the effective number of equally likely choices per token."""
        return float(np.exp(self.cross_entropy(sequences)))

    def generate(
        self,
        max_tokens: int = 100,
        context: Sequence[str] = (),
        seed: int = 0,
        temperature: float = 1.0,
    ) -> list[str]:
        """Sample up to ``max_tokens`` tokens after ``context`` with the course's sampler,
        ``decoding.generate``: a padded model starts a sentence, never draws BOS and stops at
        EOS. Returns the new tokens (without EOS); the same seed gives the same tokens.
        ``temperature`` < 1 sharpens the distribution, > 1 flattens it."""
        self._check_fitted()
        history = ([self.bos] if self.pad else []) + list(context)
        skip = 0 if history else 1  # nothing to condition on: one placeholder id, ignored
        prompt = torch.tensor([0] * skip + self._encode(history).tolist(), dtype=torch.long)
        bos = self.vocab_.stoi[self.bos] if self.pad else None
        fill = bos if self.pad else -1  # a sentence's context starts with BOS padding
        never = bos if self.pad and self.bos != self.eos else None  # makemore's "." ends names
        width = self.order - 1

        def next_token_logprobs(tokens: torch.Tensor) -> torch.Tensor:
            """(1, T) ids so far -> (1, 1, V) log-probabilities of the next token."""
            ids = tokens[0, skip:].numpy()
            row = np.full(width, fill, np.int64)
            if width and len(ids):
                tail = ids[-width:]
                row[width - len(tail):] = tail
            scores = self._dense(row[None])[0]  # (V,)
            if never is not None:
                scores[never] = 0.0
            with np.errstate(divide="ignore"):
                return torch.from_numpy(np.log(scores)).float()[None, None]

        eos = self.vocab_.stoi[self.eos] if self.pad else None
        tokens = decoding.generate(next_token_logprobs, prompt, max_tokens, seed=seed,
                                   temperature=temperature, eos_id=eos)
        new = tokens[len(prompt):].tolist()
        if eos in new:
            new = new[:new.index(eos)]
        return [self.vocab_.itos[i] for i in new]

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, T, V) of the next token after each prefix of ``tokens`` (B, T).

        The interface of the course's neural language models, so ``decoding.generate`` works
        on an n-gram model: softmax of the output is the model's distribution (for stupid
        backoff, its normalised scores). A padded model treats a row starting with BOS as a
        sentence start. Returns float32 on ``tokens``' device.
        """
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
            raise TypeError("call the model on a LongTensor of token ids of shape (B, T)")
        self._check_fitted()
        ids = tokens.detach().cpu().numpy().astype(np.int64)  # (B, T)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.vocab_)):
            raise ValueError(f"token ids must be in [0, {len(self.vocab_)}): encode with vocab_")
        batch, steps = ids.shape
        width = self.order - 1
        fill = np.full((batch, width), -1, np.int64)
        if self.pad and steps:
            bos = self.vocab_.stoi[self.bos]
            fill[ids[:, 0] == bos] = bos
        padded = np.concatenate([fill, ids], axis=1)  # (B, width + T)
        windows = np.stack([padded[:, t + 1: t + 1 + width] for t in range(steps)], axis=1)
        scores = self._dense(windows.reshape(batch * steps, width))  # (B*T, V)
        if self.smoothing == "stupid_backoff":
            scores = scores / scores.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            logprobs = np.log(scores).reshape(batch, steps, -1)
        return torch.from_numpy(logprobs).float().to(tokens.device)

    @property
    def block_size(self) -> int:
        """How many past tokens the model looks at (``decoding.generate`` crops to this)."""
        return max(1, self.order - 1)

    def count(self, ngram: Sequence[str]) -> int:
        """How often ``ngram`` (a tuple of tokens, context first) was counted in training."""
        self._check_fitted()
        if not 1 <= len(ngram) <= self.order:
            raise ValueError(f"ngram must have 1..{self.order} tokens, got {len(ngram)}")
        row = np.zeros(1, np.int64)
        for k, token in enumerate(self._encode(list(ngram)), start=1):
            row = self._find(k, row, np.array([token]))
        return int(self.counts_[len(ngram)].count[row[0]]) if row[0] >= 0 else 0


def _take(values: np.ndarray, index: np.ndarray, missing) -> np.ndarray:
    """``values[index]``, and ``missing`` where ``index`` is -1 (works on an empty table)."""
    out = np.full(index.shape, missing, dtype=values.dtype)
    found = index >= 0
    out[found] = values[index[found]]
    return out
