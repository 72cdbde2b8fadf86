"""N-gram language models over any token sequence (characters or words), counted with arrays.

``NgramLM(order, smoothing=...)`` follows sklearn: settings in the constructor, ``fit`` returns
the model, learned attributes end in ``_``. Tokens become integer ids; each order's n-grams
become sorted int64 keys (``np.unique`` with counts), and every lookup is a vectorised
``np.searchsorted`` over all queries at once, so a 6-gram character model of a million
characters fits and scores in seconds. The smoothing arithmetic lives in
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

import itertools
import math
import numbers
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from course_lib import decoding
from course_lib import smoothing as sm
from course_lib.text import Vocab

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


class NgramLM:
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
        if not _is_integer(order) or order < 1:
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
        sequences = _as_sequences(sequences, "fit")
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
            contexts, targets = self._windows(_as_sequences(tune, "fit(heldout=...)"))
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

    def _build_vocab(self, sequences: list[Sequence[str]]) -> None:
        texts = [s for s in sequences if isinstance(s, str)]
        counts = Counter(itertools.chain.from_iterable(s for s in sequences if not isinstance(s, str)))
        if texts:  # characters: count code points with numpy
            points, num = np.unique(_code_points("".join(texts)), return_counts=True)
            counts.update(dict(zip(map(chr, points.tolist()), num.tolist(), strict=True)))
        if self.pad and (self.bos in counts or self.eos in counts):
            _refuse_padding_symbols(sequences, self.bos, self.eos, "fit")
        specials = [self.unk] if self.unk is not None else []
        specials = list(dict.fromkeys(specials + ([self.bos, self.eos] if self.pad else [])))
        kept = sorted(t for t, c in counts.items() if c >= self.min_count and t not in specials)
        self.vocab_ = Vocab(kept, specials=specials)
        self.vocab_size_ = len(self.vocab_)
        chars = [(ord(t), i) for i, t in enumerate(self.vocab_.itos) if len(t) == 1]
        self._char_table = np.array(sorted(chars), np.int64).reshape(-1, 2).T  # (2, C)

    def _encode(self, sequence: Sequence[str]) -> np.ndarray:
        """Token ids (tokens outside the vocabulary become unk, or raise without one)."""
        if not hasattr(self, "vocab_"):
            raise RuntimeError("This NgramLM is not fitted yet: call fit(sequences) first")
        unk_id = self.vocab_.stoi.get(self.unk, -1)
        if isinstance(sequence, str):  # one token per character, looked up with numpy
            points, (table_points, table_ids) = _code_points(sequence), self._char_table
            where = np.minimum(np.searchsorted(table_points, points), max(len(table_ids) - 1, 0))
            found = table_points[where] == points if len(table_ids) else np.zeros(len(points), bool)
            ids = np.where(found, table_ids[where] if len(table_ids) else -1, unk_id)
        else:
            stoi = self.vocab_.stoi
            ids = np.array(list(map(stoi.get, sequence, itertools.repeat(unk_id))), np.int64)
            ids = ids.reshape(len(sequence))
        if unk_id < 0 and (ids < 0).any():
            raise ValueError(
                f"token {sequence[int(np.argmax(ids < 0))]!r} is not in the vocabulary and the "
                "model has no unk token: fit with unk='<unk>' (and min_count=2 to train it)"
            )
        return ids.astype(np.int64)

    def _stream(self, sequences, training: bool):
        """The padded sequences end to end: (ids, room, is_target, lengths).

        ``room[i]`` is how many tokens are left in position i's sequence (i included), so a
        k-gram may start at i when ``room[i] >= k``; ``is_target`` marks predicted positions.
        """
        left = self.order - 1 if self.pad else 0
        right = (self.order - 1 if training and self.nltk_compatible else 1) if self.pad else 0
        sizes = np.array([len(s) for s in sequences], np.int64)
        if all(isinstance(s, str) for s in sequences):
            tokens = self._encode("".join(sequences))
        else:
            tokens = self._encode(list(itertools.chain.from_iterable(sequences)))
        lengths = sizes + left + right
        start = np.cumsum(lengths) - lengths  # where each padded sequence starts
        ids = np.empty(int(lengths.sum()), np.int64)
        is_target = np.ones(len(ids), bool)
        inside = np.arange(len(tokens)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        ids[np.repeat(start + left, sizes) + inside] = tokens
        if left:
            pads = (start[:, None] + np.arange(left)).ravel()
            ids[pads], is_target[pads] = self.vocab_.stoi[self.bos], False
        if right:
            ids[(start + left + sizes)[:, None] + np.arange(right)] = self.vocab_.stoi[self.eos]
        room = np.repeat(np.cumsum(lengths), lengths) - np.arange(len(ids))
        return ids, room, is_target, lengths

    def _count(self, sequences) -> None:
        ids, room, is_target, _ = self._stream(sequences, training=True)
        if self.nltk_compatible:
            is_target = np.ones_like(is_target)  # NLTK counts every everygram
        vocab_size = len(self.vocab_)
        tables = [sm.NgramTable(*(np.zeros(1, np.int64),) * 4)]
        tables[0].count[0] = is_target.sum()
        row = np.zeros(len(ids), np.int64)  # row of the k-gram starting at each position
        for k in range(1, self.order + 1):
            starts = np.flatnonzero(room >= k)
            keys = row[starts] * vocab_size + ids[starts + k - 1]
            unique, inverse, _ = np.unique(keys, return_inverse=True, return_counts=True)
            count = np.bincount(inverse, weights=is_target[starts + k - 1], minlength=len(unique))
            suffix = np.zeros(len(unique), np.int64)
            if k > 1:
                suffix[inverse] = row[starts + 1]
            tables.append(sm.NgramTable(unique, count.astype(np.int64), unique // vocab_size,
                                        suffix))
            row = np.full(len(ids), -1, np.int64)
            row[starts] = inverse
        self.counts_ = tables
        self.context_starts_ = [None] + [
            np.concatenate([[0], np.cumsum(np.bincount(t.prefix, minlength=len(tables[k - 1])))])
            for k, t in enumerate(tables) if k > 0
        ]

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
    def _find(self, k: int, rows: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Row of each k-gram (context row in the order k-1 table, token) or -1 if unseen."""
        keys = self.counts_[k].keys
        if len(keys) == 0:  # no k-gram counted (e.g. a held-out split shorter than k)
            return np.full(np.broadcast(rows, tokens).shape, -1, np.int64)
        wanted = rows * len(self.vocab_) + tokens
        where = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        found = (rows >= 0) & (tokens >= 0) & (keys[where] == wanted)
        return np.where(found, where, -1)

    def _context_rows(self, contexts: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each level k = 1..order: (usable, row of the last k-1 context tokens or -1).

        ``contexts`` is (M, order-1) ids with -1 for missing tokens on the left; a level is
        usable when the context has at least k-1 tokens.
        """
        num, width = contexts.shape
        available = (contexts >= 0).sum(axis=1)
        levels = [(np.ones(num, bool), np.zeros(num, np.int64))]
        for k in range(2, self.order + 1):
            row = np.zeros(num, np.int64)
            for j in range(k - 1):
                row = self._find(j + 1, row, contexts[:, width - (k - 1) + j])
            levels.append((available >= k - 1, row))
        return levels

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
    def _context_ids(self, context: Sequence[str]) -> np.ndarray:
        """(1, order-1) ids; a padded model's context that starts with BOS is left-filled."""
        ids = self._encode(list(context))[-(self.order - 1):] if self.order > 1 else []
        ids = np.asarray(ids, np.int64)
        fill = -1
        if self.pad and len(context) > 0 and context[0] == self.bos:
            fill = self.vocab_.stoi[self.bos]
        row = np.full(self.order - 1, fill, np.int64)
        if len(ids):
            row[len(row) - len(ids):] = ids
        return row[None, :]

    def _windows(self, sequences) -> tuple[np.ndarray, np.ndarray]:
        """Contexts (M, order-1) and targets (M,) of every predicted token in ``sequences``.

        A context never reaches back into the previous sequence: missing tokens are -1.
        """
        ids, room, is_target, lengths = self._stream(sequences, training=False)
        position = np.flatnonzero(is_target)
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)[position]  # sequence start
        source = position[:, None] + np.arange(-(self.order - 1), 0)[None, :]  # (M, order-1)
        contexts = np.where(source >= first[:, None], ids[np.maximum(source, 0)], -1)
        return contexts, ids[position]

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
        sequences = _as_sequences(sequences, "token_logprobs")
        if self.pad:
            _refuse_padding_symbols(sequences, self.bos, self.eos, "token_logprobs")
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


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def _take(values: np.ndarray, index: np.ndarray, missing) -> np.ndarray:
    """``values[index]``, and ``missing`` where ``index`` is -1 (works on an empty table)."""
    out = np.full(index.shape, missing, dtype=values.dtype)
    found = index >= 0
    out[found] = values[index[found]]
    return out


def _is_integer(value) -> bool:
    """An integral number (int, numpy.int64, ...) that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _as_sequences(sequences, where: str) -> list[Sequence[str]]:
    """A list of sequences, each a str (one token per character) or a list of str tokens.

    Anything else is a TypeError that names the offending sequence or token and its place.
    """
    if isinstance(sequences, (str, bytes)):
        raise TypeError(
            f"{where} takes an iterable of token sequences, not one string: pass [text] for "
            "characters or [word_tokenize(line) for line in lines] for words"
        )
    result = []
    for i, sequence in enumerate(sequences):
        if isinstance(sequence, str):
            result.append(sequence)
            continue
        if isinstance(sequence, (bytes, bytearray)) or not isinstance(sequence, Iterable):
            raise TypeError(
                f"{where}: sequence {i} is {type(sequence).__name__} {sequence!r:.40}, not a str "
                "or a list of str tokens" + (": decode it first, e.g. data.decode('utf-8')"
                                             if isinstance(sequence, (bytes, bytearray)) else "")
            )
        tokens = list(sequence)
        if not all(map(isinstance, tokens, itertools.repeat(str))):
            j = next(j for j, t in enumerate(tokens) if not isinstance(t, str))
            raise TypeError(
                f"{where}: token {tokens[j]!r:.40} ({type(tokens[j]).__name__}) at sequence {i}, "
                f"position {j} is not a str: every token must be a string (decode bytes with "
                ".decode('utf-8'), write numbers with str(), drop missing tokens)"
            )
        result.append(tokens)
    return result


def _refuse_padding_symbols(sequences, bos: str, eos: str, where: str) -> None:
    """ValueError when the data holds a literal BOS/EOS, which padding would silently merge."""
    for symbol, name in ((bos, "bos"), (eos, "eos")):
        found = [(i, s) for i, s in enumerate(sequences)
                 if symbol in s and (len(symbol) == 1 or not isinstance(s, str))][:1]
        if not found:
            continue
        (i, sequence), = found
        j = sequence.index(symbol)
        raise ValueError(
            f"{where}: token {symbol!r} at sequence {i}, position {j} is the padding symbol "
            f"{name}={symbol!r}, which pad=True adds around every sequence, so the two would be "
            f"counted as one: remove it from the data, choose padding symbols that do not occur "
            f"in it (NgramLM(..., bos='<bos>', eos='<eos>')), or pass pad=False if the sequences "
            "are padded already"
        )
